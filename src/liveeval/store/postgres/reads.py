"""Reads: the rows a question needs, from PostgreSQL, summed by the engine-neutral code.

A read selects in PostgreSQL only what its answer depends on — the rollup rows of
the scope (small: one per model, version, segment and 15-minute bucket), or, for an
exact scan, the scope's labelled pairs and predictions without their features —
streams them out with ``COPY`` and merges them with the same functions the DuckDB
engine runs (``duck.aggregate``, ``duck.windows``, ``duck.features``), over an
in-process DuckDB "mirror" that holds the slice for the duration of the read. So the
statistics are the DuckDB engine's by construction, and a read over ten million
events moves rollup rows, not events.

- ``statistics(scope)`` scans the scope's pairs up to the exact limit of the ranking
  metrics (250,000 pairs, where ROC-AUC is computed from distinct scores). Beyond it,
  a scope on bucket boundaries is merged from the rollups (scores in 1,000 bins, as
  windowed reads), so a metrics read over ten million events is a merge of rollup
  rows; a multiclass model's ranking and losses, which the rollups do not keep, are
  then scanned.
- Store-wide counts (events per kind, outcomes without a prediction) come from
  ``store_counts``, kept as events load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
import pyarrow as pa

from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT
from ..duck import class_windows, lifecycle, operations, windows
from ..duck._window_sql import scores_table
from ..duck.aggregate import aggregate, grouped_aggregate
from ..duck.features import feature_histograms
from ..duck.rollup import BUCKET_SECONDS, HOUR
from ..duck.schema import migrate as duck_migrate
from ..interface import (
    ClassScoreHistograms,
    DeploymentEvent,
    FailureCount,
    FeatureHistogram,
    FeatureWindows,
    LabelDelays,
    PairStats,
    ResourceWindow,
    Scope,
    ScoreHistogram,
    StoreStats,
)
from .transfer import copy_out, copy_out_binary, int_arrays

__all__ = ["Mirror"]

_CELLS = ("n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4", "vn", "vs", "vss")
_MULTICLASS_NOTE = "ranking and loss metrics of a multiclass model are not kept per time bucket"


def _where(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    a = f"{alias}." if alias else ""
    clauses = [f"{a}model = %s"]
    params: list[Any] = [scope.model]
    for column, value, op in (
        ("ts", scope.since, ">="),
        ("ts", scope.until, "<"),
        ("version", scope.version, "="),
        ("segment", scope.segment, "="),
    ):
        if value is not None:
            clauses.append(f"{a}{column} {op} %s")
            params.append(_naive(value) if isinstance(value, datetime) else value)
    if scope.segment_is_null:
        clauses.append(f"{a}segment IS NULL")
    return " AND ".join(clauses), params


def _naive(ts: datetime) -> datetime:
    from datetime import UTC

    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


def _rollup_where(
    scope: Scope, *, segments: bool = True, grain: int = BUCKET_SECONDS
) -> tuple[str, list[Any]]:
    """The rollup rows of ``scope`` (buckets of ``grain`` seconds that meet it)."""
    clauses = ["model = %s"]
    params: list[Any] = [scope.model]
    if scope.version is not None:
        clauses.append("version = %s")
        params.append(scope.version)
    if segments and scope.segment is not None:
        clauses.append("seg = %s")
        params.append("|" + scope.segment)
    if segments and scope.segment_is_null:
        clauses.append("seg = ''")
    epoch = datetime(1970, 1, 1)
    if scope.since is not None:
        clauses.append("bucket >= %s")
        params.append(int((_naive(scope.since) - epoch).total_seconds()) // grain)
    if scope.until is not None:
        # The bucket starting at ``until`` is outside the scope (a rolled read's scope is
        # on bucket boundaries): summed per window, it would join the last window.
        clauses.append("bucket < %s")
        params.append(int((_naive(scope.until) - epoch).total_seconds()) // grain)
    return " AND ".join(clauses), params


class Mirror:
    """An in-process DuckDB with the store's schema, filled per read inside a
    transaction that is rolled back after it (reads of one replica take turns)."""

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET enable_progress_bar = false").fetchall()
        duck_migrate(self.con)
        names = [
            r[0]
            for r in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        self.schemas = {
            n: self.con.sql(f"SELECT * FROM {n} LIMIT 0").to_arrow_table().schema for n in names
        }
        self.lock = threading.Lock()

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def filled(
        self,
        cur: Any,
        tables: Mapping[str, tuple[str, list[Any]] | pa.Table],
        *,
        blank: Sequence[str] = (),
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The mirror holding, per table, the PostgreSQL rows ``WHERE`` the given clause
        (columns in ``blank`` left null), or the rows given."""
        with self.lock:
            con = self.con
            con.execute("BEGIN TRANSACTION").fetchall()
            try:
                for name, source in tables.items():
                    schema = self.schemas[name]
                    if isinstance(source, pa.Table):
                        if source.num_rows:
                            con.register("incoming", source)
                            con.execute(f"INSERT INTO {name} SELECT * FROM incoming").fetchall()
                            con.unregister("incoming")
                        continue
                    where, params = source
                    if where.lstrip().upper().startswith("SELECT "):
                        query = where  # a whole query giving the table's columns
                    else:
                        select = ", ".join(
                            "NULL"
                            if f.name in blank
                            else f"array_to_string({f.name}, ',')"
                            if pa.types.is_list(f.type)
                            else f.name
                            for f in schema
                        )
                        query = f"SELECT {select} FROM {name} WHERE {where}"
                    rows = copy_out(cur, query, params, schema)
                    if rows.num_rows:
                        con.register("incoming", rows)
                        con.execute(f"INSERT INTO {name} SELECT * FROM incoming").fetchall()
                        con.unregister("incoming")
                yield con
            finally:
                con.execute("ROLLBACK").fetchall()


