"""Decision-threshold analysis for a binary score.

Every distinct score (or bin edge) is a candidate threshold t: rows with
score ≥ t are predicted positive. From a :class:`ScoreDistribution` the
confusion matrix at every threshold is a cumulative sum, so the full curve costs
one pass over the keys, however many rows there were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from .classification import binary_metrics
from .confusion import ConfusionMatrix, safe_divide
from .labels import Label
from .ranking import ScoreDistribution
from .result import MetricResult

__all__ = ["IN_SAMPLE_NOTE", "OperatingPoint", "ThresholdCurve", "threshold_curve"]

FloatArray = npt.NDArray[np.float64]
KEEP = ("precision", "recall", "f1", "specificity", "accuracy", "false_positive_rate")
CROSS_FIT_SEED = 20261127


IN_SAMPLE_NOTE = (
    "in-sample: the threshold was chosen on the same rows these metrics are computed "
    "on, so the metrics are optimistic and their intervals cover less often than stated "
    "(max-F1 at 50 positives: about 89% for a nominal 95%, the estimate about 0.05 too "
    "high)"
)


@dataclass(frozen=True)
class OperatingPoint:
    """A recommended threshold with the metrics (and intervals) it would give.

    ``in_sample`` is true when the threshold was chosen on the same data its metrics
    are computed from (every recommendation of :meth:`ThresholdCurve.recommend`):
    the selection makes them optimistic, and ``interval_note`` says so for every
    output to show next to the intervals. ``out_of_sample`` holds the same metrics
    cross-fitted (:meth:`ThresholdCurve.cross_fitted`): honest for the choice, when the
    counts are whole rows.
    """

    objective: str
    threshold: float | None
    metrics: dict[str, MetricResult]
    confusion: list[list[float]]
    expected_cost: float | None = None
    reason: str | None = None
    in_sample: bool = True
    out_of_sample: dict[str, MetricResult] | None = None

    @property
    def interval_note(self) -> str | None:
        if not self.in_sample or self.threshold is None:
            return None
        if self.out_of_sample:
            return IN_SAMPLE_NOTE + "; the out-of-sample (cross-fitted) metrics are honest"
        return IN_SAMPLE_NOTE

    def to_dict(self) -> dict[str, object]:
        return {
            "objective": self.objective,
            "threshold": self.threshold,
            "in_sample": self.in_sample,
            "interval_note": self.interval_note,
            "out_of_sample": None
            if self.out_of_sample is None
            else {k: v.to_dict() for k, v in self.out_of_sample.items()},
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
        metrics = binary_metrics(cm, self.labels[1], confidence, only=KEEP)
        return OperatingPoint(
            objective,
            float(self.thresholds[i]),
            {k: metrics[k] for k in KEEP},
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
        cross_fit: bool = True,
    ) -> list[OperatingPoint]:
        """Operating points for max F1 and for each constraint or cost given.

        Each point's metrics are in-sample (``in_sample`` is true); with ``cross_fit``
        each also gets ``out_of_sample`` metrics from :meth:`cross_fitted`.
        """
        points: list[OperatingPoint] = []
        if self.thresholds.size == 0:
            return points
        wanted: list[tuple[str, Selector, str | None]] = [("max_f1", _max_f1, None)]
        if min_recall is not None:
            wanted.append(
                (
                    f"recall>={min_recall:g}",
                    _recall_at_least(min_recall),
                    f"no threshold reaches recall {min_recall:g}",
                )
            )
        if min_precision is not None:
            wanted.append(
                (
                    f"precision>={min_precision:g}",
                    _precision_at_least(min_precision),
                    f"no threshold reaches precision {min_precision:g}",
                )
            )
        cost: tuple[float, float] | None = None
        if cost_fp is not None or cost_fn is not None:
            cost = (1.0 if cost_fp is None else cost_fp, 1.0 if cost_fn is None else cost_fn)
            wanted.append((f"min_cost(fp={cost[0]:g},fn={cost[1]:g})", _min_cost(*cost), None))
        halves = self.halves() if cross_fit else None
        for name, select, missing in wanted:
            i = select(self)
            if i is None:
                points.append(self.point(name, None, reason=missing))
                continue
            expected = (
                None
                if cost is None or not name.startswith("min_cost")
                else (float(self.cost(*cost)[i]))
            )
            point = self.point(name, i, confidence=confidence, expected_cost=expected)
            if halves is not None:
                fitted = self.cross_fitted(select, confidence, halves=halves)
                point = replace(point, out_of_sample=fitted)
            points.append(point)
        return points

    def _from_increments(self, positive: FloatArray, negative: FloatArray) -> ThresholdCurve:
        tp, fp = np.cumsum(positive), np.cumsum(negative)
        return ThresholdCurve(
            self.labels,
            self.thresholds,
            tp,
            fp,
            np.maximum(positive.sum() - tp, 0.0),
            np.maximum(negative.sum() - fp, 0.0),
            (float(positive.sum()), float(negative.sum())),
        )

    def halves(self, seed: int = CROSS_FIT_SEED) -> tuple[ThresholdCurve, ThresholdCurve] | None:
        """The curve split into two random halves of the rows (each score's positive and
        negative counts thinned binomially); ``None`` unless the counts are whole rows,
        and when a half draws no row (a few rows only): nothing to choose a threshold on."""
        positive = np.diff(self.tp, prepend=0.0)
        negative = np.diff(self.fp, prepend=0.0)
        whole = np.array_equal(positive, np.rint(positive)) and np.array_equal(
            negative, np.rint(negative)
        )
        if not whole or positive.sum() < 2 or negative.sum() < 2:
            return None
        rng = np.random.default_rng(seed)
        pos_a = _half_of(positive, rng)
        neg_a = _half_of(negative, rng)
        rows_a = pos_a.sum() + neg_a.sum()
        if rows_a == 0 or rows_a == positive.sum() + negative.sum():
            return None
        return (
            self._from_increments(pos_a, neg_a),
            self._from_increments(positive - pos_a, negative - neg_a),
        )

    def cross_fitted(
        self,
        select: Selector,
        confidence: float = 0.95,
        *,
        seed: int = CROSS_FIT_SEED,
        halves: tuple[ThresholdCurve, ThresholdCurve] | None = None,
    ) -> dict[str, MetricResult] | None:
        """The operating point's metrics measured on rows its threshold was not chosen on.

        The rows are split at random into two halves (each score's positive and negative
        counts thinned binomially, seed fixed); the threshold is chosen on one half with
        ``select`` and its confusion matrix counted on the other, both ways round, and the
        two held-out matrices (which together hold every row once) give the metrics and
        their intervals. This measures the threshold-choosing rule on fresh rows — a
        little pessimistic, as each choice sees half the data — instead of the
        optimistic in-sample figures (cross-fitting; e.g. Chernozhukov et al. 2018,
        Econometrics J. 21(1), and Tibshirani & Tibshirani 2009, Ann. Appl. Stat. 3(2)
        for the optimism of a tuned choice).

        ``halves`` may pass :meth:`halves` computed once for several operating points.
        Returns ``None`` when the counts are not whole rows (weights), a half draws no
        row, or a half has no qualifying threshold.
        """
        halves = self.halves(seed) if halves is None else halves
        if halves is None:
            return None
        held_out = np.zeros((2, 2))
        for chosen_on, measured_on in ((0, 1), (1, 0)):
            i = select(halves[chosen_on])
            if i is None:
                return None
            held_out += halves[measured_on].confusion_at(i).counts
        cm = ConfusionMatrix(self.labels, held_out, held_out.copy())
        metrics = binary_metrics(cm, self.labels[1], confidence, only=KEEP)
        note = "; cross-fitted: threshold chosen on one half of the rows, measured on the other"
        return {k: replace(metrics[k], method=metrics[k].method + note) for k in KEEP}

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


Selector = Callable[[ThresholdCurve], "int | None"]


def _max_f1(curve: ThresholdCurve) -> int | None:
    return int(np.argmax(np.nan_to_num(curve.f1, nan=-1.0)))


def _recall_at_least(target: float) -> Selector:
    def select(curve: ThresholdCurve) -> int | None:
        ok = np.flatnonzero(np.nan_to_num(curve.recall, nan=-1.0) >= target)
        if not ok.size:
            return None
        return int(ok[np.argmax(np.nan_to_num(curve.precision[ok], nan=-1.0))])

    return select


def _precision_at_least(target: float) -> Selector:
    def select(curve: ThresholdCurve) -> int | None:
        ok = np.flatnonzero(np.nan_to_num(curve.precision, nan=-1.0) >= target)
        if not ok.size:
            return None
        # Recall rises as the threshold falls: the last qualifying one has the best recall.
        rec = np.nan_to_num(curve.recall[ok], nan=-1.0)
        return int(ok[np.flatnonzero(rec == rec.max())[0]])

    return select


def _min_cost(cost_fp: float, cost_fn: float) -> Selector:
    def select(curve: ThresholdCurve) -> int | None:
        return int(np.argmin(curve.cost(cost_fp, cost_fn)))

    return select


def _half_of(counts: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Binomial(c, ½) for each whole count c: the popcount of c random bits (a few
    milliseconds for a million score bins), a binomial draw for counts above 63."""
    c = counts.astype(np.int64)
    small = c <= 63
    bits = rng.integers(0, np.iinfo(np.uint64).max, size=c.shape, dtype=np.uint64, endpoint=True)
    width = np.where(small, c, 0).astype(np.uint64)
    # (1 << 63) - 1 fits; 1 << 64 would not, hence two shifts for the widest masks.
    mask = (
        np.uint64(1) << (width >> np.uint64(1)) << (width - (width >> np.uint64(1)))
    ) - np.uint64(1)
    half = np.bitwise_count(bits & mask).astype(np.int64)
    big = np.flatnonzero(~small)
    if big.size:
        half[big] = rng.binomial(c[big], 0.5)
    return half.astype(np.float64)
