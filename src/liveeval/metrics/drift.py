"""Drift statistics and the drift call, from mergeable binned counts on shared bins.

A :class:`Histogram` holds one feature's values over a window: numbers in bins whose
edges come from the reference (:func:`quantile_edges`), values outside them in
``below``/``above``, other values per category, and ``missing``. Histograms with the
same edges merge by adding counts, so a window of a day is the merge of its hours and
the same code serves files, the store's per-bucket histograms and any window.

Two histograms on the same bins give every statistic here:

- numeric: Kolmogorov–Smirnov ``D`` (max CDF difference at the bin edges — exact
  when every distinct value is an edge, otherwise a lower bound of the exact ``D``,
  with an upper bound from the bin masses), Wasserstein-1 (CDFs linear within a bin)
  normalised by the reference's standard deviation, and PSI and Jensen–Shannon
  distance on ten reference-decile bins;
- categorical: PSI, Jensen–Shannon distance, the chi-square test of homogeneity,
  and the categories of the current window that the reference never had.

**The call** (:func:`call_drift`): a feature is *drifted* when its effect size is at
least the rule's threshold (numeric: Wasserstein-1 in reference standard deviations;
categorical: Jensen–Shannon distance) **and** its test (numeric: Kolmogorov–Smirnov;
categorical: chi-square) is significant after the Benjamini–Hochberg adjustment over
every feature × window tested together. With fewer than ``min_rows`` values on either
side no call is made. The effect size carries a Poisson-bootstrap interval on the
counts. See ``docs/drift.md`` for why these measures and thresholds.

Pure numpy; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ._distributions import chi2_sf, kolmogorov_sf, ks_2samp_pvalue

__all__ = [
    "DEFAULT_BINS",
    "PSI_BINS",
    "PSI_EPSILON",
    "DriftCall",
    "DriftMeasurement",
    "DriftRule",
    "Histogram",
    "benjamini_hochberg",
    "call_drift",
    "chi2_sf",
    "chi_square_test",
    "jensen_shannon_distance",
    "kolmogorov_sf",
    "ks_2samp_pvalue",
    "ks_statistic",
    "measure_categorical",
    "measure_numeric",
    "population_stability_index",
    "quantile_edges",
    "wasserstein_distance",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Kind = Literal["numeric", "categorical"]
Status = Literal["drifted", "not_drifted", "too_few_rows", "undefined"]

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
BOOTSTRAP_BINS = 100
"""The numeric effect's bootstrap resamples 100 groups of adjacent reference bins."""
NORMAL_FROM = 100.0
"""Bootstrap counts from this size on are drawn from the Poisson's normal approximation."""
MIN_EXPECTED = 5.0
"""Chi-square cells with an expected count below this are pooled (Cochran's rule)."""