def store_counts(cur: Any) -> dict[str, int]:
    rows = cur.execute("SELECT kind, sum(n) FROM store_counts GROUP BY kind").fetchall()
    return {str(k): int(n) for k, n in rows}


def unmatched(cur: Any) -> int:
    counts = store_counts(cur)
    return counts.get("outcomes", 0) - counts.get("labelled", 0)


def _scan_tables(scope: Scope) -> dict[str, tuple[str, list[Any]]]:
    where, params = _where(scope)
    return {"predictions": (where, params), "labelled": (where, params)}


def statistics(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
) -> StoreStats:
    missing = unmatched(cur)
    if windows.unaligned(scope, None) is None:
        where, params = _rollup_where(scope)
        row = cur.execute(
            f"SELECT coalesce(sum(labelled), 0) FROM rollup_counts WHERE {where}", params
        ).fetchone()
        if row is not None and int(row[0]) > DEFAULT_EXACT_LIMIT:
            merged = _rolled(mirror, cur, scope, (), None, classes, pos_label, missing)
            whole = merged.get(())
            if whole is not None and not any(_MULTICLASS_NOTE in n for n in whole.notes):
                return whole
    with mirror.filled(cur, _scan_tables(scope), blank=("features",)) as con:
        return aggregate(con, scope, classes=classes, pos_label=pos_label, unmatched=missing)


def _rolled(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    by: Sequence[str],
    every: timedelta | None,
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
    missing: int,
) -> dict[tuple[Any, ...], StoreStats]:
    where, params = _rollup_where(scope)
    scores = scores_table(scope, every)[0]
    grain = HOUR if scores == "rollup_scores_hourly" else BUCKET_SECONDS
    s_where, s_params = _rollup_where(scope, grain=grain)
    # Buckets are summed per window in PostgreSQL first (each group keeps its first
    # bucket, which lies in the window and the scope): a month of 15-minute buckets
    # would otherwise move ~100,000 rows for one answer.
    span = 1 << 40 if every is None else int(every.total_seconds()) // BUCKET_SECONDS
    keys = f"model, version, seg, {_window_of(span)}"
    first = "model, version, seg, min(bucket)"
    tables: dict[str, Any] = {
        **_window_sums(where, params, keys, first),
        **_hourly_latency(s_where, s_params, every, grain, by),
        # The score lists are summed per window here, in numpy: in PostgreSQL (unnest
        # … WITH ORDINALITY, GROUP BY the index) it took ten times longer than moving
        # them as text, and the mirror's parsing and merging of a month of hourly lists
        # was most of a read's time.
        scores: _summed_lists(cur, scores, s_where, s_params, every, grain, mirror.schemas[scores]),
    }
    with mirror.filled(cur, tables) as con:
        return windows.rollup_grouped(
            con, scope, by, every, classes=classes, pos_label=pos_label, unmatched=missing
        )


