"""`liveeval serve` starts or fails in one line; `liveeval export` writes Parquet
partitioned by model and date."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from liveeval.cli import app
from liveeval.store import encode_label
from liveeval.store.duck.store import DuckStore


def test_export_partitions_by_model_and_date(tmp_path):
    store = DuckStore(tmp_path / "s.duckdb")
    rows = [
        {
            "id": f"p{i}",
            "model": "a" if i % 2 else "b",
            "version": "v1",
            "ts": dt.datetime(2026, 11, 1 + i % 3),
            "label": encode_label(1),
            "score": 0.7,
            "status": "ok",
        }
        for i in range(12)
    ]
    store.write("predictions", rows)
    store.write(
        "outcomes",
        [{"prediction_id": "p1", "label": encode_label(1), "ts": dt.datetime(2026, 11, 5)}],
    )
    store.close()
    result = CliRunner().invoke(
        app, ["export", "--store", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "predictions: 12 rows" in result.output
    parts = {
        p.relative_to(tmp_path / "out").parts[:3] for p in (tmp_path / "out").rglob("*.parquet")
    }
    assert ("predictions", "model=a", "date=2026-11-01") in parts
    assert ("predictions", "model=b", "date=2026-11-03") in parts
    table = ds.dataset(
        tmp_path / "out" / "predictions", format="parquet", partitioning="hive"
    ).to_table()
    assert table.num_rows == 12


def test_export_missing_store_is_exit_2(tmp_path):
    result = CliRunner().invoke(
        app, ["export", "--store", str(tmp_path / "none.duckdb"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "no such store file" in result.output


def test_export_includes_journalled_events_and_refuses_a_store_in_use(tmp_path):
    from liveeval.store.duck.journal import json_lines

    path = tmp_path / "s.duckdb"
    store = DuckStore(path)
    event = {"id": "j1", "model": "a", "version": "v1", "ts": dt.datetime(2026, 11, 1)}
    _, rows = store.accept_rows("predictions", [{**event, "status": "ok"}])
    store.journal.append([("predictions", json_lines(rows))])  # acknowledged, not loaded
    args = ["export", "--store", str(path), "--out", str(tmp_path / "out")]
    busy = CliRunner().invoke(app, args)
    assert busy.exit_code == 2 and "is in use" in busy.output
    store.journal.close()
    store._con.close()  # the server died before loading the journal
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "predictions: 1 rows" in result.output


# -- liveeval serve: every start-up problem is one line and exit 2, before uvicorn ------


def serve(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real console script (``python -m liveeval`` runs the same ``main``)."""
    return subprocess.run(
        [sys.executable, "-m", "liveeval", "serve", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    path = tmp_path / "plain.joblib"
    joblib.dump(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), path)
    return path


def test_serve_on_a_store_another_process_holds_is_one_line(tmp_path, model_file):
    from liveeval.store import open_store

    held = open_store(tmp_path / "s.duckdb")
    try:
        line = one_error_line(
            serve(
                "--model",
                f"m={model_file}",
                "--features",
                "a,b",
                "--store",
                tmp_path / "s.duckdb",
                "--port",
                free_port(),
            )
        )
    finally:
        held.close()
    assert "s.duckdb is in use by another process" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"I am a text file\n", "not a joblib/pickle file"),
        (b"cliveeval_gone_module\nModel\n(tR.", "needs the Python module 'liveeval_gone_module'"),
    ],
    ids=["not-a-pickle", "module-missing"],
)
def test_serve_with_an_unloadable_model_is_one_line(tmp_path, content, expected):
    path = tmp_path / "m.pkl"
    path.write_bytes(content)
    line = one_error_line(serve("--model", f"fraud={path}", "--store", tmp_path / "s.duckdb"))
    assert line.startswith(f"Error: model 'fraud': {path}: ") and expected in line
    assert not (tmp_path / "s.duckdb").exists()  # nothing opened before the models load


