"""One model's evaluation as a single mergeable statistic, and its result.

:class:`Evaluation` bundles every sufficient statistic the report needs for one
group of rows (a whole file, a segment, a time window, a shard): the confusion
matrix, per-class score distributions, loss sums, a latency sketch and
prediction-failure counts. Groups merge into their union, so per-segment or
per-window evaluations add up to the total exactly.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from .calibration import ReliabilityBin, expected_calibration_error, reliability_curve
from .classification import (
    POINT_METRICS,
    binary_metrics,
    binary_point,
    confusion_metrics,
    per_class_metrics,
)
from .confusion import ConfusionMatrix, validate_weight
from .interval import modified_wilson
from .labels import Label, encode_labels, normalise_label
from .latency import LatencySketch
from .loss import LossSums, row_sums
from .ranking import (
    DEFAULT_EXACT_LIMIT,
    DEFAULT_RESOLUTION,
    ScoreDistribution,
    average_precision,
    roc_auc,
    validate_scores,
)
from .registry import metric_names
from .result import MetricResult
from .threshold import OperatingPoint, ThresholdCurve, threshold_curve

# The latency sketch's metrics (an ``only`` that names none of them skips the sketch).
_LATENCY = frozenset(n for n in metric_names("operational") if n.startswith("latency_"))

__all__ = ["Evaluation", "EvaluationResult", "predict_from_score", "validate_proba"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PROBA_SUM_TOLERANCE = 1e-3
TOP_LABEL_RESOLUTION = 4096


def validate_proba(proba: npt.ArrayLike, columns: Sequence[str] | None = None) -> FloatArray:
    """Class probabilities: a 2-D array of values in [0, 1] whose rows sum to 1.

    Rows within 1e-3 of 1 are renormalised (float32 rounding); further off is an error.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise ValidationError(f"class probabilities must be 2-D, got shape {p.shape}")
    names = list(columns) if columns is not None else [f"proba[{i}]" for i in range(p.shape[1])]
    ok = (p >= 0.0) & (p <= 1.0)
    if not ok.all():
        row, col = (int(v[0]) for v in np.nonzero(~ok))
        raise ValidationError(
            f"{float(p[row, col])!r} is not a probability in [0, 1]", column=names[col], row=row
        )
    sums = row_sums(p)
    off = np.flatnonzero(np.abs(sums - 1.0) > PROBA_SUM_TOLERANCE)
    if off.size:
        row = int(off[0])
        raise ValidationError(
            f"class probabilities sum to {sums[row]:.6g}, not 1 ({off.size} row(s) affected)",
            column=",".join(names),
            row=row,
        )
    return p


def predict_from_score(score: FloatArray, threshold: float, pos: int) -> IntArray:
    """Label codes of a binary score: ``pos`` where score ≥ threshold, the other class else."""
    pred = (score >= threshold).astype(np.int64)
    if pos == 0:
        np.subtract(1, pred, out=pred)
    return pred


@dataclass(frozen=True)
class EvaluationResult:
    """Every metric of one group of rows, ready to report."""

    kind: Literal["binary", "multiclass"]
    labels: tuple[Label, ...]
    pos_label: Label | None
    rows: int
    confidence: float
    confusion_matrix: list[list[float]]
    metrics: dict[str, MetricResult]
    per_class: list[dict[str, Any]]
    roc_curve: dict[str, list[float]] | None = None
    pr_curve: dict[str, list[float]] | None = None
    calibration: list[ReliabilityBin] | None = None
    threshold_curve: dict[str, list[float | None]] | None = None
    operating_points: list[OperatingPoint] = field(default_factory=list)

    def metric(self, name: str) -> MetricResult:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}; have {sorted(self.metrics)}") from None


def _sample_curve(x: FloatArray, y: FloatArray, points: int = 300) -> dict[str, list[float]]:
    """Thin a monotone curve to about ``points`` vertices, keeping its shape and ends."""
    if x.size <= points:
        keep = np.arange(x.size)
    else:
        progress = np.floor((x / max(x[-1], 1e-300) + y / max(y[-1], 1e-300)) * points / 2)
        keep = np.flatnonzero(np.diff(progress, prepend=-1.0) != 0)
        keep = np.union1d(keep, [0, x.size - 1])
    return {"x": x[keep].tolist(), "y": y[keep].tolist()}


