"""Drift statistics on mergeable binned counts: the histogram, binning, KS, Wasserstein,
PSI, Jensen–Shannon, chi-square and Benjamini–Hochberg. Public through
:mod:`liveeval.metrics.drift`; pure numpy, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ._distributions import chi2_sf

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_BINS = 1000
"""Reference-quantile bins per numeric feature. Each holds about 0.1% of the
reference, so a binned KS ``D`` is at most ~0.001 below the exact one (a 0.1σ shift
of a normal has ``D ≈ 0.04``), and the Wasserstein integral is close to exact, while
a histogram stays a few kB and a store keeps one per feature per time bucket."""
PSI_BINS = 10
"""PSI and Jensen–Shannon on numeric features use ten reference-decile bins (adjacent
fine bins merged), the convention behind PSI's usual 0.1 / 0.25 rules of thumb; on
1000 sparse bins both would mostly measure noise."""
PSI_EPSILON = 1e-4
"""A share of 0 in PSI's ``ln(q/p)`` is replaced by this (both sides; not renormalised)."""
MIN_EXPECTED = 5.0
"""Chi-square cells with an expected count below this are pooled (Cochran's rule)."""


def _as_int_array(values: Any, name: str) -> IntArray:
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    if arr.size and arr.min() < 0:
        raise ValidationError(f"histogram {name} must be counts >= 0, got {int(arr.min())}")
    return arr


