"""Drift of one column over many windows at once, as arrays: the live drift grid.

A grid cell is what :func:`~liveeval.metrics.drift.measure_numeric_windows` and
:func:`~liveeval.metrics.drift.measure_categorical` measure for one window, reduced to
what a call needs — the effect size, the raw p-value, the current window's rows and
whether there are enough of them — computed for every window together from count
matrices, without a :class:`~liveeval.metrics.drift.DriftMeasurement` per cell.
:func:`call_grids` makes the drift call of :func:`~liveeval.metrics.drift.call_drift`
(effect above threshold and Benjamini–Hochberg-adjusted p below alpha, one family
over every cell of every grid). Every number equals the per-window functions' (they
share the array code; tests compare them).

Pure numpy; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._distributions import chi2_sf_array, ks_2samp_pvalue_array
from ._drift_stats import (
    MIN_EXPECTED,
    Histogram,
    benjamini_hochberg_array,
    chi_square_test,
    jensen_shannon_distance,
)
from .drift import (
    DriftMeasurement,
    DriftRule,
    Kind,
    measure_numeric_windows,
    numeric_window_statistics,
)

__all__ = [
    "DriftGrid",
    "GridCalls",
    "call_grids",
    "categorical_grid",
    "numeric_grid",
    "numeric_grids",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

# Rows of a block in :func:`numeric_grids`: ~2**17 cells (1 MB of float64) per
# temporary array, which stays in the cache instead of faulting in fresh pages.
_BLOCK_CELLS = 1 << 17


@dataclass(frozen=True)
class DriftGrid:
    """One column over W windows: ``effect`` (NaN where undefined; ``inf`` when a
    constant reference changed), raw ``p_value`` (NaN where there is none),
    ``rows_current`` (the values compared in the window) and ``enough_rows`` (both sides
    reach ``rule.min_rows``). Only the windows measured are in the grid."""

    kind: Kind
    effect: FloatArray
    p_value: FloatArray
    rows_current: IntArray
    enough_rows: BoolArray

    @classmethod
    def of(cls, kind: Kind, measurements: Sequence[DriftMeasurement]) -> DriftGrid:
        """A grid from per-window measurements (the rare fallback paths)."""
        nan = float("nan")
        return cls(
            kind,
            np.array([nan if m.effect is None else m.effect for m in measurements], np.float64),
            np.array([nan if m.p_value is None else m.p_value for m in measurements], np.float64),
            np.array([m.rows_current for m in measurements], np.int64),
            np.array([m.enough_rows for m in measurements], np.bool_),
        )


def numeric_grid(
    reference: Histogram,
    counts: np.ndarray[Any, Any],
    rule: DriftRule,
    *,
    reference_std: float | None = None,
) -> DriftGrid:
    """Numeric drift of W windows: ``counts[w]`` is window ``w``'s ``[below,
    counts…, above]`` on the reference's edges. Effect ``W₁ / σ_ref``, test
    Kolmogorov–Smirnov, as :func:`~liveeval.metrics.drift.measure_numeric_windows`."""
    r = np.concatenate([[reference.below], reference.counts, [reference.above]]).astype(np.float64)
    cs = np.asarray(counts, dtype=np.float64)
    n_ref = int(r.sum())
    n_curs = cs.sum(axis=1).astype(np.int64)
    if n_ref == 0 or not n_curs.all():
        # As measure_numeric_windows: empty windows take the one-window path, for all.
        currents = [
            Histogram(reference.edges, row[1:-1].astype(np.int64), int(row[0]), int(row[-1]))
            for row in cs
        ]
        found = measure_numeric_windows(reference, currents, rule, reference_std=reference_std)
        return DriftGrid.of("numeric", found)
    stats = numeric_window_statistics(reference, r, cs, reference_std, full=False)
    p = ks_2samp_pvalue_array(stats.ks, n_ref, n_curs)
    enough = (n_curs >= rule.min_rows) & (n_ref >= rule.min_rows)
    return DriftGrid("numeric", np.asarray(stats.effects, np.float64), p, n_curs, enough)


def numeric_grids(
    columns: Sequence[tuple[Histogram, np.ndarray[Any, Any]]], rule: DriftRule
) -> list[DriftGrid]:
    """:func:`numeric_grid` of several columns at once: ``columns[i]`` is a reference
    and its windows' ``[below, counts…, above]`` rows. Same numbers as one
    :func:`numeric_grid` per column — every window's row goes through the same
    floating-point operations in the same order — computed for the rows of every
    column with as many bins together, in blocks of ~2**17 cells, with one p-value
    call for all: twenty 50-bin features cost about what one did, and a 1000-bin score
    column over 720 windows ~5× less than :func:`numeric_grid` (its whole-matrix
    temporaries left the cache). Effect ``W₁ / σ_ref`` (σ from the reference's
    :meth:`~liveeval.metrics.drift.Histogram.std`), test Kolmogorov–Smirnov
    (Stephens' p-value); a column whose reference or some window has no numbers takes
    :func:`numeric_grid`'s one-window path."""
    out: list[DriftGrid | None] = [None] * len(columns)
    # Columns by width: (column, reference row, float counts, rows per window).
    by_width: dict[int, list[tuple[int, FloatArray, FloatArray, IntArray]]] = {}
    for i, (reference, counts) in enumerate(columns):
        r = np.concatenate([[reference.below], reference.counts, [reference.above]]).astype(
            np.float64
        )
        cs = np.asarray(counts, dtype=np.float64)
        n_curs = cs.sum(axis=1).astype(np.int64)
        if int(r.sum()) == 0 or not n_curs.all() or cs.shape[0] == 0:
            out[i] = numeric_grid(reference, counts, rule)
            continue
        by_width.setdefault(r.size, []).append((i, r, cs, n_curs))
    ks_parts: list[FloatArray] = []
    n_ref_parts: list[IntArray] = []
    n_cur_parts: list[IntArray] = []
    done: list[tuple[int, FloatArray, IntArray, int]] = []
    for group in by_width.values():
        ks, w1 = _numeric_rows(
            [columns[i][0].edges for i, *_ in group],
            [r for _, r, _, _ in group],
            [cs for *_, cs, _ in group],
            [n for *_, n in group],
        )
        at = 0
        for i, r, _, n_curs in group:
            reference = columns[i][0]
            k = n_curs.size
            ks_c, w1_c = ks[at : at + k], w1[at : at + k]
            at += k
            sigma = reference.std()
            scale = sigma if sigma is not None and sigma > 0 else 0.0
            effect = np.where(w1_c > 0, np.inf, 0.0) if scale == 0.0 else w1_c / scale
            n_ref = int(r.sum())
            ks_parts.append(ks_c)
            n_ref_parts.append(np.full(k, n_ref, np.int64))
            n_cur_parts.append(n_curs)
            done.append((i, np.asarray(effect, np.float64), n_curs, n_ref))
    if done:
        p_all = ks_2samp_pvalue_array(
            np.concatenate(ks_parts), np.concatenate(n_ref_parts), np.concatenate(n_cur_parts)
        )
        at = 0
        for i, effect, n_curs, n_ref in done:
            p = p_all[at : at + n_curs.size]
            at += n_curs.size
            enough = (n_curs >= rule.min_rows) & (n_ref >= rule.min_rows)
            out[i] = DriftGrid("numeric", effect, p, n_curs, enough)
    return [g for g in out if g is not None]


def _numeric_rows(
    edges: Sequence[FloatArray],
    references: Sequence[FloatArray],
    counts: Sequence[FloatArray],
    totals: Sequence[IntArray],
) -> tuple[FloatArray, FloatArray]:
    """KS ``D`` and W₁ of every window row of columns with one width (each column's
    reference row ``references[c]``, window rows ``counts[c]`` with sums ``totals[c]``
    > 0), as :func:`~liveeval.metrics.drift.numeric_window_statistics` with
    ``full=False`` computes them row by row."""
    width = references[0].size
    p = np.stack([r / int(r.sum()) for r in references])
    cum_p = np.cumsum(p[:, :-1], axis=1)
    widths = np.stack([np.diff(e) for e in edges])
    rows = np.concatenate(counts)
    n = np.concatenate(totals)
    owner = np.repeat(np.arange(len(counts)), [c.shape[0] for c in counts])
    ks = np.empty(rows.shape[0])
    w1 = np.empty(rows.shape[0])
    step = max(1, _BLOCK_CELLS // width)
    single = len(counts) == 1
    for a in range(0, rows.shape[0], step):
        b = min(a + step, rows.shape[0])
        q = rows[a:b] / n[a:b, None]
        of = owner[a:b]
        cdf_c = np.cumsum(q[:, :-1], axis=1)
        d = np.subtract(cum_p[0] if single else cum_p[of], cdf_c, out=cdf_c)
        w1[a:b] = _wasserstein_rows(widths[0] if single else widths[of], d)
        running = np.cumsum(np.subtract(p[0] if single else p[of], q, out=q), axis=1)
        ks[a:b] = np.max(np.abs(running, out=running), axis=1)
    return ks, w1


def _wasserstein_rows(widths: FloatArray, d: FloatArray) -> FloatArray:
    """``_wasserstein_from_cdfs`` of a C-contiguous ``(rows, k + 1)`` matrix ``d``
    (``widths``: ``(k,)`` or one row per row of ``d``), with the same operations on
    every bin: ``(|d₀| + |d₁|) / 2`` per bin, ``(d₀² + d₁²) / (2 (|d₀| + |d₁|))`` where
    ``F − G`` changes sign inside it, times the bin's width, summed per row. The bins
    that cross are found by flat index (a 2-D ``nonzero`` cost ~10× more)."""
    k = d.shape[1] - 1
    d0, d1 = d[:, :-1], d[:, 1:]
    ad = np.abs(d)
    both = np.add(ad[:, :-1], ad[:, 1:])
    crosses = np.flatnonzero(d0 * d1 < 0)
    flat_d = d.reshape(-1)
    at = crosses + crosses // k  # the bin's left edge in d's flat layout
    a, b = flat_d[at], flat_d[at + 1]
    crossing = (a * a + b * b) / (2.0 * both.reshape(-1)[crosses])
    per_bin = np.divide(both, 2.0, out=both)
    per_bin.reshape(-1)[crosses] = crossing
    per_bin *= widths
    return np.asarray(per_bin.sum(axis=-1), dtype=np.float64)


def categorical_grid(
    reference: Histogram,
    values: Sequence[str],
    counts: np.ndarray[Any, Any],
    other: np.ndarray[Any, Any],
    missing: np.ndarray[Any, Any],
    rule: DriftRule,
) -> DriftGrid:
    """Categorical drift of W windows: window ``w`` holds ``counts[w, j]`` values
    ``values[j]`` (zero: not among its kept categories), ``other[w]`` further
    categories and ``missing[w]`` missing values (numbers included). Effect
    Jensen–Shannon, test chi-square, on the buckets of
    :func:`~liveeval.metrics.drift.measure_categorical`."""
    c = _category_matrix(reference, values, counts, other, missing, rule)
    ref_vector = _reference_vector(reference, rule)
    n_ref = int(ref_vector.sum())
    n_curs = c.sum(axis=1).astype(np.int64)
    w = c.shape[0]
    effect = np.full(w, np.nan)
    p = np.full(w, np.nan)
    if n_ref == 0:
        return DriftGrid("categorical", effect, p, n_curs, np.zeros(w, np.bool_))
    has = n_curs > 0
    effect[has] = jensen_shannon_distance(np.broadcast_to(ref_vector, c[has].shape), c[has])
    p[has] = _chi_square_p(ref_vector, c, has)
    enough = (n_curs >= rule.min_rows) & (n_ref >= rule.min_rows)
    return DriftGrid("categorical", effect, p, n_curs, enough)


def _reference_vector(reference: Histogram, rule: DriftRule) -> FloatArray:
    ranked = sorted(reference.categories.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [k for k, v in ranked[: rule.max_categories] if v > 0]
    kept_set = set(kept)
    r_other = sum(v for k, v in reference.categories.items() if k not in kept_set)
    return np.array(
        [reference.categories[k] for k in kept]
        + [r_other + reference.other, 0, reference.missing + reference.numeric_rows],
        dtype=np.float64,
    )


def _category_matrix(
    reference: Histogram,
    values: Sequence[str],
    counts: np.ndarray[Any, Any],
    other: np.ndarray[Any, Any],
    missing: np.ndarray[Any, Any],
    rule: DriftRule,
) -> FloatArray:
    """Every window's bucket counts: the reference's kept categories, other, unseen,
    missing (as ``_category_vectors`` of :mod:`.drift`)."""
    ref_cats: Mapping[str, int] = reference.categories
    ranked = sorted(ref_cats.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [k for k, v in ranked[: rule.max_categories] if v > 0]
    kept_set = set(kept)
    counts = np.asarray(counts, dtype=np.int64)
    slot = {v: j for j, v in enumerate(values)}
    w = counts.shape[0]
    zero = np.zeros(w, dtype=np.int64)
    kept_cols = [counts[:, slot[k]] if k in slot else zero for k in kept]
    in_ref_not_kept = [j for j, v in enumerate(values) if v not in kept_set and v in ref_cats]
    not_in_ref = [j for j, v in enumerate(values) if v not in ref_cats]
    c_other = np.asarray(other, np.int64) + counts[:, in_ref_not_kept].sum(axis=1)
    unseen = counts[:, not_in_ref].sum(axis=1)
    if reference.other != 0:  # the reference did not keep every category: no unseen
        c_other = c_other + unseen
        unseen = zero
    return np.column_stack([*kept_cols, c_other, unseen, np.asarray(missing, np.int64)]).astype(
        np.float64
    )


def _chi_square_p(r: FloatArray, c: FloatArray, rows: BoolArray) -> FloatArray:
    """:func:`chi_square_test`'s p-value for each row of ``c`` in ``rows``: rows that need
    no pooling together per set of kept columns, the others one by one."""
    at = np.flatnonzero(rows)
    out = np.empty(at.size)
    if at.size == 0:
        return out
    keep = (r[None, :] + c[at]) > 0
    nr = r.sum()
    if keep.shape[1] <= 62:
        # Each row's set of kept columns as one integer: a 1-D unique, ~10x faster than
        # unique rows (the groups are the same; their order does not matter).
        codes = keep.astype(np.int64) @ (np.int64(1) << np.arange(keep.shape[1], dtype=np.int64))
        _, first, which = np.unique(codes, return_index=True, return_inverse=True)
        patterns = keep[first]
    else:
        patterns, which = np.unique(keep, axis=0, return_inverse=True)
    which = np.asarray(which).reshape(-1)
    for g, pattern in enumerate(patterns):
        members = np.flatnonzero(which == g)
        rr = r[pattern]
        cc = c[at[members]][:, pattern]
        nc = cc.sum(axis=1)
        col = rr[None, :] + cc
        small = np.minimum(col * nr, col * nc[:, None]) / (nr + nc[:, None]) < MIN_EXPECTED
        plain = ~small.any(axis=1) & (rr.size >= 2)
        for i in np.flatnonzero(~plain).tolist():
            out[members[i]] = chi_square_test(r, c[at[members[i]]])[2]
        if not plain.any():
            continue
        cc, col, nc_p = cc[plain], col[plain], nc[plain][:, None]
        total = nr + nc_p
        er = col * nr / total
        ec = col * nc_p / total
        stats = np.sum((rr[None, :] - er) ** 2 / er, axis=1) + np.sum((cc - ec) ** 2 / ec, axis=1)
        df = int(rr.size - 1)
        out[members[plain]] = chi2_sf_array(stats, df)
    return out


@dataclass(frozen=True)
class GridCalls:
    """The calls of one grid: ``p_adjusted`` (NaN where no test), ``drifted``, and
    ``status`` per cell (``drifted``, ``not_drifted``, ``too_few_rows``, ``undefined``)."""

    p_adjusted: FloatArray
    drifted: BoolArray
    status: tuple[str, ...]


def call_grids(grids: Sequence[DriftGrid], rule: DriftRule) -> tuple[list[GridCalls], int]:
    """:func:`~liveeval.metrics.drift.call_drift` over every cell of ``grids`` as one
    Benjamini–Hochberg family; also the number of tests in the family."""
    if not grids:
        return [], 0
    p = np.concatenate([g.p_value for g in grids])
    tested = np.concatenate([g.enough_rows for g in grids]) & np.isfinite(p)
    adjusted = np.full(p.size, np.nan)
    adjusted[tested] = benjamini_hochberg_array(p[tested])
    out = []
    at = 0
    for g in grids:
        n = g.effect.size
        adj = adjusted[at : at + n]
        at += n
        threshold = rule.threshold(g.kind)
        undefined = np.isnan(g.effect) | (g.enough_rows & np.isnan(adj))
        with np.errstate(invalid="ignore"):
            drifted = ~undefined & g.enough_rows & (g.effect >= threshold) & (adj < rule.alpha)
        status = np.where(
            undefined,
            "undefined",
            np.where(~g.enough_rows, "too_few_rows", np.where(drifted, "drifted", "not_drifted")),
        )
        out.append(GridCalls(adj, drifted, tuple(status.tolist())))
    return out, int(tested.sum())
