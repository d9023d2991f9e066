"""Rollup reads equal scan reads: windows merged from the per-bucket rollups give the
statistics a scan of the same window gives, and the histograms and delays numpy
gives on the events the store keeps — on every engine, whatever the arrival order,
with retries, conflicts and outcomes that come before their predictions."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from typing import Any

import numpy as np
import pytest

from liveeval.errors import ValidationError
from liveeval.store import Scope, StatisticsSource, StoreStats
from liveeval.store.duck import rollup_features
from liveeval.store.interface import ROLLUP_BUCKET, SCORE_BINS

from .scenario import (
    ENGINES,
    TS,
    Scenario,
    category_of,
    check_against_sklearn,
    close_source,
    in_scope,
    label_of,
    make_scenario,
    open_engine,
)

# The two stores that maintain rollups batch by batch come first: the window tests below
# run every case on them and one on the others (DuckDB without a journal, and tables
# whose rollups are built in one pass), which share that code.
INCREMENTAL = ["duckdb-file", "postgresql"]
ROLLUP_ENGINES = [*INCREMENTAL, *(e for e in ENGINES if e not in INCREMENTAL)]


@pytest.fixture(scope="module", params=ROLLUP_ENGINES)
def frozen(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A binary scenario whose numeric features reach the (lowered) freeze threshold."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollup_features, "FREEZE_VALUES", 60)
        scenario = make_scenario(13, n=240)
        source = open_engine(
            request.param,
            tmp_path_factory.mktemp(request.param),
            scenario,
            request,
            batching="large",
        )
    yield source, scenario
    close_source(source)


def assert_same(rolled: StoreStats, scanned: StoreStats) -> None:
    assert (rolled.predictions, rolled.failed, rolled.labelled, rolled.unmatched_outcomes) == (
        scanned.predictions,
        scanned.failed,
        scanned.labelled,
        scanned.unmatched_outcomes,
    )
    assert rolled.values[0] == scanned.values[0] and rolled.values[3] == scanned.values[3]
    assert rolled.values[1:3] == pytest.approx(scanned.values[1:3], rel=1e-12)
    assert rolled.labels == scanned.labels
    if scanned.evaluation is None:
        assert rolled.evaluation is None
        return
    assert rolled.evaluation is not None
    a, b = rolled.evaluation, scanned.evaluation
    np.testing.assert_array_equal(a.confusion.counts, b.confusion.counts)
    if b.latency is not None:
        assert a.latency is not None
        np.testing.assert_array_equal(a.latency.keys, b.latency.keys)
        np.testing.assert_array_equal(a.latency.counts, b.latency.counts)
        assert (a.latency.count, a.latency.zeros) == (b.latency.count, b.latency.zeros)
        assert a.latency.total == pytest.approx(b.latency.total, rel=1e-12)
        assert a.latency.maximum == b.latency.maximum
    ra, rb = a.result().metrics, b.result().metrics
    assert ra.keys() == rb.keys()
    for name, r in rb.items():
        if r.value is None:
            assert ra[name].value is None, name
            continue
        if "calibration" in name:
            # A bin stands for its centre (each score moves by at most half a bin), and
            # the debiased ECE is not Lipschitz in the scores: defined, not equal.
            assert ra[name].value is not None, name
            continue
        # Scores have two decimals, so 1000 bins keep every distinct score apart and
        # ranking metrics from bins are exact here.
        assert ra[name].value == pytest.approx(r.value, rel=1e-9, nan_ok=True), name
        if r.lower is None:
            assert ra[name].lower is None, name
        else:
            assert ra[name].lower == pytest.approx(r.lower, rel=1e-6, nan_ok=True), name


def window_scope(key: tuple[Any, ...], by: tuple[str, ...], every: dt.timedelta) -> Scope:
    values = dict(zip(by, key, strict=False))
    return Scope(
        "m",
        since=key[-1],
        until=key[-1] + every,
        version=values.get("version"),
        segment=values.get("segment"),
        segment_is_null="segment" in values and values["segment"] is None,
    )


def check_windows(frozen: tuple[Any, Scenario], by: tuple[str, ...], every: dt.timedelta) -> None:
    """Every window of ``by`` and ``every`` equals a scan of itself and scikit-learn."""
    source, scenario = frozen
    kw: dict[str, Any] = {"classes": scenario.classes, "pos_label": scenario.pos_label}
    windows = source.grouped_statistics(Scope("m"), by, every=every, **kw)
    assert windows
    for key, stats in windows.items():
        scope = window_scope(key, by, every)
        assert_same(stats, source.statistics(scope, **kw))
        check_against_sklearn(stats, scenario, scope)
    assert sum(s.predictions for s in windows.values()) == len(scenario.predictions)


# The base bucket and a coarser merge, grouped by nothing and by both dimensions at once:
# each window is compared with a scan of itself (the suite's slowest tests).
# (Indirect: the first len(INCREMENTAL) of the fixture's params, the same instances.)
@pytest.mark.parametrize("frozen", INCREMENTAL, indirect=True)
@pytest.mark.parametrize(
    ("by", "every"),
    [((), ROLLUP_BUCKET), ((), dt.timedelta(hours=6)), (("version", "segment"), ROLLUP_BUCKET)],
    ids=str,
)
def test_rollup_windows_equal_a_scan_of_each_window(frozen, by, every):
    check_windows(frozen, by, every)


def test_rollup_windows_by_version_and_segment_equal_a_scan_on_every_engine(frozen):
    check_windows(frozen, ("version", "segment"), dt.timedelta(hours=6))


def test_a_scope_on_bucket_boundaries_narrows_the_rollup_windows(frozen):
    source, scenario = frozen
    scope = Scope("m", version="v1", since=TS + dt.timedelta(hours=7), until=TS + dt.timedelta(1))
    windows = source.grouped_statistics(
        scope, ("segment",), every=dt.timedelta(hours=1), classes=scenario.classes
    )
    assert windows
    for key, stats in windows.items():
        assert scope.since is not None and scope.until is not None
        assert scope.since <= key[-1] < scope.until
        narrowed = Scope(
            "m",
            since=key[-1],
            until=key[-1] + dt.timedelta(hours=1),
            version="v1",
            segment=key[0],
            segment_is_null=key[0] is None,
        )
        check_against_sklearn(stats, scenario, narrowed)


def test_windows_off_the_bucket_grid_are_scanned(frozen):
    source, scenario = frozen
    every = dt.timedelta(minutes=7)
    windows = source.grouped_statistics(Scope("m"), every=every, classes=scenario.classes)
    for key, stats in windows.items():
        check_against_sklearn(stats, scenario, Scope("m", since=key[0], until=key[0] + every))
    with pytest.raises(ValidationError, match="not a multiple of the 0:15:00 bucket"):
        source.score_histograms(Scope("m"), every)
    with pytest.raises(ValidationError, match="since 2026-11-01T00:05:00 is not on a 0:15:00"):
        source.label_delays(Scope("m", since=TS + dt.timedelta(minutes=5)))


def _score_bin(score: float) -> int:
    return min(math.floor(score * SCORE_BINS), SCORE_BINS - 1)


@pytest.mark.parametrize("every", [dt.timedelta(hours=1), None], ids=str)
def test_score_histograms_count_every_ok_prediction_and_every_labelled_pair(frozen, every):
    source, scenario = frozen
    got = source.score_histograms(Scope("m"), every, classes=scenario.classes, pos_label=1.0)
    expected: dict[dt.datetime, np.ndarray] = {}
    epoch = dt.datetime(1970, 1, 1)
    for pid, p in scenario.predictions.items():
        if p["status"] != "ok":
            continue
        start = epoch if every is None else TS + (p["ts"] - TS) // every * every
        h = expected.setdefault(start, np.zeros((2, 2, SCORE_BINS), dtype=np.int64))
        b = _score_bin(p["score"])
        h[0, int(label_of(p["label"]) == 1.0), b] += 1
        o = scenario.outcomes.get(pid)
        if o is not None:
            h[1, int(label_of(o["label"]) == 1.0), b] += 1
    assert got.keys() == expected.keys()
    for start, h in got.items():
        np.testing.assert_array_equal(h.predicted, expected[start][0])
        np.testing.assert_array_equal(h.labelled, expected[start][1])
    merged = next(iter(got.values()))
    for h in list(got.values())[1:]:
        merged = merged.merge(h)
    assert merged.n == sum(p["status"] == "ok" for p in scenario.predictions.values())


def test_score_histograms_need_a_known_positive_class(frozen):
    source, _ = frozen
    with pytest.raises(ValidationError, match="binary model with a known positive class"):
        source.score_histograms(Scope("m"), classes=("no", "yes", "maybe"))


def test_label_delays_equal_outcome_minus_prediction_times(frozen):
    source, scenario = frozen
    for scope in (Scope("m"), Scope("m", version="v2", since=TS + dt.timedelta(hours=6))):
        got = source.label_delays(scope)
        delays = [
            (scenario.outcomes[pid]["ts"] - p["ts"]).total_seconds()
            for pid, p in scenario.predictions.items()
            if pid in scenario.outcomes and in_scope(scope, p)
        ]
        edges = np.array(got.edges)
        assert got.edges[:3] == (0.0, 1.0, 2.0) and got.edges[-1] == 2.0**25
        expected = np.bincount(
            np.searchsorted(edges, delays, side="right") - 1, minlength=edges.size
        )
        np.testing.assert_array_equal(got.counts, expected)
        assert got.early == 0 and got.n == len(delays)


def reference_window_features(
    scenario: Scenario, every: dt.timedelta
) -> dict[dt.datetime, dict[str, list[Any]]]:
    out: dict[dt.datetime, dict[str, list[Any]]] = {}
    for p in scenario.predictions.values():
        start = TS + (p["ts"] - TS) // every * every
        for name, value in json.loads(p["features"]).items():
            out.setdefault(start, {}).setdefault(name, []).append(value)
    return out


def check_feature_windows(source: StatisticsSource, scenario: Scenario) -> None:
    every = dt.timedelta(hours=6)
    edges = source.feature_bins("m")
    assert set(edges) == {"amount"}
    got = source.feature_windows(Scope("m"), every, max_categories=2)
    # The columnar read (live drift's) holds the same cells on every engine.
    assert source.feature_window_arrays(Scope("m"), every, max_categories=2).histograms() == got
    expected = reference_window_features(scenario, every)
    assert got.keys() == expected.keys()
    for start, features in expected.items():
        assert got[start].keys() == features.keys()
        for name, values in features.items():
            h = got[start][name]
            assert h.rows == len(values)
            assert h.missing == sum(v is None for v in values)
            numbers = np.array(
                [v for v in values if isinstance(v, float | int) and not isinstance(v, bool)]
            )
            if name == "amount":
                e = np.array(edges["amount"])
                assert h.edges == edges["amount"]
                assert list(h.counts) == np.histogram(numbers, bins=e)[0].tolist()
                assert h.below == int((numbers < e[0]).sum())
                assert h.above == int((numbers > e[-1]).sum())
            others = Counter(
                category_of(v)
                for v in values
                if v is not None and not (isinstance(v, float | int) and not isinstance(v, bool))
            )
            top = sorted(others.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
            assert h.categories == dict(top)
            assert h.other == sum(others.values()) - sum(n for _, n in top)


def test_feature_windows_equal_numpy_on_the_frozen_bins(frozen):
    source, scenario = frozen
    check_feature_windows(source, scenario)
    edges = np.array(source.feature_bins("m")["amount"])
    assert 10 <= edges.size <= rollup_features.FEATURE_BINS + 2 and (np.diff(edges) > 0).all()


@pytest.mark.parametrize("engine", ["duckdb-file", "postgresql"])
def test_feature_windows_of_features_not_frozen_yet_use_the_provisional_bins(
    tmp_path, request, engine
):
    scenario = make_scenario(17, n=120)
    source = open_engine(engine, tmp_path, scenario, request, batching="large")
    try:
        check_feature_windows(source, scenario)
    finally:
        close_source(source)


def test_feature_windows_refuse_a_segment(frozen):
    source, _ = frozen
    with pytest.raises(ValidationError, match="not per segment"):
        source.feature_windows(Scope("m", segment="a"), dt.timedelta(hours=1))


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_do_not_depend_on_arrival_order_or_batching(tmp_path, request, seed):
    base = make_scenario(19, n=150)
    rng = np.random.default_rng(seed)
    # Another order of the same arrivals (retries and conflicts included); the first of
    # each id must stay first, so conflicting repeats are kept after their original.
    order = list(rng.permutation(len(base.arrivals)))
    shuffled = Scenario([base.arrivals[i] for i in order], base.classes, 1.0, False)
    kw: dict[str, Any] = {"classes": shuffled.classes, "pos_label": 1.0}
    # Each seed on PostgreSQL and one DuckDB flavour (the file and in-memory stores
    # share every line of their load and read code).
    for engine in ("duckdb-file" if seed == 1 else "duckdb-memory", "postgresql"):
        source = open_engine(engine, tmp_path / f"{engine}-{seed}", shuffled, request)
        try:
            every = dt.timedelta(hours=3)
            for key, stats in source.grouped_statistics(Scope("m"), every=every, **kw).items():
                scope = Scope("m", since=key[0], until=key[0] + every)
                assert_same(stats, source.statistics(scope, **kw))
                check_against_sklearn(stats, shuffled, scope)
        finally:
            close_source(source)


@pytest.mark.parametrize("layout", ["unique", "runs", "one_run", "shuffled"])
def test_add_rows_adds_every_row_to_its_target(layout):
    from liveeval.store.duck._window_sql import add_rows

    rng = np.random.default_rng(len(layout))
    at = {
        "unique": rng.permutation(50),
        "runs": np.repeat(np.arange(10), 5),
        "one_run": np.zeros(50, np.int64),
        "shuffled": rng.integers(0, 7, 50),
    }[layout].astype(np.int64)
    rows = rng.integers(0, 1000, (50, 6)).astype(np.int32)
    out = np.ones((50, 6), np.int64)
    expected = out.copy()
    np.add.at(expected, at, rows.astype(np.int64))
    add_rows(out, at, rows)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)
