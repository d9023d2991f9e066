"""The hourly latency rollup of the PostgreSQL engine (schema v10): it holds the
15-minute latency sketch summed per hour, kept by the roll (amendments included) and
filled by the migration from the rows stored before it, and hourly windows read from
it give the latency a scan gives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from liveeval.store import Scope, encode_label, open_store
from liveeval.store.postgres.schema import MIGRATIONS

from ..scenario import postgres_location

TS = dt.datetime(2026, 11, 1)


def prediction(i: int, latency: float) -> dict[str, Any]:
    return {
        "id": f"p{i}",
        "model": "m",
        "version": "v1" if i % 3 else "v2",
        "ts": TS + dt.timedelta(minutes=7 * i),
        "label": encode_label(i % 2),
        "score": 0.9 if i % 2 else 0.1,
        "status": "ok",
        "latency_total_s": latency,
    }


@pytest.fixture
def location(request: pytest.FixtureRequest) -> str:
    return postgres_location(request)


_PER_HOUR = (
    "SELECT model, version, seg, floor(bucket / 4.0)::bigint AS h, k, sum(n)::bigint "
    "FROM rollup_latency GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4, 5"
)
_HOURLY = (
    "SELECT model, version, seg, bucket, k, n FROM rollup_latency_hourly WHERE n <> 0 "
    "ORDER BY 1, 2, 3, 4, 5"
)


def _rows(location: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(location) as conn:
        return conn.execute(query).fetchall()


def test_the_hourly_latency_rollup_is_the_15_minute_one_summed_per_hour(location):
    engine = open_store(location)
    try:
        engine.commit("predictions", [prediction(i, 0.001 * (1 + i % 37)) for i in range(120)])
        engine.commit("predictions", [prediction(i, 0.5) for i in range(120, 130)])
        # Amendments of rolled predictions move their counts between sketch keys.
        engine.amend_latency([(f"p{i}", TS + dt.timedelta(minutes=7 * i), 2.0) for i in (3, 50)])
        assert engine.count("predictions") == 130  # settles the roll and the amendments
        engine.statistics(Scope("m"))
    finally:
        engine.close()
    hourly = _rows(location, _HOURLY)
    assert hourly == _rows(location, _PER_HOUR)
    assert sum(r[5] for r in hourly) == 130
    assert len({r[3] for r in hourly}) == 16  # 130 predictions 7 minutes apart: 16 hours


def test_the_migration_fills_the_hourly_latency_from_the_stored_15_minute_rows(location):
    version = next(v for v, _, ddl in MIGRATIONS if "rollup_latency_hourly" in ddl)
    with psycopg.connect(location, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for v, description, ddl in MIGRATIONS:
            if v < version:
                conn.execute(ddl)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", [v, description])
        # Two quarters of one hour and one of the next, as an older roll wrote them.
        conn.execute(
            "INSERT INTO rollup_latency VALUES ('m', 'v1', '', 8, -3, 2), ('m', 'v1', '', 9, -3, 5), "
            "('m', 'v1', '', 9, 4, 1), ('m', 'v1', '', 12, -3, 7), ('m', 'v1', '|a', 11, -3, 1)"
        )
    open_store(location).close()
    assert _rows(location, _HOURLY) == [
        ("m", "v1", "", 2, -3, 7),
        ("m", "v1", "", 2, 4, 1),
        ("m", "v1", "", 3, -3, 7),
        ("m", "v1", "|a", 2, -3, 1),
    ]


def test_hourly_windows_of_a_scope_ending_inside_a_window_count_only_the_scope(location):
    engine = open_store(location)
    try:
        engine.commit("predictions", [prediction(i, 0.001 * (1 + i % 23)) for i in range(120)])
        engine.commit(
            "outcomes",
            [
                {"prediction_id": f"p{i}", "label": encode_label(i % 3 % 2), "ts": TS}
                for i in range(120)
            ],
        )
        scope = Scope("m", since=TS + dt.timedelta(hours=1), until=TS + dt.timedelta(hours=7))
        every = dt.timedelta(hours=4)
        kw: dict[str, Any] = {"classes": (0, 1), "pos_label": 1}
        windows = engine.grouped_statistics(scope, ("version",), every=every, **kw)
        assert sorted({k[-1] for k in windows}) == [TS, TS + every]
        for (version, start), rolled in windows.items():
            narrowed = Scope(
                "m",
                version=version,
                since=max(start, TS + dt.timedelta(hours=1)),
                until=min(start + every, TS + dt.timedelta(hours=7)),
            )
            scanned = engine.statistics(narrowed, **kw)
            assert rolled.predictions == scanned.predictions > 0
            assert rolled.evaluation is not None and scanned.evaluation is not None
            a, b = rolled.evaluation.latency, scanned.evaluation.latency
            assert a is not None and b is not None
            assert (a.count, a.keys.tolist(), a.counts.tolist()) == (
                b.count,
                b.keys.tolist(),
                b.counts.tolist(),
            )
            assert a.total == pytest.approx(b.total, rel=1e-12)
    finally:
        engine.close()
