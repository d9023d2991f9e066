"""The scan of windows off the rollups' bucket grid reads every group in a few GROUP
BYs: each group must equal the one-scope read (``aggregate``) of a scope naming it —
binary and multiclass models in one read, versions and segments, exact and binned
score keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from liveeval.store import Scope, StoreStats
from liveeval.store.duck import _grouped_scan
from liveeval.store.duck._grouped_scan import _EPOCH, _scope_labels, grouped_scan
from liveeval.store.duck.aggregate import _where, aggregate

from ..scenario import TS, Scenario, close_source, make_scenario, open_engine


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    a = make_scenario(3, n=160, model="a")
    b = make_scenario(5, n=120, multiclass=True, model="b")
    both = Scenario(a.arrivals + b.arrivals, None, None, False)
    engine = open_engine("duckdb-file", tmp_path_factory.mktemp("scan"), both, batching="large")
    yield engine, {"a": (a.classes, a.pos_label), "b": (b.classes, b.pos_label)}
    close_source(engine)


def assert_equal_stats(got: StoreStats, own: StoreStats) -> None:
    assert (got.predictions, got.failed, got.labelled, got.unmatched_outcomes) == (
        own.predictions,
        own.failed,
        own.labelled,
        own.unmatched_outcomes,
    )
    assert got.labels == own.labels and got.notes == own.notes
    assert got.values[0] == own.values[0] and got.values[3] == own.values[3]
    assert got.values[1:3] == pytest.approx(own.values[1:3], rel=1e-12)
    if own.evaluation is None:
        assert got.evaluation is None
        return
    a, b = got.evaluation, own.evaluation
    assert a is not None and (a.labels, a.pos_label) == (b.labels, b.pos_label)
    np.testing.assert_array_equal(a.confusion.counts, b.confusion.counts)
    assert (a.latency is None) == (b.latency is None)
    if a.latency is not None and b.latency is not None:
        np.testing.assert_array_equal(a.latency.keys, b.latency.keys)
        np.testing.assert_array_equal(a.latency.counts, b.latency.counts)
        assert (a.latency.count, a.latency.zeros, a.latency.maximum) == (
            b.latency.count,
            b.latency.zeros,
            b.latency.maximum,
        )
        assert a.latency.total == pytest.approx(b.latency.total, rel=1e-12)
    for x, y in zip(
        [*(a.scores or []), a.top_label], [*(b.scores or []), b.top_label], strict=True
    ):
        assert (x is None) == (y is None)
        if x is not None and y is not None:
            assert (x.is_exact, x.rows, x.resolution) == (y.is_exact, y.rows, y.resolution)
            for name in ("keys", "positive", "negative"):
                np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)
    assert (a.losses is None) == (b.losses is None)
    if a.losses is not None and b.losses is not None:
        assert a.losses.rows == b.losses.rows
        for name in ("log_loss", "log_loss_sq", "brier", "brier_sq"):
            assert getattr(a.losses, name) == pytest.approx(getattr(b.losses, name), rel=1e-12)


def _own_scope(scope: Scope, model: str, by: tuple[str, ...], key: tuple[Any, ...], every: Any):
    narrowed = replace(scope, model=model)
    for column, value in zip(by, key, strict=False):
        if column == "version":
            narrowed = replace(narrowed, version=value)
        elif value is None:
            narrowed = replace(narrowed, segment_is_null=True)
        else:
            narrowed = replace(narrowed, segment=value)
    if every is not None:
        start = key[-1]
        assert (start - _EPOCH) % every == dt.timedelta(0)
        since = max(start, scope.since) if scope.since else start
        until = min(start + every, scope.until) if scope.until else start + every
        narrowed = replace(narrowed, since=since, until=until)
    return narrowed


@pytest.mark.parametrize("by", [(), ("version", "segment")], ids=str)
@pytest.mark.parametrize("every", [dt.timedelta(minutes=7), dt.timedelta(hours=5), None], ids=str)
@pytest.mark.parametrize("limit", [250_000, 3], ids=["exact", "binned"])
def test_each_group_of_a_scan_equals_a_read_of_its_own_scope(store, monkeypatch, by, every, limit):
    engine, labels = store
    if limit == 3 and every == dt.timedelta(minutes=7):
        pytest.skip("7-minute windows hold at most 3 predictions: no binned keys")
    # A low limit: every group with more than 3 ok predictions has binned score keys.
    monkeypatch.setattr(_grouped_scan, "DEFAULT_EXACT_LIMIT", limit)
    cur = engine._cursor()
    # Cut inside buckets at both ends; 7-minute windows over half a day (each group is
    # read again one by one below).
    end = dt.timedelta(hours=14) if every == dt.timedelta(minutes=7) else dt.timedelta(days=2)
    scope = Scope("", TS + dt.timedelta(minutes=50), TS + end + dt.timedelta(minutes=5))
    seconds = None if every is None else every.total_seconds()
    found = grouped_scan(cur, scope, {**labels, "absent": (None, None)}, by, seconds, None)
    assert found["absent"] == {}
    shared = _scope_labels(cur, *_where(scope, "l", [*labels]), labels)
    for model, (classes, pos_label) in labels.items():
        assert len(found[model]) >= (2 if by or every else 1)
        for key, stats in found[model].items():
            own = aggregate(
                cur,
                _own_scope(scope, model, by, key, every),
                classes=classes,
                pos_label=pos_label,
                exact_limit=limit,
                shared=shared[model],
            )
            assert_equal_stats(stats, own)
    binned = [s for g in found.values() for s in g.values() if s.evaluation and s.evaluation.scores]
    exact = [s.evaluation.scores[0].is_exact for s in binned]  # type: ignore[union-attr,index]
    assert exact == [s.predictions - s.failed <= limit for s in binned]
    if every != dt.timedelta(minutes=7):
        assert (not all(exact)) == (limit == 3)