def _summed_lists(
    cur: Any,
    table: str,
    where: str,
    params: list[Any],
    every: timedelta | None,
    grain: int,
    schema: pa.Schema,
) -> pa.Table | tuple[str, list[Any]]:
    """``table``'s label score lists summed per (model, version, segment, window), each
    group under its first bucket (in the window and the scope), as rows of ``table``
    for the mirror; or the plain query when the lists differ in length."""
    span = 1 << 40 if every is None else int(every.total_seconds()) // grain
    # The lists travel in PostgreSQL's binary form (an int4 array is its elements
    # back to back), decoded by numpy: as text (array_to_string, then parsed) they cost
    # the server the formatting and the client the parsing of every count.
    raw = copy_out_binary(
        cur,
        f"SELECT model, version, seg, {_window_of(span)}, bucket, label, counts FROM {table} "
        f"WHERE {where} AND kind = 'l' "
        'ORDER BY model COLLATE "C", version COLLATE "C", seg COLLATE "C", 4, '
        'label COLLATE "C", bucket',
        params,
    )
    plain = (f"{where} AND kind = 'l'", params)
    if not raw:
        return schema.empty_table()
    if any(v is None for r in raw for v in r):
        return plain
    fields = cast("list[list[bytes]]", raw)
    arrays = int_arrays([r[6] for r in fields])
    if arrays is None:
        return plain
    width = len(arrays[0])
    if width == 0 or any(len(a) != width for a in arrays):
        return plain
    matrix = np.stack(arrays)
    rows = [
        (
            r[0].decode(),
            r[1].decode(),
            r[2].decode(),
            int.from_bytes(r[3], "big", signed=True),
            int.from_bytes(r[4], "big", signed=True),
            r[5].decode(),
        )
        for r in fields
    ]
    keys = [(r[0], r[1], r[2], r[3], r[5]) for r in rows]
    starts = [i for i in range(len(keys)) if i == 0 or keys[i] != keys[i - 1]]
    sums = np.add.reduceat(matrix, starts, axis=0)
    buckets = np.minimum.reduceat(np.array([r[4] for r in rows], dtype=np.int64), starts)
    counts_type = schema.field("counts").type
    flat = pa.array(sums.reshape(-1), counts_type.value_type)
    offsets = pa.array(np.arange(0, sums.size + 1, width, dtype=np.int32))
    return pa.Table.from_arrays(
        [
            pa.array([rows[i][0] for i in starts], pa.string()),
            pa.array([rows[i][1] for i in starts], pa.string()),
            pa.array([rows[i][2] for i in starts], pa.string()),
            pa.array(buckets, schema.field("bucket").type),
            pa.array(["l"] * len(starts), pa.string()),
            pa.array([rows[i][5] for i in starts], pa.string()),
            pa.ListArray.from_arrays(offsets, flat).cast(counts_type),
        ],
        schema=schema,
    )


def grouped_statistics(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    by: Sequence[str],
    every: timedelta | None,
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
) -> dict[tuple[Any, ...], StoreStats]:
    missing = unmatched(cur)
    if every is not None and windows.unaligned(scope, every) is None:
        return _rolled(mirror, cur, scope, by, every, classes, pos_label, missing)
    with mirror.filled(cur, _scan_tables(scope), blank=("features",)) as con:
        return grouped_aggregate(
            con, scope, by, every=every, classes=classes, pos_label=pos_label, unmatched=missing
        )