@dataclass(frozen=True, eq=False)
class Histogram:
    """One feature's values over a window, as mergeable counts.

    Numbers fall in ``counts[i]`` when ``edges[i] <= x < edges[i + 1]`` (the last bin
    also holds ``x == edges[-1]``, as :func:`numpy.histogram` and the store's
    ``FeatureHistogram``); numbers outside the edges are ``below``/``above``. Other
    values are counted per category in ``categories`` (the rest in ``other``), and
    ``missing`` counts nulls and non-finite numbers. ``value_sum`` and
    ``value_sum_squares`` (of every finite number, optional) make the standard
    deviation exact; without them it is estimated from the bins.

    Histograms merge (:meth:`merge`) when their edges are equal: counts add, so merges
    are associative and commutative and the empty histogram on the same edges is the
    identity.
    """

    edges: FloatArray = field(default_factory=lambda: np.empty(0))
    counts: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    below: int = 0
    above: int = 0
    categories: Mapping[str, int] = field(default_factory=dict)
    other: int = 0
    missing: int = 0
    value_sum: float | None = None
    value_sum_squares: float | None = None

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64).reshape(-1)
        counts = _as_int_array(self.counts, "counts")
        if edges.size == 0 and counts.size:
            raise ValidationError(f"histogram has {counts.size} counts but no edges")
        if edges.size and counts.size != edges.size - 1:
            raise ValidationError(
                f"histogram has {edges.size} edges and {counts.size} counts; "
                "expected one count per bin (len(edges) - 1)"
            )
        if edges.size and not (np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)):
            raise ValidationError("histogram edges must be finite and strictly increasing")
        for name in ("below", "above", "other", "missing"):
            if getattr(self, name) < 0:
                raise ValidationError(f"histogram {name} must be >= 0, got {getattr(self, name)}")
        bad = {k: v for k, v in self.categories.items() if v < 0}
        if bad:
            raise ValidationError(f"histogram category counts must be >= 0, got {bad}")
        edges.setflags(write=False)
        counts.setflags(write=False)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "categories", dict(self.categories))

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_values(
        cls, values: npt.ArrayLike, edges: npt.ArrayLike, *, is_sorted: bool = False
    ) -> Histogram:
        """Count numbers into the bins of ``edges``; NaN and ±inf count as missing.

        One sort (or none with ``is_sorted``: ascending, NaN last, as :func:`numpy.sort`)
        and a binary search per edge: O(n log n) in numpy's vectorised sort, no Python
        loop over rows.
        """
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        if not is_sorted:
            x = np.sort(x)
        # Sorted: -inf first, then finite numbers, +inf, NaN last — a slice, no mask.
        lo = int(np.searchsorted(x, -np.inf, side="right"))
        hi = int(np.searchsorted(x, np.inf, side="left"))
        missing = int(x.size - (hi - lo))
        x = x[lo:hi]
        e = np.asarray(edges, dtype=np.float64)
        if e.size < 2:
            raise ValidationError(f"numeric histogram needs at least 2 edges, got {e.size}")
        left = np.searchsorted(x, e, side="left")
        last = int(np.searchsorted(x, e[-1], side="right"))
        counts = np.diff(left).astype(np.int64)
        counts[-1] += last - int(left[-1])
        # Numbers near the float64 limit overflow the sums to inf: std() then works
        # from the bins on scaled values.
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(x.sum())
            # einsum, not dot: BLAS threads cost 10 ms per call on a busy machine
            squares = float(np.einsum("i,i->", x, x))
        return cls(
            edges=e,
            counts=counts,
            below=int(left[0]),
            above=int(x.size - last),
            missing=missing,
            value_sum=total,
            value_sum_squares=squares,
        )

    @classmethod
    def from_categories(cls, counts: Mapping[str, int], *, missing: int = 0) -> Histogram:
        """A categorical histogram from per-category counts (e.g. an Arrow value_counts)."""
        return cls(categories={str(k): int(v) for k, v in counts.items()}, missing=missing)

    def empty_like(self) -> Histogram:
        """The identity of :meth:`merge`: no rows, the same edges."""
        return Histogram(edges=self.edges, counts=np.zeros_like(self.counts))

    # -- totals -----------------------------------------------------------------------

    @property
    def numeric_rows(self) -> int:
        return int(self.counts.sum()) + self.below + self.above

    @property
    def category_rows(self) -> int:
        return int(sum(self.categories.values())) + self.other

    @property
    def rows(self) -> int:
        return self.numeric_rows + self.category_rows + self.missing

    @property
    def is_numeric(self) -> bool:
        return self.edges.size > 0

    def merge(self, other: Histogram) -> Histogram:
        """Add two windows' counts; the edges must be the same."""
        if self.edges.size and other.edges.size and not np.array_equal(self.edges, other.edges):
            raise ValidationError(
                "histograms with different edges cannot be merged; bin both windows on the "
                "reference's edges"
            )
        if self.edges.size and other.edges.size:
            edges, counts = self.edges, self.counts + other.counts
        elif self.edges.size:
            edges, counts = self.edges, self.counts
        else:
            edges, counts = other.edges, other.counts
        cats = dict(self.categories)
        for k, v in other.categories.items():
            cats[k] = cats.get(k, 0) + v
        sums = (self.value_sum, other.value_sum)
        squares = (self.value_sum_squares, other.value_sum_squares)
        return Histogram(
            edges=edges,
            counts=counts,
            below=self.below + other.below,
            above=self.above + other.above,
            categories=cats,
            other=self.other + other.other,
            missing=self.missing + other.missing,
            value_sum=_add_optional(*sums, self.numeric_rows, other.numeric_rows),
            value_sum_squares=_add_optional(*squares, self.numeric_rows, other.numeric_rows),
        )

    def std(self) -> float | None:
        """Standard deviation of the numbers (``n - 1`` denominator).

        Exact from ``value_sum``/``value_sum_squares`` when present; otherwise from the
        bins, each bin's values at its midpoint and ``below``/``above`` at the outer
        edges (an approximation; with reference-quantile bins it is close except for
        very heavy tails). ``None`` with fewer than two numbers.
        """
        n = self.numeric_rows
        if n < 2:
            return None
        total, squares = self.value_sum, self.value_sum_squares
        if total is not None and squares is not None and math.isfinite(total + squares):
            mean = total / n
            var = max(0.0, (squares - n * mean * mean) / (n - 1))
            if math.isfinite(var):
                return math.sqrt(var)
        # From the bins, on values scaled to at most 1 (numbers near the float64 limit,
        # ±1e308, overflow the sums otherwise); inf when the deviation itself overflows.
        mids = self.edges[:-1] / 2.0 + self.edges[1:] / 2.0
        points = np.concatenate([[self.edges[0]], mids, [self.edges[-1]]])
        scale = float(np.abs(points).max()) or 1.0
        points = points / scale
        weights = np.concatenate([[self.below], self.counts, [self.above]]).astype(np.float64)
        mean = float(np.dot(points, weights) / n)
        var = float(np.dot((points - mean) ** 2, weights) / (n - 1))
        with np.errstate(over="ignore"):
            return float(np.float64(math.sqrt(var)) * scale)


