"""The store contract: every engine gives the same statistics for the same events,
equal to scikit-learn's on the events the store keeps.

Engines: a DuckDB file (journal, group commit and in-line commits mixed), DuckDB
``:memory:`` (no journal), a :class:`TableSource` over Arrow tables, a
:class:`TableSource` over the Parquet that ``export`` writes, and a PostgreSQL database
on a real server started for the session. Events arrive in a
random order (outcomes before their predictions), with retries (duplicates),
conflicting repeats (the first one counts), failed predictions, outcome labels in
every JSON type of one class, segments (one of them long and not ASCII), versions
and three days of timestamps. The shared fixtures are written in batches of 20-60
arrivals; ``test_every_engine_gives_the_same_statistics`` and the arrival-order tests
in batches of 1-12 events (``scenario._batches``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pytest

from liveeval.store import Scope

from .scenario import (
    ENGINES,
    LONG_SEGMENT,
    TS,
    Scenario,
    category_of,
    check_against_sklearn,
    close_source,
    make_scenario,
    open_engine,
    reference_features,
)


@pytest.fixture(scope="module", params=ENGINES)
def binary(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    scenario = make_scenario(7)
    source = open_engine(
        request.param, tmp_path_factory.mktemp(request.param), scenario, request, batching="large"
    )
    yield source, scenario
    close_source(source)


@pytest.fixture(scope="module", params=ENGINES)
def multiclass(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    scenario = make_scenario(11, multiclass=True)
    source = open_engine(
        request.param, tmp_path_factory.mktemp(request.param), scenario, request, batching="large"
    )
    yield source, scenario
    close_source(source)


SCOPES = [
    Scope("m"),
    Scope("m", version="v1"),
    Scope("m", segment="a"),
    Scope("m", segment=LONG_SEGMENT),
    Scope("m", segment_is_null=True),
    Scope("m", since=TS + dt.timedelta(days=1), until=TS + dt.timedelta(days=2)),
    Scope("m", version="v2", segment="b", since=TS + dt.timedelta(hours=12)),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: repr(s)[:60])
def test_binary_statistics_equal_sklearn_on_every_engine(binary, scope):
    source, scenario = binary
    stats = source.statistics(scope, classes=scenario.classes, pos_label=scenario.pos_label)
    check_against_sklearn(stats, scenario, scope)


@pytest.mark.parametrize("scope", SCOPES[:3], ids=lambda s: repr(s)[:60])
def test_multiclass_statistics_equal_sklearn_on_every_engine(multiclass, scope):
    source, scenario = multiclass
    stats = source.statistics(scope, classes=scenario.classes)
    check_against_sklearn(stats, scenario, scope)


def test_multiclass_probabilities_align_with_sorted_labels_when_no_classes_are_declared(
    multiclass,
):
    source, scenario = multiclass
    declared = source.statistics(Scope("m"), classes=scenario.classes)
    found = source.statistics(Scope("m"))
    assert found.labels == declared.labels
    assert found.evaluation is not None and declared.evaluation is not None
    a = found.evaluation.result().metrics
    b = declared.evaluation.result().metrics
    for name in ("roc_auc", "log_loss", "brier", "expected_calibration_error"):
        # Sums run in parallel in the database: equal to the last bits, not bit for bit.
        assert a[name].value == pytest.approx(b[name].value, rel=1e-12)


@pytest.mark.parametrize("classes", [(0, 1), (0.0, 1.0)])
def test_one_class_in_any_json_type_whatever_type_the_model_declares(binary, classes):
    source, scenario = binary
    stats = source.statistics(Scope("m"), classes=classes, pos_label=classes[1])
    assert stats.labels == classes
    check_against_sklearn(stats, scenario, Scope("m"))


GROUPINGS: list[tuple[tuple[str, ...], dt.timedelta | None]] = [
    (("version",), None),
    (("segment",), None),
    (("version", "segment"), None),
    ((), dt.timedelta(days=1)),
    (("version",), dt.timedelta(hours=6)),
]


@pytest.mark.parametrize(("by", "every"), GROUPINGS)
def test_groups_equal_their_scopes_and_add_up_to_the_whole(binary, by, every):
    source, scenario = binary
    whole = source.statistics(Scope("m"), classes=scenario.classes, pos_label=scenario.pos_label)
    groups = source.grouped_statistics(
        Scope("m"), by, every=every, classes=scenario.classes, pos_label=scenario.pos_label
    )
    assert groups
    total = np.zeros((2, 2))
    for key, stats in groups.items():
        values = dict(zip(by, key, strict=False))
        scope = Scope(
            "m",
            version=values.get("version"),
            segment=values.get("segment"),
            segment_is_null="segment" in values and values["segment"] is None,
        )
        if every is not None:
            scope = Scope(
                "m",
                since=key[-1],
                until=key[-1] + every,
                version=scope.version,
                segment=scope.segment,
                segment_is_null=scope.segment_is_null,
            )
        check_against_sklearn(stats, scenario, scope)
        if stats.evaluation is not None:
            total += stats.evaluation.confusion.counts
    assert sum(s.predictions for s in groups.values()) == whole.predictions
    assert sum(s.labelled for s in groups.values()) == whole.labelled
    assert whole.evaluation is not None
    np.testing.assert_array_equal(total, whole.evaluation.confusion.counts)


def test_every_engine_gives_the_same_statistics(tmp_path, request):
    scenario = make_scenario(3, n=120)
    results = []
    for name in ENGINES:
        source = open_engine(name, tmp_path / name, scenario, request)
        stats = source.statistics(Scope("m"), classes=scenario.classes, pos_label=1.0)
        assert stats.evaluation is not None
        results.append(
            (
                stats.predictions,
                stats.failed,
                stats.labelled,
                stats.unmatched_outcomes,
                stats.values,
                {k: r.value for k, r in stats.evaluation.result().metrics.items()},
            )
        )
        assert source.models() == {"m"}
        assert source.has_model("m") and not source.has_model("n")
        assert source.versions_since(None) == [("m", "v1"), ("m", "v2")]
        assert source.count("predictions") == len(scenario.predictions)
        assert source.count("outcomes") == len(scenario.outcomes)
        close_source(source)
    first = results[0]
    for r in results[1:]:
        assert r[:4] == first[:4]
        assert r[4] == pytest.approx(first[4], rel=1e-12)
        assert r[5].keys() == first[5].keys()
        for name, value in r[5].items():
            assert value == pytest.approx(first[5][name], rel=1e-12, nan_ok=True), name


@pytest.mark.parametrize("engine", ["duckdb-file", "postgresql"])
@pytest.mark.parametrize("seed", [1, 2])
def test_arrival_order_does_not_change_statistics(tmp_path, request, seed, engine):
    scenario = make_scenario(5, n=80)
    rng = np.random.default_rng(seed)
    # Same events, another order; conflicting repeats are dropped so "first" is the same.
    originals = [
        (k, e)
        for k, e in scenario.arrivals
        if e is scenario.predictions.get(e.get("id", ""))
        or e is scenario.outcomes.get(e.get("prediction_id", ""))
    ]
    shuffled = Scenario(
        [originals[i] for i in rng.permutation(len(originals))], (0.0, 1.0), 1.0, False
    )
    source = open_engine(engine, tmp_path, shuffled, request)
    try:
        check_against_sklearn(
            source.statistics(Scope("m"), classes=(0.0, 1.0), pos_label=1.0), shuffled, Scope("m")
        )
    finally:
        close_source(source)


# -- feature histograms ------------------------------------------------------------------


@pytest.mark.parametrize("scope", SCOPES[:4], ids=lambda s: repr(s)[:60])
def test_feature_histograms_equal_numpy_on_every_engine(binary, scope):
    source, scenario = binary
    got = source.feature_histograms(scope, bins=8)
    expected = reference_features(scenario, scope)
    assert set(got) == set(expected)
    for name, values in expected.items():
        h = got[name]
        assert h.rows == len(values)
        assert h.missing == sum(v is None for v in values)
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            counts, edges = np.histogram(numbers, bins=8)
            np.testing.assert_allclose(h.edges, edges, rtol=1e-12)
            assert list(h.counts) == counts.tolist()
        else:
            assert h.edges == () and h.counts == ()
        others = Counter(
            category_of(v)
            for v in values
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool))
        )
        assert h.categories == dict(others)
        assert h.other == 0
        total = sum(h.counts) + h.below + h.above + sum(h.categories.values()) + h.other
        assert total + h.missing == h.rows


def test_feature_histograms_take_given_edges_and_count_outside_them(binary):
    source, scenario = binary
    edges = [0.0, 10.0, 20.0, 40.0]
    got = source.feature_histograms(Scope("m"), ["amount"], edges={"amount": edges})
    assert set(got) == {"amount"}
    amounts = np.array(reference_features(scenario, Scope("m"))["amount"])
    h = got["amount"]
    assert h.edges == tuple(edges)
    assert list(h.counts) == np.histogram(amounts, bins=edges)[0].tolist()
    assert h.above == int((amounts > 40.0).sum())
    assert h.below == 0


def test_feature_histograms_keep_the_most_frequent_categories(binary):
    source, scenario = binary
    got = source.feature_histograms(Scope("m"), ["country"], max_categories=2)["country"]
    counts = Counter(reference_features(scenario, Scope("m"))["country"])
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    assert got.categories == dict(top)
    assert got.other == sum(counts.values()) - sum(n for _, n in top)


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: repr(s)[:60])
def test_failures_by_window_and_error_type_equal_the_kept_events_on_every_engine(binary, scope):
    from .scenario import in_scope

    source, scenario = binary
    every = dt.timedelta(hours=6)
    expected = Counter(
        (
            dt.datetime(1970, 1, 1) + (p["ts"] - dt.datetime(1970, 1, 1)) // every * every,
            p["version"],
            p["error_type"],
        )
        for p in scenario.predictions.values()
        if p["status"] == "error" and in_scope(scope, p)
    )
    got = source.failures(scope, every)
    assert {(f.start, f.version, f.error_type): f.count for f in got} == dict(expected)
    assert [(f.start, f.version) for f in got] == sorted((f.start, f.version) for f in got)