def models_grouped_statistics(
    mirror: Mirror,
    cur: Any,
    labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
    by: Sequence[str],
    every: timedelta,
    since: datetime | None,
    until: datetime | None,
    scores: bool = True,
) -> dict[str, dict[tuple[Any, ...], StoreStats]]:
    """Several models' windows in one read (the dashboard's overview): their rollup
    rows in one copy per table, merged by the DuckDB engine's code, as
    :func:`_rolled` does for one model; a scan per model off bucket boundaries."""
    scope = Scope("", since, until)
    models = sorted(labels)
    if not models or windows.unaligned(scope, every) is not None:
        return {
            m: grouped_statistics(mirror, cur, Scope(m, since, until), by, every, *labels[m])
            for m in models
        }
    missing = unmatched(cur)

    def of_models(where: str, params: list[Any]) -> tuple[str, list[Any]]:
        return where.replace("model = %s", "model = ANY(%s)", 1), [models, *params[1:]]

    where, params = of_models(*_rollup_where(scope))
    table = scores_table(scope, every)[0]
    grain = HOUR if table == "rollup_scores_hourly" else BUCKET_SECONDS
    s_where, s_params = of_models(*_rollup_where(scope, grain=grain))
    span = int(every.total_seconds()) // BUCKET_SECONDS
    keys = f"model, version, seg, {_window_of(span)}"
    first = "model, version, seg, min(bucket)"
    tables: dict[str, Any] = {
        **_window_sums(where, params, keys, first),
        **_hourly_latency(s_where, s_params, every, grain, by),
    }
    if scores:
        tables[table] = (f"{s_where} AND kind = 'l'", s_params)
    with mirror.filled(cur, tables) as con:
        return windows.rollup_grouped_models(
            con, scope, labels, by, every, unmatched=missing, scores=scores
        )


def features_of(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    names: Sequence[str] | None,
    bins: int,
    edges: Mapping[str, Sequence[float]] | None,
    max_categories: int,
) -> dict[str, FeatureHistogram]:
    where, params = _where(scope)
    if names is not None:
        where += " AND name = ANY(%s)"
        params = [*params, list(names)]
    with mirror.filled(cur, {"features": (where, params)}) as con:
        return feature_histograms(
            con, scope, names, bins=bins, edges=edges, max_categories=max_categories
        )


def score_histograms(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    every: timedelta | None,
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
) -> dict[datetime, ScoreHistogram]:
    table = scores_table(scope, every)[0]
    grain = HOUR if table == "rollup_scores_hourly" else BUCKET_SECONDS
    if windows.unaligned(scope, every) is not None:
        tables: dict[str, tuple[str, list[Any]]] = {}
    else:
        tables = {table: _rollup_where(scope, grain=grain)}
    with mirror.filled(cur, tables) as con:
        return windows.score_histograms(con, scope, every, classes=classes, pos_label=pos_label)


def class_score_histograms(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    every: timedelta | None,
    classes: tuple[Label, ...] | None,
) -> dict[datetime, ClassScoreHistograms]:
    """The class-probability rollup rows of the scope, read by the DuckDB code."""
    table, grain = class_windows.probas_table(scope, every)
    if windows.unaligned(scope, every) is not None:
        tables: dict[str, tuple[str, list[Any]]] = {}
    else:
        tables = {table: _rollup_where(scope, grain=grain)}
    with mirror.filled(cur, tables) as con:
        return class_windows.class_score_histograms(con, scope, every, classes=classes)


def _feature_state(model: str, cur: Any) -> dict[str, tuple[str, list[Any]]]:
    """The model's fixed bins, counts before fixing, and the numbers of the features
    whose bins are not fixed yet (their provisional bins come from them)."""
    pending = [
        r[0]
        for r in cur.execute(
            "SELECT p.name FROM feature_pending p WHERE p.model = %s AND NOT EXISTS "
            "(SELECT 1 FROM feature_bins e WHERE e.model = p.model AND e.name = p.name)",
            [model],
        ).fetchall()
    ]
    return {
        "feature_bins": ("model = %s", [model]),
        "feature_pending": ("model = %s", [model]),
        "features": (
            "model = %s AND name = ANY(%s) AND num_value NOT IN ('NaN', 'Infinity', '-Infinity')",
            [model, pending],
        ),
    }


def feature_bins(mirror: Mirror, cur: Any, model: str) -> dict[str, tuple[float, ...]]:
    with mirror.filled(cur, _feature_state(model, cur)) as con:
        return windows.feature_bins(con, model)


def _feature_window_tables(
    cur: Any, scope: Scope, every: timedelta | None, names: Sequence[str] | None
) -> dict[str, tuple[str, list[Any]]]:
    """The slices a feature-window read needs in the mirror (none for a read the
    rollups refuse: it fails there with the rollups' message)."""
    if windows.unaligned(scope, every) is not None or scope.segment is not None:
        return {}
    where, params = _rollup_where(scope, segments=False)
    if names is not None:
        where += " AND name = ANY(%s)"
        params = [*params, list(names)]
    return {
        "rollup_features": (where, params),
        "rollup_feature_categories": (where, params),
        **_feature_state(scope.model, cur),
    }


