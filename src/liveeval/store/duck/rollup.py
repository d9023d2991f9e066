"""Rollups: sufficient statistics per time bucket, kept up to date as events load.

Every load (one transaction) aggregates the rows it adds and upserts the sums into
small tables keyed by (model, version, segment, bucket), where ``bucket`` is the
prediction's ``ts`` floored to :data:`BUCKET_SECONDS` (15 minutes) since the Unix
epoch — the cohort of the prediction, so an outcome that arrives days later updates
its prediction's bucket. A read over any window that is a whole number of buckets is
a merge of these rows, never a scan of events (:mod:`.windows`).

- ``rollup_counts``: predictions, failed, labelled pairs (ok, both labels known) and
  the latency sums; ``rollup_latency``: the latency sketch's buckets.
- ``rollup_cells``: labelled ok pairs per (actual, predicted) with the
  class-independent loss and business-value sums of :mod:`.aggregate`.
- ``rollup_scores``: scores in ``SCORE_BINS`` equal bins of [0, 1] (one list per
  row); kind ``p`` by
  predicted label (every ok prediction), kind ``l`` by actual label (labelled pairs).
- ``rollup_delays``: outcome ts − prediction ts in :data:`DELAY_EDGES` bins.
- ``rollup_features`` (rows, missing, numbers, strings, other, and the numbers per
  fixed bin as one list) and ``rollup_feature_categories`` per (model, version,
  bucket, feature), no segment.

Histograms are kept as one list of counts per key (``rollup_scores.counts``,
``rollup_features.bins``), built in numpy and added element-wise on upsert: a row per
bin made the upserts' index ten times larger and a 30-day read fetch millions of rows.

Feature bins are fixed per (model, feature): when :data:`FREEZE_VALUES` finite
numbers of a feature are stored, their ``FEATURE_BINS`` quantiles (``quantile_disc``,
deduplicated) become its edges, plus one edge a bin's width above the largest value so
that it has a bin of its own; values outside fall ``below`` or ``above``. The numbers
stored before that moment are binned then, in the same transaction. Categories are
counted exactly for the first :data:`CATEGORY_CAP` distinct values of a feature; later
new values count in ``other``.

Keys never hold NULL (unique indexes treat NULLs as distinct): a segment is stored as
``'|' || segment`` and no segment as ``''``; a missing label as ``''`` (stored labels
are JSON texts, never empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...metrics.latency import LatencySketch
from ..interface import ROLLUP_BUCKET, SCORE_BINS
from .aggregate import EPS

__all__ = [
    "BUCKET_SECONDS",
    "CATEGORY_CAP",
    "DELAY_EDGES",
    "FEATURE_BINS",
    "FEATURE_WIDTH",
    "FREEZE_VALUES",
    "ROLLUP_TABLES",
    "backfill",
    "maintain",
    "seg_key",
]

BUCKET_SECONDS = int(ROLLUP_BUCKET.total_seconds())
HOUR = 3600
FEATURE_BINS = 50
# Bin codes 0 (below) to len(edges) (above); at most FEATURE_BINS + 2 edges.
FEATURE_WIDTH = FEATURE_BINS + 3
FREEZE_VALUES = 10_000
CATEGORY_CAP = 1_000
# 0, 1 s, then doubling to 2^25 s (388 days); the last bin is open above.
DELAY_EDGES: tuple[float, ...] = (0.0, *(float(2**i) for i in range(26)))

_LOG_GAMMA = float(np.log(LatencySketch().gamma))


def bucket_of(ts: str) -> str:
    return f"CAST(floor(epoch({ts}) / {BUCKET_SECONDS}) AS BIGINT)"


def seg_key(column: str) -> str:
    return f"coalesce('|' || {column}, '')"


_KEY = (
    "model VARCHAR NOT NULL, version VARCHAR NOT NULL, seg VARCHAR NOT NULL, bucket BIGINT NOT NULL"
)
_FKEY = "model VARCHAR NOT NULL, version VARCHAR NOT NULL, bucket BIGINT NOT NULL, name VARCHAR NOT NULL"

ROLLUP_TABLES = f"""
CREATE TABLE rollup_counts ({_KEY}, predictions BIGINT NOT NULL, failed BIGINT NOT NULL,
    labelled BIGINT NOT NULL, lat_n BIGINT NOT NULL, lat_zeros BIGINT NOT NULL,
    lat_sum DOUBLE NOT NULL, lat_sum2 DOUBLE NOT NULL, lat_max DOUBLE,
    PRIMARY KEY (model, version, seg, bucket));
