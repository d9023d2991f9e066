"""The counts behind a metric, so a verdict can re-run its interval method.

A check judged in ``anytime`` mode needs the metric as successes out of trials (to
build a confidence sequence), and "how many more rows would settle it" needs the
interval the real method gives on grown counts. Both come from the confusion matrix
of an :class:`~liveeval.metrics.EvaluationResult`; metrics that are not a function of
it (ROC-AUC, losses, latency) have no :class:`Evidence` and fall back to the
fixed-sample interval (for anytime mode) or to the 1/√n law (for settling).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..metrics import (
    ConfusionMatrix,
    EvaluationResult,
    LatencySketch,
    MetricResult,
    binary_metrics,
    quantile_sequence,
)
from ..metrics.sequential import proportion_sequence, sequence_prior

__all__ = [
    "Evidence",
    "anytime_interval",
    "evidence_for",
    "grown_interval",
    "interval_for",
    "latency_sequence",
]

Interval = tuple[float, float]


def _f1_from_jaccard(j: float) -> float:
    return 2.0 * j / (1.0 + j)


def _jaccard_from_f1(f: float) -> float:
    return f / (2.0 - f)


def _identity(p: float) -> float:
    return p


Cell = tuple[int, int]


@dataclass(frozen=True)
class Evidence:
    """A metric as ``transform(successes / trials)`` (``transform`` increasing).

    ``parts`` holds more than one (successes, trials) pair for an average of rates
    (balanced accuracy: recall and specificity), each judged at alpha / len(parts).
    """

    metric: str
    parts: tuple[tuple[float, float], ...]
    transform: Callable[[float], float] = _identity
    inverse: Callable[[float], float] = _identity
    #: For a single rate of a binary confusion matrix: the cells counted as successes
    #: and as failures (so the real interval method can be run at any estimate).
    cells: tuple[tuple[Cell, ...], tuple[Cell, ...]] | None = None

    def scaled(self, growth: float) -> Evidence:
        """The same rates on ``growth`` times as many trials."""
        return Evidence(
            self.metric,
            tuple((x * growth, t * growth) for x, t in self.parts),
            self.transform,
            self.inverse,
            self.cells,
        )

    @property
    def trials(self) -> float:
        return min(t for _, t in self.parts)


def _binary_parts(
    counts: np.ndarray, labels: tuple[object, ...], pos_label: object
) -> dict[str, Evidence]:
    p = labels.index(pos_label)
    q = 1 - p
    tp, fn = float(counts[p, p]), float(counts[p, q])
    fp, tn = float(counts[q, p]), float(counts[q, q])
    total = tp + fn + fp + tn
    tp_c, fn_c, fp_c, tn_c = (p, p), (p, q), (q, p), (q, q)
    rates: dict[str, tuple[tuple[float, float], tuple[tuple[Cell, ...], tuple[Cell, ...]]]] = {
        "accuracy": ((tp + tn, total), ((tp_c, tn_c), (fp_c, fn_c))),
        "error_rate": ((fp + fn, total), ((fp_c, fn_c), (tp_c, tn_c))),
        "precision": ((tp, tp + fp), ((tp_c,), (fp_c,))),
        "recall": ((tp, tp + fn), ((tp_c,), (fn_c,))),
        "specificity": ((tn, tn + fp), ((tn_c,), (fp_c,))),
        "false_positive_rate": ((fp, fp + tn), ((fp_c,), (tn_c,))),
        "negative_predictive_value": ((tn, tn + fn), ((tn_c,), (fn_c,))),
        "prevalence": ((tp + fn, total), ((tp_c, fn_c), (fp_c, tn_c))),
    }
    out = {name: Evidence(name, (xn,), cells=cells) for name, (xn, cells) in rates.items()}
    out["f1"] = Evidence(
        "f1",
        ((tp, tp + fp + fn),),
        _f1_from_jaccard,
        _jaccard_from_f1,
        ((tp_c,), (fp_c, fn_c)),
    )
    out["balanced_accuracy"] = Evidence("balanced_accuracy", ((tp, tp + fn), (tn, tn + fp)))
    return out


def evidence_for(
    result: EvaluationResult, metric: str, measured: MetricResult | None = None
) -> Evidence | None:
    """The counts behind ``metric`` in ``result``, or ``None`` when it is not a rate of
    unweighted counts (weighted data: the counts are not numbers of rows)."""
    if measured is not None and "effective n" in measured.method:
        return None
    if metric == "failed_prediction_rate" and measured is not None and measured.value is not None:
        return Evidence(metric, ((round(measured.value * measured.n), float(measured.n)),))
    counts = np.asarray(result.confusion_matrix, dtype=np.float64)
    if counts.size == 0 or not np.allclose(counts, np.round(counts)):
        return None
    if result.kind == "binary" and result.pos_label is not None and counts.shape == (2, 2):
        return _binary_parts(counts, tuple(result.labels), result.pos_label).get(metric)
    total = float(counts.sum())
    correct = float(np.trace(counts))
    rates = {
        "accuracy": (correct, total),
        "precision_micro": (correct, total),
        "recall_micro": (correct, total),
        "f1_micro": (correct, total),
        "error_rate": (total - correct, total),
    }
    if metric in rates:
        return Evidence(metric, (rates[metric],))
    return None


def anytime_interval(evidence: Evidence, alpha: float, target: float | None) -> Interval:
    """The anytime-valid interval of ``evidence`` at miss rate ``alpha`` (all looks).

    The Beta prior is centred on ``target`` when given (fixed in advance by the
    profile), which makes the sequence tightest where the check must decide.
    """
    k = len(evidence.parts)
    lows, highs = [], []
    for successes, trials in evidence.parts:
        centre = 0.5 if target is None or k > 1 else target
        lo, hi = proportion_sequence(successes, trials, alpha / k, prior=sequence_prior(centre))
        lows.append(lo)
        highs.append(hi)
    lower = evidence.transform(sum(lows) / k)
    upper = evidence.transform(sum(highs) / k)
    return (lower, upper)


def interval_for(
    result: EvaluationResult,
    evidence: Evidence,
    measured: MetricResult,
    *,
    anytime_alpha: float | None = None,
    target: float | None = None,
) -> Callable[[float, float], Interval | None] | None:
    """``interval_for(g, v)``: the interval the method gives on ``g`` times the trials
    when the estimate is ``v`` — a confidence sequence when ``anytime_alpha`` is given,
    else the real fixed-sample method on a confusion matrix holding just that rate's
    successes and failures. ``None`` for averages of several rates."""
    if len(evidence.parts) != 1:
        return None
    _, trials = evidence.parts[0]
    if anytime_alpha is not None:
        alpha = anytime_alpha

        def sequence_for(g: float, v: float) -> Interval | None:
            rate = min(max(evidence.inverse(v), 0.0), 1.0)
            moved = Evidence(
                evidence.metric, ((rate * trials * g, trials * g),), evidence.transform
            )
            return anytime_interval(moved, alpha, target)

        return sequence_for
    if evidence.cells is None or result.kind != "binary" or result.pos_label is None:
        return None
    successes, failures = evidence.cells
    labels = tuple(result.labels)
    pos_label = result.pos_label
    metric = evidence.metric
    confidence = measured.confidence

    def fixed_for(g: float, v: float) -> Interval | None:
        rate = min(max(evidence.inverse(v), 0.0), 1.0)
        # Just this rate's successes and failures, spread evenly over their cells; one
        # row in every other cell keeps the neighbouring metrics defined (cheap paths).
        counts = np.ones((2, 2))
        for cell in successes:
            counts[cell] = rate * trials * g / len(successes)
        for cell in failures:
            counts[cell] = (1.0 - rate) * trials * g / len(failures)
        cm = ConfusionMatrix(labels, counts, counts.copy())
        r = binary_metrics(cm, pos_label, confidence, only=(metric,)).get(metric)
        if r is None or r.lower is None or r.upper is None:
            return None
        return (r.lower, r.upper)

    return fixed_for


def grown_interval(
    result: EvaluationResult, metric: str, measured: MetricResult
) -> Callable[[float], Interval | None] | None:
    """``interval_at(g)``: the real fixed-sample method on the binary confusion matrix
    with every count multiplied by ``g``, anchored so that ``g = 1`` gives the interval
    reported (weights and rounding keep their share of the width)."""
    if result.kind != "binary" or result.pos_label is None:
        return None
    if measured.value is None or measured.lower is None or measured.upper is None:
        return None
    counts = np.asarray(result.confusion_matrix, dtype=np.float64)
    labels = tuple(result.labels)
    pos_label = result.pos_label
    confidence = measured.confidence

    def raw(g: float) -> Interval | None:
        cm = ConfusionMatrix(labels, counts * g, counts * g)
        r = binary_metrics(cm, pos_label, confidence, only=(metric,)).get(metric)
        if r is None or r.lower is None or r.upper is None or r.value is None:
            return None
        return (r.value - r.lower, r.upper - r.value)

    base = raw(1.0)
    if base is None:
        return None
    value, lower, upper = measured.value, measured.lower, measured.upper
    below0, above0 = base

    def interval_at(g: float) -> Interval | None:
        grown = raw(g)
        if grown is None:
            return None
        below, above = grown
        scale_below = below / below0 if below0 > 0 else 1.0 / math.sqrt(g)
        scale_above = above / above0 if above0 > 0 else 1.0 / math.sqrt(g)
        return (value - (value - lower) * scale_below, value + (upper - value) * scale_above)

    return interval_at


def latency_sequence(sketch: LatencySketch, q: float, alpha: float) -> Interval:
    """The anytime-valid interval of the ``q``-quantile of the latencies in ``sketch``.

    Bucket k of the sketch holds values in (γ^(k−1), γ^k], so the count at or below
    each upper edge γ^k is exact; :func:`liveeval.metrics.quantile_sequence` turns
    those counts into limits (``inf`` above while the data cannot bound the quantile).
    """
    edges = np.power(sketch.gamma, sketch.keys.astype(np.float64))
    below = sketch.zeros + np.cumsum(sketch.counts)
    if sketch.zeros:
        edges = np.concatenate([[0.0], edges])
        below = np.concatenate([[float(sketch.zeros)], below])
    return quantile_sequence(edges, below, float(sketch.count), q, alpha)
