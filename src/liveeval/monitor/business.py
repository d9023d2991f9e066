"""Business figures of a window, from its counts: false alarms per day and the expected
cost of errors, each with an interval.

Everything here is arithmetic on a binary window's confusion counts (and the window's
length); nothing reads the store. The costs come from the model's use-case profile
(``[costs]``) or its ``costs`` in ``liveeval.toml``
(:class:`liveeval.readiness.Costs`).

- ``false_alarms`` is the count FP of labelled predictions predicted positive whose
  label is negative; ``false_alarms_per_day`` is FP / days with the exact Poisson
  (Garwood) interval of the count scaled by the same 1 / days.
- ``expected_cost`` per labelled prediction is (FP·c_fp + FN·c_fn) / n, a weighted
  sum of two proportions; its interval combines their modified Wilson intervals by
  MOVER (see :func:`expected_cost` for why not Student's t on the per-row costs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..metrics.interval import modified_wilson, poisson_interval
from ..metrics.interval_array import modified_wilson_array, poisson_interval_array
from ..metrics.labels import Label
from ..metrics.result import MetricResult

__all__ = [
    "ErrorCounts",
    "error_counts",
    "expected_cost",
    "expected_cost_array",
    "false_alarms_per_day",
    "false_alarms_per_day_array",
]

SECONDS_PER_DAY = 86_400.0
POISSON_METHOD = "exact Poisson (Garwood) on the count, scaled per day"
COST_METHOD = "MOVER over the false-positive and false-negative rates (modified Wilson each)"


@dataclass(frozen=True)
class ErrorCounts:
    """The four cells of a binary window's labelled predictions."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def error_counts(
    confusion_matrix: Sequence[Sequence[float]], labels: Sequence[Label], pos_label: Label
) -> ErrorCounts:
    """TP, FP, FN, TN of a two-class confusion matrix (rows actual, columns predicted,
    in ``labels`` order).

    Raises
    ------
    ValueError
        when the matrix is not 2 × 2 or ``pos_label`` is not one of ``labels``.
    """
    if len(labels) != 2 or len(confusion_matrix) != 2 or any(len(r) != 2 for r in confusion_matrix):
        raise ValueError(f"business figures need a 2 x 2 confusion matrix, got labels {labels!r}")
    if pos_label not in labels:
        raise ValueError(f"positive label {pos_label!r} is not one of {list(labels)!r}")
    p = list(labels).index(pos_label)
    q = 1 - p
    cell = [[int(round(float(v))) for v in row] for row in confusion_matrix]
    return ErrorCounts(tp=cell[p][p], fp=cell[q][p], fn=cell[p][q], tn=cell[q][q])


def false_alarms_per_day(
    false_positives: int, seconds: float, confidence: float = 0.95
) -> MetricResult:
    """False alarms per day over a window of ``seconds``.

    Formula: FP / d with d = seconds / 86,400; interval: the exact Poisson (Garwood)
    limits of the count FP, divided by d. Undefined for a window of no length.

    References
    ----------
    Garwood, F. (1936). Fiducial limits for the Poisson distribution. Biometrika 28.
    """
    name = "false_alarms_per_day"
    if not seconds > 0:
        return MetricResult.undefined(
            name, "the window has no length", confidence=confidence, higher_is_better=False
        )
    days = seconds / SECONDS_PER_DAY
    lower, upper = poisson_interval(false_positives, confidence)
    return MetricResult(
        name,
        false_positives / days,
        lower / days,
        upper / days,
        false_positives,
        confidence,
        POISSON_METHOD,
        higher_is_better=False,
    )


