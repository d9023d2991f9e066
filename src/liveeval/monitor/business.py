"""Business figures of a window, from its counts: false alarms per day and the expected
cost of errors, each with an interval.

Everything here is arithmetic on a binary window's confusion counts (and the window's
length); nothing reads the store. The costs come from the model's use-case profile
(``[costs]``) or its ``costs`` in ``liveeval.toml``
(:class:`liveeval.readiness.Costs`).

- ``false_alarms`` is the count FP of labelled predictions predicted positive whose
  label is negative; ``false_alarms_per_day`` is FP / days with the exact Poisson
  (Garwood) interval of the count scaled by the same 1 / days.
- ``expected_cost`` per labelled prediction is (FP·c_fp + FN·c_fn) / n. A row's cost
  takes three values (0, c_fp, c_fn), so its mean, variance and third moment are exact
  functions of the counts; the interval is Student's t with Hall's (1992) skewness
  correction (:func:`liveeval.metrics.interval.t_mean`), because with rare, expensive
  misses the cost per row is very skewed and a plain t interval misses on the high
  side. With no error at all the sample variance is 0 and says nothing; the upper
  limit is then max(c_fp, c_fn) times the exact (Clopper–Pearson) upper limit of an
  error rate after 0 errors in n, 1 − (α/2)^(1/n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..metrics.interval import poisson_interval, t_mean
from ..metrics.labels import Label
from ..metrics.result import MetricResult

__all__ = [
    "ErrorCounts",
    "error_counts",
    "expected_cost",
    "false_alarms_per_day",
]

SECONDS_PER_DAY = 86_400.0
POISSON_METHOD = "exact Poisson (Garwood) on the count, scaled per day"
COST_METHOD = "Student t with Hall's skewness correction (exact moments from the counts)"
COST_METHOD_NO_ERRORS = "exact binomial upper limit on the error rate times the larger cost"


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

    Formula: (FP·c_fp + FN·c_fn) / n, n the labelled predictions. Interval: Student's t
    on the per-row costs with Hall's skewness correction, their sums of powers exact
    from the counts (Σx^k = FP·c_fp^k + FN·c_fn^k); with no error (or only errors that
    cost nothing), [0, max(c_fp, c_fn)·(1 − (α/2)^(1/n))] — the exact binomial upper
    limit of an error rate after none in n. Undefined without labelled predictions; no
    interval below two.

    References
    ----------
    Hall, P. (1992). On the removal of skewness by transformation. JRSS B 54(1).
    """
    name = "expected_cost"
    n = counts.n
    if n == 0:
        return MetricResult.undefined(
            name, "no labelled predictions", confidence=confidence, higher_is_better=False
        )
    fp, fn = counts.fp, counts.fn
    total = fp * cost_fp + fn * cost_fn
    mean = total / n
    if total == 0:
        top = max(cost_fp, cost_fn)
        upper = top * (1.0 - ((1.0 - confidence) / 2.0) ** (1.0 / n))
        return MetricResult(
            name, 0.0, 0.0, upper, n, confidence, COST_METHOD_NO_ERRORS, higher_is_better=False
        )
    squares = fp * cost_fp**2 + fn * cost_fn**2
    cubes = fp * cost_fp**3 + fn * cost_fn**3
    lower, upper = t_mean(total, squares, n, confidence, total_cu=cubes)
    if math.isnan(lower):
        return MetricResult(
            name,
            mean,
            None,
            None,
            n,
            confidence,
            COST_METHOD,
            higher_is_better=False,
            note="no interval from one labelled prediction",
        )
    # A cost is never negative: the t interval may reach below 0 on few rows.
    return MetricResult(
        name, mean, max(lower, 0.0), upper, n, confidence, COST_METHOD, higher_is_better=False
    )
