"""ROC-AUC of many score distributions at once (the windows of a live read).

:func:`~liveeval.metrics.ranking.roc_auc` finds each limit of its score interval by 34
bisection steps, each evaluating Owen's T by 24-point quadrature: about 70 quadratures
per window, in Python. :func:`roc_auc_array` computes every window together — the
placement values of all windows from one concatenation, both limits of all windows by
bracketing secant steps as array operations (about six evaluations per limit instead
of 34) — and returns the same :class:`MetricResult` objects.

Agreement with the scalar function (``tests/metrics/test_ranking_array.py``): the AUC
to 1e-9 relative, its limits to 1e-9 relative or 1e-10 absolute, whichever is larger.
The scalar limits are bisection results resolved to 2⁻³⁴ of the side searched (at most
5.8e-11), these are bracketed to 2⁻³⁶ of it, so the two differ by at most 7.3e-11
(6.1e-11 relative at most over the 720 hourly windows of the benchmark store). Pure
numpy; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .interval import z_value
from .interval_array import normal_quantile
from .ranking import ScoreDistribution, _few_rows_note, _gauss_legendre, roc_auc
from .result import MetricResult

__all__ = ["binormal_variance_array", "owen_t_array", "roc_auc_array", "roc_auc_bins"]

FloatArray = npt.NDArray[np.float64]

# Owen's T is needed only at a = 1/√3 (the binormal model's Φ₂(·, ·; ½)).
_OWEN_A = 1.0 / math.sqrt(3.0)
# Secant steps per limit before the sides still open are halved to the end.
_SECANT_STEPS = 40
# Halvings that take any side to its resolution.
_HALVINGS = 64


def owen_t_array(h: npt.ArrayLike, a: float = _OWEN_A) -> FloatArray:
    """Owen's T(h, a) for an array of h and one a.

    Formula: T(h, a) = (1/2π) ∫₀ᵃ exp(−h²(1 + x²)/2) / (1 + x²) dx, by 24-point
    Gauss–Legendre quadrature on [0, a] (the nodes and arithmetic of the scalar
    ``ranking._owen_t``; the sum over nodes is a matrix product here). Accurate to
    about 1e-15 for the a ≤ 1 used here.

    References
    ----------
    Owen, D. B. (1956). Tables for computing bivariate normal probabilities. Annals
    of Mathematical Statistics 27, 1075–1090.
    """
    hh = np.asarray(h, dtype=np.float64)
    nodes, weights = _gauss_legendre()
    x = (nodes + 1.0) * (a / 2.0)
    c = 1.0 + x * x
    integrand = np.exp(((-0.5 * hh) * hh)[..., None] * c) / c
    out: FloatArray = (integrand @ weights) * (a / 2.0) / (2.0 * math.pi)
    return out


def binormal_variance_array(theta: npt.ArrayLike, m: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
    """Variance of the Mann–Whitney AUC from m positives and n negatives under an
    equal-variance binormal model with AUC θ, per entry.

    Formula (Hanley & McNeil 1982, with Q₁ = Q₂ = Φ₂(a, a; ½), a = Φ⁻¹(θ)):
    [θ(1 − θ) + (m + n − 2)(Q − θ²)⁺] / (mn), and Φ₂(a, a; ½) = Φ(a) − 2T(a, 1/√3)
    (Owen 1956) with Φ(a) = θ. Zero where θ is not in (0, 1).

    References
    ----------
    Hanley, J. A. & McNeil, B. J. (1982). Radiology 143, 29–36.
    """
    th = np.asarray(theta, dtype=np.float64)
    mm = np.asarray(m, dtype=np.float64)
    nn = np.asarray(n, dtype=np.float64)
    inside = (th > 0.0) & (th < 1.0)
    safe = np.where(inside, th, 0.5)
    a = normal_quantile(safe).reshape(safe.shape)
    q = safe - 2.0 * owen_t_array(a)
    excess = np.maximum(q - safe * safe, 0.0)
    out = (safe * (1.0 - safe) + (mm + nn - 2.0) * excess) / (mm * nn)
    result: FloatArray = np.where(inside, out, 0.0)
    return result


def _score_interval_array(
    value: FloatArray, ratio: FloatArray, m: FloatArray, n: FloatArray, z: float
) -> tuple[FloatArray, FloatArray]:
    """Both limits of every window's score interval {θ : (AUC − θ)² ≤ z² V(θ)}, with
    V(θ) = max(floor(θ), ratio · floor(θ)): on each side, from the AUC towards 0 and
    towards 1, the boundary bracketed to 2⁻³⁶ of the side's length, keeping the inner
    end (what the scalar code's 34 halvings find to 2⁻³⁴ of it).

    The bracket shrinks by secant steps on h(θ) = |AUC − θ| − z √V(θ), which is nearly
    linear in θ (slope ±1 but for the slow change of √V), from a first step of −h(AUC)
    (Dekker's safeguard: a step that would not land strictly inside the bracket halves
    it instead; a step shorter than half the resolution is lengthened to it, so that
    the bracket closes). A side takes about six evaluations instead of 34; sides still
    open after :data:`_SECANT_STEPS` steps are halved to the end (at most
    :data:`_HALVINGS` times). Whether θ is inside is decided by the scalar code's
    comparison, (AUC − θ)² > z² V(θ)."""
    w = value.size
    inner = np.concatenate([value, value])
    outer = np.concatenate([np.zeros(w), np.ones(w)])
    r2, m2, n2 = (np.concatenate([v, v]) for v in (ratio, m, n))
    v2 = inner.copy()
    zz = z * z

    def measure(
        theta: FloatArray, at: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.bool_], FloatArray]:
        """Whether each θ is outside the interval, and the distance by which it is:
        |AUC − θ| − z √V(θ)."""
        floor = binormal_variance_array(theta, m2[at], n2[at])
        variance = np.maximum(floor, r2[at] * floor)
        gap = v2[at] - theta
        out: npt.NDArray[np.bool_] = gap * gap > zz * variance
        return out, np.abs(gap) - z * np.sqrt(variance)

    everything = np.arange(2 * w)
    # A side whose end (0 or 1) is inside the interval is that end.
    out_end = measure(outer, everything)[0]
    search = np.flatnonzero(out_end)
    result = outer.copy()
    if search.size:
        a, b = inner[search], outer[search]  # a inside, b outside
        toward = np.sign(b - a)
        ha = measure(a, search)[1]
        # 2⁻³⁶ of the side, and never below a few units in the last place (a side as
        # short as 1e-6 next to 1 has no 2⁻³⁶ of itself to resolve).
        tol = np.maximum(np.abs(b - a) * 2.0**-36, 4.0 * np.spacing(np.maximum(a, b)))
        # The first step as if √V were constant: the boundary at z √V(AUC) from it.
        p, hp = a.copy(), ha.copy()
        c = a - toward * ha
        open_ = np.arange(search.size)
        for _ in range(_SECANT_STEPS):
            aa, bb, cc = a[open_], b[open_], c[open_]
            cc = np.where((cc - aa) * (bb - cc) > 0, cc, 0.5 * (aa + bb))
            out, hc = measure(cc, search[open_])
            a[open_] = np.where(out, aa, cc)
            b[open_] = np.where(out, cc, bb)
            pp, hpp = p[open_], hp[open_]
            with np.errstate(divide="ignore", invalid="ignore"):
                step = -hc * (cc - pp) / (hc - hpp)
            step = np.where(np.isfinite(step), step, 0.0)
            # A step shorter than half the resolution is lengthened to it, towards the
            # boundary, so that the last one lands on its other side and closes the
            # bracket.
            half = 0.5 * tol[open_]
            short = np.abs(step) < half
            step = np.where(short, np.where(out, -half, half) * toward[open_], step)
            p[open_], hp[open_] = cc, hc
            c[open_] = cc + step
            open_ = open_[np.abs(b[open_] - a[open_]) > tol[open_]]
            if open_.size == 0:
                break
        for _ in range(_HALVINGS):
            if open_.size == 0:
                break
            mid = 0.5 * (a[open_] + b[open_])
            out = measure(mid, search[open_])[0]
            a[open_] = np.where(out, a[open_], mid)
            b[open_] = np.where(out, mid, b[open_])
            open_ = open_[np.abs(b[open_] - a[open_]) > tol[open_]]
        result[search] = a
    return result[:w], result[w:]


def roc_auc_array(
    distributions: Sequence[ScoreDistribution], confidence: float = 0.95
) -> list[MetricResult]:
    """:func:`~liveeval.metrics.ranking.roc_auc` of every distribution, computed together.

    Formula: AUC = Σ_k P_k (N_{<k} + N_k/2) / (P N) over score keys k (Mann–Whitney,
    ties counting one half). Undefined when a class is absent. Interval: the score
    interval of :func:`~liveeval.metrics.ranking.roc_auc` — the θ with
    (AUC − θ)² ≤ z² V(θ), V the larger of a binormal floor (Hanley–McNeil form) and
    DeLong's variance carried to θ — with both limits of every window found together
    (bracketing secant steps, :func:`_score_interval_array`). Weighted distributions
    (non-integer counts) take the scalar function, whose sums this concatenation would
    round differently.

    References
    ----------
    DeLong, E. R., DeLong, D. M. & Clarke-Pearson, D. L. (1988). Biometrics 44,
    837–845. Newcombe, R. G. (2006). Statistics in Medicine 25, 559–573.
    """
    out: list[MetricResult | None] = [None] * len(distributions)
    keyed = [i for i, d in enumerate(distributions) if d.positive.size]
    if keyed:
        sizes = np.array([distributions[i].positive.size for i in keyed], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pos = np.concatenate([distributions[i].positive for i in keyed])
        neg = np.concatenate([distributions[i].negative for i in keyed])
        fractional = (pos != np.floor(pos)) | (neg != np.floor(neg))
        whole = ~np.logical_or.reduceat(fractional, starts)
        if not whole.all():
            rows = np.repeat(whole, sizes)
            pos, neg, sizes = pos[rows], neg[rows], sizes[whole]
        batch = [distributions[i] for i, ok in zip(keyed, whole.tolist(), strict=True) if ok]
        if batch:
            found = _results(
                _placements(pos, neg, sizes),
                np.array([d.positive_sq for d in batch], dtype=np.float64),
                np.array([d.negative_sq for d in batch], dtype=np.float64),
                [d.rows for d in batch],
                [d.method for d in batch],
                confidence,
            )
            at = (i for i, ok in zip(keyed, whole.tolist(), strict=True) if ok)
            for i, result in zip(at, found, strict=True):
                out[i] = result
    return [
        roc_auc(d, confidence) if r is None else r for d, r in zip(distributions, out, strict=True)
    ]


def roc_auc_bins(counts: npt.NDArray[np.integer], confidence: float = 0.95) -> list[MetricResult]:
    """:func:`roc_auc_array` of score distributions given as unweighted counts per score
    bin: ``counts[g, side, b]`` rows of group g with a score in bin b of ``B`` equal
    bins of [0, 1] (``counts.shape == (G, 2, B)``), side 1 the positive class — each
    group as :meth:`~liveeval.metrics.ranking.ScoreDistribution.from_bin_counts` would
    hold it (every group with at least one count).

    Formula, interval and when undefined: as :func:`roc_auc_array`. The placement values
    are computed over all B bins of every group at once (an empty bin adds nothing),
    so no distribution is built; the sums run in another order than over the occupied
    bins alone, which moves the AUC by a few units in the last place.

    References
    ----------
    DeLong, E. R., DeLong, D. M. & Clarke-Pearson, D. L. (1988). Biometrics 44,
    837–845. Newcombe, R. G. (2006). Statistics in Medicine 25, 559–573.
    """
    if counts.shape[0] == 0:
        return []
    pos = counts[:, 1].astype(np.float64)
    neg = counts[:, 0].astype(np.float64)
    pos_total = pos.sum(axis=1)
    neg_total = neg.sum(axis=1)
    safe_pos = np.where(pos_total > 0, pos_total, 1.0)
    safe_neg = np.where(neg_total > 0, neg_total, 1.0)
    # Placement values, as the scalar code's, in place, one bin per column; the running
    # sums in integers (exact, as the scalar code's are, and several times faster than
    # numpy's float cumsum along rows).
    v10 = np.cumsum(counts[:, 0], axis=1).astype(np.float64)
    v10 -= 0.5 * neg
    v10 /= safe_neg[:, None]
    v01 = np.cumsum(counts[:, 1], axis=1).astype(np.float64)
    np.subtract(safe_pos[:, None] + 0.5 * pos, v01, out=v01)
    v01 /= safe_pos[:, None]
    weighted_v10 = pos * v10
    auc = weighted_v10.sum(axis=1) / safe_pos
    s10 = np.maximum(np.einsum("ij,ij->i", weighted_v10, v10) / safe_pos - auc * auc, 0.0)
    neg *= v01
    s01 = np.maximum(np.einsum("ij,ij->i", neg, v01) / safe_neg - auc * auc, 0.0)
    method = f"histogram ({counts.shape[2]} bins)"
    rows = np.rint(pos_total + neg_total).astype(np.int64).tolist()
    return _results(
        (pos_total, neg_total, auc, s10, s01),
        pos_total,
        neg_total,
        rows,
        [method] * len(rows),
        confidence,
    )


_Placements = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


def _placements(pos: FloatArray, neg: FloatArray, sizes: npt.NDArray[np.int64]) -> _Placements:
    """Per distribution (``sizes[i]`` consecutive keys of the concatenated counts ``pos``
    and ``neg``, whole counts): its class totals, AUC and the biased variances of its
    placement values (s10 of the positives', s01 of the negatives')."""
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    segment = np.repeat(np.arange(sizes.size), sizes)
    # Whole counts: these sums are exact, so per-window totals and running sums taken
    # over the concatenation equal the scalar code's.
    pos_total = np.add.reduceat(pos, starts)
    neg_total = np.add.reduceat(neg, starts)
    cum_neg = np.cumsum(neg)
    cum_pos = np.cumsum(pos)
    before_neg = np.repeat(cum_neg[starts] - neg[starts], sizes)
    before_pos = np.repeat(cum_pos[starts] - pos[starts], sizes)
    nt = np.where(neg_total > 0, neg_total, 1.0)[segment]
    pt = np.where(pos_total > 0, pos_total, 1.0)[segment]
    v10 = cum_neg - before_neg
    v10 -= 0.5 * neg
    v10 /= nt
    v01 = (pt + 0.5 * pos) - (cum_pos - before_pos)
    v01 /= pt
    safe_pos = np.where(pos_total > 0, pos_total, 1.0)
    safe_neg = np.where(neg_total > 0, neg_total, 1.0)
    auc = np.add.reduceat(pos * v10, starts) / safe_pos
    s10 = np.maximum(np.add.reduceat(pos * (v10 * v10), starts) / safe_pos - auc * auc, 0.0)
    s01 = np.maximum(np.add.reduceat(neg * (v01 * v01), starts) / safe_neg - auc * auc, 0.0)
    return pos_total, neg_total, auc, s10, s01


def _results(
    placements: _Placements,
    pos_sq: FloatArray,
    neg_sq: FloatArray,
    rows: Sequence[int],
    kinds: Sequence[str],
    confidence: float,
) -> list[MetricResult]:
    """The ROC-AUC results from each distribution's :func:`_placements`, sums of
    squared weights, row count and method (``ScoreDistribution.method``): DeLong's
    variance, Kish's effective class sizes and the score interval of every one."""
    pos_total, neg_total, auc, s10, s01 = placements
    defined = (pos_total > 0) & (neg_total > 0)
    m_eff = np.where(pos_sq > 0, pos_total * pos_total / np.where(pos_sq > 0, pos_sq, 1.0), 0.0)
    n_eff = np.where(neg_sq > 0, neg_total * neg_total / np.where(neg_sq > 0, neg_sq, 1.0), 0.0)
    delong = s10 / np.maximum(m_eff - 1, 1) + s01 / np.maximum(n_eff - 1, 1)
    m_eff, n_eff = np.maximum(m_eff, 1.0), np.maximum(n_eff, 1.0)
    floor_here = binormal_variance_array(auc, m_eff, n_eff)
    usable = (auc > 0.0) & (auc < 1.0) & (floor_here > 0)
    ratio = np.where(usable, delong / np.where(usable, floor_here, 1.0), 0.0)
    lower = np.full(auc.size, np.nan)
    upper = np.full(auc.size, np.nan)
    at = np.flatnonzero(defined)
    if at.size:
        lower[at], upper[at] = _score_interval_array(
            auc[at], ratio[at], m_eff[at], n_eff[at], z_value(confidence)
        )
    results = []
    methods: dict[str, str] = {}  # the method text per distribution method
    for n, kind, ok, p_i, n_i, p_sq, n_sq, value, lo, up, m_i, n_eff_i in zip(
        rows,
        kinds,
        defined.tolist(),
        pos_total.tolist(),
        neg_total.tolist(),
        pos_sq.tolist(),
        neg_sq.tolist(),
        auc.tolist(),
        lower.tolist(),
        upper.tolist(),
        m_eff.tolist(),
        n_eff.tolist(),
        strict=True,
    ):
        if not ok:
            missing = "positive" if p_i <= 0 else "negative"
            results.append(
                MetricResult.undefined(
                    "roc_auc", f"undefined: no {missing} rows", n=n, confidence=confidence
                )
            )
            continue
        weighted = not (math.isclose(p_i, p_sq) and math.isclose(n_i, n_sq))
        method = methods.get(kind)
        if method is None:
            method = methods[kind] = (
                "score interval, variance the larger of a binormal floor (Hanley–McNeil form) "
                f"and DeLong's; {kind}"
            )
        results.append(
            MetricResult(
                "roc_auc",
                value,
                lo,
                up,
                n,
                confidence,
                method + ("; weighted: Kish effective class sizes" if weighted else ""),
                note=_few_rows_note(m_i, n_eff_i),
                weight_total=p_i + n_i if weighted else None,
            )
        )
    return results