def feature_windows(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    every: timedelta | None,
    names: Sequence[str] | None,
    max_categories: int,
) -> dict[datetime, dict[str, FeatureHistogram]]:
    with mirror.filled(cur, _feature_window_tables(cur, scope, every, names)) as con:
        return windows.feature_windows(con, scope, every, names, max_categories=max_categories)


def feature_window_arrays(
    mirror: Mirror,
    cur: Any,
    scope: Scope,
    every: timedelta | None,
    names: Sequence[str] | None,
    max_categories: int,
) -> FeatureWindows:
    with mirror.filled(cur, _feature_window_tables(cur, scope, every, names)) as con:
        return windows.feature_window_arrays(
            con, scope, every, names, max_categories=max_categories
        )


def label_delays(mirror: Mirror, cur: Any, scope: Scope) -> LabelDelays:
    tables = (
        {"rollup_delays": _rollup_where(scope)} if windows.unaligned(scope, None) is None else {}
    )
    with mirror.filled(cur, tables) as con:
        return windows.label_delays(con, scope)


def versions_since(cur: Any, since: datetime | None) -> list[tuple[str, str]]:
    """From the rollups; the bucket holding ``since`` is checked against the events."""
    rows = cur.execute(
        "SELECT model, version, max(bucket) FROM rollup_counts WHERE predictions > 0 "
        "GROUP BY model, version"
    ).fetchall()
    if since is None:
        return sorted((str(m), str(v)) for m, v, _ in rows)
    start = _naive(since)
    first = int((start - datetime(1970, 1, 1)).total_seconds()) // BUCKET_SECONDS
    out = []
    for model, version, last in rows:
        if last > first:
            out.append((str(model), str(version)))
        elif last == first:
            hit = cur.execute(
                "SELECT 1 FROM predictions WHERE model = %s AND version = %s AND ts >= %s LIMIT 1",
                [model, version, start],
            ).fetchone()
            if hit:
                out.append((str(model), str(version)))
    return sorted(out)


# -- operational and lifecycle reads: the rows they need, then the DuckDB engine's SQL ----


def failures(mirror: Mirror, cur: Any, scope: Scope, every: timedelta) -> list[FailureCount]:
    where, params = _where(scope)
    tables = {"predictions": (f"{where} AND status = 'error'", params)}
    with mirror.filled(cur, tables, blank=("features", "probas")) as con:
        return operations.failures(con, scope, every)


def resource_windows(
    mirror: Mirror,
    cur: Any,
    since: datetime | None,
    until: datetime | None,
    every: timedelta,
) -> list[ResourceWindow]:
    clauses, params = ["TRUE"], []
    if since is not None:
        clauses.append("ts >= %s")
        params.append(_naive(since))
    if until is not None:
        clauses.append("ts < %s")
        params.append(_naive(until))
    with mirror.filled(cur, {"resource_samples": (" AND ".join(clauses), params)}) as con:
        return operations.resource_windows(con, since, until, every)


def deployment_events(cur: Any, model: str) -> list[DeploymentEvent]:
    rows = cur.execute(
        "SELECT id, model, version, ts, status FROM deployments WHERE model = %s "
        'ORDER BY ts, id COLLATE "C"',
        [model],
    ).fetchall()
    return [DeploymentEvent(*r) for r in rows]


def _pair_tables(
    model: str, versions: tuple[str, str], since: datetime | None, until: datetime | None
) -> dict[str, tuple[str, list[Any]]]:
    where = "model = %s AND version = ANY(%s)"
    params: list[Any] = [model, list(versions)]
    if since is not None:
        where += " AND ts >= %s"
        params.append(_naive(since))
    if until is not None:
        where += " AND ts < %s"
        params.append(_naive(until))
    return {"features": (where, params), "predictions": (f"{where} AND status = 'ok'", params)}


def prediction_pairs(
    mirror: Mirror,
    cur: Any,
    model: str,
    version_a: str,
    version_b: str,
    since: datetime | None,
    until: datetime | None,
) -> PairStats:
    tables = _pair_tables(model, (version_a, version_b), since, until)
    with mirror.filled(cur, tables, blank=("features", "probas")) as con:
        return lifecycle.prediction_pairs(con, model, version_a, version_b, since, until)