_OTHER = "(other)"
_UNSEEN = "(unseen)"
_MISSING = "(missing)"


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

        One sort (or none with ``is_sorted``) and a binary search per edge: O(n log n)
        in numpy's vectorised sort, no Python loop over rows.
        """
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        finite = np.isfinite(x)
        missing = int(x.size - np.count_nonzero(finite))
        if missing:
            x = x[finite]
        if not is_sorted:
            x = np.sort(x)
        e = np.asarray(edges, dtype=np.float64)
        if e.size < 2:
            raise ValidationError(f"numeric histogram needs at least 2 edges, got {e.size}")
        left = np.searchsorted(x, e, side="left")
        last = int(np.searchsorted(x, e[-1], side="right"))
        counts = np.diff(left).astype(np.int64)
        counts[-1] += last - int(left[-1])
        return cls(
            edges=e,
            counts=counts,
            below=int(left[0]),
            above=int(x.size - last),
            missing=missing,
            value_sum=float(x.sum()),
            # einsum, not dot: BLAS threads cost 10 ms per call on a busy machine
            value_sum_squares=float(np.einsum("i,i->", x, x)),
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
        if self.value_sum is not None and self.value_sum_squares is not None:
            mean = self.value_sum / n
            var = max(0.0, (self.value_sum_squares - n * mean * mean) / (n - 1))
            return math.sqrt(var)
        mids = (self.edges[:-1] + self.edges[1:]) / 2.0
        points = np.concatenate([[self.edges[0]], mids, [self.edges[-1]]])
        weights = np.concatenate([[self.below], self.counts, [self.above]]).astype(np.float64)
        mean = float(np.dot(points, weights) / n)
        var = float(np.dot((points - mean) ** 2, weights) / (n - 1))
        return math.sqrt(var)


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
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite]
    if x.size == 0:
        raise ValidationError("cannot bin a reference without finite numbers")
    if not is_sorted:
        x = np.sort(x)
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
    d = _cdfs(r) - _cdfs(c)  # (…, k + 1), at each edge
    widths = np.diff(edges)
    d0, d1 = d[..., :-1], d[..., 1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    same = d0 * d1 >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a0 + a1 > 0, (d0 * d0 + d1 * d1) / (2.0 * (a0 + a1)), 0.0)
    per_bin = np.where(same, (a0 + a1) / 2.0, crossing) * widths
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
    p = np.array([p_values[i] for i in idx], dtype=np.float64)
    n = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    result = np.empty(n)
    result[order] = adjusted
    for i, v in zip(idx, result, strict=True):
        out[i] = float(v)
    return out


# -- the rule, measurements and calls ---------------------------------------------------


@dataclass(frozen=True)
class DriftRule:
    """What decides a drift call, stated in every output.

    A feature is drifted when its effect size is at least the threshold of its kind
    **and** its test's p-value, Benjamini–Hochberg-adjusted over every feature ×
    window tested together, is below ``alpha``. With fewer than ``min_rows`` values
    (missing values aside) on either side no call is made.

    Defaults, and why (``docs/drift.md``):

    - ``numeric_threshold = 0.05``: Wasserstein-1 over the reference's standard
      deviation, i.e. how far values moved on average, in reference SDs (a mean shift
      of ``k`` SD gives ``k``). Half the 0.1 SD shift that must be found, so such a
      shift is called with room for its interval; Evidently's 0.1 cut-off on the same
      measure sits exactly at a 0.1 SD shift and misses half of them.
    - ``categorical_threshold = 0.05``: Jensen–Shannon distance (base 2), about a 6
      point swing in a 50/50 split or a 2% class doubling (PSI ≈ 0.014); the peers'
      0.1 needs a 12 point swing.
    - ``alpha = 0.05``: false-discovery rate; with nothing drifted, at most 5% of runs
      call anything (at large samples far fewer, as the effect threshold binds).
    - ``min_rows = 100``: below it the tests' asymptotic p-values lose accuracy and no
      effect near the thresholds could be significant anyway.
    """

    numeric_threshold: float = 0.05
    categorical_threshold: float = 0.05
    alpha: float = 0.05
    min_rows: int = 100
    bootstrap: int = 200
    confidence: float = 0.95
    seed: int = 0
    max_categories: int = 50

    def __post_init__(self) -> None:
        for name in ("numeric_threshold", "categorical_threshold"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValidationError(f"{name} must be a finite number >= 0, got {v}")
        if not 0 < self.alpha < 1:
            raise ValidationError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0 < self.confidence < 1:
            raise ValidationError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.min_rows < 2:
            raise ValidationError(f"min_rows must be >= 2, got {self.min_rows}")
        if self.bootstrap < 0:
            raise ValidationError(f"bootstrap must be >= 0, got {self.bootstrap}")
        if self.max_categories < 1:
            raise ValidationError(f"max_categories must be >= 1, got {self.max_categories}")

    def threshold(self, kind: Kind) -> float:
        return self.numeric_threshold if kind == "numeric" else self.categorical_threshold

    def describe(self, tests: int | None = None) -> str:
        over = f"over the {tests} tests made" if tests is not None else "over all tests made"
        return (
            f"drifted when the effect size is at least its threshold (numeric: Wasserstein-1 / "
            f"reference SD >= {self.numeric_threshold:g}; categorical: Jensen-Shannon distance "
            f">= {self.categorical_threshold:g}) and the test's p-value (numeric: "
            f"Kolmogorov-Smirnov; categorical: chi-square), Benjamini-Hochberg-adjusted {over}, "
            f"is below {self.alpha:g}; no call with fewer than {self.min_rows} values on "
            "either side"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric_effect": "wasserstein_std",
            "numeric_threshold": self.numeric_threshold,
            "numeric_test": "kolmogorov_smirnov",
            "categorical_effect": "jensen_shannon",
            "categorical_threshold": self.categorical_threshold,
            "categorical_test": "chi_square",
            "alpha": self.alpha,
            "correction": "benjamini_hochberg",
            "min_rows": self.min_rows,
            "confidence": self.confidence,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class DriftMeasurement:
    """Everything measured between one feature's reference and current window.

    ``effect`` is the effect size of the kind (numeric ``wasserstein_std``, categorical
    ``jensen_shannon``) with its bootstrap interval ``[effect_lower, effect_upper]``;
    ``p_value`` is the raw p-value of ``test``. ``statistics`` holds every statistic
    computed (``ks``, ``ks_upper``, ``wasserstein``, ``wasserstein_std``, ``psi``,
    ``jensen_shannon``, ``chi_square``…). ``reason`` says why something is undefined
    (``effect`` is ``math.inf`` when a constant reference changed at all).
    """

    kind: Kind
    effect_method: str
    effect: float | None
    effect_lower: float | None
    effect_upper: float | None
    interval_method: str
    test: str
    statistic: float | None
    df: int | None
    p_value: float | None
    rows_reference: int
    rows_current: int
    missing_reference: int
    missing_current: int
    statistics: Mapping[str, float | None]
    unseen_categories: int = 0
    unseen_current: int = 0
    enough_rows: bool = True
    reason: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftCall:
    """A measurement with its call: adjusted p-value, ``drifted``, and the rule.

    ``status`` is ``drifted``, ``not_drifted``, ``too_few_rows`` (no call made) or
    ``undefined`` (nothing to compare, e.g. no values at all).
    """

    measurement: DriftMeasurement
    threshold: float
    p_adjusted: float | None
    drifted: bool
    status: Status
    rule: str


def _interval_method(rule: DriftRule) -> str:
    return (
        f"basic bootstrap, {rule.bootstrap} Poisson resamples of the bin counts, "
        f"{rule.confidence:.0%}, seed {rule.seed}"
    )


def _percentile(values: FloatArray, rule: DriftRule) -> tuple[float, float]:
    tail = (1.0 - rule.confidence) / 2.0
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.inf, math.inf
    lo, hi = np.quantile(finite, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _resample(counts: FloatArray, rule: DriftRule, rng: np.random.Generator) -> FloatArray:
    """``rule.bootstrap`` Poisson-bootstrap replicates of a count vector (one per row).

    A count of at least ``NORMAL_FROM`` is drawn from the Poisson's normal
    approximation ``c + √c z`` (clipped at 0), 5–10x faster than numpy's Poisson
    sampler at large means and within a few per cent of it in every quantile there.
    """
    out = np.empty((rule.bootstrap, counts.size))
    big = counts >= NORMAL_FROM
    if big.any():
        lam = counts[big]
        z = rng.standard_normal((rule.bootstrap, lam.size))
        out[:, big] = np.maximum(lam + np.sqrt(lam) * z, 0.0)
    if not big.all():
        out[:, ~big] = rng.poisson(counts[~big], size=(rule.bootstrap, int((~big).sum())))
    return out


def _basic_interval(
    point: float, replicates: FloatArray, replicate_point: float, rule: DriftRule
) -> tuple[float, float]:
    """Basic (reverse-percentile) bootstrap interval ``[θ̂ − q_hi(δ*), θ̂ − q_lo(δ*)]`` with
    ``δ* = θ* − θ̂*`` (Davison & Hinkley 1997, §5.2), clipped at 0. Unlike the percentile
    interval it corrects a distance's upward bias in small samples, so that with no
    change the interval reaches down to 0."""
    if not math.isfinite(point):
        return point, point
    lo_q, hi_q = _percentile(replicates - replicate_point, rule)
    lower = max(0.0, min(point, point - hi_q))
    upper = max(point, point - lo_q)
    return lower, upper


def _wasserstein_interval(
    edges: FloatArray,
    r: FloatArray,
    c: FloatArray,
    point: float,
    rule: DriftRule,
    normalise: Any,
) -> tuple[float, float]:
    """Bootstrap on ``BOOTSTRAP_BINS`` groups of adjacent bins (equal reference mass):
    the sampling spread of W₁ barely depends on the fine bins, and resampling 1000
    bins per replicate cost ~10x more. The spread is applied to the fine estimate."""
    starts = _decile_groups(r[1:-1].astype(np.int64), BOOTSTRAP_BINS)
    cr = np.concatenate([[r[0]], np.add.reduceat(r[1:-1], starts), [r[-1]]])
    cc = np.concatenate([[c[0]], np.add.reduceat(c[1:-1], starts), [c[-1]]])
    ce = np.concatenate([edges[starts], [edges[-1]]])
    rng = np.random.default_rng(rule.seed)
    coarse_point = float(normalise(_wasserstein_from_counts(ce, cr, cc)))
    boots = normalise(
        _wasserstein_from_counts(ce, _resample(cr, rule, rng), _resample(cc, rule, rng))
    )
    return _basic_interval(float(normalise(point)), boots, coarse_point, rule)


def _too_few(n_ref: int, n_cur: int, rule: DriftRule) -> str | None:
    if n_ref < rule.min_rows or n_cur < rule.min_rows:
        return (
            f"too few values for a call: {n_ref} in the reference and {n_cur} in the current "
            f"window; the rule needs at least {rule.min_rows} on each side"
        )
    return None


def measure_numeric(
    reference: Histogram,
    current: Histogram,
    rule: DriftRule | None = None,
    *,
    reference_std: float | None = None,
) -> DriftMeasurement:
    """Drift statistics of a numeric feature: effect ``W₁ / σ_ref``, test KS.

    ``reference`` and ``current`` must share edges (normally the reference's
    :func:`quantile_edges`). ``σ_ref`` is ``reference_std`` if given, else
    :meth:`Histogram.std` of the reference; the interval holds it fixed. Also computed:
    KS ``D`` with its upper bound, raw ``W₁``, and PSI and Jensen–Shannon on reference
    deciles. Non-numeric values of a numeric feature (categories) are counted as
    missing.
    """
    rule = rule or DriftRule()
    _check_same_edges(reference, current)
    r = _full_counts(reference)
    c = _full_counts(current)
    n_ref, n_cur = int(r.sum()), int(c.sum())
    miss_ref = reference.missing + reference.category_rows
    miss_cur = current.missing + current.category_rows
    if n_ref == 0 or n_cur == 0:
        return DriftMeasurement(
            "numeric", "wasserstein_std", None, None, None, "none", "kolmogorov_smirnov",
            None, None, None, n_ref, n_cur, miss_ref, miss_cur, {}, enough_rows=False,
            reason=f"no numbers to compare: {n_ref} in the reference, {n_cur} in the current window",
        )  # fmt: skip
    d, d_upper = _ks_from_counts(r, c)
    p = ks_2samp_pvalue(d, n_ref, n_cur)
    w1 = float(_wasserstein_from_counts(reference.edges, r, c))
    sigma = reference_std if reference_std is not None else reference.std()
    notes: list[str] = []
    reason = None

    def normalise(w: FloatArray | float) -> FloatArray:
        w = np.asarray(w, dtype=np.float64)
        if sigma is not None and sigma > 0:
            return w / sigma
        return np.where(w > 0, np.inf, 0.0)

    effect = float(normalise(w1))
    if sigma is None or sigma == 0:
        reason = "the reference is constant (standard deviation 0): any change is infinite"
    groups = _decile_groups(r[1:-1].astype(np.int64))
    coarse_r = np.concatenate([[r[0]], np.add.reduceat(r[1:-1], groups), [r[-1]]])
    coarse_c = np.concatenate([[c[0]], np.add.reduceat(c[1:-1], groups), [c[-1]]])
    lower = upper = effect
    if rule.bootstrap:
        lower, upper = _wasserstein_interval(reference.edges, r, c, w1, rule, normalise)
    if c[0] or c[-1]:
        notes.append(
            f"{int(c[0] + c[-1])} current values lie outside the reference's range "
            f"[{reference.edges[0]:.6g}, {reference.edges[-1]:.6g}]; Wasserstein counts them "
            "at the range's edge (a lower bound)"
        )
    stats: dict[str, float | None] = {
        "ks": d,
        "ks_upper": d_upper,
        "wasserstein": w1,
        "wasserstein_std": effect if math.isfinite(effect) else None,
        "reference_std": sigma,
        "psi": float(population_stability_index(coarse_r, coarse_c)),
        "jensen_shannon": float(jensen_shannon_distance(coarse_r, coarse_c)),
    }
    return DriftMeasurement(
        kind="numeric",
        effect_method="wasserstein_std",
        effect=effect,
        effect_lower=lower,
        effect_upper=upper,
        interval_method=_interval_method(rule) if rule.bootstrap else "none",
        test="kolmogorov_smirnov",
        statistic=d,
        df=None,
        p_value=p,
        rows_reference=n_ref,
        rows_current=n_cur,
        missing_reference=miss_ref,
        missing_current=miss_cur,
        statistics=stats,
        enough_rows=_too_few(n_ref, n_cur, rule) is None,
        reason=_too_few(n_ref, n_cur, rule) or reason,
        notes=tuple(notes),
    )


def _category_vectors(
    reference: Histogram, current: Histogram, rule: DriftRule
) -> tuple[list[str], FloatArray, FloatArray, int, int]:
    """Align two categorical histograms: the reference's most frequent
    ``max_categories``, then other, unseen and missing. Returns the bucket names, the
    two count vectors, and the number and count of unseen categories."""
    ref_cats = reference.categories
    ranked = sorted(ref_cats.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [k for k, v in ranked[: rule.max_categories] if v > 0]
    kept_set = set(kept)
    ref_complete = reference.other == 0  # the reference kept every category it saw
    unseen_names = [k for k, v in current.categories.items() if v > 0 and k not in ref_cats]
    r_other = sum(v for k, v in ref_cats.items() if k not in kept_set) + reference.other
    c_other = current.other + sum(
        v for k, v in current.categories.items() if k not in kept_set and k in ref_cats
    )
    unseen = sum(current.categories[k] for k in unseen_names)
    if not ref_complete:  # cannot tell unseen from the reference's other
        c_other += unseen
        unseen_names, unseen = [], 0
    names = [*kept, _OTHER, _UNSEEN, _MISSING]
    r = np.array(
        [ref_cats[k] for k in kept] + [r_other, 0, reference.missing + reference.numeric_rows],
        dtype=np.float64,
    )
    c = np.array(
        [current.categories.get(k, 0) for k in kept]
        + [c_other, unseen, current.missing + current.numeric_rows],
        dtype=np.float64,
    )
    return names, r, c, len(unseen_names), int(unseen)


def measure_categorical(
    reference: Histogram, current: Histogram, rule: DriftRule | None = None
) -> DriftMeasurement:
    """Drift statistics of a categorical feature: effect Jensen–Shannon, test chi-square.

    The buckets are the reference's ``rule.max_categories`` most frequent categories,
    ``(other)`` for the rest, ``(unseen)`` for categories of the current window the
    reference never had (counted exactly when the reference histogram kept all its
    categories, ``other == 0``), and ``(missing)``, which counts as a category here
    (a label or category going missing is a change). Numbers in a categorical feature
    count as missing. Also computed: PSI over the same buckets.
    """
    rule = rule or DriftRule()
    _, r, c, n_unseen, unseen_rows = _category_vectors(reference, current, rule)
    n_ref, n_cur = int(r.sum()), int(c.sum())
    miss_ref = reference.missing + reference.numeric_rows
    miss_cur = current.missing + current.numeric_rows
    if n_ref == 0 or n_cur == 0:
        return DriftMeasurement(
            "categorical", "jensen_shannon", None, None, None, "none", "chi_square",
            None, None, None, n_ref, n_cur, miss_ref, miss_cur, {}, enough_rows=False,
            reason=f"no values to compare: {n_ref} in the reference, {n_cur} in the current window",
        )  # fmt: skip
    js = float(jensen_shannon_distance(r, c))
    stat, df, p, pooled = chi_square_test(r, c)
    lower = upper = js
    if rule.bootstrap:
        rng = np.random.default_rng(rule.seed)
        boots = jensen_shannon_distance(_resample(r, rule, rng), _resample(c, rule, rng))
        lower, upper = _basic_interval(js, boots, js, rule)
    notes = []
    if pooled:
        notes.append(f"chi-square pooled {pooled} bucket(s) with expected counts below 5")
    if reference.other and any(k not in reference.categories for k in current.categories):
        notes.append(
            "the reference histogram kept only its most frequent categories, so categories "
            "it does not list count as (other), not (unseen)"
        )
    stats: dict[str, float | None] = {
        "jensen_shannon": js,
        "psi": float(population_stability_index(r, c)),
        "chi_square": stat,
        "unseen_share": unseen_rows / n_cur if n_cur else None,
    }
    too_few = _too_few(n_ref, n_cur, rule)
    return DriftMeasurement(
        kind="categorical",
        effect_method="jensen_shannon",
        effect=js,
        effect_lower=lower,
        effect_upper=upper,
        interval_method=_interval_method(rule) if rule.bootstrap else "none",
        test="chi_square",
        statistic=stat,
        df=df,
        p_value=p,
        rows_reference=n_ref,
        rows_current=n_cur,
        missing_reference=miss_ref,
        missing_current=miss_cur,
        statistics=stats,
        unseen_categories=n_unseen,
        unseen_current=unseen_rows,
        enough_rows=too_few is None,
        reason=too_few,
        notes=tuple(notes),
    )


def call_drift(
    measurements: Sequence[DriftMeasurement], rule: DriftRule | None = None
) -> list[DriftCall]:
    """The drift call for every measurement, tested together.

    Every measurement with enough rows is one test in one Benjamini–Hochberg family
    (pass all features × windows of a report at once). ``drifted`` is
    ``effect >= threshold and p_adjusted < alpha``; a measurement below
    ``rule.min_rows`` gets ``status = "too_few_rows"``, no adjusted p-value and
    ``drifted = False``. The calls come back in the order given.
    """
    rule = rule or DriftRule()
    raw = [m.p_value if m.enough_rows and m.p_value is not None else None for m in measurements]
    adjusted = benjamini_hochberg(raw)
    tests = sum(p is not None for p in raw)
    text = rule.describe(tests)
    calls = []
    for m, p_adj in zip(measurements, adjusted, strict=True):
        threshold = rule.threshold(m.kind)
        status: Status
        if m.effect is None or (m.enough_rows and p_adj is None):
            status, drifted = "undefined", False
        elif not m.enough_rows:
            status, drifted = "too_few_rows", False
        else:
            drifted = bool(m.effect >= threshold and p_adj is not None and p_adj < rule.alpha)
            status = "drifted" if drifted else "not_drifted"
        calls.append(DriftCall(m, threshold, p_adj, drifted, status, text))
    return calls
