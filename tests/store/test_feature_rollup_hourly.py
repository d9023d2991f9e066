"""Hourly feature rollups (schema v11): an hour row is the sum of its four 15-minute
rows in every arrival order, and a read of whole-hour windows through them equals
the 15-minute read (the path before them, kept as the oracle) and numpy on the
events, at any scope edges. Also live drift's columnar score read against the score
histograms."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import numpy as np
import pytest

from liveeval.store import Scope
from liveeval.store.duck import feature_windows as fw
from liveeval.store.duck import rollup, rollup_features
from liveeval.store.duck.schema import BACKFILLS, MIGRATIONS, SCHEMA_VERSION
from liveeval.store.interface import FeatureWindows, ScoreWindows, ScoreWindowSource
from liveeval.store.table import TableSource

from .scenario import TS, Scenario, close_source, in_scope, make_scenario, open_engine

HOUR = dt.timedelta(hours=1)
MINUTES = dt.timedelta(minutes=1)
# Engines that keep the hourly feature rollups: DuckDB loads batch by batch, and a
# table source builds them in one pass.
HOURLY_ENGINES = ["duckdb-file", "table-arrow"]


@pytest.fixture(scope="module", params=HOURLY_ENGINES)
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollup_features, "FREEZE_VALUES", 60)
        scenario = make_scenario(13, n=240)
        source = open_engine(request.param, tmp_path_factory.mktemp(request.param), scenario)
    # The numbers' bins are fixed (the read sums stored bin lists, not a scan).
    assert cursor(source).execute("SELECT count(*) FROM feature_bins").fetchall() == [(1,)]
    yield source, scenario
    close_source(source)


def cursor(source: Any) -> duckdb.DuckDBPyConnection:
    if isinstance(source, TableSource):
        return source._con.cursor()
    return source._cursor()


def assert_same_windows(a: FeatureWindows, b: FeatureWindows) -> None:
    assert a.starts == b.starts and a.names == b.names and a.edges == b.edges
    for field in ("rows", "missing", "strings", "bins"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for (va, ca), (vb, cb) in zip(a.categories, b.categories, strict=True):
        assert va == vb
        np.testing.assert_array_equal(ca, cb)


SCOPES = [
    (Scope("m"), HOUR),
    (Scope("m"), 2 * HOUR),
    (Scope("m"), dt.timedelta(days=1)),
    (Scope("m"), None),
    (Scope("m", version="v2"), HOUR),
    # Partial hours at either edge or both: whole hours hourly, the edges per bucket.
    (Scope("m", TS + 15 * MINUTES, TS + dt.timedelta(days=2, minutes=45)), HOUR),
    (Scope("m", TS + 45 * MINUTES, TS + dt.timedelta(hours=30)), 3 * HOUR),
    (Scope("m", TS + dt.timedelta(hours=5), TS + dt.timedelta(hours=40, minutes=30)), None),
    # Within one hour, and whole hours only.
    (Scope("m", TS + 15 * MINUTES, TS + 45 * MINUTES), HOUR),
    (Scope("m", TS + 6 * HOUR, TS + 9 * HOUR), HOUR),
    # Windows that are not whole hours: the 15-minute rows alone.
    (Scope("m"), dt.timedelta(minutes=30)),
    (Scope("m", TS + 15 * MINUTES), dt.timedelta(minutes=90)),
]


@pytest.mark.parametrize(("scope", "every"), SCOPES, ids=str)
def test_hourly_reads_equal_the_fifteen_minute_read(stored, scope, every):
    source, _ = stored
    cur = cursor(source)
    oracle = fw.feature_window_arrays(cur, scope, every, max_categories=2, hourly=False)
    assert oracle.starts
    got = fw.feature_window_arrays(cur, scope, every, max_categories=2, hourly=True)
    assert_same_windows(got, oracle)
    assert_same_windows(source.feature_window_arrays(scope, every, max_categories=2), oracle)


@pytest.mark.parametrize(("scope", "every"), SCOPES[5:9], ids=str)
def test_hourly_reads_at_partial_hours_equal_numpy_on_the_events(stored, scope, every):
    source, scenario = stored
    edges = np.array(source.feature_bins("m")["amount"])
    got = source.feature_windows(scope, every)
    expected: dict[dt.datetime, list[Any]] = {}
    for p in scenario.predictions.values():
        if not in_scope(scope, p):
            continue
        start = scope.since or TS if every is None else TS + (p["ts"] - TS) // every * every
        value = json.loads(p["features"]).get("amount", "absent")
        if value != "absent":
            expected.setdefault(start, []).append(value)
    assert {s for s, f in got.items() if "amount" in f} == expected.keys()
    for start, values in expected.items():
        h = got[start]["amount"]
        numbers = np.array([v for v in values if isinstance(v, float | int)], dtype=np.float64)
        assert h.rows == len(values)
        assert list(h.counts) == np.histogram(numbers, bins=edges)[0].tolist()
        assert (h.below, h.above) == (
            int((numbers < edges[0]).sum()),
            int((numbers > edges[-1]).sum()),
        )


def hourly_sums(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The 15-minute rollups summed per hour, and the hourly rollups, as sorted rows."""
    totals = "rows, missing, numbers, strings, other"
    per_hour = rollup.HOUR // rollup.BUCKET_SECONDS

    def lists(table: str, hours: bool) -> dict[tuple[Any, ...], list[int]]:
        out: dict[tuple[Any, ...], np.ndarray] = {}
        for m, v, b, n, bins in con.execute(
            f"SELECT model, version, bucket, name, bins FROM {table} WHERE bins IS NOT NULL"
        ).fetchall():
            key = (m, v, b // per_hour if hours else b, n)
            out[key] = out.get(key, 0) + np.asarray(bins, np.int64)
        return {k: v.tolist() for k, v in sorted(out.items())}

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(con.execute(sql).fetchall())

    hour = f"CAST(floor(bucket / {per_hour}) AS BIGINT)"
    return {
        "summed": (
            rows(
                f"SELECT model, version, {hour}, name, {', '.join(f'sum({c})::BIGINT' for c in totals.split(', '))} "
                "FROM rollup_features GROUP BY ALL"
            ),
            rows(
                f"SELECT model, version, {hour}, name, value, sum(n)::BIGINT "
                "FROM rollup_feature_categories GROUP BY ALL"
            ),
            lists("rollup_features", True),
        ),
        "hourly": (
            rows(f"SELECT model, version, bucket, name, {totals} FROM rollup_features_hourly"),
            rows(
                "SELECT model, version, bucket, name, value, n FROM rollup_feature_categories_hourly"
            ),
            lists("rollup_features_hourly", False),
        ),
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_an_hour_row_is_the_sum_of_its_buckets_in_any_arrival_order(tmp_path, seed):
    base = make_scenario(19, n=150)
    order = np.random.default_rng(seed).permutation(len(base.arrivals)).tolist()
    shuffled = Scenario([base.arrivals[i] for i in order], base.classes, 1.0, False)
    with pytest.MonkeyPatch.context() as patch:
        # Bins fixed mid-stream: the freeze bins stored numbers into both tables.
        patch.setattr(rollup_features, "FREEZE_VALUES", 40)
        source = open_engine("duckdb-file", tmp_path, shuffled)
    try:
        sums = hourly_sums(cursor(source))
        assert sums["hourly"][0] and sums["hourly"][2]
        assert sums["hourly"] == sums["summed"]
    finally:
        close_source(source)


def test_the_hourly_migration_backfills_the_hours_of_a_store_without_them(tmp_path):
    (version,) = [v for v, _, sql in MIGRATIONS if sql == rollup.HOURLY_FEATURE_TABLES]
    assert version <= SCHEMA_VERSION
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollup_features, "FREEZE_VALUES", 40)
        source = open_engine("duckdb-file", tmp_path, make_scenario(19, n=150))
    try:
        con = cursor(source)
        written = hourly_sums(con)
        assert written["hourly"] == written["summed"]
        # A store as the code before v11 left it: 15-minute rows only.
        con.execute(
            "DROP TABLE rollup_features_hourly; DROP TABLE rollup_feature_categories_hourly"
        )
        con.execute(dict((v, sql) for v, _, sql in MIGRATIONS)[version])
        BACKFILLS[version](con)
        assert hourly_sums(con) == written
    finally:
        close_source(source)


@pytest.mark.parametrize(
    ("scope", "every"),
    [
        (Scope("m"), HOUR),
        (Scope("m"), None),
        (Scope("m", version="v1"), dt.timedelta(minutes=15)),
        (Scope("m", TS + 15 * MINUTES, TS + dt.timedelta(hours=30)), 3 * HOUR),
    ],
    ids=str,
)
def test_score_window_arrays_are_the_score_histograms_summed(stored, scope, every):
    """Live drift's one read of a binary model's scores (lists of the predictions,
    counts of the labelled pairs) equals the score histograms it replaced."""
    source, scenario = stored
    assert isinstance(source, ScoreWindowSource)
    kw: dict[str, Any] = {"classes": scenario.classes, "pos_label": scenario.pos_label}
    got = source.score_window_arrays(scope, every, **kw)
    expected = ScoreWindows.of(source.score_histograms(scope, every, **kw))
    assert got.starts == expected.starts and len(got.starts) > 0
    for field in ("scores", "predicted", "labelled"):
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))
    assert got.labelled.sum() > 0
