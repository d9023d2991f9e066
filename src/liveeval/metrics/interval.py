"""Confidence intervals.

Every interval here is two-sided at ``confidence`` (0.95 by default). The methods
were chosen by simulated coverage (see ``docs/coverage.md`` and
``tests/metrics/test_coverage.py``):

- proportions: Wilson score interval (Wilson 1927), which keeps close to nominal
  coverage at small n and rates near 0 or 1 where the Wald interval collapses;
- sums and differences of independent proportions (balanced accuracy): MOVER
  (Newcombe 1998; Zou & Donner 2008) built from Wilson limits;
- F1: Wilson interval on the Jaccard index TP / (TP + FP + FN), mapped through
  the monotone F1 = 2J / (1 + J), since given TP + FP + FN the count TP is binomial;
- other confusion-matrix metrics (F-beta, MCC, kappa): percentile bootstrap,
  resampling the confusion matrix as a multinomial with a fixed seed, which is
  the same as resampling rows for any metric of the confusion matrix;
- means of per-row losses (log loss, Brier): normal interval from the running
  sums of the loss and its square.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "BOOTSTRAP_SEED",
    "bootstrap_confusion",
    "mover_mean",
    "normal_mean",
    "wilson",
    "z_value",
]

BOOTSTRAP_SEED = 20261122
BOOTSTRAP_REPLICATES = 2000

FloatArray = npt.NDArray[np.float64]


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile for ``confidence`` (1.96 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    ``successes`` and ``n`` may be non-integer (weighted counts scaled to the
    effective sample size). Returns ``(nan, nan)`` when ``n`` is 0.
    """
    if n <= 0:
        return (math.nan, math.nan)
    z = z_value(confidence)
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    lower = max(0.0, centre - half)
    upper = min(1.0, centre + half)
    # Wilson's limits are exact at the boundaries; guard against rounding.
    if p == 0.0:
        lower = 0.0
    if p == 1.0:
        upper = 1.0
    return (lower, upper)


def mover_mean(
    estimates: tuple[float, float], limits: tuple[tuple[float, float], tuple[float, float]]
) -> tuple[float, float]:
    """MOVER interval for the mean of two independent estimates.

    ``limits`` are each estimate's own interval (Wilson for proportions).
    """
    (a, b), ((la, ua), (lb, ub)) = estimates, limits
    total = a + b
    lower = total - math.sqrt((a - la) ** 2 + (b - lb) ** 2)
    upper = total + math.sqrt((ua - a) ** 2 + (ub - b) ** 2)
    return (lower / 2.0, upper / 2.0)


def normal_mean(
    total: float, total_sq: float, n: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Normal (CLT) interval for a mean from its running sums."""
    if n <= 1:
        return (math.nan, math.nan)
    mean = total / n
    var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1.0)
    half = z_value(confidence) * math.sqrt(var / n)
    return (mean - half, mean + half)


def bootstrap_confusion(
    counts: FloatArray,
    statistic: Callable[[FloatArray], FloatArray],
    confidence: float = 0.95,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap of a confusion-matrix metric.

    Resamples ``n`` rows with replacement, which for a statistic of the confusion
    matrix is a multinomial draw over its cells. ``statistic`` takes an array of
    shape ``(replicates, k, k)`` and returns one value per replicate (NaN where
    undefined; those replicates are left out).
    """
    flat = np.maximum(np.asarray(counts, dtype=np.float64).ravel(), 0.0)
    n = int(round(flat.sum()))
    if n <= 0:
        return (math.nan, math.nan)
    draws = _multinomial_draws(tuple(flat.tolist()), n, replicates, seed)
    values = statistic(draws.reshape((replicates, *counts.shape)))
    values = values[np.isfinite(values)]
    if values.size < replicates // 2:
        return (math.nan, math.nan)
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(values, [alpha, 1.0 - alpha])
    return (float(lower), float(upper))


@lru_cache(maxsize=8)
def _multinomial_draws(cells: tuple[float, ...], n: int, replicates: int, seed: int) -> FloatArray:
    """Resampled confusion matrices, shared by every metric bootstrapped on the same
    matrix (a report asks for a dozen); read-only so the cache cannot be corrupted."""
    flat = np.asarray(cells, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, flat / flat.sum(), size=replicates).astype(np.float64)
    draws.setflags(write=False)
    return draws
