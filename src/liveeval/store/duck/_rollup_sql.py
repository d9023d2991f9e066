"""SQL and list helpers shared by the rollup writers (:mod:`.rollup`,
:mod:`.rollup_features`): bucket keys, the aggregate-and-upsert statement, and
histograms kept as one list of counts per key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..interface import ROLLUP_BUCKET

__all__ = [
    "BUCKET_SECONDS",
    "HOUR",
    "Dense",
    "bucket_of",
    "dense",
    "merge_rows",
    "seg_key",
    "upsert",
    "upsert_lists",
]

BUCKET_SECONDS = int(ROLLUP_BUCKET.total_seconds())
HOUR = 3600


def bucket_of(ts: str) -> str:
    return f"CAST(floor(epoch({ts}) / {BUCKET_SECONDS}) AS BIGINT)"


def seg_key(column: str) -> str:
    return f"coalesce('|' || {column}, '')"


def upsert(
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


def dense(con: duckdb.DuckDBPyConnection, job: Dense) -> None:
    sparse = con.sql(job.select).to_arrow_table()
    if sparse.num_rows == 0:
        return
    keys = list(job.keys)
    rows, matrix = merge_rows(sparse, keys, sparse.column("bin").to_numpy(), job.width, None)
    upsert_lists(con, job, job.table, rows, matrix)
    if job.hourly is not None:
        bucket = rows.column("bucket").to_numpy()
        hour = np.floor_divide(bucket, HOUR // BUCKET_SECONDS)
        rows = rows.set_column(rows.column_names.index("bucket"), "bucket", pa.array(hour))
        hourly, summed = merge_rows(rows, keys, None, job.width, matrix)
        upsert_lists(con, job, job.hourly, hourly, summed)


def merge_rows(
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


def upsert_lists(
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
            upsert(
                table,
                keys,
                (*job.zeros, job.column),
                f"SELECT {keys}, {zeros}{job.column} FROM dense_rows",
                {job.column: _list_sum(table, job.column)},
            )
        ).fetchall()
    finally:
        con.unregister("dense_rows")
