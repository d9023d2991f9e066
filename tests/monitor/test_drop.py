from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveeval.metrics import Evaluation
from liveeval.metrics.change import ShiryaevRoberts
from liveeval.metrics.interval import wilson
from liveeval.metrics.registry import METRICS
from liveeval.monitor.drop import (
    DropRun,
    DropTest,
    Look,
    LookCount,
    LookCounts,
    detect_drop,
    proportion_cells,
    reading_of,
    start_run,
)
from liveeval.store.interface import StoreStats

T0 = datetime(2026, 1, 1)


def _look(i: int, rng: np.random.Generator, accuracy: float, latency: float = 0.01) -> Look:
    y = rng.binomial(1, 0.3, 100)
    pred = np.where(rng.random(100) < accuracy, y, 1 - y)
    ev = Evaluation.create([0, 1], pos_label=1, with_scores=False)
    ev.update(y, pred)
    ev.update_operational(latency_seconds=rng.gamma(2.0, latency, 100))
    start = T0 + timedelta(minutes=15 * i)
    return Look(start, start + timedelta(minutes=15), StoreStats(ev, 100, 0, 100, 0, (0, 1)))


def _looks(change_at: int, before: float, after: float, n: int = 200, **kw: float) -> list[Look]:
    rng = np.random.default_rng(7)
    return [_look(i, rng, before if i < change_at else after, **kw) for i in range(n)]


def test_every_catalogue_metric_has_a_reading_or_is_unbounded():
    for spec in METRICS.values():
        assert (reading_of(spec) is None) == (spec.bounds is None and spec.quantile is None
                                              and spec.interval != "proportion")  # fmt: skip


@pytest.mark.parametrize("name", [n for n, s in METRICS.items() if s.interval == "proportion"
                                  and s.family == "confusion"])  # fmt: skip
def test_proportion_cells_reproduce_the_catalogue_value(name):
    rng = np.random.default_rng(0)
    ev = Evaluation.create([0, 1], pos_label=1, with_scores=False)
    ev.update(rng.binomial(1, 0.3, 500), rng.binomial(1, 0.4, 500))
    expected = ev.result(only=(name,)).metrics[name]
    cells = proportion_cells(name, ev.labels, ev.pos_label)
    if name == "baseline_accuracy":  # the majority class's share: not a fixed ratio of cells
        assert cells is None
        return
    assert cells is not None
    numerator, denominator = cells
    counts = ev.confusion.counts
    assert counts[numerator].sum() / counts[denominator].sum() == pytest.approx(expected.value)
    assert counts[denominator].sum() == expected.n


def test_detection_on_store_looks_equals_the_detector_on_their_counts():
    looks = _looks(120, 0.9, 0.85)
    evidence = detect_drop(DropTest("accuracy"), looks[:50], looks[50:])
    counts = [(np.trace(lk.stats.evaluation.confusion.counts), 100.0) for lk in looks]
    x = np.array([c[0] for c in counts])
    lower, _ = wilson(x[:50].sum(), 5000, 0.98)
    detector = ShiryaevRoberts(lower, "drop", alpha=0.001)
    for xi, ni in counts[50:]:
        detector.update(xi, ni)
    assert evidence.statistic == pytest.approx(detector.statistic)
    assert evidence.baseline == pytest.approx(lower)


def test_a_drop_alarms_with_its_evidence():
    looks = _looks(120, 0.9, 0.8)
    evidence = detect_drop(DropTest("accuracy"), looks[:50], looks[50:]).to_dict()
    assert evidence["alarmed"] and evidence["ready"]
    assert evidence["statistic"] >= evidence["threshold"]
    assert (
        evidence["before"]["n"] == 5000
        and evidence["before"]["lower"] < evidence["before"]["value"]
    )
    assert evidence["after"]["value"] < evidence["before"]["lower"]
    assert evidence["after"]["since"] >= looks[110].start.isoformat()
    assert evidence["first_alarm"]["samples_since_change"] >= 100
    assert "1 per 100,000 samples" in evidence["false_alarm_budget"]


def test_a_stable_metric_does_not_alarm():
    looks = _looks(10_000, 0.9, 0.9)
    for metric in ("accuracy", "recall", "precision"):
        assert not detect_drop(DropTest(metric), looks[:50], looks[50:]).alarmed