def prediction_pair_windows(
    mirror: Mirror,
    cur: Any,
    model: str,
    version_a: str,
    version_b: str,
    since: datetime,
    until: datetime,
    every: timedelta,
) -> dict[int, PairStats]:
    tables = _pair_tables(model, (version_a, version_b), since, until)
    with mirror.filled(cur, tables, blank=("features", "probas")) as con:
        return lifecycle.prediction_pair_windows(
            con, model, version_a, version_b, since, until, every
        )


def export_labelled(
    mirror: Mirror, cur: Any, model: str, out: Path, since: datetime | None, limit: int
) -> int:
    """The ``limit`` most recent labelled pairs (chosen in PostgreSQL, ids in byte order
    as DuckDB sorts them) and their features, written by the DuckDB engine's export."""
    where = "model = %s AND status = 'ok'"
    params: list[Any] = [model]
    if since is not None:
        where += " AND ts >= %s"
        params.append(_naive(since))
    chosen = (
        f"SELECT prediction_id FROM labelled WHERE {where} "
        'ORDER BY ts DESC, prediction_id COLLATE "C" LIMIT %s'
    )
    chosen_params = [*params, max(0, int(limit))]
    tables = {
        "labelled": (f"prediction_id IN ({chosen})", chosen_params),
        "features": (f"model = %s AND prediction_id IN ({chosen})", [model, *chosen_params]),
    }
    with mirror.filled(cur, tables) as con:
        return lifecycle.export_labelled(con, model, out, since, limit)


def _window_of(span: int) -> str:
    """The window of ``bucket`` for windows of ``span`` buckets, floored: PostgreSQL's
    integer division truncates toward zero, which would put the buckets before 1970
    (negative) in the window after theirs (DuckDB's reads floor too)."""
    return f"floor(bucket / {span}::float8)::bigint"


def _window_sums(
    where: str, params: list[Any], keys: str, first: str
) -> dict[str, tuple[str, list[Any]]]:
    """The count, latency and cell rollups summed per window (``keys``) in PostgreSQL,
    each group named by its ``first`` bucket: the queries of every grouped read."""
    return {
        "rollup_counts": (
            f"SELECT {first}, sum(predictions), sum(failed), sum(labelled), sum(lat_n), "
            "sum(lat_zeros), sum(lat_sum), sum(lat_sum2), max(lat_max) FROM rollup_counts "
            f"WHERE {where} GROUP BY {keys}",
            params,
        ),
        "rollup_latency": (
            f"SELECT {first}, k, sum(n) FROM rollup_latency WHERE {where} GROUP BY {keys}, k",
            params,
        ),
        "rollup_cells": (
            f"SELECT {first}, label, predicted, "
            + ", ".join(f"sum({c})" for c in _CELLS)
            + f", bool_and(vbin) FROM rollup_cells WHERE {where} GROUP BY {keys}, label, "
            "predicted",
            params,
        ),
    }


def _hourly_latency(
    where: str, params: list[Any], every: timedelta | None, grain: int, by: Sequence[str]
) -> dict[str, tuple[str, list[Any]]]:
    """When the windows are whole hours (``grain`` is :data:`HOUR`, as for the hourly
    score lists), the latency sketch's counts summed per window from
    ``rollup_latency_hourly`` (schema v10: four times fewer rows than the 15-minute
    ``rollup_latency``, the largest rollup a month's read sums), each group named by
    the first 15-minute bucket of its first hour, which lies in the window and the
    scope. The counts per key are those of the 15-minute rows (the same keys, summed),
    so the percentiles are the same. ``where`` selects hourly buckets. Not grouped by
    version or segment (``by`` empty), the rows of every version and segment are summed
    together under one of them (the mirror's read sums them anyway; hashing fewer keys
    is most of the sum's cost here)."""
    if grain != HOUR:
        return {}
    per = HOUR // BUCKET_SECONDS
    span = 1 << 40 if every is None else int(every.total_seconds()) // HOUR
    if by:
        names, keys = "version, seg", "model, version, seg"
    else:
        names, keys = "min(version), min(seg)", "model"
    return {
        "rollup_latency": (
            f"SELECT model, {names}, min(bucket) * {per}, k, sum(n) "
            f"FROM rollup_latency_hourly WHERE {where} GROUP BY {keys}, {_window_of(span)}, k",
            params,
        )
    }
