"""Decision-threshold analysis for a binary score.

Every distinct score (or bin edge) is a candidate threshold t: rows with
score ≥ t are predicted positive. From a :class:`ScoreDistribution` the
confusion matrix at every threshold is a cumulative sum, so the full curve costs
one pass over the keys, however many rows there were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .classification import binary_metrics
from .confusion import ConfusionMatrix, safe_divide
from .labels import Label
from .ranking import ScoreDistribution
from .result import MetricResult

__all__ = ["IN_SAMPLE_NOTE", "OperatingPoint", "ThresholdCurve", "threshold_curve"]

FloatArray = npt.NDArray[np.float64]


IN_SAMPLE_NOTE = (
    "in-sample: the threshold was chosen on the same rows these metrics are computed "
    "on, so the metrics are optimistic and their intervals cover less often than stated "
    "(max-F1 at 50 positives: about 89% for a nominal 95%, the estimate about 0.05 too "
    "high); confirm the threshold on fresh labelled data"
)


@dataclass(frozen=True)
class OperatingPoint:
    """A recommended threshold with the metrics (and intervals) it would give.

    ``in_sample`` is true when the threshold was chosen on the same data its metrics
    are computed from (every recommendation of :meth:`ThresholdCurve.recommend`):
    the selection makes them optimistic, and ``interval_note`` says so for every
    output to show next to the intervals.
    """

    objective: str
    threshold: float | None
    metrics: dict[str, MetricResult]
    confusion: list[list[float]]
    expected_cost: float | None = None
    reason: str | None = None
    in_sample: bool = True

    @property
    def interval_note(self) -> str | None:
        return IN_SAMPLE_NOTE if self.in_sample and self.threshold is not None else None

    def to_dict(self) -> dict[str, object]:
        return {
            "objective": self.objective,
            "threshold": self.threshold,
            "in_sample": self.in_sample,
            "interval_note": self.interval_note,
            "reason": self.reason,
            "expected_cost_per_row": self.expected_cost,
            "confusion_matrix": self.confusion,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


@dataclass(frozen=True)
class ThresholdCurve:
    """Confusion counts and metrics at each threshold, thresholds descending."""

    labels: tuple[Label, Label]  # (negative, positive)
    thresholds: FloatArray = field(repr=False)
    tp: FloatArray = field(repr=False)
    fp: FloatArray = field(repr=False)
    fn: FloatArray = field(repr=False)
    tn: FloatArray = field(repr=False)
    squares: tuple[float, float] = (0.0, 0.0)

    @property
    def precision(self) -> FloatArray:
        return safe_divide(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> FloatArray:
        return safe_divide(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> FloatArray:
        return safe_divide(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def false_positive_rate(self) -> FloatArray:
        return safe_divide(self.fp, self.fp + self.tn)

    def cost(self, cost_fp: float, cost_fn: float) -> FloatArray:
        """Expected cost per row: (c_fp·FP + c_fn·FN) / N."""
        total = self.tp[0] + self.fp[0] + self.fn[0] + self.tn[0]
        cost: FloatArray = (cost_fp * self.fp + cost_fn * self.fn) / total
        return cost

    def confusion_at(self, i: int) -> ConfusionMatrix:
        neg, pos = self.labels
        counts = np.array([[self.tn[i], self.fp[i]], [self.fn[i], self.tp[i]]])
        # Scale squared weights by cell share: exact when unweighted (squares == counts).
        neg_sq, pos_sq = self.squares
        neg_total = self.tn[i] + self.fp[i]
        pos_total = self.fn[i] + self.tp[i]
        squares = counts.copy()
        if neg_total > 0:
            squares[0] *= neg_sq / neg_total
        if pos_total > 0:
            squares[1] *= pos_sq / pos_total
        return ConfusionMatrix((neg, pos), counts, squares)

    def point(
        self,
        objective: str,
        i: int | None,
        *,
        confidence: float = 0.95,
        expected_cost: float | None = None,
        reason: str | None = None,
    ) -> OperatingPoint:
        if i is None:
            return OperatingPoint(objective, None, {}, [], None, reason)
        cm = self.confusion_at(i)
        keep = ("precision", "recall", "f1", "specificity", "accuracy", "false_positive_rate")
        metrics = binary_metrics(cm, self.labels[1], confidence, only=keep)
        return OperatingPoint(
            objective,
            float(self.thresholds[i]),
            {k: metrics[k] for k in keep},
            cm.counts.tolist(),
            expected_cost,
            reason,
        )

    def recommend(
        self,
        *,
        min_recall: float | None = None,
        min_precision: float | None = None,
        cost_fp: float | None = None,
        cost_fn: float | None = None,
        confidence: float = 0.95,
    ) -> list[OperatingPoint]:
        """Operating points for max F1 and for each constraint or cost given."""
        points: list[OperatingPoint] = []
        if self.thresholds.size == 0:
            return points
        f1 = np.nan_to_num(self.f1, nan=-1.0)
        points.append(self.point("max_f1", int(np.argmax(f1)), confidence=confidence))
        if min_recall is not None:
            ok = np.flatnonzero(np.nan_to_num(self.recall, nan=-1.0) >= min_recall)
            name = f"recall>={min_recall:g}"
            if ok.size:
                prec = np.nan_to_num(self.precision[ok], nan=-1.0)
                points.append(self.point(name, int(ok[np.argmax(prec)]), confidence=confidence))
            else:
                points.append(
                    self.point(name, None, reason=f"no threshold reaches recall {min_recall:g}")
                )
        if min_precision is not None:
            ok = np.flatnonzero(np.nan_to_num(self.precision, nan=-1.0) >= min_precision)
            name = f"precision>={min_precision:g}"
            if ok.size:
                # Recall rises as the threshold falls: the last qualifying one has the best recall.
                rec = np.nan_to_num(self.recall[ok], nan=-1.0)
                best = ok[np.flatnonzero(rec == rec.max())[0]]
                points.append(self.point(name, int(best), confidence=confidence))
            else:
                points.append(
                    self.point(
                        name, None, reason=f"no threshold reaches precision {min_precision:g}"
                    )
                )
        if cost_fp is not None or cost_fn is not None:
            c_fp = 1.0 if cost_fp is None else cost_fp
            c_fn = 1.0 if cost_fn is None else cost_fn
            cost = self.cost(c_fp, c_fn)
            i = int(np.argmin(cost))
            points.append(
                self.point(
                    f"min_cost(fp={c_fp:g},fn={c_fn:g})",
                    i,
                    confidence=confidence,
                    expected_cost=float(cost[i]),
                )
            )
        return points

    def sampled(
        self,
        points: int = 200,
        *,
        cost_fp: float | None = None,
        cost_fn: float | None = None,
    ) -> dict[str, list[float | None]]:
        """The curve thinned to about ``points`` rows, for plots and JSON.

        With a cost for either error, the expected cost per row is included.
        """
        n = self.thresholds.size
        idx: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        if n:
            # Evenly spaced in threshold value (thresholds are descending here), so
            # sparse high-score regions are drawn as faithfully as dense ones.
            ascending = self.thresholds[::-1]
            grid = np.linspace(ascending[0], ascending[-1], min(points, n))
            position = np.searchsorted(ascending, grid, side="left")
            idx = np.unique(n - 1 - np.minimum(position, n - 1))

        def clean(a: FloatArray) -> list[float | None]:
            return [None if np.isnan(v) else float(v) for v in np.asarray(a)[idx]]

        return {
            "threshold": clean(self.thresholds),
            "precision": clean(self.precision),
            "recall": clean(self.recall),
            "f1": clean(self.f1),
            "false_positive_rate": clean(self.false_positive_rate),
            "tp": clean(self.tp),
            "fp": clean(self.fp),
            **(
                {}
                if cost_fp is None and cost_fn is None
                else {
                    "expected_cost": clean(
                        self.cost(
                            1.0 if cost_fp is None else cost_fp, 1.0 if cost_fn is None else cost_fn
                        )
                    )
                }
            ),
        }


def threshold_curve(dist: ScoreDistribution, labels: tuple[Label, Label]) -> ThresholdCurve:
    """The confusion matrix at every threshold of ``dist``, thresholds descending.

    ``labels`` is ``(negative, positive)``.
    """
    thresholds, tps, fps = dist.descending()
    pos_total, neg_total = dist.total_positive, dist.total_negative
    return ThresholdCurve(
        labels,
        thresholds,
        tps,
        fps,
        # Cumulative float sums can overshoot the total by an ulp; counts are never negative.
        np.maximum(pos_total - tps, 0.0),
        np.maximum(neg_total - fps, 0.0),
        (dist.negative_sq, dist.positive_sq),
    )
