"""The live path survives every ordinary event (issue 7's acceptance cases).

Labels in another JSON type are one class; labels outside a model's classes are
rejected by name; a batch answers per event; Arrow rows meet the JSON rules; profiles
are names, never paths; and every read route answers 200 after any accepted event.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import joblib
import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from liveeval.api import ServerConfig, create_app
from liveeval.config import Tokens, load_config
from liveeval.errors import ConfigError
from liveeval.serving import ModelSpec


def _model(tmp_path: Path, y_dtype: str) -> Path:
    import pandas as pd

    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = pd.Series((x["a"] + x["b"] > 0).astype(int)).astype(y_dtype)
    if y_dtype == "float":
        y.iloc[0] = np.nan  # the usual pandas accident: classes become 0.0/1.0
        keep = y.notna()
        x, y = x[keep], y[keep]
    path = tmp_path / f"m_{y_dtype}.joblib"
    joblib.dump(LogisticRegression().fit(x, y), path)
    return path


@pytest.fixture
def app(tmp_path: Path):
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        models=[
            ModelSpec("floaty", _model(tmp_path, "float")),
            ModelSpec("inty", _model(tmp_path, "int")),
        ],
        metrics_cache_seconds=0.0,
    )
    with TestClient(create_app(config)) as client:
        yield client


def _predict(client: TestClient, model: str, a: float, b: float) -> str:
    r = client.post(f"/v1/models/{model}/predict", json={"inputs": {"a": a, "b": b}})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _reads_are_fine(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200
    models = client.get("/v1/models")
    assert models.status_code == 200
    for path in ("/v1/overview", "/v1/overview?window=2h&size=15m", "/v1/alerts"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
    for name in models.json()["known"]:
        for read in ("metrics", "windows?size=15m", "windows?size=5", "failures"):
            r = client.get(f"/v1/models/{name}/{read}")
            assert r.status_code == 200, (name, read, r.text)


@pytest.mark.parametrize("label", [1, 1.0, "1", True, "true"])
def test_an_outcome_in_another_json_type_is_the_same_class(app, label):
    pid = _predict(app, "floaty", 2.0, 2.0)
    r = app.post("/v1/outcomes", json={"prediction_id": pid, "label": label})
    assert r.status_code == 200 and r.json()["results"][0]["matched"] is True
    body = app.get("/v1/models/floaty/metrics").json()
    assert body["labels"] == [0.0, 1.0]
    assert body["metrics"]["accuracy"]["value"] == 1.0
    pid = _predict(app, "inty", 2.0, 2.0)
    app.post("/v1/outcomes", json={"prediction_id": pid, "label": label})
    body = app.get("/v1/models/inty/metrics").json()
    assert body["labels"] == [0, 1] and body["metrics"]["accuracy"]["value"] == 1.0
    _reads_are_fine(app)


def test_a_label_outside_the_classes_is_rejected_by_name(app):
    pid = _predict(app, "inty", 2.0, 2.0)
    r = app.post("/v1/outcomes", json={"prediction_id": pid, "label": 2})
    assert r.status_code == 422
    assert "label 2 is not one of model 'inty''s classes [0, 1]" in r.json()["results"][0]["detail"]
    r = app.post("/v1/predictions", json={"model": "inty", "label": "yes", "score": 0.5})
    assert r.status_code == 422 and "'yes'" in r.text
    _reads_are_fine(app)


def test_one_bad_event_in_a_batch_does_not_sink_the_others(app):
    events = [{"id": f"e{i}", "model": "ext", "label": 1, "score": 0.9} for i in range(200)]
    events[57] = {"id": "e57", "model": "ext", "label": 1, "score": 5.0}
    r = app.post("/v1/predictions", json={"predictions": events})
    assert r.status_code == 200
    body = r.json()
    assert (body["stored"], body["rejected"]) == (199, 1)
    bad = body["results"][57]
    assert bad["status"] == "rejected" and bad["id"] == "e57" and "score" in bad["detail"]
    assert app.get("/v1/models/ext/metrics").json()["predictions"] == 199
    every_bad = app.post("/v1/predictions", json={"predictions": [events[57]]})
    assert every_bad.status_code == 422 and every_bad.json()["rejected"] == 1


def _arrow(client: TestClient, table: pa.Table):
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return client.post(
        "/v1/predictions/arrow",
        content=sink.getvalue(),
        headers={"content-type": "application/vnd.apache.arrow.stream"},
    )


def test_arrow_rows_meet_the_json_rules(app):
    rows = [
        ("ok1", "ext", "1", 0.9, "ok"),
        ("nan", "ext", "1", float("nan"), "ok"),
        ("inf", "ext", "1", float("inf"), "ok"),
        ("neg", "ext", "1", -0.1, "ok"),
        ("five", "ext", "1", 5.0, "ok"),
        ("has space", "ext", "1", 0.5, "ok"),
        ("x" * 10_000, "ext", "1", 0.5, "ok"),
        ("dots", "../x", "1", 0.5, "ok"),
        ("weird", "ext", "1", 0.5, "weird"),
        ("ok2", "ext", "true", 0.2, "ok"),
        ("badlabel", "inty", "2", 0.2, "ok"),
    ]
    n = len(rows)
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "model": [r[1] for r in rows],
            "version": ["v1"] * n,
            "ts": pa.array(np.full(n, np.datetime64("2026-11-01T00:00:00", "us"))),
            "label": [r[2] for r in rows],
            "score": [r[3] for r in rows],
            "status": [r[4] for r in rows],
        }
    )
    r = _arrow(app, table)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == 2 and body["rejected"] == n - 2
    reasons = {x["index"]: x["detail"] for x in body["rejections"]}
    assert set(reasons) == set(range(1, 9)) | {10}
    assert "'score'" in reasons[1] and "'score'" in reasons[2] and "'score'" in reasons[4]
    assert "'id'" in reasons[5] and "'id'" in reasons[6]
    assert "'model'" in reasons[7] and "'status'" in reasons[8]
    assert "classes" in reasons[10]
    ext = app.get("/v1/models/ext/metrics").json()
    assert ext["predictions"] == 2
    _reads_are_fine(app)


def test_non_finite_numbers_are_rejected_on_json_routes(app):
    raw = b'{"prediction_id": "p1", "value": NaN}'
    r = app.post("/v1/outcomes", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    raw = b'{"outcomes": [{"prediction_id": "p1", "value": Infinity}, {"prediction_id": "p2", "value": 1}]}'
    r = app.post("/v1/outcomes", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["rejected"] == 1
    _reads_are_fine(app)


def test_profiles_in_queries_are_names_never_paths(app):
    _predict(app, "inty", 1.0, 1.0)
    for bad in ("/etc/shadow", "../../etc/passwd", "fraud.toml"):
        r = app.get("/v1/models/inty/metrics", params={"profile": bad})
        assert r.status_code == 404 and "unknown profile" in r.text
        assert "TOML" not in r.text
    r = app.get("/v1/models/inty/metrics", params={"profile": "fruad"})
    assert r.status_code == 404 and "did you mean 'fraud'" in r.text.lower()


def test_config_typos_are_errors_with_suggestions(tmp_path):
    path = tmp_path / "liveeval.toml"
    path.write_text('[tokenz]\nwrite = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'tokenz'; did you mean 'tokens'"):
        load_config(path)
    path.write_text("[server]\nprot = 8000\n")
    with pytest.raises(ConfigError, match="unknown key 'prot'; did you mean 'port'"):
        load_config(path)
    path.write_text('[server]\nwindow = "0h"\n')
    with pytest.raises(ConfigError, match="window '0h'"):
        load_config(path)


def test_the_read_token_guards_prometheus_too(tmp_path, monkeypatch):
    for name in ("LIVEEVAL_WRITE_TOKEN", "LIVEEVAL_ADMIN_TOKEN", "LIVEEVAL_READ_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), tokens=Tokens(read="r"))
    with TestClient(create_app(config)) as client:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"authorization": "Bearer r"})
        assert ok.status_code == 200 and "liveeval_http_requests_total" in ok.text


def test_every_read_route_survives_every_accepted_event(app):
    odd = [
        {"model": "ext", "label": "ünïcode ✓", "score": 0.0},
        {"model": "ext", "label": 1, "score": 1.0, "segment": "s" * 200},
        {"model": "ext", "label": True, "latency_total_s": 0.0},
        {"model": "ext", "label": "1.0", "probas": [0.5, 0.5]},
        {"model": "ext", "label": "NaN"},
        {"model": "ext", "label": "", "features": {"nested": {"a": [1, None, "x"]}}},
        {"model": "ext", "status": "error", "error_type": "Boom"},
        {"model": "multi", "label": "c", "probas": [0.2, 0.3, 0.5]},
        {"model": "floaty", "label": 1, "score": 0.7},
    ]
    ids = []
    for i, event in enumerate(odd):
        event = {"id": f"odd{i}", **event}
        r = app.post("/v1/predictions", json=event)
        assert r.status_code == 200, (event, r.text)
        ids.append(event["id"])
    for i, label in enumerate(["ünïcode ✓", 0, "1", 1.0, "x", "", None, "a", "1"]):
        body = (
            {"prediction_id": ids[i], "value": 0.5}
            if label is None
            else {
                "prediction_id": ids[i],
                "label": label,
            }
        )
        assert app.post("/v1/outcomes", json=body).status_code == 200
    app.post("/v1/outcomes", json={"prediction_id": "never-seen", "label": 7})
    app.post("/v1/deployments", json={"model": "ext", "version": "v9", "status": "failed"})
    _reads_are_fine(app)
    body = app.get("/v1/models/ext/metrics").json()
    assert json.dumps(body)  # finite, serialisable


@pytest.mark.parametrize(("first", "second"), [("a", 2), ("a", "b"), (0, 1)])
def test_a_window_holding_only_some_classes_never_breaks_a_read(app, first, second):
    # An undeclared model: the earlier window saw one class, the later one both. Every
    # window reports the classes of the whole read, so the overview can merge them
    # (and text and numbers are ordered, numbers first).
    from datetime import UTC, datetime, timedelta

    earlier = (datetime.now(UTC) - timedelta(minutes=40)).isoformat()
    events = [
        {"id": "q1", "model": "mix", "label": first, "score": 0.2},
        {"id": "q2", "model": "mix", "label": second, "score": 0.8},
        {"id": "w1", "model": "mix", "label": first, "score": 0.3, "ts": earlier},
    ]
    for event in events:
        assert app.post("/v1/predictions", json=event).status_code == 200
        outcome = {"prediction_id": event["id"], "label": event["label"]}
        assert app.post("/v1/outcomes", json=outcome).status_code == 200
    _reads_are_fine(app)
    body = app.get("/v1/models/mix/metrics").json()
    classes = sorted([first, second], key=lambda v: (isinstance(v, str), v))
    assert body["confusion_matrix"]["labels"] == classes
    assert body["metrics"]["accuracy"]["value"] == 1.0
    windows = app.get("/v1/models/mix/windows?size=15m").json()["windows"]
    assert [w["labelled"] for w in windows if w["labelled"]] == [1, 2]
    overview = app.get("/v1/overview?window=2h&size=15m").json()
    (card,) = [c for m in overview["models"] if m["model"] == "mix" for c in m["versions"]]
    assert card["labelled"] == 3


def test_a_model_logged_elsewhere_declares_its_classes_in_the_config(tmp_path):
    path = tmp_path / "liveeval.toml"
    path.write_text(
        f'[server]\nstore = "{tmp_path / "s.duckdb"}"\n'
        '[[models]]\nname = "spam"\nclasses = ["ham", "spam"]\npos_label = "spam"\n'
        'profile = "spam"\n'
    )
    config = load_config(path)
    assert config.logged[0].classes == ("ham", "spam") and not config.models
    with TestClient(create_app(config)) as client:
        ok = {"id": "m1", "model": "spam", "label": "spam", "score": 0.9}
        assert client.post("/v1/predictions", json=ok).status_code == 200
        r = client.post("/v1/predictions", json={"model": "spam", "label": "eggs", "score": 0.1})
        assert r.status_code == 422 and "'eggs' is not one of model 'spam''s classes" in r.text
        client.post("/v1/outcomes", json={"prediction_id": "m1", "label": "spam"})
        body = client.get("/v1/models/spam/metrics").json()
        assert body["pos_label"] == "spam" and body["verdict"]["profile"] == "spam"
    path.write_text('[[models]]\nname = "spam"\n')
    with pytest.raises(ConfigError, match="needs its 'classes'"):
        load_config(path)


def test_timestamps_that_overflow_in_utc_are_422_naming_the_field(app):
    late = {"id": "t1", "model": "ext", "label": 1, "ts": "9999-12-31T23:59:59-05:00"}
    r = app.post("/v1/predictions", json=late)
    assert r.status_code == 422 and "ts" in r.text and "out of range" in r.text
    deployment = {"model": "ext", "version": "v2", "status": "started", "ts": late["ts"]}
    assert app.post("/v1/deployments", json=deployment).status_code == 422
    _predict(app, "inty", 1.0, 1.0)
    r = app.get("/v1/models/inty/metrics", params={"until": "9999-12-31T23:59:59-05:00"})
    assert r.status_code == 422 and "until" in r.text
    # A "no date" sentinel is refused on every write path: a window holding it would
    # end past year 9999, and every read of the model (and the overview) would fail.
    for ts in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"):
        r = app.post("/v1/predictions", json={**late, "ts": ts})
        assert r.status_code == 422 and "outside the accepted range, from 1900-01-01" in r.text
        r = app.post("/v1/outcomes", json={"prediction_id": "t1", "label": 1, "ts": ts})
        assert r.status_code == 422 and "ts" in r.text
    stamps = np.array(
        ["2026-11-01T00:00", "9999-12-31T23:59", "1800-01-01T00:00"], "datetime64[us]"
    )
    table = pa.table({"id": ["a1", "a2", "a3"], "model": ["ext"] * 3, "version": ["v1"] * 3,
                      "ts": pa.array(stamps), "label": ["1"] * 3, "status": ["ok"] * 3})  # fmt: skip
    body = _arrow(app, table).json()
    assert body["stored"] == 1
    assert {x["index"]: x["detail"] for x in body["rejections"]} == {
        1: "'ts' must be from 1900-01-01 to 2999-12-31 (UTC)",
        2: "'ts' must be from 1900-01-01 to 2999-12-31 (UTC)",
    }
    _reads_are_fine(app)
    r = app.get("/v1/models/inty/metrics", params={"since": "2030-01-01", "until": "2020-01-01"})
    assert r.status_code == 422  # a reversed range is a user error (s7 P2)
    assert r.json()["detail"].startswith(
        "since 2030-01-01T00:00:00 is after until 2020-01-01T00:00:00: the range is empty"
    )
    r = app.get("/v1/models/inty/metrics", params={"since": "2020-01-01", "window": "1h"})
    assert r.status_code == 200 and r.json()["scope"]["since"] > "2026"


def test_a_nan_body_on_a_declared_route_is_a_422_without_echo(app):
    for raw in (b"NaN", b'{"model": "ext", "version": "v2", "status": "started", "x": NaN}'):
        r = app.post("/v1/deployments", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "NaN" not in r.text
    big = {"model": "ext", "version": "v2", "status": "started", "segment": "x" * 100_000}
    r = app.post("/v1/deployments", json=big)
    assert r.status_code == 422 and len(r.content) < 2_000


def test_a_chunked_body_over_the_limit_is_refused_on_every_route(tmp_path):
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), max_body_bytes=10_000)

    def chunks():
        for _ in range(20):
            yield b"x" * 1_000

    with TestClient(create_app(config)) as client:
        for path in ("/v1/deployments", "/v1/predictions/arrow", "/v1/predictions"):
            r = client.post(
                path,
                content=chunks(),
                headers={"content-type": "application/vnd.apache.arrow.stream"}
                if path.endswith("arrow")
                else {"content-type": "application/json"},
            )
            assert r.status_code == 413, (path, r.status_code, r.text[:200])


def test_outputs_must_fit_the_models_classes(app):
    cases = [
        ({"model": "inty", "label": 1, "probas": [0.2, 0.3, 0.5]}, "probas"),
        ({"model": "inty", "label": 1, "score": 0.9, "probas": [0.1, 0.9]}, "not both"),
        ({"model": "ext", "label": 1, "score": "0.5"}, "score"),
        ({"model": "ext", "label": 1, "score": True}, "score"),
    ]
    for body, words in cases:
        r = app.post("/v1/predictions", json=body)
        assert r.status_code == 422 and words in r.text, (body, r.text)
        # A single event's errors name its own fields, not the batch form's.
        assert "RawPredictionBatch" not in r.text and "function-after" not in r.text
    ok = app.post("/v1/predictions", json={"model": "ext", "label": 0.5, "score": 0.5})
    assert ok.status_code == 200


def test_a_declared_logged_model_is_known_before_its_first_event(tmp_path):
    path = tmp_path / "liveeval.toml"
    path.write_text(
        f'[server]\nstore = "{tmp_path / "s.duckdb"}"\n'
        '[[models]]\nname = "ext"\nclasses = [0, 1]\npos_label = 1\n'
    )
    with TestClient(create_app(load_config(path))) as client:
        assert "ext" in client.get("/v1/models").json()["known"]
        body = client.get("/v1/models/ext/metrics").json()
        assert body["predictions"] == 0 and body["labelled"] == 0


def test_a_predict_retried_with_its_id_is_answered_again(app):
    body = {"inputs": {"a": 1.0, "b": 2.0}, "id": "P-two"}
    first = app.post("/v1/models/inty/predict", json=body)
    again = app.post("/v1/models/inty/predict", json=body)
    assert first.status_code == again.status_code == 200
    assert first.json()["label"] == again.json()["label"]
    assert app.get("/v1/models/inty/metrics").json()["predictions"] == 1


def test_a_folder_or_a_foreign_file_as_store_is_a_clear_error(tmp_path):
    from liveeval.errors import StoreError
    from liveeval.store import open_store

    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database " * 100)
    with pytest.raises(StoreError, match="is not a DuckDB database"):
        open_store(foreign)


def test_an_unbounded_latency_limit_is_said_not_hidden(app):
    for i in range(20):
        event = {"id": f"l{i}", "model": "ext", "label": 1, "latency_total_s": 0.01 * (i + 1)}
        assert app.post("/v1/predictions", json=event).status_code == 200
        app.post("/v1/outcomes", json={"prediction_id": f"l{i}", "label": 1})
    body = app.get("/v1/models/ext/metrics").json()
    p99 = body["metrics"]["latency_p99_seconds"]
    assert p99["upper"] is None and p99["upper_unbounded"] is True
    assert "unbounded" in p99["note"]


def test_an_undeclared_zero_one_model_is_binary_in_its_windows_as_in_its_metrics(app):
    # Positive class 1 is inferred for 0/1 labels by every read, not only /metrics.
    for i, (label, outcome, score) in enumerate([(1, 0, 0.9), (0, 1, 0.2), (1, 1, 0.8)]):
        event = {"id": f"u{i}", "model": "und01", "label": label, "score": score}
        assert app.post("/v1/predictions", json=event).status_code == 200
        assert (
            app.post("/v1/outcomes", json={"prediction_id": f"u{i}", "label": outcome}).status_code
            == 200
        )
    assert app.get("/v1/models/und01/metrics").json()["pos_label"] == 1
    (window,) = [
        w for w in app.get("/v1/models/und01/windows?size=1h").json()["windows"] if w["labelled"]
    ]
    business = window["business"]
    assert business is not None
    assert business["false_alarms"] == 1


def test_rows_stamped_before_the_year_rule_never_break_a_read(tmp_path):
    # A store written before events were held to 1900–2999 may hold a "9999-12-31"
    # sentinel: window reads keep to those years, so every read still answers.
    from datetime import datetime

    from liveeval.config import ServerConfig as Config
    from liveeval.service import Service
    from liveeval.store import encode_label

    path = str(tmp_path / "old.duckdb")
    service = Service(Config(store=path))
    service.run_alerts = False
    service.start()
    stamps = [datetime(9999, 12, 31, 23, 59, 59), datetime(1, 1, 1), datetime(2026, 11, 1)]
    service.store.commit("predictions", [
        {"id": f"o{i}", "model": "fut", "version": "v1", "ts": ts, "label": encode_label(1),
         "score": 0.9, "status": "ok"} for i, ts in enumerate(stamps)
    ])  # fmt: skip
    service.store.commit(
        "outcomes",
        [
            {"prediction_id": f"o{i}", "label": encode_label(1), "ts": ts}
            for i, ts in enumerate(stamps)
        ],
    )
    service.stop()
    config = ServerConfig(store=path, models=[], metrics_cache_seconds=0.0)
    with TestClient(create_app(config)) as client:
        _reads_are_fine(client)
        windows = client.get("/v1/models/fut/windows?size=1d").json()["windows"]
        assert [w["start"][:10] for w in windows] == ["2026-11-01"]
        assert client.get("/v1/models/fut/metrics").json()["predictions"] == 3


def test_an_early_outcome_outside_the_classes_is_counted_apart_and_the_model_stays_binary(app):
    # An outcome that arrives before its prediction cannot be checked against the
    # model's classes: "spam" for a 0/1 model is left out of every metric and counted
    # in a note; the model keeps its classes, positive class, business figures and
    # score-based reads (drift of the score, estimates).
    for i in range(6):
        event = {"id": f"s{i}", "model": "inty", "label": i % 2, "score": 0.1 + 0.15 * i}
        assert app.post("/v1/predictions", json=event).status_code == 200
        assert (
            app.post("/v1/outcomes", json={"prediction_id": f"s{i}", "label": i % 2}).status_code
            == 200
        )
    early = {"prediction_id": "late-x", "label": "spam"}
    assert app.post("/v1/outcomes", json=early).status_code == 200
    late = {"id": "late-x", "model": "inty", "label": 1, "score": 0.9}
    assert app.post("/v1/predictions", json=late).status_code == 200
    _reads_are_fine(app)
    version = app.get("/v1/models").json()["served"]["inty"][0]["version"]
    r = app.get(f"/v1/models/inty/drift?reference=version:{version}")
    assert r.status_code == 200, r.text
    note = (
        "1 labelled pair holds a label outside the model's classes [0, 1] ('spam'): left out "
        "of every metric (an outcome sent before its prediction cannot be checked against "
        "the classes)"
    )
    metrics = app.get("/v1/models/inty/metrics").json()
    assert metrics["confusion_matrix"]["labels"] == [0, 1] and metrics["pos_label"] == 1
    assert metrics["labelled"] == 6 and metrics["notes"] == [note]
    # 6 of the 9 positive-negative pairs are ordered; the 0.9 'spam' row is no negative.
    assert metrics["metrics"]["roc_auc"]["value"] == pytest.approx(6 / 9)
    body = app.get("/v1/models/inty/windows?size=1h").json()
    assert "pos_label" not in str(body["estimation"].get("reason"))
    (window,) = [w for w in body["windows"] if w["labelled"]]
    assert window["confusion_matrix"]["labels"] == [0, 1] and window["notes"] == [note]
    assert window["business"] is not None and window["business"]["labelled"] == 6
    # Once the prediction is known, the same outcome is refused by name.
    r = app.post("/v1/outcomes", json={"prediction_id": "s0", "label": "spam"})
    assert r.status_code == 422
    assert r.json()["detail"] == "label 'spam' is not one of model 'inty''s classes [0, 1]"


def test_an_early_outcome_outside_a_multiclass_models_classes_leaves_its_windows_working(
    tmp_path,
):
    path = tmp_path / "liveeval.toml"
    path.write_text(
        f'[server]\nstore = "{tmp_path / "s.duckdb"}"\n'
        '[[models]]\nname = "tri"\nclasses = ["a", "b", "c"]\n'
    )
    with TestClient(create_app(load_config(path))) as client:
        rows = [("a", [0.8, 0.1, 0.1]), ("b", [0.1, 0.8, 0.1]), ("c", [0.2, 0.2, 0.6])] * 3
        for i, (label, probas) in enumerate(rows):
            event = {"id": f"t{i}", "model": "tri", "label": label, "probas": probas}
            assert client.post("/v1/predictions", json=event).status_code == 200
            if i < 6:
                client.post("/v1/outcomes", json={"prediction_id": f"t{i}", "label": label})
        early = {"prediction_id": "x-late", "label": "d"}
        assert client.post("/v1/outcomes", json=early).status_code == 200
        late = {"id": "x-late", "model": "tri", "label": "b", "probas": [0.2, 0.6, 0.2]}
        assert client.post("/v1/predictions", json=late).status_code == 200
        _reads_are_fine(client)
        body = client.get("/v1/models/tri/windows?size=1h").json()
        (window,) = [w for w in body["windows"] if w["labelled"]]
        assert window["confusion_matrix"]["labels"] == ["a", "b", "c"]
        assert window["labelled"] == 6
        assert "('d'): left out of every metric" in window["notes"][0]
        # The class probabilities are read without 'd' (too few labels to calibrate here).
        assert body["estimation"]["reason"].startswith("calibration needs at least 200")
