"""The alert loop's light read: every rollup bucket of many models as count arrays.

One query joins ``rollup_counts`` with the confusion cells and business sums of
``rollup_cells`` per bucket (cells as lists), so the answer is one consistent snapshot
however the loader runs meanwhile, and the caller gets arrays, not a statistics object
per bucket (:class:`~liveeval.store.interface.BucketCounts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ..interface import BucketCounts
from ._window_sql import BUCKET, EPOCH, _seconds

__all__ = ["bucket_counts"]

_QUERY = """
WITH c AS (SELECT model, version, seg, bucket, predictions, failed FROM rollup_counts r
           WHERE {where} AND r.predictions > 0),
     x AS (SELECT model, version, seg, bucket, label, predicted, n, vn, vs, vss, vbin
           FROM rollup_cells r WHERE {where})
SELECT c.model, c.version, c.seg, c.bucket, c.predictions, c.failed,
       list(x.label) FILTER (WHERE x.label <> '' AND x.predicted <> '') AS t,
       list(x.predicted) FILTER (WHERE x.label <> '' AND x.predicted <> '') AS pl,
       list(x.n) FILTER (WHERE x.label <> '' AND x.predicted <> '') AS n,
       coalesce(sum(x.vn) FILTER (WHERE x.vn > 0), 0)::BIGINT AS vn,
       coalesce(sum(x.vs) FILTER (WHERE x.vn > 0), 0)::DOUBLE AS vs,
       coalesce(sum(x.vss) FILTER (WHERE x.vn > 0), 0)::DOUBLE AS vss,
       coalesce(bool_and(x.vbin) FILTER (WHERE x.vn > 0), true) AS vbin
FROM c LEFT JOIN x
  ON x.model = c.model AND x.version = c.version AND x.seg = c.seg AND x.bucket = c.bucket
GROUP BY ALL
ORDER BY c.model, c.version, c.seg, c.bucket
"""


def _bucket_number(ts: datetime) -> int:
    seconds = _seconds(ts)
    width = BUCKET.total_seconds()
    if seconds % width:
        raise ValidationError(
            f"{ts.isoformat()} is not on a {BUCKET} boundary: bucket counts are read "
            "in whole buckets of prediction time (UTC, from the Unix epoch)"
        )
    return int(seconds // width)


def bucket_counts(
    cur: duckdb.DuckDBPyConnection,
    models: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> BucketCounts:
    """Every bucket of ``models`` in ``[since, until)`` with its counts (one query).

    Raises
    ------
    ValidationError
        when ``since`` or ``until`` is not on a bucket boundary.
    """
    clauses = ["list_contains(?, r.model)"]
    params: list[Any] = [list(models)]
    if since is not None:
        clauses.append("r.bucket >= ?")
        params.append(_bucket_number(since))
    if until is not None:
        clauses.append("r.bucket < ?")
        params.append(_bucket_number(until))
    table = cur.sql(_QUERY.format(where=" AND ".join(clauses)), params=params * 2).to_arrow_table()
    return _arrays(table)


def _objects(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, np.dtype[np.object_]]:
    out = np.empty(len(column), dtype=object)
    out[:] = column.to_pylist()
    return out


def _arrays(table: pa.Table) -> BucketCounts:
    rows = table.num_rows
    seg = _objects(table.column("seg"))
    segment = np.empty(rows, dtype=object)
    segment[:] = [s[1:] if s else None for s in seg.tolist()]
    lengths = pc.fill_null(pc.list_value_length(table.column("n")), 0).to_numpy(
        zero_copy_only=False
    )
    cell_row = np.repeat(np.arange(rows, dtype=np.int64), lengths.astype(np.int64))

    def flat(name: str) -> pa.Array:
        column = table.column(name).combine_chunks()
        return pc.list_flatten(column) if rows else pa.array([], pa.string())

    n_flat = flat("n")
    return BucketCounts(
        model=_objects(table.column("model")),
        version=_objects(table.column("version")),
        segment=segment,
        bucket=table.column("bucket").to_numpy().astype(np.int64),
        predictions=table.column("predictions").to_numpy().astype(np.int64),
        failed=table.column("failed").to_numpy().astype(np.int64),
        values_n=table.column("vn").to_numpy().astype(np.int64),
        values_sum=table.column("vs").to_numpy().astype(np.float64),
        values_sq=table.column("vss").to_numpy().astype(np.float64),
        values_binary=table.column("vbin").to_numpy(zero_copy_only=False).astype(bool),
        cell_row=cell_row,
        cell_actual=_objects(flat("t")),
        cell_predicted=_objects(flat("pl")),
        cell_n=np.asarray(n_flat.to_numpy(zero_copy_only=False), dtype=np.int64),
    )


def bucket_start(bucket: int) -> datetime:
    """The start of bucket number ``bucket`` (naive UTC)."""
    return EPOCH + bucket * BUCKET
