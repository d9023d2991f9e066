"""Shared pieces of the rollup reads (:mod:`.windows`, :mod:`.feature_windows`): which
scopes and windows the rollups can answer, the WHERE clause over a rollup table, the
window number of a bucket, and lists of counts as numpy matrices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ..interface import SCORE_BINS, Scope
from ._rollup_sql import BUCKET_SECONDS, HOUR

__all__ = [
    "BUCKET",
    "EPOCH",
    "SCORE_LISTS",
    "add_rows",
    "check",
    "list_matrix",
    "rollup_where",
    "scores_table",
    "start",
    "summed_rows",
    "unaligned",
    "window_key",
]

BUCKET = timedelta(seconds=BUCKET_SECONDS)
# A score list as a fixed-size array: DuckDB hands 2,880 of them to Arrow in about 60%
# of the time it takes for variable-length lists (every stored list has SCORE_BINS
# counts).
SCORE_LISTS = f"counts::INTEGER[{SCORE_BINS}]"
EPOCH = datetime(1970, 1, 1)


def _seconds(ts: datetime) -> float:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return (ts - EPOCH).total_seconds()


def unaligned(scope: Scope, every: timedelta | None) -> str | None:
    """Why the rollups cannot answer ``scope`` in windows of ``every`` (None if they can)."""
    if every is not None:
        seconds = every.total_seconds()
        if seconds <= 0 or seconds % BUCKET_SECONDS:
            return f"window {every} is not a multiple of the {BUCKET} bucket"
    for name, ts in (("since", scope.since), ("until", scope.until)):
        if ts is not None and _seconds(ts) % BUCKET_SECONDS:
            return f"{name} {ts.isoformat()} is not on a {BUCKET} boundary"
    return None


def check(scope: Scope, every: timedelta | None) -> None:
    reason = unaligned(scope, every)
    if reason is not None:
        raise ValidationError(
            f"{reason}: windows are read from rollups of {BUCKET} buckets of prediction "
            "time (UTC, from the Unix epoch); give whole buckets"
        )


def rollup_where(
    scope: Scope,
    *,
    segments: bool = True,
    grain: int = BUCKET_SECONDS,
    models: Sequence[str] | None = None,
) -> tuple[str, list[Any]]:
    """The rollup rows of ``scope`` (of each of ``models`` instead of ``scope.model``
    when given: one read for several models)."""
    if models is None:
        clauses = ["r.model = ?"]
        params: list[Any] = [scope.model]
    else:
        clauses = [f"r.model IN ({', '.join('?' for _ in models) or 'NULL'})"]
        params = list(models)
    if scope.version is not None:
        clauses.append("r.version = ?")
        params.append(scope.version)
    if segments and scope.segment is not None:
        clauses.append("r.seg = ?")
        params.append("|" + scope.segment)
    if segments and scope.segment_is_null:
        clauses.append("r.seg = ''")
    if scope.since is not None:
        clauses.append("r.bucket >= ?")
        params.append(int(_seconds(scope.since)) // grain)
    if scope.until is not None:
        clauses.append("r.bucket < ?")
        params.append(int(_seconds(scope.until)) // grain)
    return " AND ".join(clauses), params


def window_key(every: timedelta | None, grain: int = BUCKET_SECONDS) -> str:
    if every is None:
        return "0"
    return f"CAST(floor(r.bucket / {int(every.total_seconds()) // grain}) AS BIGINT)"


def scores_table(scope: Scope, every: timedelta | None) -> tuple[str, int]:
    """Score lists are also kept per hour: the hourly table when the windows allow."""
    times = [t for t in (scope.since, scope.until) if t is not None]
    if (every is None or every.total_seconds() % HOUR == 0) and all(
        _seconds(t) % HOUR == 0 for t in times
    ):
        return "rollup_scores_hourly", HOUR
    return "rollup_scores", BUCKET_SECONDS


def start(w: int, every: timedelta | None, scope: Scope) -> datetime:
    if every is None:
        return scope.since or EPOCH
    return EPOCH + w * every


def add_rows(
    out: np.ndarray[Any, np.dtype[np.int64]],
    at: np.ndarray[Any, np.dtype[np.int64]],
    rows: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    """``out[at[i]] += rows[i]`` for every i. ``rows`` may be a narrower integer type:
    the sums are int64.

    Targets hit once (an hourly rollup row per window) are added in place, without
    copying ``rows``. Otherwise rows are put in target order (skipped when they are)
    and the runs summed either one run at a time (few runs) or one offset into every
    run at a time (many short runs: four 15-minute buckets per hourly window). Both
    add whole contiguous rows; ``np.add.reduceat`` along axis 0 took ~15x longer on
    2,880 rows of 1,000 bins, and ``np.add.at`` on rows longer still."""
    if at.size == 0:
        return
    ordered = not (at[1:] < at[:-1]).any()
    order = None if ordered else np.argsort(at, kind="stable")
    sorted_at = at if order is None else at[order]
    starts = np.flatnonzero(np.r_[True, sorted_at[1:] != sorted_at[:-1]])
    if starts.size == at.size:
        out[at] += rows
        return
    if order is not None:
        rows = rows[order]
    targets = sorted_at[starts]
    lengths = np.diff(np.r_[starts, at.size])
    longest = int(lengths.max())
    if starts.size <= longest:
        ends = np.r_[starts[1:], at.size]
        for t, a, b in zip(targets.tolist(), starts.tolist(), ends.tolist(), strict=True):
            out[t] += rows[a:b].sum(axis=0, dtype=np.int64)
        return
    for offset in range(longest):
        runs = lengths > offset
        out[targets[runs]] += rows[starts[runs] + offset]


def summed_rows(
    at: np.ndarray[Any, np.dtype[np.int64]],
    rows: np.ndarray[Any, np.dtype[np.int64]],
    size: int,
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """A new ``(size, width)`` int64 matrix whose row ``t`` is the sum of the ``rows[i]``
    with ``at[i] == t`` (zero where none). When every target is hit at most once (an
    hourly score list per window, kind and side) the rows are copied into place, and
    only the rows no target hits are zeroed: filling a zeroed matrix and adding in place
    (:func:`add_rows`) took about three times longer on 2,880 rows of 1,000 bins."""
    out: np.ndarray[Any, np.dtype[np.int64]]
    if at.size and np.bincount(at, minlength=size).max() > 1:
        out = np.zeros((size, rows.shape[1]), np.int64)
        add_rows(out, at, rows)
        return out
    out = np.empty((size, rows.shape[1]), np.int64)
    untouched = np.ones(size, np.bool_)
    untouched[at] = False
    out[untouched] = 0
    out[at] = rows
    return out


def list_matrix(
    column: pa.ChunkedArray, width: int, *, native: bool = False
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """A column of equal-length integer lists as a (rows, width) matrix (int64, or the
    lists' own integer type with ``native``, which saves a copy before :func:`add_rows`)."""
    values = pc.list_flatten(column.combine_chunks()).to_numpy(zero_copy_only=False)
    matrix: np.ndarray[Any, np.dtype[np.int64]] = (
        values if native else values.astype(np.int64)
    ).reshape(-1, width)
    return matrix
