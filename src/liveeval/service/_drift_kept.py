"""What a live drift read keeps between reads: each numeric column's grid cells, by
exact inputs.

A numeric cell's effect and raw p-value are functions of the reference's histogram
(edges, counts, sums) and the window's counts alone
(:func:`liveeval.metrics.drift_grid.numeric_grids`: every window's row goes through
the same operations whatever the other rows). So a read keeps, per column and
reference, the window keys, counts and cells of its grid; the next read of that column
reuses a cell whose window has the same counts, value for value, and computes the
others — on a live store, the windows still taking predictions (and any window a late
prediction reached). A column whose reference or some window has no numbers takes the
one-window path for all its windows, so it is computed whole and not kept.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics.drift import DriftRule, Histogram
from ..metrics.drift_grid import DriftGrid, numeric_grids

__all__ = [
    "GRIDS_KEPT_BYTES",
    "NumericColumn",
    "forget_grids",
    "forget_latest",
    "kept_numeric_grids",
]

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# At most this many bytes of kept counts (720 hourly windows × 20 features of 53 bins
# and a 1,002-bin score column are ~12 MB a reference); the least recent go first.
GRIDS_KEPT_BYTES = 96 * 2**20


@dataclass(frozen=True)
class NumericColumn:
    """One numeric column of a read: ``path`` names it (role, name), ``reference`` its
    reference histogram, ``counts[j]`` the ``[below, counts…, above]`` row of the window
    whose key (start, seconds since the epoch) is ``windows[j]``."""

    path: tuple[str, str]
    reference: Histogram
    counts: IntArray
    windows: IntArray


@dataclass(frozen=True)
class _Kept:
    windows: IntArray  # sorted
    counts: IntArray
    effect: FloatArray
    p_value: FloatArray

    @property
    def nbytes(self) -> int:
        return int(self.counts.nbytes + self.windows.nbytes + 2 * self.effect.nbytes)


_KEPT: OrderedDict[bytes, _Kept] = OrderedDict()
_KEPT_BYTES = [0]
_LOCK = threading.Lock()


def forget_grids() -> None:
    """Drop every kept grid (tests; a benchmark's first read)."""
    with _LOCK:
        _KEPT.clear()
        _KEPT_BYTES[0] = 0


def forget_latest() -> None:
    """Drop every kept grid's latest window (a benchmark's read of a store whose latest
    window still takes predictions: that window's cells are computed again)."""
    with _LOCK:
        for key, kept in list(_KEPT.items()):
            if kept.windows.size:
                last = kept.windows.size - 1
                _KEPT[key] = _Kept(
                    kept.windows[:last], kept.counts[:last], kept.effect[:last], kept.p_value[:last]
                )


def _key(column: NumericColumn) -> bytes:
    """What a cell depends on besides its window's counts: the reference's edges,
    counts and sums (its standard deviation), and the column."""
    ref = column.reference
    digest = hashlib.blake2b(repr(column.path).encode(), digest_size=32)
    digest.update(np.ascontiguousarray(ref.edges, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(ref.counts, dtype=np.int64).tobytes())
    digest.update(
        repr(
            (np.size(ref.edges), ref.below, ref.above, ref.value_sum, ref.value_sum_squares)
        ).encode()
    )
    return digest.digest()


def kept_numeric_grids(columns: Sequence[NumericColumn], rule: DriftRule) -> list[DriftGrid]:
    """:func:`~liveeval.metrics.drift_grid.numeric_grids` of ``columns``, reusing the
    cells of windows whose counts equal a kept read's (see the module's text): the same
    numbers as computing every cell."""
    plans: list[tuple[bytes | None, IntArray, IntArray, _Kept | None, Any]] = []
    todo: list[tuple[Histogram, IntArray]] = []
    for column in columns:
        counts = np.asarray(column.counts, dtype=np.int64)
        n_ref = int(column.reference.counts.sum()) + column.reference.below
        n_ref += column.reference.above
        n_curs = counts.sum(axis=1)
        arrays = n_ref > 0 and counts.shape[0] > 0 and bool(n_curs.all())
        key = _key(column) if arrays else None
        kept = None
        if key is not None:
            with _LOCK:
                kept = _KEPT.get(key)
                if kept is not None:
                    _KEPT.move_to_end(key)
        fresh = np.ones(counts.shape[0], dtype=np.bool_)
        reuse: Any = None
        if kept is not None and kept.counts.shape[1] == counts.shape[1] and kept.windows.size:
            at = np.minimum(np.searchsorted(kept.windows, column.windows), kept.windows.size - 1)
            same = kept.windows[at] == column.windows
            same[same] = _equal_rows(counts, same, kept.counts, at[same])
            fresh = ~same
            reuse = (same, at[same])
        plans.append((key, counts, n_curs, kept, (fresh, reuse)))
        if fresh.any():
            todo.append((column.reference, counts[fresh] if reuse is not None else counts))
    computed = iter(numeric_grids(todo, rule)) if todo else iter(())
    out: list[DriftGrid] = []
    for column, (key, counts, n_curs, kept, (fresh, reuse)) in zip(columns, plans, strict=True):
        grid = next(computed) if fresh.any() else None
        if reuse is None:
            assert grid is not None  # every row was fresh
            out.append(grid)
            if key is not None:
                _keep(key, column, counts, grid.effect, grid.p_value)
            continue
        assert kept is not None
        same, at = reuse
        effect = np.empty(counts.shape[0])
        p_value = np.empty(counts.shape[0])
        effect[same] = kept.effect[at]
        p_value[same] = kept.p_value[at]
        if grid is not None:
            effect[fresh] = grid.effect
            p_value[fresh] = grid.p_value
        n_ref = int(column.reference.counts.sum()) + column.reference.below
        n_ref += column.reference.above
        enough = (n_curs >= rule.min_rows) & (n_ref >= rule.min_rows)
        out.append(DriftGrid("numeric", effect, p_value, n_curs, enough))
        assert key is not None
        _keep(key, column, counts, effect, p_value)
    return out


def _equal_rows(
    counts: IntArray, rows: np.ndarray[Any, np.dtype[np.bool_]], kept: IntArray, at: IntArray
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Whether ``counts[rows]`` equal ``kept[at]`` row by row; runs of consecutive rows
    on both sides (the usual case: the same windows, one more at the end) compared as
    slices, without copying them."""
    mine = np.flatnonzero(rows)
    if not mine.size:
        return np.zeros(0, np.bool_)
    if mine[-1] - mine[0] + 1 == mine.size and at[-1] - at[0] + 1 == at.size:
        a, b = int(mine[0]), int(at[0])
        n = mine.size
        equal: np.ndarray[Any, np.dtype[np.bool_]] = (counts[a : a + n] == kept[b : b + n]).all(
            axis=1
        )
        return equal
    return np.asarray((counts[mine] == kept[at]).all(axis=1), np.bool_)


def _keep(
    key: bytes, column: NumericColumn, counts: IntArray, effect: FloatArray, p_value: FloatArray
) -> None:
    windows = column.windows
    if (windows[1:] > windows[:-1]).all():  # in order already (a read's windows are)
        kept = _Kept(windows, counts, effect, p_value)
    else:
        order = np.argsort(windows, kind="stable")
        kept = _Kept(windows[order], counts[order], effect[order], p_value[order])
    with _LOCK:
        old = _KEPT.pop(key, None)
        if old is not None:
            _KEPT_BYTES[0] -= old.nbytes
        _KEPT[key] = kept
        _KEPT_BYTES[0] += kept.nbytes
        while _KEPT_BYTES[0] > GRIDS_KEPT_BYTES and len(_KEPT) > 1:
            _, dropped = _KEPT.popitem(last=False)
            _KEPT_BYTES[0] -= dropped.nbytes
