"""The Spark engine gives the local path's report, errors and drift on the same Parquet.

Slow (a JVM and Python workers), so few tests, each covering a lot: a binary log with
failures, unlabelled rows, latency, versions, segments and hourly windows, split over
files; a multiclass log with probabilities and weights; the errors users meet; drift.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from liveeval.analysis import evaluate
from liveeval.cli import app
from liveeval.engines.spark import log_statistics
from liveeval.errors import ValidationError
from liveeval.monitor.drift import compare_files

# One worker runs them all, so one JVM starts per run (tests/engines/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]

EXACT = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "average_precision")


def _binary_log(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0.0, 1.0).round(3)
    start = datetime(2026, 10, 1)
    minutes = rng.integers(0, 60 * 30, n)
    label = [None if m else int(v) for v, m in zip(y, rng.random(n) < 0.1, strict=True)]
    return pa.table(
        {
            "y": pa.array(label, pa.int64()),
            "s": score,
            "version": rng.choice(["v1", "v2"], n),
            "seg": pa.array(
                [
                    None if r < 0.05 else c
                    for r, c in zip(rng.random(n), rng.choice(["a", "b"], n), strict=True)
                ]
            ),
            "ts": pa.array(
                [start + timedelta(minutes=int(m)) for m in minutes], pa.timestamp("us")
            ),
            "latency_ms": rng.exponential(20.0, n),
            "status": rng.choice(["ok", "ok", "ok", "error"], n),
            "amount": rng.normal(50.0, 10.0, n),
        }
    )


@pytest.fixture(scope="module")
def binary_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("binary")
    table = _binary_log(3000, 1)
    pq.write_table(table, folder / "all.parquet")
    parts = folder / "parts"
    parts.mkdir()
    pq.write_table(table.slice(0, 1200), parts / "a.parquet", row_group_size=500)
    pq.write_table(table.slice(1200), parts / "b.parquet", row_group_size=500)
    copies = folder / "copies"
    copies.mkdir()
    for name in ("a", "b"):
        pq.write_table(table, copies / f"{name}.parquet")
    return {"all": folder / "all.parquet", "parts": parts, "copies": copies}


def _without_run_facts(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("generated_at", None)
    source = dict(doc["source"])
    source.pop("path")
    source["notes"] = [n for n in source["notes"] if "leakage" not in n]
    doc["source"] = source
    doc.pop("findings", None)  # the local path adds single-feature leakage findings
    return doc


def _close(a: Any, b: Any, tol: float = 1e-9) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _close(a[k], b[k], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _close(x, y, tol)
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=tol, abs_tol=tol), (a, b)
    else:
        assert a == b


def test_spark_report_equals_the_local_report_with_windows_groups_and_files(
    spark: Any, binary_files: dict[str, Path]
) -> None:
    kwargs: dict[str, Any] = {
        "label": "y",
        "score": "s",
        "version": "version",
        "segment": "seg",
        "time": "ts",
        "window": "1h",
    }
    local = evaluate(binary_files["all"], **kwargs).to_dict()
    one_file = evaluate(binary_files["all"], engine="spark", **kwargs).to_dict()
    # Same file, one partition's sums: every number identical, not merely close.
    assert _without_run_facts(one_file) == _without_run_facts(local)
    assert len(one_file["breakdowns"]["time"]) == 30
    # Split over files and row groups: sums in another order, equal to float error.
    split = evaluate(binary_files["parts"] / "*.parquet", engine="spark", **kwargs).to_dict()
    _close(_without_run_facts(split), _without_run_facts(local))
    for name in EXACT:
        assert split["metrics"][name]["value"] == pytest.approx(
            local["metrics"][name]["value"], abs=1e-9
        )


def test_spark_brings_statistics_to_the_driver_never_rows(
    spark: Any, binary_files: dict[str, Path]
) -> None:
    from liveeval.data.columns import ColumnSpec

    spec = ColumnSpec(label="y", score="s", version="version", time="ts", window="1h")
    once = log_statistics(str(binary_files["all"]), spec)
    twice = log_statistics(str(binary_files["copies"]), spec)
    assert twice.rows_read == 2 * once.rows_read
    assert twice.evaluation.confusion.total == 2 * once.evaluation.confusion.total
    # Twice the rows, the same statistics rows collected: none of them is a log row.
    assert twice.collected_rows == once.collected_rows


def test_cli_report_with_engine_spark_writes_the_local_json(
    spark: Any, binary_files: dict[str, Path], tmp_path: Path
) -> None:
    args = ["report", str(binary_files["all"]), "--label", "y", "--score", "s", "--time", "ts"]
    runner = CliRunner()
    local = runner.invoke(app, [*args, "--json", str(tmp_path / "local.json")])
    spark_run = runner.invoke(
        app, [*args, "--engine", "spark", "--json", str(tmp_path / "spark.json")]
    )
    assert local.exit_code == 0, local.output
    assert spark_run.exit_code == 0, spark_run.output
    import json

    a = json.loads((tmp_path / "local.json").read_text())
    b = json.loads((tmp_path / "spark.json").read_text())
    assert _without_run_facts(a) == _without_run_facts(b)


def test_spark_multiclass_probabilities_and_weights_equal_the_local_path(
    spark: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    raw = rng.dirichlet([2.0, 1.0, 1.0], n).round(4)
    raw[:, 2] = 1.0 - raw[:, 0] - raw[:, 1]
    y = np.array([rng.choice(3, p=np.clip(p, 0, 1) / np.clip(p, 0, 1).sum()) for p in raw])
    table = pa.table(
        {
            "label": pa.array(np.array(["cat", "dog", "eel"])[y]),
            "p_cat": raw[:, 0],
            "p_dog": raw[:, 1],
            "p_eel": np.clip(raw[:, 2], 0.0, 1.0),
            "w": rng.integers(1, 4, n).astype(np.float64),
        }
    )
    pq.write_table(table, tmp_path / "multi.parquet", row_group_size=700)
    kwargs: dict[str, Any] = {"label": "label", "proba_prefix": "p_", "weight": "w"}
    local = evaluate(tmp_path / "multi.parquet", **kwargs).to_dict()
    remote = evaluate(tmp_path / "multi.parquet", engine="spark", **kwargs).to_dict()
    _close(_without_run_facts(remote), _without_run_facts(local))
    for name in (*EXACT[:4], "roc_auc", "log_loss"):
        assert remote["metrics"][name]["value"] == pytest.approx(
            local["metrics"][name]["value"], abs=1e-9
        )


@pytest.mark.parametrize(
    ("columns", "kwargs"),
    [
        ({"y": [0, 1, 1, 0, 1], "s": [0.1, 0.9, math.nan, 0.2, 0.3]}, {"label": "y", "score": "s"}),
        ({"y": [0, 1, 1, 0, 1], "s": [0.1, 0.9, 1.5, 0.2, 0.3]}, {"label": "y", "score": "s"}),
        ({"y": [0, 1, 2, 0, 1], "s": [0.1, 0.9, 0.5, 0.2, 0.3]}, {"label": "y", "score": "s"}),
        (
            {"y": [0, 1, 1, 0, 1], "s": [0.1, 0.9, 0.5, 0.2, 0.3]},
            {"label": "y", "score": "s", "labels": ["0", "2"]},
        ),
        ({"y": [None, None], "s": [0.1, 0.9]}, {"label": "y", "score": "s"}),
        ({"y": ["a", "b"], "p": ["b", "x"]}, {"label": "y", "pred": "p", "labels": ["a", "b"]}),
        ({"y": [0, 1], "s": [0.1, 0.9]}, {"label": "yy", "score": "s"}),
    ],
    ids=[
        "nan-score",
        "score-above-1",
        "third-class",
        "undeclared-class",
        "no-labels",
        "unknown-pred",
        "no-column",
    ],
)
def test_spark_raises_the_local_error_naming_file_column_and_row(
    spark: Any, tmp_path: Path, columns: dict[str, list[Any]], kwargs: dict[str, Any]
) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(ValidationError) as local:
        evaluate(path, **kwargs)
    with pytest.raises(type(local.value), match=f"^{__import__('re').escape(str(local.value))}$"):
        evaluate(path, engine="spark", **kwargs)


def test_spark_drift_equals_the_local_drift_on_the_reference_bins(
    spark: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)

    def write(name: str, n: int, shift: float) -> Path:
        x = rng.normal(shift, 1.0, n)
        x[:7] = np.nan
        path = tmp_path / f"{name}.parquet"
        table = pa.table(
            {
                "x": x,
                "k": rng.integers(0, 4, n),
                "c": rng.choice(
                    ["a", "b", "c"], n, p=[0.5, 0.3, 0.2] if shift == 0 else [0.3, 0.3, 0.4]
                ),
                "flag": rng.random(n) < 0.3,
                "y": rng.integers(0, 2, n),
            }
        )
        pq.write_table(table, path, row_group_size=900)
        return path

    ref, cur = write("ref", 4000, 0.0), write("cur", 3000, 0.3)
    local = compare_files(ref, cur, label="y").to_dict()
    remote = compare_files(ref, cur, label="y", engine="spark").to_dict()
    local.pop("generated_at")
    remote.pop("generated_at")
    _close(remote, local, tol=1e-12)
    assert remote["drifted_columns"] == local["drifted_columns"] != []
