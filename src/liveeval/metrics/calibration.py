"""Calibration: the reliability curve and expected calibration error (ECE).

ECE = Σ_b (n_b / N) · |observed rate_b − mean score_b| over equal-width bins of
the score (Naeini et al. 2015; Guo et al. 2017 use the top-label confidence for
multiclass models, as :mod:`liveeval.metrics.evaluation` does). It is read from a
:class:`ScoreDistribution`, so it merges like everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .interval import BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED
from .ranking import ScoreDistribution
from .result import MetricResult

__all__ = ["ReliabilityBin", "expected_calibration_error", "reliability_curve"]

FloatArray = npt.NDArray[np.float64]


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
    """ECE over ``bins`` equal-width bins with a percentile bootstrap interval.

    The bootstrap redraws each row's bin and outcome as a multinomial over the
    ``bins × 2`` cells with the bins' mean scores held fixed. ECE is biased
    upwards at small n (a perfectly calibrated model still shows noise), which
    the interval does not correct; read it with the n.
    """
    total, positive, score_sum = _binned(dist, bins)
    n_total = float(total.sum())
    if n_total <= 0:
        return MetricResult.undefined(
            "expected_calibration_error", "undefined: no rows", higher_is_better=False
        )
    mean_score = np.divide(score_sum, total, out=np.zeros(bins), where=total > 0)

    def ece(tot: FloatArray, pos: FloatArray) -> FloatArray:
        rate = np.divide(pos, tot, out=np.zeros_like(pos), where=tot > 0)
        gap = np.abs(rate - mean_score) * (tot > 0)
        out: FloatArray = (tot * gap).sum(axis=-1) / tot.sum(axis=-1)
        return out

    value = float(ece(total, positive))
    cells = np.concatenate([positive, total - positive])
    rows = dist.rows
    n_draw = max(int(round(rows)), 1)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = rng.multinomial(n_draw, cells / cells.sum(), size=BOOTSTRAP_REPLICATES)
    pos_d = draws[:, :bins].astype(np.float64)
    tot_d = pos_d + draws[:, bins:]
    reps = ece(tot_d, pos_d)
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(reps, [alpha, 1 - alpha])
    return MetricResult(
        "expected_calibration_error",
        value,
        float(min(lower, value)),
        float(max(upper, value)),
        rows,
        confidence,
        f"bootstrap (multinomial over {bins} bins × outcome, fixed seed)",
        higher_is_better=False,
    )
