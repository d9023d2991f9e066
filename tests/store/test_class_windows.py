"""A multiclass model's class-probability windows from the rollups equal the histograms
numpy bins from the events the store keeps (``monitor.class_score_histograms`` on the
kept rows: a scan), on every engine, whatever the arrival order and batching."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from liveeval.errors import ValidationError
from liveeval.monitor import class_score_histograms
from liveeval.store import Scope, StatisticsSource
from liveeval.store.interface import ClassScoreHistograms

from .scenario import (
    ENGINES,
    TS,
    Scenario,
    close_source,
    in_scope,
    label_of,
    make_scenario,
    open_engine,
)

EPOCH = dt.datetime(1970, 1, 1)


@pytest.fixture(scope="module", params=ENGINES)
def multiclass(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    scenario = make_scenario(23, n=200, multiclass=True, k=3)
    # Batches of 20-60 arrivals: the batching itself is another test's subject.
    source = open_engine(
        request.param,
        tmp_path_factory.mktemp(request.param),
        scenario,
        request,
        batching="large",
    )
    yield source, scenario
    close_source(source)


def scanned(
    scenario: Scenario, scope: Scope, every: dt.timedelta | None
) -> dict[dt.datetime, ClassScoreHistograms]:
    """The kept ok predictions of ``scope`` binned per window by numpy."""
    classes = list(scenario.classes or ())
    rows = [p for p in scenario.predictions.values() if p["status"] == "ok" and in_scope(scope, p)]
    if not rows:
        return {}
    starts = [
        (scope.since or EPOCH) if every is None else EPOCH + (p["ts"] - EPOCH) // every * every
        for p in rows
    ]
    keys = sorted(set(starts))
    window = np.array([keys.index(s) for s in starts], dtype=np.int64)
    truth = []
    for p in rows:
        o = scenario.outcomes.get(p["id"])
        truth.append(-1 if o is None else classes.index(label_of(o["label"])))
    parts = class_score_histograms(
        window,
        len(keys),
        np.array([p["probas"] for p in rows]),
        y_pred=np.array([classes.index(label_of(p["label"])) for p in rows]),
        y_true=np.array(truth),
    )
    return dict(zip(keys, parts, strict=True))


def assert_equal(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for start, h in got.items():
        e = expected[start]
        for name in ("predicted", "labelled", "labelled_hit", "labelled_confusion"):
            np.testing.assert_array_equal(getattr(h, name), getattr(e, name), err_msg=name)


@pytest.mark.parametrize(
    ("scope", "every"),
    [
        (Scope("m"), dt.timedelta(hours=1)),
        (Scope("m"), dt.timedelta(minutes=15)),
        (Scope("m"), None),
        (Scope("m", version="v2", segment="a"), dt.timedelta(hours=6)),
        (Scope("m", since=TS + dt.timedelta(hours=6), until=TS + dt.timedelta(days=2)), None),
        (Scope("m", since=TS + dt.timedelta(minutes=45)), dt.timedelta(minutes=30)),
    ],
    ids=str,
)
def test_class_score_windows_equal_a_scan_of_the_kept_events(multiclass, scope, every):
    source, scenario = multiclass
    got = source.class_score_histograms(scope, every, classes=scenario.classes)
    assert_equal(got, scanned(scenario, scope, every))


def test_class_score_windows_without_declared_classes_use_the_sorted_labels(multiclass):
    source, scenario = multiclass
    assert_equal(
        source.class_score_histograms(Scope("m"), dt.timedelta(days=1)),
        scanned(scenario, Scope("m"), dt.timedelta(days=1)),
    )


def test_class_score_windows_leave_out_labels_outside_the_classes(multiclass):
    # As the confusion matrix: rows labelled 2 (no class of the declared 0/1) have no
    # probability column and are left out; every other row is read. (The scenario's
    # rows carry 3 probabilities, none of which fits 2 classes.)
    source, _ = multiclass
    got = source.class_score_histograms(Scope("m"), dt.timedelta(days=1), classes=(0, 1))
    assert all(h.labels == (0, 1) for h in got.values())


def test_class_score_windows_refuse_windows_off_the_bucket_grid(multiclass):
    source, _ = multiclass
    with pytest.raises(ValidationError, match="window 0:10:00 is not a multiple of the 0:15:00"):
        source.class_score_histograms(Scope("m"), dt.timedelta(minutes=10))


def test_a_binary_store_has_no_class_score_windows(tmp_path, request):
    source: StatisticsSource = open_engine("duckdb-memory", tmp_path, make_scenario(5, n=40))
    try:
        assert source.class_score_histograms(Scope("m"), dt.timedelta(hours=1)) == {}
    finally:
        close_source(source)


@pytest.mark.parametrize("seed", [3])
def test_class_score_windows_do_not_depend_on_arrival_order(tmp_path, request, seed):
    base = make_scenario(29, n=120, multiclass=True)
    order = list(np.random.default_rng(seed).permutation(len(base.arrivals)))
    shuffled = Scenario([base.arrivals[i] for i in order], base.classes, None, True)
    for engine in ("duckdb-file", "postgresql"):
        source = open_engine(engine, tmp_path / engine, shuffled, request)
        try:
            every = dt.timedelta(hours=3)
            assert_equal(
                source.class_score_histograms(Scope("m"), every, classes=shuffled.classes),
                scanned(shuffled, Scope("m"), every),
            )
        finally:
            close_source(source)


def test_the_v8_migration_backfills_the_class_probability_rollups(tmp_path):
    """A store written before v8 (its probability rollups dropped, that migration
    unapplied; its number found, not assumed) gets them from its stored events at the
    next open, equal to the loads' own."""
    import duckdb

    from liveeval.store import open_store
    from liveeval.store.duck.rollup import PROBA_TABLES
    from liveeval.store.duck.schema import MIGRATIONS, SCHEMA_VERSION

    version = next(v for v, _, sql in MIGRATIONS if sql == PROBA_TABLES)

    scenario = make_scenario(31, n=120, multiclass=True)
    path = str(tmp_path / "store.duckdb")
    source = open_engine("duckdb-file", tmp_path, scenario)
    every = dt.timedelta(hours=1)
    loaded = source.class_score_histograms(Scope("m"), every, classes=scenario.classes)
    close_source(source)
    # Unapply that migration and every later one (their tables dropped too), as a store
    # written before v8 was.
    later = [sql for v, _, sql in MIGRATIONS if v > version]
    con = duckdb.connect(path)
    con.execute("DROP TABLE rollup_probas; DROP TABLE rollup_probas_hourly")
    for table in re.findall(r"CREATE TABLE (\w+)", "\n".join(later)):
        con.execute(f"DROP TABLE {table}")
    con.execute("DELETE FROM schema_migrations WHERE version >= ?", [version])
    con.close()
    store = open_store(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert_equal(
            store.class_score_histograms(Scope("m"), every, classes=scenario.classes), loaded
        )
        assert_equal(loaded, scanned(scenario, Scope("m"), every))
    finally:
        store.close()