def test_serve_with_a_missing_model_file_is_one_line(tmp_path):
    line = one_error_line(serve("--model", f"fraud={tmp_path / 'no.joblib'}"))
    assert line == f"Error: model 'fraud': {tmp_path / 'no.joblib'}: no such file"


@pytest.mark.parametrize("window", ["0h", "abc"])
def test_serve_with_a_bad_window_is_one_line(tmp_path, window):
    line = one_error_line(serve("--window", window, "--store", tmp_path / "s.duckdb"))
    assert f"window '{window}' is not a positive duration like 30m, 1h or 7d" in line


def test_serve_on_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(serve("--port", port, "--store", tmp_path / "s.duckdb"))
    assert line == (
        f"Error: cannot listen on 127.0.0.1:{port}: the port is in use by another process; "
        "choose another with --port"
    )
    assert not (tmp_path / "s.duckdb").exists()


def test_serve_with_a_config_typo_is_one_line(tmp_path):
    config = tmp_path / "liveeval.toml"
    config.write_text('[tokenz]\nwrite = "secret"\n')
    line = one_error_line(serve("--config", config))
    assert "unknown key 'tokenz'; did you mean 'tokens'?" in line


def test_serve_features_need_a_model_and_valid_types(tmp_path, model_file):
    line = one_error_line(serve("--features", "a,b"))
    assert "--features applies to the --model(s) given on the command line" in line
    line = one_error_line(serve("--model", f"m={model_file}", "--features", "a,b:text"))
    assert "--features 'a,b:text': feature 'b:text': unknown type 'text'" in line


def test_serve_with_too_few_features_is_one_line(tmp_path, model_file):
    line = one_error_line(serve("--model", f"m={model_file}", "--features", "a"))
    assert line.endswith("the model takes 2 features, but 1 are listed: ['a']")


def test_a_misdeclared_model_is_refused_before_the_port_is_bound(tmp_path, model_file):
    config = tmp_path / "liveeval.toml"
    config.write_text(
        f'[[models]]\nname = "m"\npath = "{model_file}"\nfeatures = ["a", "b"]\nclasses = [1, 0]\n'
    )
    with socket.socket() as busy:  # the model's error, not the port's: models load first
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(serve("--config", config, "--port", port))
    assert line == (
        f"Error: model 'm': {model_file}: classes [1, 0] in the config are the model's classes "
        "in another order: the model's order is [0, 1]; leave 'classes' out for scikit-learn "
        "models (they come from the model's classes_)"
    )


def test_serve_refuses_a_torch_save_pickle_in_one_line(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "m.pt"
    torch.save(torch.nn.Linear(2, 3), str(path))
    line = one_error_line(serve("--model", f"m={path}", "--store", tmp_path / "s.duckdb"))
    assert line.startswith(f"Error: model 'm': {path}: is a torch.save() pickle (a module or ")
    assert "torch.jit.script(model).save(path)" in line and "torch.export.Dim('batch')" in line
    assert not (tmp_path / "s.duckdb").exists()


# -- a real server: the documented liveeval.toml, text inputs, labels-only models ------


@dataclass
class Running:
    url: str
    process: subprocess.Popen[bytes]

    def post(self, path: str, body: object) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace")


@contextlib.contextmanager
def running(*args: object) -> Iterator[Running]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "liveeval", "serve", "--port", str(port), *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Running(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 120  # another xdist worker may load the CPUs
        while True:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode() if process.stderr else "")
            try:
                server.get("/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def served_models(tmp_path: Path) -> Path:
    """The README's liveeval.toml, with a model without names, a text pipeline and a
    classifier without predict_proba."""
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] > 0).astype(int)
    (tmp_path / "models").mkdir()
    joblib.dump(LogisticRegression().fit(x, y), tmp_path / "models" / "bare.joblib")
    joblib.dump(
        LinearSVC().fit(x, np.array(["ham", "spam"])[y]), tmp_path / "models" / "svc.joblib"
    )
    frame = pd.DataFrame({"amount": x[:, 0] * 100, "country": rng.choice(["DE", "FR"], 300)})
    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["country"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, y)
    joblib.dump(pipeline, tmp_path / "models" / "text.joblib")
    config = tmp_path / "liveeval.toml"
    config.write_text(
        f"""
[server]
store = "{tmp_path / "s.duckdb"}"
window = "1h"

[[models]]
name = "bare"
path = "models/bare.joblib"
features = ["x0", "x1"]

[[models]]
name = "text"
path = "models/text.joblib"
version = "v2"

[[models]]
name = "svc"
path = "models/svc.joblib"
features = ["x0", "x1"]
"""
    )
    return config