def _add_optional(a: float | None, b: float | None, rows_a: int, rows_b: int) -> float | None:
    if a is None and rows_a == 0:
        return b
    if b is None and rows_b == 0:
        return a
    if a is None or b is None:
        return None
    return a + b


# -- binning ----------------------------------------------------------------------------


def quantile_edges(
    values: npt.ArrayLike, bins: int = DEFAULT_BINS, *, is_sorted: bool = False
) -> FloatArray:
    """Bin edges at the reference's quantiles, ties removed, for :meth:`Histogram.from_values`.

    The edges are the values at ranks ``ceil(j n / bins)`` for ``j = 0 … bins - 1``
    (numpy's ``inverted_cdf`` quantiles: actual reference values), duplicates removed,
    plus the next float above the maximum, so every bin is half-open and the maximum
    lies inside the last one. With at most ``bins`` distinct values every distinct
    value starts its own bin, which makes the binned KS statistic exact on such data.
    Values outside fall in ``below``/``above`` (open ends). NaN and ±inf are ignored.

    Raises
    ------
    ValidationError
        No finite value, or ``bins < 1``.
    """
    if bins < 1:
        raise ValidationError(f"bins must be >= 1, got {bins}")
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if not is_sorted:
        x = np.sort(x)
    x = x[int(np.searchsorted(x, -np.inf, side="right")) : int(np.searchsorted(x, np.inf))]
    if x.size == 0:
        raise ValidationError("cannot bin a reference without finite numbers")
    ranks = np.ceil(np.arange(bins) * (x.size / bins)).astype(np.int64)
    inner = np.unique(x[np.clip(ranks - 1, 0, x.size - 1)])
    if inner.size < bins:
        # Ties among the quantiles: with at most `bins` distinct values, each gets a bin.
        starts = np.flatnonzero(np.concatenate([[True], x[1:] != x[:-1]]))
        if starts.size <= bins:
            inner = x[starts]
    top = np.nextafter(x[-1], np.inf)
    return np.concatenate([inner, [top]]).astype(np.float64)


def _decile_groups(ref_counts: IntArray, groups: int = PSI_BINS) -> IntArray:
    """Start indices of ``groups`` runs of adjacent fine bins with ~equal reference mass."""
    total = ref_counts.sum()
    if total == 0 or ref_counts.size <= groups:
        return np.arange(ref_counts.size, dtype=np.int64)
    cum = np.cumsum(ref_counts)
    cuts = np.searchsorted(cum, total * np.arange(1, groups) / groups, side="left") + 1
    return np.unique(np.concatenate([[0], np.clip(cuts, 0, ref_counts.size - 1)])).astype(np.int64)


# -- statistics on share vectors (vectorised over leading axes) ------------------------


def _shares(counts: npt.ArrayLike) -> FloatArray:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, c / np.where(total > 0, total, 1.0), 0.0)


