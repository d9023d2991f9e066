"""One read of several models' windows (the dashboard's overview) equals each model's
own grouped read, on every engine: from the rollups on bucket boundaries, from scans
off them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from liveeval.store import Scope, StoreStats
from liveeval.store.interface import GroupedArrays, ModelArraysSource

from .scenario import ENGINES, TS, Scenario, close_source, make_scenario, open_engine


def assert_same(one: StoreStats, own: StoreStats) -> None:
    """The same counts, confusion matrix, latency sketch and score distribution (every
    metric is computed from these; the rollup read's own equality with scans is
    tests/store/test_rollup.py's)."""
    assert (one.predictions, one.failed, one.labelled, one.unmatched_outcomes) == (
        own.predictions,
        own.failed,
        own.labelled,
        own.unmatched_outcomes,
    )
    assert one.labels == own.labels and one.notes == own.notes
    # Sums in another order (PostgreSQL sums per window first): equal to rounding.
    assert one.values == pytest.approx(own.values, rel=1e-12)
    if own.evaluation is None:
        assert one.evaluation is None
        return
    assert one.evaluation is not None
    a, b = one.evaluation, own.evaluation
    np.testing.assert_array_equal(a.confusion.counts, b.confusion.counts)
    assert (a.latency is None) == (b.latency is None)
    if a.latency is not None and b.latency is not None:
        np.testing.assert_array_equal(a.latency.counts, b.latency.counts)
        assert a.latency.count == b.latency.count
        assert a.latency.total == pytest.approx(b.latency.total, rel=1e-12)
    assert [s.total_positive for s in a.scores or []] == [s.total_positive for s in b.scores or []]
    if a.is_binary:
        assert a.point("recall") == b.point("recall")


@pytest.fixture(scope="module", params=ENGINES)
def two_models(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A binary model "a" and a multiclass model "b" in one store."""
    a = make_scenario(3, n=120, model="a")
    b = make_scenario(5, n=90, multiclass=True, model="b")
    both = Scenario(a.arrivals + b.arrivals, None, None, False)
    # Batches of 20-60 arrivals: the batching itself is another test's subject.
    source = open_engine(
        request.param,
        tmp_path_factory.mktemp(request.param),
        both,
        request,
        batching="large",
    )
    yield source, {"a": (a.classes, a.pos_label), "b": (b.classes, b.pos_label)}
    close_source(source)


@pytest.mark.parametrize(
    ("every", "since"),
    [
        (dt.timedelta(hours=6), None),
        (dt.timedelta(hours=3), TS + dt.timedelta(days=1)),
        (dt.timedelta(minutes=40), TS + dt.timedelta(hours=48)),  # off the bucket grid
    ],
    ids=["6h", "3h-since", "40min-scanned"],
)
def test_one_read_of_every_model_equals_each_models_own_read(two_models, every, since):
    source, labels = two_models
    everything = source.models_grouped_statistics(
        {**labels, "absent": (None, None)}, ("version",), every=every, since=since
    )
    assert set(everything) == {"a", "b", "absent"}
    assert everything["absent"] == {}
    for model, (classes, pos_label) in labels.items():
        own = source.grouped_statistics(
            Scope(model, since), ("version",), every=every, classes=classes, pos_label=pos_label
        )
        assert own and list(everything[model]) == list(own)
        for key, stats in own.items():
            assert_same(everything[model][key], stats)


def test_no_models_is_an_empty_answer(two_models):
    source, _ = two_models
    assert source.models_grouped_statistics({}, every=dt.timedelta(hours=1)) == {}


def test_a_read_without_scores_keeps_every_count_and_drops_the_score_distributions(two_models):
    source, labels = two_models
    every = dt.timedelta(hours=6)
    with_scores = source.models_grouped_statistics(labels, ("version",), every=every)
    without = source.models_grouped_statistics(labels, ("version",), every=every, scores=False)
    assert list(without["a"]) == list(with_scores["a"])
    for key, stats in with_scores["a"].items():
        lean = without["a"][key]
        assert (lean.predictions, lean.labelled) == (stats.predictions, stats.labelled)
        if stats.evaluation is not None:
            assert lean.evaluation is not None and not lean.evaluation.scores
            np.testing.assert_array_equal(
                lean.evaluation.confusion.counts, stats.evaluation.confusion.counts
            )
            assert lean.evaluation.point("recall") == stats.evaluation.point("recall")


def _same_columns(got: GroupedArrays, own: GroupedArrays) -> None:
    """The same groups, columns and per-group statistics as the model's own read."""
    assert got.keys == own.keys
    np.testing.assert_array_equal(got.binary, own.binary)
    assert (got.labels, got.pos_label, got.unmatched) == (own.labels, own.pos_label, own.unmatched)
    np.testing.assert_array_equal(got.confusion, own.confusion)
    np.testing.assert_array_equal(got.latency, own.latency)
    for a, b in zip(got.sketch_keys, own.sketch_keys, strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(got.other) == set(own.other)
    for g in range(len(own)):
        assert_same(got.stats(g), own.stats(g))
        la, lb = got.losses[g], own.losses[g]
        assert (la is None) == (lb is None)
        if la is not None and lb is not None:
            assert (la.rows, la.log_loss, la.brier) == pytest.approx(
                (lb.rows, lb.log_loss, lb.brier), rel=1e-12
            )
        sa, sb = got.scores[g], own.scores[g]
        assert (sa is None) == (sb is None)
        if sa is not None and sb is not None:
            np.testing.assert_array_equal(sa.keys, sb.keys)
            np.testing.assert_array_equal(sa.positive, sb.positive)
            np.testing.assert_array_equal(sa.negative, sb.negative)


@pytest.mark.parametrize(
    ("every", "since"),
    [
        (dt.timedelta(hours=6), None),
        (dt.timedelta(hours=3), TS + dt.timedelta(days=1)),
        (dt.timedelta(minutes=40), TS + dt.timedelta(hours=48)),  # off the bucket grid
    ],
    ids=["6h", "3h-since", "40min-scanned"],
)
def test_one_columnar_read_of_every_model_equals_each_models_own_columnar_read(
    two_models, every, since
):
    source, labels = two_models
    if not isinstance(source, ModelArraysSource):
        pytest.skip("this engine has no columnar read of many models (the overview converts)")
    everything = source.models_grouped_statistic_arrays(
        {**labels, "absent": (None, None)}, ("version",), every=every, since=since
    )
    assert set(everything) == {"a", "b", "absent"} and len(everything["absent"]) == 0
    for model, (classes, pos_label) in labels.items():
        own = source.grouped_statistic_arrays(
            Scope(model, since), ("version",), every=every, classes=classes, pos_label=pos_label
        )
        assert len(own)
        _same_columns(everything[model], own)
    # The binary model's labelled windows are columns; the multiclass model has none.
    assert everything["a"].binary.any() and not everything["b"].binary.any()


def test_a_columnar_read_without_scores_keeps_every_count_and_drops_scores_and_losses(
    two_models,
):
    source, labels = two_models
    if not isinstance(source, ModelArraysSource):
        pytest.skip("this engine has no columnar read of many models (the overview converts)")
    every = dt.timedelta(hours=6)
    with_scores = source.models_grouped_statistic_arrays(labels, ("version",), every=every)
    lean = source.models_grouped_statistic_arrays(labels, ("version",), every=every, scores=False)
    grouped = source.models_grouped_statistics(labels, ("version",), every=every, scores=False)
    for model in labels:
        a, b = lean[model], with_scores[model]
        assert a.keys == b.keys == tuple(grouped[model])
        np.testing.assert_array_equal(a.confusion, b.confusion)
        np.testing.assert_array_equal(a.labelled, b.labelled)
        assert all(s is None for s in a.scores) and all(s is None for s in a.losses)
        for g, key in enumerate(a.keys):
            assert_same(a.stats(g), grouped[model][key])