@pytest.mark.e2e
def test_a_served_model_takes_declared_features_and_text_inputs(served_models):
    with running("--config", served_models) as server:
        status, body = server.post("/v1/models/bare/predict", {"inputs": {"x0": 2.0, "x1": 0.0}})
        assert status == 200 and body["label"] == 1 and 0.5 < body["score"] <= 1
        status, body = server.post(
            "/v1/models/text/predict",
            {"inputs": [{"amount": 150.0, "country": "DE"}, {"amount": -150.0, "country": "FR"}]},
        )
        assert status == 200, body
        assert [p["label"] for p in body["predictions"]] == [1, 0]
        status, body = server.post(
            "/v1/models/text/predict", {"inputs": {"amount": 1.0, "country": "XX"}}
        )
        assert status == 422 and "inputs[0].country is 'XX'; model 'text' knows only" in str(body)


@pytest.mark.e2e
def test_a_model_without_predict_proba_is_served_with_labels_only(served_models):
    with running("--config", served_models) as server:
        status, body = server.post("/v1/models/svc/predict", {"inputs": {"x0": 3.0, "x1": 0.0}})
        assert status == 200, body
        assert body["label"] == "spam" and "score" not in body and "probas" not in body
        status, body = server.post("/v1/outcomes", {"prediction_id": body["id"], "label": "spam"})
        assert status == 200, body
        status, metrics = server.get("/v1/models/svc/metrics")
        assert status == 200 and json.loads(metrics)["metrics"]["accuracy"]["value"] == 1.0


@pytest.mark.e2e
def test_serve_features_flag_serves_a_model_without_names(tmp_path, model_file):
    with running(
        "--model", f"m={model_file}", "--features", "a,b", "--store", tmp_path / "s.duckdb"
    ) as server:
        status, body = server.post("/v1/models/m/predict", {"inputs": {"a": -3.0, "b": 0.0}})
        assert status == 200 and body["label"] == 0
        status, body = server.post("/v1/models/m/predict", {"inputs": {"a": -3.0}})
        assert status == 422 and "inputs[0] lacks feature(s) ['b']" in str(body)


def test_an_onnx_graph_serves_from_model_alone_when_it_records_names_and_classes(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(6)
    frame = pd.DataFrame(rng.normal(size=(200, 2)).astype(np.float32), columns=["a", "b"])
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(frame, (frame["a"] > 0).astype(int))
    by_column = tmp_path / "frame.onnx"
    by_column.write_bytes(skl2onnx.to_onnx(model, frame[:1]).SerializeToString())
    matrix = tmp_path / "matrix.onnx"
    matrix.write_bytes(skl2onnx.to_onnx(model, frame.to_numpy()[:1]).SerializeToString())
    line = one_error_line(serve("--model", f"x={matrix}", "--store", tmp_path / "s.duckdb"))
    assert line == (
        f"Error: model 'x': {matrix}: declare 'features' (its 2 inputs, in order; or --features) "
        "in its [[models]] entry in liveeval.toml; from the graph: classes [0, 1]"
    )
    with running("--model", f"x={by_column}", "--store", tmp_path / "s.duckdb") as server:
        status, body = server.post("/v1/models/x/predict", {"inputs": {"b": 0.5, "a": 1.0}})
    assert status == 200, body
    expected = model.predict_proba(pd.DataFrame({"a": [1.0], "b": [0.5]}, dtype=np.float32))
    assert abs(body["score"] - expected[0, 1]) <= 1e-6