CREATE TABLE rollup_latency ({_KEY}, k BIGINT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, k));
CREATE TABLE rollup_cells ({_KEY}, label VARCHAR NOT NULL, predicted VARCHAR NOT NULL,
    n BIGINT NOT NULL, ns BIGINT NOT NULL, nls DOUBLE NOT NULL, nls2 DOUBLE NOT NULL,
    nlq DOUBLE NOT NULL, nlq2 DOUBLE NOT NULL, s2 DOUBLE NOT NULL, s4 DOUBLE NOT NULL,
    q2 DOUBLE NOT NULL, q4 DOUBLE NOT NULL, vn BIGINT NOT NULL, vs DOUBLE NOT NULL,
    vss DOUBLE NOT NULL, vbin BOOLEAN NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, label, predicted));
CREATE TABLE rollup_scores ({_KEY}, kind VARCHAR NOT NULL, label VARCHAR NOT NULL,
    counts INTEGER[] NOT NULL, PRIMARY KEY (model, version, seg, bucket, kind, label));
CREATE TABLE rollup_scores_hourly ({_KEY}, kind VARCHAR NOT NULL, label VARCHAR NOT NULL,
    counts INTEGER[] NOT NULL, PRIMARY KEY (model, version, seg, bucket, kind, label));
CREATE TABLE rollup_delays ({_KEY}, bin INTEGER NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, bin));
CREATE TABLE rollup_features ({_FKEY}, rows BIGINT NOT NULL, missing BIGINT NOT NULL,
    numbers BIGINT NOT NULL, strings BIGINT NOT NULL, other BIGINT NOT NULL, bins INTEGER[],
    PRIMARY KEY (model, version, bucket, name));
CREATE TABLE rollup_feature_categories ({_FKEY}, value VARCHAR NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, bucket, name, value));
CREATE TABLE feature_pending (model VARCHAR NOT NULL, name VARCHAR NOT NULL,
    pending BIGINT NOT NULL, PRIMARY KEY (model, name));
CREATE TABLE feature_bins (model VARCHAR NOT NULL, name VARCHAR NOT NULL,
    edges DOUBLE[] NOT NULL);
CREATE TABLE feature_categories (model VARCHAR NOT NULL, name VARCHAR NOT NULL,
    value VARCHAR NOT NULL, PRIMARY KEY (model, name, value));
