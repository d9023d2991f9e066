"""Feature rollups: per (model, version, bucket, feature) counts of values, numbers in
fixed bins per (model, feature), and the categories of a feature's registry.

Feature bins are fixed per (model, feature): when :data:`FREEZE_VALUES` finite
numbers of a feature are stored, their ``FEATURE_BINS`` quantiles (``quantile_disc``,
deduplicated) become its edges, plus one edge a bin's width above the largest value so
that it has a bin of its own; values outside fall ``below`` or ``above``. The numbers
stored before that moment are binned then, in the same transaction. Categories are
counted exactly for the first :data:`CATEGORY_CAP` distinct values of a feature; later
new values count in ``other``.

Both tables are also kept per hour (``rollup_features_hourly``,
``rollup_feature_categories_hourly``, schema v11; ``bucket`` counts hours): every load
adds its 15-minute delta to both, summed per hour for the second, so a read of whole
hours merges four times fewer rows. A 15-minute row is never split: an hour row is the
sum of its four buckets' rows, and a read mixes the two only at a scope's edges.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._rollup_sql import (
    BUCKET_SECONDS,
    HOUR,
    Dense,
    bucket_of,
    merge_rows,
    upsert,
    upsert_lists,
)

__all__ = [
    "CATEGORY_CAP",
    "FEATURE_BINS",
    "FEATURE_WIDTH",
    "FREEZE_VALUES",
    "HOURLY_FEATURE_TABLES",
    "backfill_hourly_features",
    "features_sql",
    "fixed_edges",
    "maintain_features",
]

FEATURE_BINS = 50
# Bin codes 0 (below) to len(edges) (above); at most FEATURE_BINS + 2 edges.
FEATURE_WIDTH = FEATURE_BINS + 3
FREEZE_VALUES = 10_000
CATEGORY_CAP = 1_000
_N = ("n",)

_FK = "model, version, bucket, name"
_FSELECT = f"f.model, f.version, {bucket_of('f.ts')} AS bucket, f.name"
_TOTALS = ("rows", "missing", "numbers", "strings", "other")
# 15-minute buckets per hour; an hour's number from a bucket's (floored: before 1970 too).
_PER_HOUR = HOUR // BUCKET_SECONDS
_HOUR_OF = f"CAST(floor(bucket / {_PER_HOUR}) AS BIGINT) AS bucket"

_HKEY = (
    "model VARCHAR NOT NULL, version VARCHAR NOT NULL, bucket BIGINT NOT NULL, "
    "name VARCHAR NOT NULL"
)
HOURLY_FEATURE_TABLES = f"""
CREATE TABLE rollup_features_hourly ({_HKEY}, rows BIGINT NOT NULL, missing BIGINT NOT NULL,
    numbers BIGINT NOT NULL, strings BIGINT NOT NULL, other BIGINT NOT NULL, bins INTEGER[],
    PRIMARY KEY (model, version, bucket, name));
CREATE TABLE rollup_feature_categories_hourly ({_HKEY}, value VARCHAR NOT NULL,
    n BIGINT NOT NULL, PRIMARY KEY (model, version, bucket, name, value));