def jensen_shannon_distance(reference: npt.ArrayLike, current: npt.ArrayLike) -> FloatArray:
    """Jensen–Shannon distance in base 2, in ``[0, 1]``, between two count vectors.

    Formula: ``sqrt(½ KL(p‖m) + ½ KL(q‖m))`` with ``m = (p + q) / 2`` and ``p, q`` the
    shares of each vector (terms with a zero share are 0). Defined whenever both
    vectors have a positive total. Equals ``scipy.spatial.distance.jensenshannon(p, q,
    base=2)`` (Lin 1991; Endres & Schindelin 2003). Vectorised over leading axes.
    """
    p = _shares(reference)
    q = _shares(current)
    m = (p + q) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        kp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        kq = np.where(q > 0, q * np.log2(np.where(q > 0, q, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
    div = np.clip((kp.sum(axis=-1) + kq.sum(axis=-1)) / 2.0, 0.0, 1.0)
    return np.asarray(np.sqrt(div), dtype=np.float64)


def population_stability_index(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, epsilon: float = PSI_EPSILON
) -> FloatArray:
    """Population stability index between two count vectors on the same bins.

    Formula: ``Σ (qᵢ − pᵢ) ln(qᵢ / pᵢ)`` over bins, ``p`` the reference's and ``q`` the
    current window's shares, a share of 0 replaced by ``epsilon`` (1e-4) on either side
    (the textbook form; Siddiqi 2006, *Credit Risk Scorecards*, ch. 8). Rules of thumb:
    < 0.1 stable, 0.1–0.25 some shift, > 0.25 a large shift — on ten decile bins.
    Vectorised over leading axes.
    """
    p = np.maximum(_shares(reference), epsilon)
    q = np.maximum(_shares(current), epsilon)
    both_empty = (np.asarray(reference) == 0) & (np.asarray(current) == 0)
    terms = np.where(both_empty, 0.0, (q - p) * np.log(q / p))
    return np.asarray(terms.sum(axis=-1), dtype=np.float64)


def _cdfs(hist_counts: FloatArray) -> FloatArray:
    """CDF at each edge from ``[below, counts…, above]`` (shape ``(…, k + 2)``): the share
    of values strictly below ``edges[j]`` for ``j < k`` and at most ``edges[-1]`` for
    the last edge, shape ``(…, k + 1)``."""
    shares = _shares(hist_counts)
    return np.cumsum(shares[..., :-1], axis=-1)


def ks_statistic(reference: Histogram, current: Histogram) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov ``D`` on shared bins, with an upper bound.

    Formula: ``D = max_j |F(eⱼ) − G(eⱼ)|`` over the edges, ``F``/``G`` the share of each
    window's numbers below the edge. The exact ``D`` (over all real x) is at least this
    and at most ``max over bins of max(min(dᵢ + pᵢ, dᵢ₊₁ + qᵢ), −max(dᵢ − qᵢ, dᵢ₊₁ − pᵢ))``
    (``dᵢ = F(eᵢ) − G(eᵢ)``, ``pᵢ``/``qᵢ`` the bin's masses), which is at most ``D`` plus
    the largest bin mass. Both are equal — the binned ``D`` is exact — when every
    distinct value of both windows is an edge. Returns ``(D, upper bound)``.
    """
    _check_same_edges(reference, current)
    r = _full_counts(reference)
    c = _full_counts(current)
    return _ks_from_counts(r, c)


def _ks_from_counts(r: FloatArray, c: FloatArray) -> tuple[float, float]:
    p = _shares(r)
    q = _shares(c)
    cum_d = np.concatenate([[0.0], np.cumsum(p - q)])  # d at the start of each bin, then 1-1
    d_lo, d_hi = cum_d[:-1], cum_d[1:]
    upper = np.minimum(d_lo + p, d_hi + q)
    lower = np.maximum(d_lo - q, d_hi - p)
    d = float(np.max(np.abs(cum_d)))
    bound = float(max(np.max(upper), -np.min(lower), d))
    return d, min(bound, 1.0)


def _full_counts(h: Histogram) -> FloatArray:
    return np.concatenate([[h.below], h.counts, [h.above]]).astype(np.float64)


def _check_same_edges(reference: Histogram, current: Histogram) -> None:
    if not reference.is_numeric or not np.array_equal(reference.edges, current.edges):
        raise ValidationError(
            "numeric drift needs both windows binned on the same (the reference's) edges"
        )


def _wasserstein_from_counts(edges: FloatArray, r: FloatArray, c: FloatArray) -> FloatArray:
    """∫|F − G| over the edges' range, CDFs linear within each bin; vectorised over
    leading axes of ``r``/``c`` (shape ``(…, k + 2)``)."""
    return _wasserstein_from_cdfs(edges, _cdfs(r) - _cdfs(c))


def _wasserstein_from_cdfs(edges: FloatArray, d: FloatArray) -> FloatArray:
    """:func:`_wasserstein_from_counts` from ``d = F − G`` at every edge (shape
    ``(…, k + 1)``). Within a bin ``|F − G|`` integrates to the mean of its ends' when
    they have one sign, else to ``(d₀² + d₁²) / (2 (|d₀| + |d₁|))`` (it crosses 0)."""
    widths = np.diff(edges)
    d0, d1 = d[..., :-1], d[..., 1:]
    ad = np.abs(d)
    both = ad[..., :-1] + ad[..., 1:]
    # Few bins cross 0: their formula is applied to them alone (then |d₀| + |d₁| > 0).
    crosses = np.nonzero(d0 * d1 < 0)
    a, b = d0[crosses], d1[crosses]
    crossing = (a * a + b * b) / (2.0 * both[crosses])
    per_bin = np.divide(both, 2.0, out=both)
    per_bin[crosses] = crossing
    per_bin *= widths
    return np.asarray(per_bin.sum(axis=-1), dtype=np.float64)


def wasserstein_distance(reference: Histogram, current: Histogram) -> float:
    """Wasserstein-1 (earth mover's) distance between two windows on shared bins.

    Formula: ``W₁ = ∫ |F(x) − G(x)| dx`` with each CDF linear inside a bin (values
    spread evenly within their bin). Values below or above the edges count as if at
    the nearest edge, so when the current window has values beyond the reference's
    range this is a lower bound. Close to ``scipy.stats.wasserstein_distance`` with
    reference-quantile bins (tests). Units are the feature's; :func:`measure_numeric`
    divides by the reference's standard deviation.
    """
    _check_same_edges(reference, current)
    return float(
        _wasserstein_from_counts(reference.edges, _full_counts(reference), _full_counts(current))
    )


def chi_square_test(
    reference: npt.ArrayLike, current: npt.ArrayLike
) -> tuple[float, int, float, int]:
    """Chi-square test of homogeneity of two count vectors over the same categories.

    Formula: Pearson's ``X² = Σ (O − E)² / E`` over the 2 × k table, ``E`` from the
    margins, on ``k − 1`` degrees of freedom; no continuity correction. Columns empty
    in both rows are dropped and columns with an expected count below 5 are pooled into
    one (Cochran 1954), so that the chi-square tail is a fair approximation. Equals
    ``scipy.stats.chi2_contingency(table, correction=False)`` when nothing is pooled.
    Returns ``(statistic, df, p_value, pooled_columns)``; with fewer than two columns
    left the table cannot differ: ``(0.0, 0, 1.0, pooled)``.
    """
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    c = np.asarray(current, dtype=np.float64).reshape(-1)
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0 or r.size < 2:
        return 0.0, 0, 1.0, 0
    col = r + c
    small = np.minimum(col * nr, col * nc) / (nr + nc) < MIN_EXPECTED
    pooled = int(np.count_nonzero(small))
    if pooled:
        r = np.concatenate([r[~small], [r[small].sum()]])
        c = np.concatenate([c[~small], [c[small].sum()]])
        col = r + c
        # A pool that is itself too small joins the smallest remaining column.
        if r.size > 1 and min(col[-1] * nr, col[-1] * nc) / (nr + nc) < MIN_EXPECTED:
            j = int(np.argmin(col[:-1]))
            r[j] += r[-1]
            c[j] += c[-1]
            r, c = r[:-1], c[:-1]
            col = r + c
    if r.size < 2:
        return 0.0, 0, 1.0, pooled
    total = nr + nc
    er = col * nr / total
    ec = col * nc / total
    stat = float(np.sum((r - er) ** 2 / er) + np.sum((c - ec) ** 2 / ec))
    df = int(r.size - 1)
    return stat, df, chi2_sf(stat, df), pooled


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (the step-up false-discovery-rate procedure).

    Formula: with the ``N`` defined p-values sorted, ``p̃₍ᵢ₎ = min_{j ≥ i} min(1, N p₍ⱼ₎ / j)``;
    rejecting ``p̃ < α`` controls the false discovery rate at ``α`` for independent or
    positively dependent tests, and the chance of any false call at ``α`` when nothing
    changed (Benjamini & Hochberg 1995). ``None`` entries (no test made) stay ``None``
    and do not count in ``N``.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if not idx:
        return out
    result = benjamini_hochberg_array(np.array([p_values[i] for i in idx], dtype=np.float64))
    for i, v in zip(idx, result, strict=True):
        out[i] = float(v)
    return out


def benjamini_hochberg_array(p: FloatArray) -> FloatArray:
    """:func:`benjamini_hochberg` of an array of p-values, every one a test (the same
    floats: the list form calls this)."""
    n = p.size
    result = np.empty(n)
    if n == 0:
        return result
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    result[order] = adjusted
    return result