"""

# Temporary relations a load fills: the pairs it completes and the feature rows it adds.
PAIRS_TABLE = (
    "CREATE OR REPLACE TEMP TABLE new_pairs (prediction_id VARCHAR, model VARCHAR, "
    "version VARCHAR, ts TIMESTAMP, segment VARCHAR, status VARCHAR, predicted VARCHAR, "
    "score DOUBLE, label VARCHAR, value DOUBLE, probas DOUBLE[], outcome_ts TIMESTAMP)"
)
# The columns of a load's new feature rows the rollups read.
FEATURE_COLUMNS = "model, version, ts, name, num_value, str_value"


def _upsert(
    table: str,
    keys: str,
    columns: tuple[str, ...],
    select: str,
    merge: dict[str, str] | None = None,
) -> str:
    """INSERT the aggregated ``select`` (keys, then ``columns``); on a key already held,
    add each column to the stored one (or apply ``merge[column]``)."""
    merge = merge or {}
    sets = ", ".join(
        f"{c} = {merge[c]}" if c in merge else f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns
    )
    return (
        f"INSERT INTO {table} ({keys}, {', '.join(columns)}) {select} "
        f"ON CONFLICT DO UPDATE SET {sets}"
    )


@dataclass(frozen=True)
class Dense:
    """Counts per bin kept as one list per key: ``select`` gives the keys, ``bin`` and
    ``n``; the rows become lists of ``width`` counts (numpy), upserted element-wise.
    ``zeros``: other columns of ``table``, inserted as 0 and merged by addition."""

    table: str
    keys: tuple[str, ...]
    select: str
    column: str
    width: int
    zeros: tuple[str, ...] = ()
    # Also kept per hour (``bucket`` counting hours) in this table, for long reads.
    hourly: str | None = None


def _list_sum(table: str, column: str) -> str:
    old, new = f"{table}.{column}", f"EXCLUDED.{column}"
    return (
        f"CASE WHEN {old} IS NULL THEN {new} WHEN {new} IS NULL THEN {old} ELSE "
        f"list_transform(list_zip({old}, {new}), lambda p: struct_extract(p, 1) "
        "+ struct_extract(p, 2)) END"
    )


def _dense(con: duckdb.DuckDBPyConnection, job: Dense) -> None:
    sparse = con.sql(job.select).to_arrow_table()
    if sparse.num_rows == 0:
        return
    keys = list(job.keys)
    rows, matrix = _merge_rows(sparse, keys, sparse.column("bin").to_numpy(), job.width, None)
    _upsert_lists(con, job, job.table, rows, matrix)
    if job.hourly is not None:
        bucket = rows.column("bucket").to_numpy()
        hour = np.floor_divide(bucket, HOUR // BUCKET_SECONDS)
        rows = rows.set_column(rows.column_names.index("bucket"), "bucket", pa.array(hour))
        hourly, summed = _merge_rows(rows, keys, None, job.width, matrix)
        _upsert_lists(con, job, job.hourly, hourly, summed)


def _merge_rows(
    table: pa.Table,
    keys: list[str],
    bins: np.ndarray[Any, Any] | None,
    width: int,
    lists: np.ndarray[Any, Any] | None,
) -> tuple[pa.Table, np.ndarray[Any, np.dtype[np.int64]]]:
    """One row per distinct key with its counts as a (rows, width) matrix: from sparse
    (bin, n) rows, or by adding the ``lists`` of rows that share a key."""
    parts = [pc.cast(table.column(k), pa.string()) for k in keys]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    group = pc.dictionary_encode(joined).combine_chunks().indices.to_numpy().astype(np.int64)
    groups, first = np.unique(group, return_index=True)
    slot = np.searchsorted(groups, group)
    if lists is None:
        assert bins is not None
        flat = np.bincount(
            slot * width + bins.astype(np.int64),
            weights=table.column("n").to_numpy().astype(np.float64),
            minlength=groups.size * width,
        ).astype(np.int64)
        matrix = flat.reshape(groups.size, width)
    else:
        matrix = np.zeros((groups.size, width), dtype=np.int64)
        np.add.at(matrix, slot, lists)
    return table.select(keys).take(pa.array(first)), matrix


def _upsert_lists(
    con: duckdb.DuckDBPyConnection,
    job: Dense,
    table: str,
    rows: pa.Table,
    matrix: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    lists = pa.FixedSizeListArray.from_arrays(
        pa.array(matrix.astype(np.int32).ravel()), job.width
    ).cast(pa.list_(pa.int32()))
    keys = ", ".join(rows.column_names)
    con.register("dense_rows", rows.append_column(job.column, lists))
    try:
        zeros = "".join(f"0 AS {c}, " for c in job.zeros)
        con.execute(
            _upsert(
                table,
                keys,
                (*job.zeros, job.column),
                f"SELECT {keys}, {zeros}{job.column} FROM dense_rows",
                {job.column: _list_sum(table, job.column)},
            )
        ).fetchall()
    finally:
        con.unregister("dense_rows")


_K = "model, version, seg, bucket"
_N = ("n",)
_COUNTS = ("predictions", "failed", "labelled", "lat_n", "lat_zeros", "lat_sum", "lat_sum2")


def _predictions_sql(source: str) -> list[str | Dense]:
    lat = "latency_total_s"
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    counts = _upsert(
        "rollup_counts",
        _K,
        (*_COUNTS, "lat_max"),
        f"SELECT {key}, count(*), count(*) FILTER (WHERE status <> 'ok'), 0, count({lat}), "
        f"count(*) FILTER (WHERE {lat} = 0), coalesce(sum({lat}), 0), "
        f"coalesce(sum({lat} * {lat}), 0), max({lat}) FROM {source} GROUP BY ALL",
        {"lat_max": "greatest(rollup_counts.lat_max, EXCLUDED.lat_max)"},
    )
    latency = _upsert(
        "rollup_latency",
        f"{_K}, k",
        _N,
        f"SELECT {key}, CAST(ceil(ln({lat}) / {_LOG_GAMMA!r}) AS BIGINT) AS k, count(*) "
        f"FROM {source} WHERE {lat} > 0 GROUP BY ALL",
    )
    scores = Dense(
        "rollup_scores",
        (*_K.split(", "), "kind", "label"),
        f"SELECT {key}, 'p' AS kind, coalesce(label, '') AS label, {_SCORE_BIN} AS bin, "
        f"count(*) AS n FROM {source} WHERE status = 'ok' AND score BETWEEN 0 AND 1 "
        "GROUP BY ALL",
        "counts",
        SCORE_BINS,
        hourly="rollup_scores_hourly",
    )
    return [counts, latency, scores]


_SCORE_BIN = f"CAST(least(floor(score * {SCORE_BINS}), {SCORE_BINS - 1}) AS INTEGER)"
_CELL_SUMS = ("n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4", "vn", "vs", "vss")


def _pairs_sql(source: str) -> list[str | Dense]:
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    ok = "status = 'ok' AND label IS NOT NULL AND predicted IS NOT NULL"
    labelled = _upsert(
        "rollup_counts",
        _K,
        _COUNTS,
        f"SELECT {key}, 0, 0, count(*), 0, 0, 0, 0 FROM {source} WHERE {ok} GROUP BY ALL",
    )
    # As aggregate._labelled_statistics: scores outside [0, 1] and non-finite values
    # (possible in stores written before validation) leave the score and value sums.
    clean = (
        f"(SELECT * REPLACE (CASE WHEN score BETWEEN 0 AND 1 THEN score END AS score, "
        f"CASE WHEN isfinite(value) THEN value END AS value) FROM {source})"
    )
    s = f"greatest(least(score, {1 - EPS!r}), {EPS!r})"
    q = f"greatest(least(1 - score, {1 - EPS!r}), {EPS!r})"
    cells = _upsert(
        "rollup_cells",
        f"{_K}, label, predicted",
        (*_CELL_SUMS, "vbin"),
        f"SELECT {key}, coalesce(label, ''), coalesce(predicted, ''), count(*), count(score), "
        f"coalesce(sum(-ln({s})), 0), coalesce(sum(ln({s}) * ln({s})), 0), "
        f"coalesce(sum(-ln({q})), 0), coalesce(sum(ln({q}) * ln({q})), 0), "
        "coalesce(sum(score * score), 0), coalesce(sum(power(score, 4)), 0), "
        "coalesce(sum(power(1 - score, 2)), 0), coalesce(sum(power(1 - score, 4)), 0), "
        "count(value), coalesce(sum(value), 0), coalesce(sum(value * value), 0), "
        f"coalesce(bool_and(value IN (0, 1)), true) FROM {clean} "
        "WHERE status = 'ok' GROUP BY ALL",
        {"vbin": "rollup_cells.vbin AND EXCLUDED.vbin"},
    )
    scores = Dense(
        "rollup_scores",
        (*_K.split(", "), "kind", "label"),
        f"SELECT {key}, 'l' AS kind, label, {_SCORE_BIN} AS bin, count(*) AS n "
        f"FROM {source} WHERE {ok} AND score BETWEEN 0 AND 1 GROUP BY ALL",
        "counts",
        SCORE_BINS,
        hourly="rollup_scores_hourly",
    )
    delay = "(epoch(outcome_ts) - epoch(ts))"
    top = len(DELAY_EDGES) - 1
    delays = _upsert(
        "rollup_delays",
        f"{_K}, bin",
        _N,
        f"SELECT {key}, CASE WHEN {delay} < 0 THEN -1 WHEN {delay} < 1 THEN 0 "
        f"ELSE CAST(least(floor(log2({delay})) + 1, {top}) AS INTEGER) END, count(*) "
        f"FROM {source} WHERE outcome_ts IS NOT NULL GROUP BY ALL",
    )
    return [labelled, cells, scores, delays]


_FK = "model, version, bucket, name"
_FSELECT = f"f.model, f.version, {bucket_of('f.ts')} AS bucket, f.name"


def _features_sql(source: str) -> list[str | Dense]:
    known = (
        "LEFT JOIN feature_categories c ON c.model = f.model AND c.name = f.name "
        "AND c.value = f.str_value"
    )
    # New categories join the registry, the most frequent first, up to the cap.
    register = (
        "INSERT INTO feature_categories SELECT f.model, f.name, f.value FROM ("
        "SELECT f.model, f.name, f.str_value AS value, count(*) AS n "
        f"FROM {source} f {known} WHERE f.str_value IS NOT NULL AND c.value IS NULL "
        "GROUP BY ALL) f LEFT JOIN (SELECT model, name, count(*) AS held "
        "FROM feature_categories GROUP BY ALL) h ON h.model = f.model AND h.name = f.name "
        "QUALIFY row_number() OVER (PARTITION BY f.model, f.name ORDER BY f.n DESC, f.value) "
        f"<= {CATEGORY_CAP} - coalesce(h.held, 0)"
    )
    finite = "isfinite(f.num_value)"
    totals = _upsert(
        "rollup_features",
        _FK,
        ("rows", "missing", "numbers", "strings", "other"),
        f"SELECT {_FSELECT}, count(*), "
        f"count(*) FILTER (WHERE f.str_value IS NULL AND NOT coalesce({finite}, false)), "
        f"count(*) FILTER (WHERE {finite}), count(f.str_value), "
        f"count(*) FILTER (WHERE f.str_value IS NOT NULL AND c.value IS NULL) "
        f"FROM {source} f {known} GROUP BY ALL",
    )
    categories = _upsert(
        "rollup_feature_categories",
        f"{_FK}, value",
        _N,
        f"SELECT {_FSELECT}, f.str_value, count(*) FROM {source} f JOIN feature_categories c "
        "ON c.model = f.model AND c.name = f.name AND c.value = f.str_value GROUP BY ALL",
    )
    return [register, totals, categories]


_BINS_JOB = Dense(
    "rollup_features",
    tuple(_FK.split(", ")),
    "",
    "bins",
    FEATURE_WIDTH,
    ("rows", "missing", "numbers", "strings", "other"),
)


def _add_bins(
    con: duckdb.DuckDBPyConnection,
    source: str | pa.Table,
    only: str = "",
    params: list[Any] | None = None,
) -> None:
    """Numbers of features with bins into ``rollup_features.bins``: code 0 below the
    first edge, i in 1..b for bin i (the last closed, as numpy's), b + 1 above the last
    edge. ``source``: a relation name, or the load's feature rows as Arrow. The codes are
    a binary search per feature and the counts a ``bincount``, in numpy (a list lambda
    per row and a GROUP BY in SQL cost several times more)."""
    edges = {
        (m, n): np.asarray(e, dtype=np.float64)
        for m, n, e in con.execute("SELECT model, name, edges FROM feature_bins").fetchall()
    }
    if not edges:
        return
    if isinstance(source, pa.Table):
        rows = _binnable(source, edges)
    else:
        rows = con.sql(
            f"SELECT f.model, f.version, {bucket_of('f.ts')} AS bucket, f.name, f.num_value "
            f"FROM {source} f SEMI JOIN feature_bins e ON e.model = f.model "
            f"AND e.name = f.name {only}WHERE isfinite(f.num_value)",
            params=params or [],
        ).to_arrow_table()
    if rows.num_rows == 0:
        return
    pair = pc.binary_join_element_wise(rows.column("model"), rows.column("name"), "\x00")
    encoded = pc.dictionary_encode(pair).combine_chunks()
    groups = encoded.indices.to_numpy()
    values = rows.column("num_value").to_numpy()
    code = np.zeros(values.size, dtype=np.int64)
    for g, key in enumerate(encoded.dictionary.to_pylist()):
        model, name = key.split("\x00", 1)
        e = edges[(model, name)]
        at = groups == g
        v = values[at]
        c = np.searchsorted(e, v, side="right")
        c[v == e[-1]] = e.size - 1
        code[at] = c
    keys = list(_BINS_JOB.keys)
    table = rows.select(keys).append_column("n", pa.array(np.ones(code.size, np.int64)))
    merged, matrix = _merge_rows(table, keys, code, FEATURE_WIDTH, None)
    _upsert_lists(con, _BINS_JOB, "rollup_features", merged, matrix)


def _binnable(rows: pa.Table, edges: dict[tuple[str, str], Any]) -> pa.Table:
    """The finite numbers of features with bins among a load's feature rows, with
    their bucket (as :func:`bucket_of`)."""
    pair = pc.binary_join_element_wise(rows.column("model"), rows.column("name"), "\x00")
    known = pa.array([f"{m}\x00{n}" for m, n in edges], pa.string())
    keep = pc.and_(
        pc.fill_null(pc.is_finite(rows.column("num_value")), False), pc.is_in(pair, known)
    )
    rows = rows.filter(keep)
    micros = pc.cast(rows.column("ts"), pa.timestamp("us")).cast(pa.int64()).to_numpy()
    bucket = np.floor_divide(micros, BUCKET_SECONDS * 1_000_000)
    return pa.table(
        {
            "model": rows.column("model"),
            "version": rows.column("version"),
            "bucket": pa.array(bucket, pa.int64()),
            "name": rows.column("name"),
            "num_value": rows.column("num_value"),
        }
    )


_NAMED = (
    "JOIN (SELECT unnest(?::VARCHAR[]) AS model, unnest(?::VARCHAR[]) AS name) d "
    "ON d.model = f.model AND d.name = f.name "
)


def _freeze(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Count the numbers of features without bins; give bins to those that reached
    :data:`FREEZE_VALUES` and bin every number stored so far."""
    con.execute(
        "INSERT INTO feature_pending SELECT f.model, f.name, count(*) FROM "
        f"{source} f ANTI JOIN feature_bins e ON e.model = f.model AND e.name = f.name "
        "WHERE isfinite(f.num_value) GROUP BY ALL "
        "ON CONFLICT DO UPDATE SET pending = feature_pending.pending + EXCLUDED.pending"
    ).fetchall()
    due = con.execute(
        "SELECT model, name FROM feature_pending p ANTI JOIN feature_bins e "
        "ON e.model = p.model AND e.name = p.name WHERE p.pending >= ?",
        [FREEZE_VALUES],
    ).fetchall()
    if not due:
        return
    named = [[d[0] for d in due], [d[1] for d in due]]
    levels = [i / FEATURE_BINS for i in range(FEATURE_BINS + 1)]
    rows = con.execute(
        "SELECT f.model, f.name, quantile_disc(f.num_value, ?::DOUBLE[]) FROM features f "
        f"{_NAMED} WHERE isfinite(f.num_value) GROUP BY ALL",
        [levels, *named],
    ).fetchall()
    con.execute(
        "INSERT INTO feature_bins SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::DOUBLE[][])",
        [[r[0] for r in rows], [r[1] for r in rows], [fixed_edges(r[2]) for r in rows]],
    ).fetchall()
    _add_bins(con, "features", _NAMED, named)


def fixed_edges(quantiles: list[float]) -> list[float]:
    """Distinct quantiles, plus one edge above the largest a typical bin's width away
    (so the largest value has a bin of its own; 1 when all values are equal)."""
    e = np.unique(np.asarray(quantiles, dtype=np.float64))
    width = float(e[-1] - e[0]) / max(e.size - 1, 1) if e.size > 1 else 1.0
    top = e[-1] + width
    if not np.isfinite(top) or top <= e[-1]:
        top = np.nextafter(e[-1], np.inf)
    out: list[float] = [*e.tolist(), float(top)]
    return out


def maintain(
    con: duckdb.DuckDBPyConnection,
    predictions: str | None,
    pairs: str | None,
    features: str | None,
    feature_rows: pa.Table | None = None,
) -> None:
    """Add the rows of the given relations (new predictions, newly completed pairs
    with ``outcome_ts``, new feature rows already in ``features``) to the rollups,
    inside the caller's transaction."""
    statements: list[str | Dense] = []
    if predictions is not None:
        statements += _predictions_sql(predictions)
    if pairs is not None:
        statements += _pairs_sql(pairs)
    if features is not None:
        statements += _features_sql(features)
    for job in statements:
        if isinstance(job, Dense):
            _dense(con, job)
        else:
            con.execute(job).fetchall()
    if features is not None:
        _add_bins(con, features if feature_rows is None else feature_rows)
        _freeze(con, features)


def backfill(con: duckdb.DuckDBPyConnection) -> None:
    """Rollups of every stored event (a migration, or a :class:`TableSource`)."""
    con.execute(
        "CREATE OR REPLACE TEMP VIEW all_pairs AS SELECT l.*, o.ts AS outcome_ts "
        "FROM labelled l JOIN outcomes o ON o.prediction_id = l.prediction_id"
    ).fetchall()
    maintain(con, "predictions", "all_pairs", "features")
    con.execute("DROP VIEW all_pairs").fetchall()


def amend_latency(
    con: duckdb.DuckDBPyConnection, amended: str, low: datetime, high: datetime
) -> None:
    """Set ``latency_total_s`` of stored predictions to the amended seconds of
    ``amended`` (id, ts, seconds; ts between ``low`` and ``high``), and move the latency
    rollups with them: the old values' contributions out, the new ones' in."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE amended_rows AS SELECT p.model, p.version, p.segment, "
        "p.ts, p.latency_total_s AS old, a.seconds AS new FROM predictions p "
        f"JOIN {amended} a ON p.id = a.id AND p.ts = a.ts WHERE p.ts BETWEEN ? AND ?",
        [low, high],
    ).fetchall()
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    con.execute(
        _upsert(
            "rollup_counts",
            _K,
            (*_COUNTS, "lat_max"),
            f"SELECT {key}, 0, 0, 0, count(new) - count(old), "
            "count(*) FILTER (WHERE new = 0) - count(*) FILTER (WHERE old = 0), "
            "coalesce(sum(new), 0) - coalesce(sum(old), 0), "
            "coalesce(sum(new * new), 0) - coalesce(sum(old * old), 0), max(new) "
            "FROM amended_rows GROUP BY ALL",
            {"lat_max": "greatest(rollup_counts.lat_max, EXCLUDED.lat_max)"},
        )
    ).fetchall()
    k = f"CAST(ceil(ln({{v}}) / {_LOG_GAMMA!r}) AS BIGINT)"
    con.execute(
        _upsert(
            "rollup_latency",
            f"{_K}, k",
            _N,
            f"SELECT {key}, k, sum(d) FROM ("
            f"SELECT model, version, segment, ts, {k.format(v='new')} AS k, 1 AS d "
            "FROM amended_rows WHERE new > 0 UNION ALL "
            f"SELECT model, version, segment, ts, {k.format(v='old')} AS k, -1 AS d "
            "FROM amended_rows WHERE old > 0) GROUP BY ALL",
        )
    ).fetchall()
    con.execute(
        f"UPDATE predictions SET latency_total_s = a.seconds FROM {amended} a "
        "WHERE predictions.id = a.id AND predictions.ts = a.ts "
        "AND predictions.ts BETWEEN ? AND ?",
        [low, high],
    ).fetchall()
    con.execute("DROP TABLE amended_rows").fetchall()
