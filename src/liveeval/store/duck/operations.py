"""Operational reads over events: failed predictions by error type, and the server
process's resource samples, per tumbling window (aligned to the Unix epoch, UTC).

Both read few rows — failures are a small share of predictions, resource samples one
per process every few seconds — so they are GROUP BYs over the event tables, not
rollups; a window may be any whole number of seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from ..interface import FailureCount, ResourceWindow, Scope
from .aggregate import _where

__all__ = ["failures", "resource_windows"]

_EPOCH = datetime(1970, 1, 1)


def _bucket(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    if seconds <= 0 or every.total_seconds() != seconds:
        raise ValueError(f"window {every} is not a whole, positive number of seconds")
    return f"CAST(floor(epoch(ts) / {seconds}) AS BIGINT) * {seconds}"


def failures(cur: duckdb.DuckDBPyConnection, scope: Scope, every: timedelta) -> list[FailureCount]:
    """Failed predictions in ``scope`` per window, version and error type."""
    where, params = _where(scope)
    rows = cur.execute(
        f"SELECT {_bucket(every)} AS w, p.version, coalesce(p.error_type, ''), count(*) "
        f"FROM predictions p WHERE {where} AND p.status = 'error' GROUP BY ALL ORDER BY ALL",
        params,
    ).fetchall()
    return [
        FailureCount(_EPOCH + timedelta(seconds=int(w)), str(v), str(t), int(n))
        for w, v, t, n in rows
    ]


def resource_windows(
    cur: duckdb.DuckDBPyConnection,
    since: datetime | None,
    until: datetime | None,
    every: timedelta,
) -> list[ResourceWindow]:
    """Resource samples per process and window: count, mean and max CPU percent, mean
    and max resident memory."""
    clauses, params = ["TRUE"], []
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    rows = cur.execute(
        f"SELECT {_bucket(every)} AS w, process, count(*), avg(cpu_percent), max(cpu_percent), "
        f"avg(rss_bytes), max(rss_bytes) FROM resource_samples WHERE {' AND '.join(clauses)} "
        "GROUP BY ALL ORDER BY ALL",
        params,
    ).fetchall()
    return [
        ResourceWindow(
            _EPOCH + timedelta(seconds=int(w)),
            _EPOCH + timedelta(seconds=int(w)) + every,
            str(process),
            int(n),
            float(cpu_mean),
            float(cpu_max),
            float(rss_mean),
            int(rss_max),
        )
        for w, process, n, cpu_mean, cpu_max, rss_mean, rss_max in rows
    ]
