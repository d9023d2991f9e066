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

# One worker runs them all under pytest-xdist (--dist loadgroup): one JVM and one set of
# warm Python workers for the whole suite, not one per xdist worker (docs/testing.md).
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
    once = log_statistics(str(binary_files["parts"]), spec)  # two files
    twice = log_statistics(str(binary_files["copies"]), spec)  # two files, twice the rows
    assert twice.rows_read == 2 * once.rows_read
    assert twice.evaluation.confusion.total == 2 * once.evaluation.confusion.total
    # Twice the rows, the same statistics rows collected: none of them is a log row.
    assert twice.collected_rows == once.collected_rows


def test_spark_merges_many_partitions_by_a_tree_and_the_driver_gets_few_objects(
    spark: Any, binary_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from liveeval.data.columns import ColumnSpec
    from liveeval.engines.spark import log

    spec = ColumnSpec(label="y", score="s", version="version")
    one = log_statistics(str(binary_files["all"]), spec)  # one partition: no merge
    # Five partitions, two per task: two levels (5 → 3 → 2), two objects to the driver.
    monkeypatch.setattr(log, "FAN_IN", 2)
    frame = spark.read.parquet(str(binary_files["all"])).repartition(5)
    many = log_statistics(frame, spec)
    assert many.collected_rows - 2 == one.collected_rows - 1  # the same survey rows
    a, b = one.evaluation, many.evaluation
    assert np.array_equal(a.confusion.counts, b.confusion.counts)
    assert a.scores is not None and b.scores is not None
    assert np.array_equal(a.scores[0].keys, b.scores[0].keys)
    assert np.array_equal(a.scores[0].positive, b.scores[0].positive)
    assert np.array_equal(a.scores[0].negative, b.scores[0].negative)
    assert a.losses is not None and b.losses is not None
    assert math.isclose(a.losses.log_loss, b.losses.log_loss, rel_tol=1e-12)
    assert [k for k, _ in many.groups["version"]] == [k for k, _ in one.groups["version"]]
    for (_, x), (_, y) in zip(one.groups["version"], many.groups["version"], strict=True):
        assert np.array_equal(x.confusion.counts, y.confusion.counts)


def test_spark_binned_score_histogram_equals_the_local_path_beyond_the_exact_limit(
    spark: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    n = 260_000  # over the 250,000 labelled rows of exact score keys: 2^20 bins
    y = (rng.random(n) < 0.1).astype(np.int8)
    score = 1.0 / (1.0 + np.exp(-rng.normal(-2.0 + 2.0 * y, 1.0)))
    table = pa.table({"y": y, "s": score})
    pq.write_table(table, tmp_path / "all.parquet")
    folder = tmp_path / "split"
    folder.mkdir()
    pq.write_table(table.slice(0, 100_000), folder / "a.parquet", row_group_size=40_000)
    pq.write_table(table.slice(100_000), folder / "b.parquet", row_group_size=40_000)
    local = evaluate(tmp_path / "all.parquet", label="y", score="s").to_dict()
    remote = evaluate(folder / "*.parquet", engine="spark", label="y", score="s").to_dict()
    assert "histogram (1048576 bins)" in str(remote["metrics"]["roc_auc"])
    _close(_without_run_facts(remote), _without_run_facts(local))


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
        (
            {"y": [0, 1, 1], "s": [0.1, 0.9, 0.5], "st": ["ok", "ok", None]},
            {"label": "y", "score": "s", "status": "st"},
        ),
        (
            {"y": [0, 1, 1], "s": [0.1, 0.9, 0.5], "t": ["2026-10-01", "2026-10-02", "soon"]},
            {"label": "y", "score": "s", "time": "t"},
        ),
    ],
    ids=[
        "nan-score",
        "score-above-1",
        "third-class",
        "undeclared-class",
        "no-labels",
        "unknown-pred",
        "no-column",
        "missing-status",
        "bad-time-string",
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