"""


def _both(table: str, keys: str, columns: tuple[str, ...], delta: str, hourly: bool) -> list[str]:
    """Upserts of the aggregated ``delta`` (a temporary table of 15-minute rows) into
    ``table`` and, with ``hourly``, summed per hour into its hourly twin."""
    rest = keys.replace("bucket", _HOUR_OF)
    out = [upsert(table, keys, columns, f"SELECT {keys}, {', '.join(columns)} FROM {delta}")]
    if hourly:
        sums = ", ".join(f"sum({c})" for c in columns)
        out.append(
            upsert(
                f"{table}_hourly", keys, columns, f"SELECT {rest}, {sums} FROM {delta} GROUP BY ALL"
            )
        )
    return out


def features_sql(source: str, *, hourly: bool = True) -> list[str | Dense]:
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
    # The load's deltas once, then added to the 15-minute and the hourly tables.
    totals = (
        "CREATE OR REPLACE TEMP TABLE feature_totals AS "
        f"SELECT {_FSELECT}, count(*) AS rows, "
        f"count(*) FILTER (WHERE f.str_value IS NULL AND NOT coalesce({finite}, false)) AS missing, "
        f"count(*) FILTER (WHERE {finite}) AS numbers, count(f.str_value) AS strings, "
        f"count(*) FILTER (WHERE f.str_value IS NOT NULL AND c.value IS NULL) AS other "
        f"FROM {source} f {known} GROUP BY ALL"
    )
    categories = (
        "CREATE OR REPLACE TEMP TABLE feature_values AS "
        f"SELECT {_FSELECT}, f.str_value AS value, count(*) AS n FROM {source} f "
        "JOIN feature_categories c ON c.model = f.model AND c.name = f.name "
        "AND c.value = f.str_value GROUP BY ALL"
    )
    return [
        register,
        totals,
        *_both("rollup_features", _FK, _TOTALS, "feature_totals", hourly),
        categories,
        *_both("rollup_feature_categories", f"{_FK}, value", _N, "feature_values", hourly),
        "DROP TABLE feature_totals",
        "DROP TABLE feature_values",
    ]


_BINS_JOB = Dense("rollup_features", tuple(_FK.split(", ")), "", "bins", FEATURE_WIDTH, _TOTALS)


def _upsert_bins(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    matrix: np.ndarray[Any, np.dtype[np.int64]],
    hourly: bool,
) -> None:
    """Add bin counts per (model, version, bucket, name) to ``rollup_features`` and, with
    ``hourly``, summed per hour to ``rollup_features_hourly``."""
    upsert_lists(con, _BINS_JOB, "rollup_features", rows, matrix)
    if not hourly:
        return
    hour = np.floor_divide(rows.column("bucket").to_numpy(), _PER_HOUR)
    hours = rows.set_column(rows.column_names.index("bucket"), "bucket", pa.array(hour))
    summed_rows, summed = merge_rows(hours, list(_BINS_JOB.keys), None, FEATURE_WIDTH, matrix)
    upsert_lists(con, _BINS_JOB, "rollup_features_hourly", summed_rows, summed)


def _add_bins(
    con: duckdb.DuckDBPyConnection,
    source: str | pa.Table,
    only: str = "",
    params: list[Any] | None = None,
    *,
    hourly: bool = True,
) -> bool:
    """Numbers of features with bins into ``rollup_features.bins``: code 0 below the
    first edge, i in 1..b for bin i (the last closed, as numpy's), b + 1 above the last
    edge. ``source``: a relation name, or the load's feature rows as Arrow. The codes are
    a binary search per feature and the counts one ``np.unique`` of an integer key per
    row, in numpy (a list lambda per row, or an ASOF join, and a GROUP BY in SQL cost
    more; so did grouping by joined key strings). Returns whether ``source`` holds
    finite numbers of features without bins (True when unsure)."""
    edges = {
        (m, n): np.asarray(e, dtype=np.float64)
        for m, n, e in con.execute("SELECT model, name, edges FROM feature_bins").fetchall()
    }
    if not edges:
        return True
    if isinstance(source, pa.Table):
        rows = source
        micros = pc.cast(rows.column("ts"), pa.timestamp("us")).cast(pa.int64())
        bucket = np.floor_divide(
            micros.to_numpy(zero_copy_only=False), BUCKET_SECONDS * 1_000_000
        ).astype(np.int64)
    else:
        rows = con.sql(
            f"SELECT f.model, f.version, {bucket_of('f.ts')} AS bucket, f.name, f.num_value "
            f"FROM {source} f SEMI JOIN feature_bins e ON e.model = f.model "
            f"AND e.name = f.name {only}WHERE isfinite(f.num_value)",
            params=params or [],
        ).to_arrow_table()
        bucket = rows.column("bucket").to_numpy().astype(np.int64)
    if rows.num_rows == 0:
        return not isinstance(source, pa.Table)
    merged, matrix, unbinned = _bin_counts(rows, bucket, edges)
    if merged.num_rows:
        _upsert_bins(con, merged, matrix, hourly)
    return unbinned or not isinstance(source, pa.Table)


def _encoded(column: pa.ChunkedArray) -> tuple[np.ndarray[Any, np.dtype[np.int64]], list[Any]]:
    enc = pc.dictionary_encode(column).combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()


def _bin_counts(
    rows: pa.Table,
    bucket: np.ndarray[Any, np.dtype[np.int64]],
    edges: dict[tuple[str, str], np.ndarray[Any, np.dtype[np.float64]]],
) -> tuple[pa.Table, np.ndarray[Any, np.dtype[np.int64]], bool]:
    """Rows of (model, version, bucket, name) with their counts per bin code, from
    feature rows (``model``, ``version``, ``name``, ``num_value``) and their buckets;
    only the finite numbers of features with edges count (and whether some finite
    numbers had none)."""
    mi, models = _encoded(rows.column("model"))
    vi, versions = _encoded(rows.column("version"))
    ni, names = _encoded(rows.column("name"))
    values = rows.column("num_value").to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(values)
    pair = mi * len(names) + ni
    code = np.zeros(values.size, dtype=np.int64)
    keep = np.zeros(values.size, dtype=bool)
    unbinned = False
    for p in np.unique(pair[finite]).tolist():
        e = edges.get((models[p // len(names)], names[p % len(names)]))
        if e is None:
            unbinned = True
            continue
        at = np.flatnonzero((pair == p) & finite)
        v = values[at]
        c = np.searchsorted(e, v, side="right")
        c[v == e[-1]] = e.size - 1
        code[at] = c
        keep[at] = True
    width = FEATURE_WIDTH
    at = np.flatnonzero(keep)
    b0 = int(bucket[at].min()) if at.size else 0
    sizes = (len(models), len(versions), int(bucket[at].max()) - b0 + 1 if at.size else 1)
    # One integer per (model, version, bucket, name); the bin code beside it.
    group = ((mi[at] * sizes[1] + vi[at]) * sizes[2] + (bucket[at] - b0)) * len(names) + ni[at]
    if sizes[0] * sizes[1] * sizes[2] * len(names) * width >= 2**62:
        raise OverflowError("feature rollup keys out of range")  # pragma: no cover
    keys, counts = np.unique(group * width + code[at], return_counts=True)
    groups, slot = np.unique(keys // width, return_inverse=True)
    matrix = np.zeros((groups.size, width), dtype=np.int64)
    np.add.at(matrix, (slot, keys % width), counts)
    n_i = groups % len(names)
    rest = groups // len(names)
    b_i = rest % sizes[2] + b0
    rest = rest // sizes[2]
    table = pa.table(
        {
            "model": pa.array([models[i] for i in (rest // sizes[1]).tolist()], pa.string()),
            "version": pa.array([versions[i] for i in (rest % sizes[1]).tolist()], pa.string()),
            "bucket": pa.array(b_i, pa.int64()),
            "name": pa.array([names[i] for i in n_i.tolist()], pa.string()),
        }
    )
    return table, matrix, unbinned


_NAMED = (
    "JOIN (SELECT unnest(?::VARCHAR[]) AS model, unnest(?::VARCHAR[]) AS name) d "
    "ON d.model = f.model AND d.name = f.name "
)


def _freeze(con: duckdb.DuckDBPyConnection, source: str, hourly: bool) -> None:
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
    _add_bins(con, "features", _NAMED, named, hourly=hourly)


def fixed_edges(quantiles: list[float]) -> list[float]:
    """Distinct quantiles, plus one edge above the largest a typical bin's width away
    (so the largest value has a bin of its own; 1 when all values are equal)."""
    e = np.unique(np.asarray(quantiles, dtype=np.float64))
    # Edges near the float64 limit (±1e308) overflow the width: the fallback below.
    with np.errstate(over="ignore", invalid="ignore"):
        width = float(e[-1] - e[0]) / max(e.size - 1, 1) if e.size > 1 else 1.0
        top = e[-1] + width
    if not np.isfinite(top) or top <= e[-1]:
        top = np.nextafter(e[-1], np.inf)
    out: list[float] = [*e.tolist(), float(top)]
    return out


def maintain_features(
    con: duckdb.DuckDBPyConnection,
    features: str,
    feature_rows: pa.Table | None = None,
    *,
    hourly: bool = True,
) -> None:
    """Bin the numbers of the new feature rows ``features`` (or their Arrow copy
    ``feature_rows``) and fix the bins of features that reached the freeze threshold;
    :func:`features_sql` has counted the rows. (With ``feature_rows`` whose numbers
    all have bins, nothing is pending: the freeze's queries are skipped.) ``hourly``:
    the hourly twins are kept too (False only before schema v11 created them)."""
    if _add_bins(con, features if feature_rows is None else feature_rows, hourly=hourly):
        _freeze(con, features, hourly)


def backfill_hourly_features(con: duckdb.DuckDBPyConnection) -> None:
    """The hourly feature rollups from the 15-minute ones already stored (schema v11):
    each hour's row is the sum of its buckets' rows, as the loads keep it."""
    con.execute(
        f"INSERT INTO rollup_feature_categories_hourly SELECT model, version, {_HOUR_OF}, "
        "name, value, sum(n) FROM rollup_feature_categories GROUP BY ALL"
    ).fetchall()
    sums = ", ".join(f"sum({c})" for c in _TOTALS)
    con.execute(
        f"INSERT INTO rollup_features_hourly ({_FK}, {', '.join(_TOTALS)}) "
        f"SELECT model, version, {_HOUR_OF}, name, {sums} FROM rollup_features GROUP BY ALL"
    ).fetchall()
    binned = con.sql(
        f"SELECT model, version, {_HOUR_OF}, name, bins FROM rollup_features WHERE bins IS NOT NULL"
    ).to_arrow_table()
    if binned.num_rows == 0:
        return
    counts = (
        pc.list_flatten(binned.column("bins").combine_chunks())
        .to_numpy(zero_copy_only=False)
        .astype(np.int64)
        .reshape(-1, FEATURE_WIDTH)
    )
    rows, summed = merge_rows(binned, list(_BINS_JOB.keys), None, FEATURE_WIDTH, counts)
    upsert_lists(con, _BINS_JOB, "rollup_features_hourly", rows, summed)
