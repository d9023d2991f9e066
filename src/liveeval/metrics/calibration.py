"""Calibration: the reliability curve and expected calibration error (ECE).

ECE = Σ_b (n_b / N) · |observed rate_b − mean score_b| over equal-width bins of
the score (Naeini et al. 2015; Guo et al. 2017 use the top-label confidence for
multiclass models, as :mod:`liveeval.metrics.evaluation` does), reported
debiased (see :func:`expected_calibration_error`). It is read from a
:class:`ScoreDistribution`, so it merges like everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .interval import BOOTSTRAP_SEED
from .ranking import ScoreDistribution
from .result import MetricResult

__all__ = ["ReliabilityBin", "expected_calibration_error", "reliability_curve"]

FloatArray = npt.NDArray[np.float64]
ECE_DRAWS = 4000


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    lower: float
    upper: float
    weight: float
    mean_score: float
    observed_rate: float


def _binned(dist: ScoreDistribution, bins: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per calibration bin: total weight, positive weight, and score-weighted sum."""
    centres = dist.centres
    idx = np.minimum((centres * bins).astype(np.int64), bins - 1)
    weight = dist.positive + dist.negative
    total = np.bincount(idx, weights=weight, minlength=bins).astype(np.float64)
    positive = np.bincount(idx, weights=dist.positive, minlength=bins).astype(np.float64)
    score_sum = np.bincount(idx, weights=weight * centres, minlength=bins).astype(np.float64)
    return total, positive, score_sum


def reliability_curve(dist: ScoreDistribution, bins: int = 10) -> list[ReliabilityBin]:
    """Observed positive rate against mean score in each non-empty bin."""
    total, positive, score_sum = _binned(dist, bins)
    out = []
    for b in np.flatnonzero(total > 0):
        out.append(
            ReliabilityBin(
                b / bins,
                (b + 1) / bins,
                float(total[b]),
                float(score_sum[b] / total[b]),
                float(positive[b] / total[b]),
            )
        )
    return out


def expected_calibration_error(
    dist: ScoreDistribution, bins: int = 10, confidence: float = 0.95
) -> MetricResult:
    """Expected calibration error over ``bins`` equal-width bins, debiased, with an
    interval that can reach 0.

    ECE = Σ_b w_b |g_b|, with w_b the share of rows in bin b and g_b the mean of
    (outcome − score) there. The plug-in Σ w_b |ĝ_b| is biased upwards: a
    perfectly calibrated model still shows the noise of each bin's mean. The value
    reported is debiased per bin as in Kumar, Liang & Ma (2019): ĝ_b² − σ̂_b² is
    unbiased for g_b² (σ̂_b² the variance of ĝ_b), so each bin contributes
    √max(ĝ_b² − σ̂_b², 0).

    Interval: by the triangle inequality |Σ w_b|ĝ_b| − Σ w_b|g_b|| ≤
    Σ w_b |ĝ_b − g_b| = D, whose distribution is that of Σ w_b σ_b |Z_b| for
    independent standard normal Z_b (bin means are independent and nearly
    normal); with q its (1 + confidence)/2-quantile (4,000 draws, fixed seed),
    the interval is [plug-in − q, plug-in + q], clamped at 0. It holds at any
    true ECE, is exact at ECE = 0 (the plug-in *is* D there, so the lower limit
    exceeds 0 only 2.5% of the time at 95%) and conservative when the gaps are
    large (coverage 99–100% for a clearly miscalibrated model). The earlier
    bootstrap interval never covered a perfectly calibrated model. Bin variances
    use max(sample variance, p̃(1 − p̃)) with p̃ the bin's Jeffreys-smoothed
    positive rate, so a small bin of identical rows still
    counts as uncertain. Undefined with no rows.

    References
    ----------
    Naeini, Cooper & Hauskrecht (2015); Guo et al. (2017); Kumar, Liang & Ma
    (2019), Verified uncertainty calibration, NeurIPS.
    """
    name = "expected_calibration_error"
    centres = dist.centres
    idx = np.minimum((centres * bins).astype(np.int64), bins - 1)
    weight = dist.positive + dist.negative
    total = np.bincount(idx, weights=weight, minlength=bins).astype(np.float64)
    n_total = float(total.sum())
    if n_total <= 0:
        return MetricResult.undefined(name, "undefined: no rows", higher_is_better=False)
    positive = np.bincount(idx, weights=dist.positive, minlength=bins).astype(np.float64)
    # Per bin: Σ(y − s) and Σ(y − s)² from the per-key counts.
    resid = np.bincount(
        idx, weights=dist.positive * (1.0 - centres) - dist.negative * centres, minlength=bins
    )
    resid_sq = np.bincount(
        idx,
        weights=dist.positive * (1.0 - centres) ** 2 + dist.negative * centres**2,
        minlength=bins,
    )
    # Row counts per bin (Kish-scaled when weighted) for the variances.
    squares = dist.positive_sq + dist.negative_sq
    kish = n_total / squares if squares > 0 else 1.0
    rows = total * kish
    occupied = total > 0
    tot = np.where(occupied, total, 1.0)
    gap = np.where(occupied, resid / tot, 0.0)
    sample_var = np.where(
        rows > 1, (resid_sq / tot - gap * gap) * rows / np.maximum(rows - 1.0, 1.0), 0.0
    )
    smoothed = (positive * kish + 0.5) / (rows + 1.0)
    unit_var = np.maximum(sample_var, smoothed * (1.0 - smoothed))
    var_mean = np.where(occupied, unit_var / np.maximum(rows, 1.0), 0.0)
    share = total / n_total
    plug_in = float(np.sum(share * np.abs(gap)))
    debiased = float(np.sum(share * np.sqrt(np.maximum(gap * gap - var_mean, 0.0))))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    noise = np.abs(rng.standard_normal((ECE_DRAWS, bins))) @ (share * np.sqrt(var_mean))
    # Each limit may fail only through D exceeding q: one-sided at (1 − confidence) / 2.
    q = float(np.quantile(noise, 0.5 + confidence / 2.0))
    lower = max(plug_in - q, 0.0)
    upper = plug_in + q
    return MetricResult(
        name,
        debiased,
        min(lower, debiased),
        max(upper, debiased),
        dist.rows,
        confidence,
        f"debiased per bin (Kumar et al. 2019) over {bins} equal-width bins; interval "
        "plug-in ± the quantile of Σ w|ĝ − g| (triangle inequality, normal bin means)",
        higher_is_better=False,
    )