def test_a_rise_in_p95_latency_is_a_rise_in_the_share_above_the_reference_p95():
    rng = np.random.default_rng(3)
    looks = [_look(i, rng, 0.9, latency=0.01 if i < 100 else 0.015) for i in range(150)]
    evidence = detect_drop(DropTest("latency_p95_seconds", "rise"), looks[:50], looks[50:])
    assert evidence.alarmed
    assert evidence.before["share_above"] == pytest.approx(0.05, abs=0.02)
    assert evidence.after["share_above"] > 0.1


def test_short_looks_merge_until_they_hold_min_samples():
    looks = _looks(10_000, 0.9, 0.9, n=120)
    evidence = detect_drop(DropTest("accuracy", min_samples=300), looks[:60], looks[60:])
    assert evidence.looks == 20 and evidence.samples == 6000


def test_a_threshold_replaces_the_reference():
    looks = _looks(10_000, 0.85, 0.85, n=60)
    evidence = detect_drop(DropTest("accuracy", baseline=0.9), [], looks)
    assert evidence.alarmed and evidence.before == {"threshold": 0.9}


def test_an_unbounded_metric_has_no_sequential_test_and_says_why():
    looks = _looks(10_000, 0.9, 0.9, n=60)
    evidence = detect_drop(DropTest("latency_mean_seconds", "rise"), looks[:30], looks[30:])
    assert not evidence.ready and "unbounded" in (evidence.reason or "")


def test_too_short_a_reference_is_not_ready():
    looks = _looks(10_000, 0.9, 0.9, n=10)
    evidence = detect_drop(DropTest("f1"), looks[:3], looks[3:])
    assert not evidence.ready and "reference holds 3 looks" in (evidence.reason or "")


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([0, 3, 20, 60, 150]), min_size=1, max_size=300),
    drop_at=st.integers(0, 300),
    min_samples=st.sampled_from([1, 50, 100]),
    cuts=st.lists(st.integers(0, 90), max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_run_of_looks_fed_at_once_equals_feeding_them_one_by_one(
    sizes, drop_at, min_samples, cuts, seed
):
    # Looks of uneven sizes (some empty) summed into units of min_samples, a drop part
    # way: the units, the statistic, the first alarm and the evidence are the same
    # however the looks are batched.
    rng = np.random.default_rng(seed)
    n = np.array(sizes, dtype=float)
    x = rng.binomial(n.astype(int), np.where(np.arange(n.size) < drop_at, 0.9, 0.7)).astype(float)
    looks = [
        LookCount(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1), xi, ni, int(ni))
        for i, (xi, ni) in enumerate(zip(x.tolist(), n.tolist(), strict=True))
    ]
    test = DropTest("accuracy", min_samples=min_samples, alpha=0.01)
    one_by_one = start_run(test, [LookCount(T0, T0, 880.0, 1000.0, 1000)])
    batched = start_run(test, [LookCount(T0, T0, 880.0, 1000.0, 1000)])
    assert isinstance(one_by_one, DropRun) and isinstance(batched, DropRun)
    for look in looks:
        one_by_one.feed(look)
    columns, at = LookCounts.of(looks), 0
    for cut in [*cuts, len(looks)]:
        batched.feed_many(columns[at : at + cut])
        at += cut
    assert batched.unit_starts == one_by_one.unit_starts
    assert batched.evidence().to_dict() == one_by_one.evidence().to_dict()


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([0, 1, 3, 20, 60, 150]), min_size=1, max_size=120),
    min_samples=st.sampled_from([0, 1, 50, 100, 400]),
    carried=st.integers(0, 60),
)
def test_units_grouped_in_numpy_equal_the_units_grouped_look_by_look(sizes, min_samples, carried):
    looks = LookCounts.of(
        [
            LookCount(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1), s // 2, s, s)
            for i, s in enumerate(sizes)
        ]
    )
    test = DropTest("accuracy", min_samples=min_samples)
    run = start_run(test, [LookCount(T0, T0, 880.0, 1000.0, 1000)])
    assert isinstance(run, DropRun)
    # A unit partly filled before (fewer samples than min_samples).
    run.feed(LookCount(T0, T0, 0.0, float(carried), min(carried, max(min_samples - 1, 0))))
    other = run.copy()
    assert run._group(looks) == other._group_one_by_one(looks)
    assert (run._start, run._x, run._n, run._held) == (
        other._start,
        other._x,
        other._n,
        other._held,
    )