def expected_cost(
    counts: ErrorCounts, cost_fp: float, cost_fn: float, confidence: float = 0.95
) -> MetricResult:
    """Expected cost of errors per labelled prediction.

    Formula: (FP·c_fp + FN·c_fn) / n = c_fp·p_fp + c_fn·p_fn, n the labelled
    predictions, p_fp = FP / n and p_fn = FN / n. Interval: MOVER (Zou & Donner 2008)
    for this sum of two proportions, each with its modified Wilson interval
    (:func:`liveeval.metrics.interval.modified_wilson`):
    L = Σ c p̂ − √Σ (c (p̂ − l))², U = Σ c p̂ + √Σ (c (u − p̂))². Undefined without
    labelled predictions.

    A Student t interval on the per-row costs (exact moments from the counts, even
    with Hall's skewness correction) was measured and rejected: with rare, expensive
    misses a window often holds none, the sample variance then ignores them, and at
    p_fp = 0.02, p_fn = 0.002, costs 1 and 50, n = 500 the truth lay above its upper
    limit 38% of the time (MOVER: 0% above, 1.9% below, covering 98.1%, computed exactly over
    the count distribution; ``tests/monitor/test_business.py``).

    References
    ----------
    Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
    measures: a general approach. Statistics in Medicine 27(10), 1693–1702.
    Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a binomial
    proportion. Statistical Science 16(2), 101–133.
    """
    name = "expected_cost"
    n = counts.n
    if n == 0:
        return MetricResult.undefined(
            name, "no labelled predictions", confidence=confidence, higher_is_better=False
        )
    parts = [(cost_fp, counts.fp), (cost_fn, counts.fn)]
    value = sum(c * (k / n) for c, k in parts)
    below: list[float] = []
    above: list[float] = []
    for cost, k in parts:
        p = k / n
        lo, hi = modified_wilson(k, n, confidence)
        below.append(cost * (p - lo))
        above.append(cost * (hi - p))
    # hypot, not sqrt of a sum of squares: costs up to the config's bound never overflow.
    return MetricResult(
        name,
        value,
        max(value - math.hypot(*below), 0.0),
        value + math.hypot(*above),
        n,
        confidence,
        COST_METHOD,
        higher_is_better=False,
    )


def false_alarms_per_day_array(
    false_positives: npt.ArrayLike, seconds: float, confidence: float = 0.95
) -> list[MetricResult]:
    """:func:`false_alarms_per_day` of many windows of one length ``seconds``, the Poisson
    limits of every distinct count solved together
    (:func:`~liveeval.metrics.interval_array.poisson_interval_array`: within 1e-11
    relative of the scalar limits). Same formula, interval and references."""
    fp = np.asarray(false_positives, dtype=np.int64).reshape(-1)
    if not seconds > 0:
        return [false_alarms_per_day(int(k), seconds, confidence) for k in fp.tolist()]
    days = seconds / SECONDS_PER_DAY
    lower, upper = poisson_interval_array(fp, confidence)
    return [
        MetricResult(
            "false_alarms_per_day",
            k / days,
            lo / days,
            hi / days,
            k,
            confidence,
            POISSON_METHOD,
            higher_is_better=False,
        )
        for k, lo, hi in zip(fp.tolist(), lower.tolist(), upper.tolist(), strict=True)
    ]


def expected_cost_array(
    counts: Sequence[ErrorCounts], cost_fp: float, cost_fn: float, confidence: float = 0.95
) -> list[MetricResult]:
    """:func:`expected_cost` of many windows, the modified Wilson intervals of all of them
    computed together (:func:`~liveeval.metrics.interval_array.modified_wilson_array`,
    the scalar function's floats): the same results, operation for operation."""
    n = np.array([c.n for c in counts], dtype=np.float64)
    defined = n > 0
    safe = np.where(defined, n, 1.0)
    value = np.zeros(len(counts))
    below: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    above: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    for cost, k in (
        (cost_fp, np.array([c.fp for c in counts], dtype=np.float64)),
        (cost_fn, np.array([c.fn for c in counts], dtype=np.float64)),
    ):
        p = k / safe
        value += cost * p
        lo, hi = modified_wilson_array(k, n, confidence)
        below.append(cost * (p - lo))
        above.append(cost * (hi - p))
    # math.hypot per window, as expected_cost: never overflows, and the same floats.
    low = [
        max(v - math.hypot(a, b), 0.0)
        for v, a, b in zip(value.tolist(), below[0].tolist(), below[1].tolist(), strict=True)
    ]
    high = [
        v + math.hypot(a, b)
        for v, a, b in zip(value.tolist(), above[0].tolist(), above[1].tolist(), strict=True)
    ]
    return [
        MetricResult(
            "expected_cost",
            v,
            lo,
            hi,
            c.n,
            confidence,
            COST_METHOD,
            higher_is_better=False,
        )
        if ok
        else expected_cost(c, cost_fp, cost_fn, confidence)
        for c, ok, v, lo, hi in zip(
            counts, defined.tolist(), value.tolist(), low, high, strict=True
        )
    ]
