"""Grouped statistics as columns equal the grouped read: ``grouped_statistic_arrays``
against ``grouped_statistics`` (the oracle) on DuckDB, a Parquet export and PostgreSQL,
for binary windows with declared classes, binary windows read without classes (some
windows with one class so far), a multiclass model, groups by version and segment, and
the windows computed column-wise against the per-window evaluations."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pytest

from liveeval.metrics.batch import binary_column_results, evaluation_results
from liveeval.metrics.result import MetricResult
from liveeval.monitor.windows import time_windows
from liveeval.store import Scope, StoreStats
from liveeval.store.interface import GroupedArrays

from .scenario import Scenario, close_source, make_scenario, open_engine

ENGINES = ["duckdb-file", "table-parquet", "postgresql"]
ONLY = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
    "failed_prediction_rate",
    "latency_p50_seconds",
    "mcc",
)


@pytest.fixture(scope="module", params=ENGINES)
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp(request.param)
    binary = make_scenario(21, n=200)
    multiclass = make_scenario(22, n=120, multiclass=True, model="k")
    merged = Scenario(
        binary.arrivals + multiclass.arrivals, binary.classes, binary.pos_label, False
    )
    source = open_engine(request.param, folder, merged, request, batching="large")
    yield source, binary, multiclass
    close_source(source)


def _same_result(a: MetricResult, b: MetricResult, rel: float) -> None:
    for name in ("value", "lower", "upper"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is y, (a.name, name)
        else:
            assert x == pytest.approx(y, rel=rel, abs=1e-15, nan_ok=True), (a.name, name)
    rest = {k: v for k, v in dataclasses.asdict(a).items() if k not in ("value", "lower", "upper")}
    other = {k: v for k, v in dataclasses.asdict(b).items() if k not in ("value", "lower", "upper")}
    assert rest == other


def _same_stats(got: StoreStats, want: StoreStats) -> None:
    assert (got.predictions, got.failed, got.labelled, got.unmatched_outcomes) == (
        want.predictions,
        want.failed,
        want.labelled,
        want.unmatched_outcomes,
    )
    assert (got.labels, got.notes) == (want.labels, want.notes)
    assert got.values[0] == want.values[0] and got.values[3] == want.values[3]
    assert got.values[1:3] == pytest.approx(want.values[1:3], rel=1e-12)
    if want.evaluation is None:
        assert got.evaluation is None
        return
    assert got.evaluation is not None
    a, b = got.evaluation, want.evaluation
    assert (a.labels, a.pos_label, a.predictions, a.failures) == (
        b.labels,
        b.pos_label,
        b.predictions,
        b.failures,
    )
    np.testing.assert_array_equal(a.confusion.counts, b.confusion.counts)
    if b.latency is None:
        assert a.latency is None
    else:
        assert a.latency is not None
        np.testing.assert_array_equal(a.latency.keys, b.latency.keys)
        np.testing.assert_array_equal(a.latency.counts, b.latency.counts)
        assert (a.latency.count, a.latency.zeros, a.latency.maximum) == (
            b.latency.count,
            b.latency.zeros,
            b.latency.maximum,
        )
    ra, rb = a.result(only=ONLY), b.result(only=ONLY)
    assert ra.metrics.keys() == rb.metrics.keys()
    for name, r in rb.metrics.items():
        _same_result(ra.metrics[name], r, 1e-12)


def _check(source: Any, scope: Scope, by: tuple[str, ...], every: dt.timedelta, **kw: Any):
    want = source.grouped_statistics(scope, by, every=every, **kw)
    got = source.grouped_statistic_arrays(scope, by, every=every, **kw)
    converted = GroupedArrays.of(want)  # what an engine without a columnar read answers
    assert got.keys == tuple(want) == converted.keys
    np.testing.assert_array_equal(got.binary, converted.binary)
    for g, key in enumerate(got.keys):
        _same_stats(got.stats(g), want[key])
        _same_stats(converted.stats(g), want[key])
    return got, want


@pytest.mark.parametrize(
    ("by", "every"),
    [
        ((), dt.timedelta(hours=1)),
        ((), dt.timedelta(hours=6)),
        (("version", "segment"), dt.timedelta(hours=2)),
    ],
    ids=str,
)
def test_grouped_arrays_equal_the_grouped_read_of_a_binary_model(stored, by, every):
    source, binary, _ = stored
    got, _ = _check(
        source, Scope("m"), by, every, classes=binary.classes, pos_label=binary.pos_label
    )
    # Every window with labelled pairs is a column; the others have none (their
    # evaluation, when the model's classes are known, carries only their latency).
    assert got.binary[got.labelled > 0].all()
    assert all(got.stats(g).labelled == 0 for g in got.other)
    assert got.labels == binary.classes


def test_grouped_arrays_without_classes_share_the_reads_classes(stored):
    source, _, _ = stored
    got, want = _check(source, Scope("m"), (), dt.timedelta(hours=1))
    # A window with one class so far reports the read's two classes: still a column.
    one_class = [
        g
        for g in range(len(got))
        if got.binary[g]
        and (got.confusion[g].sum(axis=0) == 0).any()
        and (got.confusion[g].sum(axis=1) == 0).any()
    ]
    assert one_class
    for g in got.other:
        assert want[got.keys[g]].labelled == 0


def test_grouped_arrays_of_a_multiclass_model_are_the_grouped_reads_groups(stored):
    source, _, multiclass = stored
    got, _ = _check(source, Scope("k"), (), dt.timedelta(hours=6), classes=multiclass.classes)
    assert not got.binary.any() and len(got.other) == len(got)


def test_windows_off_the_bucket_grid_convert_the_scan(stored):
    source, binary, _ = stored
    scope = Scope("m", binary_since := dt.datetime(2026, 11, 1, 0, 7), None)
    assert binary_since.minute % 15
    _check(source, scope, (), dt.timedelta(hours=6), classes=binary.classes, pos_label=1.0)


def test_column_results_equal_the_evaluations_results(stored):
    source, binary, _ = stored
    kw = {"classes": binary.classes, "pos_label": binary.pos_label}
    got, want = _check(source, Scope("m"), (), dt.timedelta(hours=2), **kw)
    rows = [g for g in range(len(got)) if got.labelled[g] > 0]
    columns = binary_column_results(got.columns(rows), only=ONLY)
    evaluations = [want[got.keys[g]].evaluation for g in rows]
    oracle = evaluation_results(evaluations, only=ONLY)
    for a, b in zip(columns, oracle, strict=True):
        assert (a.labels, a.pos_label, a.rows, a.confusion_matrix) == (
            b.labels,
            b.pos_label,
            b.rows,
            b.confusion_matrix,
        )
        assert a.metrics.keys() == b.metrics.keys()
        for name, r in b.metrics.items():
            _same_result(a.metrics[name], r, 1e-9)


@pytest.mark.parametrize("classes", ["declared", "none"])
def test_time_windows_from_columns_equal_windows_from_the_grouped_read(stored, classes):
    source, binary, _ = stored
    kw: dict[str, Any] = {"pos_label": binary.pos_label}
    if classes == "declared":
        kw["classes"] = binary.classes
    metrics = ("accuracy", "recall", "roc_auc", "log_loss", "failed_prediction_rate")
    every = dt.timedelta(hours=1)
    found = time_windows(source, Scope("m"), every, metrics=metrics, **kw).windows
    grouped = source.grouped_statistics(Scope("m"), (), every=every, **kw)
    assert sum(w.predictions for w in found) == sum(s.predictions for s in grouped.values())
    for w in found:
        stats = grouped.get((w.start,))
        if stats is None:
            assert (w.predictions, w.result) == (0, None)
            continue
        assert (w.predictions, w.failed, w.labelled, w.notes) == (
            stats.predictions,
            stats.failed,
            stats.labelled,
            tuple(stats.notes),
        )
        assert w.outcome_values.keys() == stats.business_metrics().keys()
        if stats.evaluation is None:
            assert w.result is None
            continue
        if stats.labelled == 0:  # before labels: the served metrics alone
            assert w.result is not None
            want = stats.evaluation.result(only=("failed_prediction_rate",))
            assert w.result.metrics.keys() == {"failed_prediction_rate"}
            _same_result(
                w.result.metrics["failed_prediction_rate"],
                want.metrics["failed_prediction_rate"],
                1e-12,
            )
            continue
        assert w.result is not None
        want = stats.evaluation.result(only=metrics)
        assert w.result.confusion_matrix == want.confusion_matrix
        assert w.result.metrics.keys() == want.metrics.keys()
        for name, r in want.metrics.items():
            _same_result(w.result.metrics[name], r, 1e-9)


def test_score_histograms_from_the_same_read_equal_the_score_histograms_read(stored):
    source, binary, _ = stored
    kw = {"classes": binary.classes, "pos_label": binary.pos_label}
    every = dt.timedelta(hours=1)
    got = source.grouped_statistic_arrays(Scope("m"), every=every, score_histograms=True, **kw)
    if got.histograms is None:  # an engine may leave them to their own read
        return
    want = source.score_histograms(Scope("m"), every, **kw)
    assert got.histograms.keys() == want.keys()
    for start, h in want.items():
        np.testing.assert_array_equal(got.histograms[start].predicted, h.predicted)
        np.testing.assert_array_equal(got.histograms[start].labelled, h.labelled)
    grouped = source.grouped_statistic_arrays(
        Scope("m"), ("version",), every=every, score_histograms=True, **kw
    )
    assert grouped.histograms is None


def test_score_histograms_of_the_same_read_leave_out_labels_outside_declared_classes(tmp_path):
    from liveeval.store import encode_label, open_store

    engine = open_store(str(tmp_path / "odd.duckdb"))
    t0 = dt.datetime(2026, 11, 1)
    rng = np.random.default_rng(4)
    predictions, outcomes = [], []
    for i in range(80):
        score = float(round(rng.random(), 2))
        predictions.append(
            {
                "id": f"p{i}",
                "model": "m",
                "version": "v1",
                "ts": t0 + dt.timedelta(minutes=3 * i),
                "label": encode_label(1.0 if score >= 0.5 else 0.0),
                "score": score,
                "status": "ok",
            }
        )
        truth: Any = "spam" if i == 7 else float(rng.random() < 0.4)
        outcomes.append({"prediction_id": f"p{i}", "label": encode_label(truth), "ts": t0})
    engine.commit("predictions", predictions)
    engine.commit("outcomes", outcomes)
    try:
        kw: dict[str, Any] = {"classes": (0.0, 1.0), "pos_label": 1.0}
        every = dt.timedelta(hours=1)
        want = engine.score_histograms(Scope("m"), every, **kw)
        got = engine.grouped_statistic_arrays(Scope("m"), every=every, score_histograms=True, **kw)
        assert got.histograms is not None and got.histograms.keys() == want.keys()
        for start, h in want.items():
            np.testing.assert_array_equal(got.histograms[start].predicted, h.predicted)
            np.testing.assert_array_equal(got.histograms[start].labelled, h.labelled)
        _check(engine, Scope("m"), (), every, **kw)
    finally:
        engine.close()