def _merged(a: LatencySketch | None, b: LatencySketch | None) -> LatencySketch | None:
    return b if a is None else a if b is None else a.merge(b)


@dataclass(eq=False)
class Evaluation:
    """The sufficient statistics of one group of labelled predictions.

    Examples
    --------
    >>> ev = Evaluation.create([0, 1], pos_label=1)
    >>> _ = ev.update([1, 1, 0, 0], y_score=[0.9, 0.4, 0.2, 0.6])
    >>> round(ev.result().metrics["roc_auc"].value, 3)
    0.75
    """

    labels: tuple[Label, ...]
    pos_label: Label | None
    confusion: ConfusionMatrix
    scores: list[ScoreDistribution] | None = None
    top_label: ScoreDistribution | None = None
    losses: LossSums | None = None
    latency: LatencySketch | None = None
    predictions: int = 0
    failures: int = 0

    @classmethod
    def create(
        cls,
        labels: Sequence[Label],
        *,
        pos_label: Label | None = None,
        with_scores: bool = True,
        resolution: int = DEFAULT_RESOLUTION,
        exact_limit: int = DEFAULT_EXACT_LIMIT,
    ) -> Evaluation:
        labels = tuple(normalise_label(label) for label in labels)
        if pos_label is not None:
            pos_label = normalise_label(pos_label)
            if pos_label not in labels:
                raise ValidationError(
                    f"positive label {pos_label!r} is not one of the classes {list(labels)!r}"
                )
        binary = len(labels) == 2 and pos_label is not None
        scores = None
        top = None
        if with_scores:
            count = 1 if binary else len(labels)
            scores = [
                ScoreDistribution(resolution=resolution, exact_limit=exact_limit)
                for _ in range(count)
            ]
            if not binary:
                # Only calibration (10 bins) reads the top-label distribution: 4096 bins
                # resolve its mean scores to 1e-4 at a fraction of the cost.
                top = ScoreDistribution(resolution=TOP_LABEL_RESOLUTION, exact_limit=exact_limit)
        return cls(
            labels,
            pos_label,
            ConfusionMatrix.empty(labels),
            scores,
            top,
            LossSums() if with_scores else None,
        )

    @classmethod
    def served_only(
        cls, latency: LatencySketch | None, predictions: int, failures: int
    ) -> Evaluation:
        """The statistics of predictions before any class is known (a model known only
        from its logs, no outcome label yet): no confusion matrix, but the latency and
        the failed-prediction rate, which need no label. It merges with an evaluation
        that has classes (taking them)."""
        empty = np.zeros((0, 0))
        return cls((), None, ConfusionMatrix((), empty, empty.copy(), empty.copy()), None,
                   None, None, latency, predictions, failures)  # fmt: skip

    @property
    def is_binary(self) -> bool:
        return len(self.labels) == 2 and self.pos_label is not None

    @property
    def pos_index(self) -> int:
        if self.pos_label is None:
            raise ValidationError("a positive label is needed for a binary score")
        return self.labels.index(self.pos_label)

    # -- updating ---------------------------------------------------------------

    def update(
        self,
        y_true: npt.ArrayLike,
        y_pred: npt.ArrayLike | None = None,
        *,
        y_score: npt.ArrayLike | None = None,
        proba: npt.ArrayLike | None = None,
        weight: npt.ArrayLike | None = None,
        threshold: float = 0.5,
    ) -> Evaluation:
        """Add labelled predictions given as label values (in place; returns self).

        Exactly one way to know the prediction is needed: ``y_pred``, a binary
        ``y_score`` (P(positive); predicted positive when ≥ ``threshold``) or
        ``proba`` (one column per label, in ``labels`` order; argmax predicts).
        """
        true_codes = encode_labels(y_true, self.labels, what="y_true")
        pred_codes = None if y_pred is None else encode_labels(y_pred, self.labels, what="y_pred")
        score = None if y_score is None else validate_scores(y_score)
        p = None if proba is None else validate_proba(proba)
        w = validate_weight(weight, true_codes.shape[0])
        return self.update_codes(
            true_codes, pred_codes, score=score, proba=p, weight=w, threshold=threshold
        )

    def update_codes(
        self,
        true_codes: IntArray,
        pred_codes: IntArray | None = None,
        *,
        score: FloatArray | None = None,
        proba: FloatArray | None = None,
        weight: FloatArray | None = None,
        threshold: float = 0.5,
        argmax: IntArray | None = None,
    ) -> Evaluation:
        """Add rows whose labels are already codes into ``labels`` and validated.

        ``argmax`` may pass the row-wise argmax of ``proba`` when the caller already
        has it, to save a pass over the matrix.
        """
        n = true_codes.shape[0]
        for name, arr in (("y_pred", pred_codes), ("y_score", score), ("proba", proba)):
            if arr is not None and arr.shape[0] != n:
                raise ValidationError(f"y_true has {n} rows but {name} has {arr.shape[0]}")
        if score is not None:
            if not self.is_binary:
                raise ValidationError(
                    "a single score column needs two classes and a positive label; "
                    f"classes are {list(self.labels)!r}, positive label {self.pos_label!r}"
                )
            pos = self.pos_index
            if pred_codes is None:
                pred_codes = predict_from_score(score, threshold, pos)
            is_pos = true_codes == pos
            if self.scores is not None:
                self.scores[0].update(is_pos, score, weight, validated=True)
            if self.losses is not None:
                self.losses.update_binary(is_pos, score, weight)
        elif proba is not None:
            if proba.shape[1] != len(self.labels):
                raise ValidationError(
                    f"{proba.shape[1]} probability columns for {len(self.labels)} classes "
                    f"{list(self.labels)!r}"
                )
            if argmax is None:
                argmax = np.argmax(proba, axis=1)
            if pred_codes is None:
                pred_codes = argmax.astype(np.int64)
            if self.scores is not None:
                if self.is_binary:
                    pos = self.pos_index
                    self.scores[0].update(true_codes == pos, proba[:, pos], weight, validated=True)
                else:
                    for c, dist in enumerate(self.scores):
                        dist.update(true_codes == c, proba[:, c], weight, validated=True)
                    if self.top_label is not None:
                        top = np.take_along_axis(proba, argmax[:, None], axis=1)[:, 0]
                        self.top_label.update(argmax == true_codes, top, weight, validated=True)
            if self.losses is not None:
                self.losses.update(true_codes, proba, weight)
        elif self.scores is not None and n:
            raise ValidationError("this evaluation tracks scores: pass y_score or proba")
        if pred_codes is None:
            raise ValidationError("no predictions: give y_pred, y_score or proba")
        self.confusion.update_codes(true_codes, pred_codes, weight)
        return self

    def update_operational(
        self, *, latency_seconds: npt.ArrayLike | None = None, failed: npt.ArrayLike | None = None
    ) -> Evaluation:
        """Add served-prediction facts: latencies and which predictions failed."""
        if latency_seconds is not None:
            if self.latency is None:
                self.latency = LatencySketch()
            self.latency.update(latency_seconds)
        if failed is not None:
            f = np.asarray(failed, dtype=bool)
            self.predictions += int(f.shape[0])
            self.failures += int(f.sum())
        return self

    def merge(self, other: Evaluation) -> Evaluation:
        """A new evaluation over both groups of rows (a side without classes,
        :meth:`served_only`, adds only its latency and failure counts)."""
        if not self.labels or not other.labels:
            has, served = (other, self) if not self.labels else (self, other)
            return Evaluation(
                has.labels,
                has.pos_label,
                has.confusion,
                has.scores,
                has.top_label,
                has.losses,
                _merged(has.latency, served.latency),
                self.predictions + other.predictions,
                self.failures + other.failures,
            )
        if self.pos_label != other.pos_label:
            raise ValueError(
                f"cannot merge evaluations with positive labels {self.pos_label!r} and "
                f"{other.pos_label!r}"
            )
        confusion = self.confusion.merge(other.confusion)
        if confusion.labels != self.labels or confusion.labels != other.labels:
            raise ValueError(
                f"cannot merge evaluations over classes {list(self.labels)!r} and "
                f"{list(other.labels)!r}; declare the same labels for both"
            )

        def both(a: Any, b: Any) -> Any:
            if a is None:
                return b
            if b is None:
                return a
            return a.merge(b)

        scores = None
        if self.scores is not None and other.scores is not None:
            scores = [a.merge(b) for a, b in zip(self.scores, other.scores, strict=True)]
        else:
            scores = self.scores or other.scores
        return Evaluation(
            self.labels,
            self.pos_label,
            confusion,
            scores,
            both(self.top_label, other.top_label),
            both(self.losses, other.losses),
            both(self.latency, other.latency),
            self.predictions + other.predictions,
            self.failures + other.failures,
        )

    # -- reading ----------------------------------------------------------------

    def curve(self) -> ThresholdCurve | None:
        """The binary threshold curve, when a score is tracked."""
        if not self.is_binary or not self.scores:
            return None
        pos = self.pos_index
        return threshold_curve(self.scores[0], (self.labels[1 - pos], self.labels[pos]))

    def point(self, name: str) -> float | None:
        """The value ``result(only=(name,))`` gives ``name``, None when undefined or not
        computed; for the cheap binary proportions (:data:`.classification.POINT_METRICS`)
        without computing the interval (a sparkline point)."""
        if self.is_binary and name in POINT_METRICS:
            return binary_point(self.confusion, self.pos_label, name)
        m = self.result(only=(name,)).metrics.get(name)
        return None if m is None or m.value is None or not m.is_defined else float(m.value)

    def result(
        self,
        confidence: float = 0.95,
        *,
        beta: float = 2.0,
        min_recall: float | None = None,
        min_precision: float | None = None,
        cost_fp: float | None = None,
        cost_fn: float | None = None,
        calibration_bins: int = 10,
        only: Collection[str] | None = None,
    ) -> EvaluationResult:
        """Turn the statistics into metrics with intervals, curves and operating points.

        ``only`` names the metrics a caller will read (a window of a time series): binary
        metrics, ranking, latency, loss and failure metrics not named are skipped, and
        so are the curves, operating points and per-class table — a tenth of the time
        or less. Multiclass results keep their cheap confusion metrics."""
        binary = self.is_binary
        if not self.labels:  # no class known yet (served_only): nothing to compare
            metrics: dict[str, MetricResult] = {}
        elif binary and only is not None:
            metrics = binary_metrics(self.confusion, self.pos_label, confidence, beta, only=only)
        else:
            metrics = confusion_metrics(
                self.confusion, self.pos_label if binary else None, confidence, beta
            )
        roc = pr = None
        calibration = None
        curve_data = None
        points: list[OperatingPoint] = []
        if self.scores and only is not None:
            if binary:
                dist = self.scores[0]
                if "roc_auc" in only:
                    metrics["roc_auc"] = roc_auc(dist, confidence)
                if "average_precision" in only:
                    metrics["average_precision"] = average_precision(dist, confidence)
                if "expected_calibration_error" in only:
                    metrics["expected_calibration_error"] = expected_calibration_error(
                        dist, calibration_bins, confidence
                    )
            else:
                metrics.update(self._multiclass_ranking(confidence))
        elif self.scores:
            if binary:
                dist = self.scores[0]
                metrics["roc_auc"] = roc_auc(dist, confidence)
                metrics["average_precision"] = average_precision(dist, confidence)
                metrics["expected_calibration_error"] = expected_calibration_error(
                    dist, calibration_bins, confidence
                )
                calibration = reliability_curve(dist, calibration_bins)
                roc, pr = self._curves(dist)
                curve = self.curve()
                if curve is not None and curve.thresholds.size:
                    curve_data = curve.sampled(cost_fp=cost_fp, cost_fn=cost_fn)
                    points = curve.recommend(
                        min_recall=min_recall,
                        min_precision=min_precision,
                        cost_fp=cost_fp,
                        cost_fn=cost_fn,
                        confidence=confidence,
                    )
            else:
                metrics.update(self._multiclass_ranking(confidence))
                if self.top_label is not None:
                    metrics["expected_calibration_error"] = expected_calibration_error(
                        self.top_label, calibration_bins, confidence
                    )
                    calibration = reliability_curve(self.top_label, calibration_bins)
        # A limited result computes the latency quantiles (a rank interval each) and
        # the loss means only when one of them is named.
        if self.losses is not None and (only is None or {"log_loss", "brier"} & set(only)):
            metrics.update(self.losses.results(confidence))
        if self.latency is not None and (only is None or not _LATENCY.isdisjoint(only)):
            metrics.update(self.latency.results(confidence))
        if self.predictions and (only is None or "failed_prediction_rate" in only):
            lower, upper = modified_wilson(self.failures, self.predictions, confidence)
            metrics["failed_prediction_rate"] = MetricResult(
                "failed_prediction_rate",
                self.failures / self.predictions,
                lower,
                upper,
                self.predictions,
                confidence,
                "modified Wilson (Brown, Cai & DasGupta 2001)",
                higher_is_better=False,
            )
        return EvaluationResult(
            "binary" if binary else "multiclass",
            self.labels,
            self.pos_label if binary else None,
            round(self.confusion.total),
            confidence,
            # Unweighted, the cells are counts of rows: integers in JSON, not 12.0.
            (
                self.confusion.counts.tolist()
                if self.confusion.is_weighted
                else self.confusion.counts.astype(np.int64).tolist()
            ),
            metrics,
            []
            if only is not None or not self.labels
            else per_class_metrics(self.confusion, confidence),
            roc,
            pr,
            calibration,
            curve_data,
            points,
        )

    @staticmethod
    def _curves(
        dist: ScoreDistribution,
    ) -> tuple[dict[str, list[float]] | None, dict[str, list[float]] | None]:
        pos, neg = dist.total_positive, dist.total_negative
        if pos <= 0 or neg <= 0:
            return None, None
        _, tps, fps = dist.descending()
        fpr = np.concatenate([[0.0], fps / neg])
        tpr = np.concatenate([[0.0], tps / pos])
        roc = _sample_curve(fpr, tpr)
        # A top key whose rows all weigh 0 has no precision: not a point of the curve.
        seen = (tps + fps) > 0
        recall = tps[seen] / pos
        precision = tps[seen] / (tps + fps)[seen]
        pr = _sample_curve(recall, precision)
        return {"fpr": roc["x"], "tpr": roc["y"]}, {"recall": pr["x"], "precision": pr["y"]}

    def _multiclass_ranking(self, confidence: float) -> dict[str, MetricResult]:
        """One-vs-rest macro ROC-AUC and average precision (scikit-learn's 'ovr', 'macro')."""
        assert self.scores is not None
        out: dict[str, MetricResult] = {}
        for name, fn in (("roc_auc", roc_auc), ("average_precision", average_precision)):
            per_class = [fn(d, confidence) for d in self.scores]
            defined = [r for r in per_class if r.is_defined]
            n = round(self.confusion.total)
            if len(defined) < len(per_class):
                missing = [str(self.labels[i]) for i, r in enumerate(per_class) if not r.is_defined]
                out[name] = MetricResult.undefined(
                    name,
                    f"undefined: class(es) {', '.join(missing)} absent from y_true or always "
                    "present",
                    n=n,
                    confidence=confidence,
                )
                continue
            values = [r.value for r in defined if r.value is not None]
            notes = sorted({r.note for r in defined if r.note})
            # Macro average of per-class intervals, conservatively averaging their limits.
            out[name] = MetricResult(
                name,
                float(np.mean(values)),
                float(np.mean([r.lower for r in defined if r.lower is not None])),
                float(np.mean([r.upper for r in defined if r.upper is not None])),
                n,
                confidence,
                f"one-vs-rest macro average; mean of per-class {defined[0].method} limits",
                note="; ".join(notes) if notes else None,
            )
        return out
