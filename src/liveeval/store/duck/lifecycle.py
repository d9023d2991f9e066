"""Reads about a model's life rather than its quality: deployment events, predictions
of two versions on the same inputs, and the export of recent labelled data.

Plain SQL over the event tables, so the DuckDB engine and :class:`TableSource` share
it (a PostgreSQL engine runs the same statements; ``md5`` and ``string_agg … ORDER
BY`` exist there too).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..interface import DeploymentEvent, PairStats

__all__ = [
    "deployment_events",
    "export_labelled",
    "prediction_pair_windows",
    "prediction_pairs",
]


def deployment_events(cur: duckdb.DuckDBPyConnection, model: str) -> list[DeploymentEvent]:
    rows = cur.execute(
        "SELECT id, model, version, ts, status FROM deployments WHERE model = ? ORDER BY ts, id",
        [model],
    ).fetchall()
    return [DeploymentEvent(*r) for r in rows]


# An input's key: its features name by name, numbers as numbers, so that the key does
# not depend on the order of the keys or on 1 against 1.0.
_PAIRS = """
WITH keyed AS (
    SELECT prediction_id, version, {window} AS w,
           md5(string_agg(name || chr(31) || coalesce('n' || CAST(num_value AS VARCHAR),
               's' || str_value, '-'), chr(30) ORDER BY name)) AS k
    FROM features
    WHERE model = ? AND version IN (?, ?){range}
    GROUP BY prediction_id, version, ts
),
latest AS (
    SELECT kd.version, kd.w, kd.k, arg_max(p.label, p.ts) AS label,
           arg_max(p.score, p.ts) AS score
    FROM keyed kd JOIN predictions p ON p.id = kd.prediction_id
    WHERE p.status = 'ok'
    GROUP BY kd.version, kd.w, kd.k
)
SELECT a.w, count(*),
       count(*) FILTER (WHERE a.label IS DISTINCT FROM b.label),
       count(b.score - a.score),
       coalesce(sum(abs(b.score - a.score)), 0),
       coalesce(sum(b.score - a.score), 0),
       coalesce(sum((b.score - a.score) * (b.score - a.score)), 0)
FROM latest a JOIN latest b ON a.k = b.k AND a.w = b.w AND a.version = ? AND b.version = ?
GROUP BY a.w
"""


def _pairs(
    cur: duckdb.DuckDBPyConnection,
    model: str,
    version_a: str,
    version_b: str,
    since: datetime | None,
    until: datetime | None,
    window: tuple[str, list[Any]],
) -> dict[int, PairStats]:
    bounds, params = "", []
    if since is not None:
        bounds += " AND ts >= ?"
        params.append(since)
    if until is not None:
        bounds += " AND ts < ?"
        params.append(until)
    expression, window_params = window
    rows = cur.execute(
        _PAIRS.format(window=expression, range=bounds),
        [*window_params, model, version_a, version_b, *params, version_a, version_b],
    ).fetchall()
    return {
        int(w): PairStats(int(n), int(f), int(sc), float(ab), float(d), float(sq))
        for w, n, f, sc, ab, d, sq in rows
    }


def prediction_pairs(
    cur: duckdb.DuckDBPyConnection,
    model: str,
    version_a: str,
    version_b: str,
    since: datetime | None,
    until: datetime | None,
) -> PairStats:
    found = _pairs(cur, model, version_a, version_b, since, until, ("0", []))
    return found.get(0, PairStats())


def prediction_pair_windows(
    cur: duckdb.DuckDBPyConnection,
    model: str,
    version_a: str,
    version_b: str,
    since: datetime,
    until: datetime,
    every: timedelta,
) -> dict[int, PairStats]:
    """Per window counted back from ``until`` (0: ``[until - every, until)``, 1: the one
    before …), the pairs whose two predictions fall in the same window."""
    # ts in window i when i * every < until - ts <= (i + 1) * every.
    expression = "CAST(ceil(epoch(CAST(? AS TIMESTAMP) - ts) / ?) AS BIGINT) - 1"
    return _pairs(
        cur, model, version_a, version_b, since, until, (expression, [until, every.total_seconds()])
    )


def export_labelled(
    cur: duckdb.DuckDBPyConnection,
    model: str,
    out: Path,
    since: datetime | None,
    limit: int,
) -> int:
    """See :meth:`liveeval.store.interface.Ledger.export_labelled`."""
    where, params = "model = ? AND status = 'ok'", [model]
    params_any: list[Any] = list(params)
    if since is not None:
        where += " AND ts >= ?"
        params_any.append(since)
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE export_chosen AS "
        "SELECT prediction_id AS id, version, ts, segment, predicted, score, probas, "
        f"label AS actual, value FROM labelled WHERE {where} ORDER BY ts DESC, id LIMIT ?",
        [*params_any, max(0, int(limit))],
    ).fetchall()
    try:
        kinds = cur.execute(
            "SELECT f.name, bool_and(f.str_value IS NULL) FROM features f "
            "JOIN export_chosen c ON c.id = f.prediction_id GROUP BY f.name ORDER BY f.name"
        ).fetchall()
        aggregates = [
            (
                "max(f.num_value)"
                if numeric
                else "max(coalesce(f.str_value, CAST(f.num_value AS VARCHAR)))"
            )
            + f' FILTER (WHERE f.name = ?) AS "feature_{_ident(name)}"'
            for name, numeric in kinds
        ]
        names = [name for name, _ in kinds]
        if aggregates:
            sql = (
                f"SELECT c.*, w.* EXCLUDE (pid) FROM export_chosen c LEFT JOIN ("
                f"SELECT f.prediction_id AS pid, {', '.join(aggregates)} FROM features f "
                "JOIN export_chosen c2 ON c2.id = f.prediction_id GROUP BY f.prediction_id"
                ") w ON w.pid = c.id ORDER BY c.ts DESC, c.id"
            )
            table = cur.sql(sql, params=names).to_arrow_table()
        else:
            table = cur.sql("SELECT * FROM export_chosen ORDER BY ts DESC, id").to_arrow_table()
    finally:
        cur.execute("DROP TABLE IF EXISTS export_chosen").fetchall()
    for column in ("predicted", "actual"):
        i = table.schema.get_field_index(column)
        table = table.set_column(i, column, _labels(table.column(column).to_pylist()))
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return int(table.num_rows)


def _ident(name: str) -> str:
    return name.replace('"', '""')


def _labels(texts: list[str | None]) -> pa.Array:
    """Labels decoded from their JSON text when they share one type; else kept as text."""
    values: list[Any] = [None if t is None else json.loads(t) for t in texts]
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) <= 1 and not (kinds & {dict, list}):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return pa.array(texts, pa.string())
