"""Results of many evaluations at once: the windows of a time series.

A live read turns hundreds of per-window :class:`~liveeval.metrics.evaluation.Evaluation`
statistics into metrics with intervals, each window asking for the same few metrics.
:func:`evaluation_results` gives what ``[e.result(confidence, only=only) for e in
evaluations]`` gives, computing the intervals of every window together: the
proportions (modified Wilson), F1 (via the Jaccard index), the loss means (Student t
with Hall's correction), the failed-prediction rate and ROC-AUC (score interval) from
arrays of counts and sums (:mod:`.interval_array`, :mod:`.ranking_array`). Whatever
has no array form here — weighted matrices, multiclass results, bootstrapped metrics,
average precision, calibration, latency quantiles — comes from the scalar code,
window by window.

The values agree with the scalar results to 1e-9 relative (the proportions are the
same floats; see the two array modules for the rest). Pure numpy; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from .calibration import expected_calibration_error
from .classification import PROPORTION_METHOD, ZERO_DIVISION, binary_metrics
from .confusion import ConfusionMatrix
from .evaluation import _LATENCY, Evaluation, EvaluationResult
from .interval_array import modified_wilson_array, t_mean_array
from .labels import Label
from .latency import LatencySketch
from .loss import SKEW_LIMIT, SMALL_N, LossSums
from .ranking import ScoreDistribution, average_precision
from .ranking_array import roc_auc_array, roc_auc_bins
from .result import MetricResult

__all__ = [
    "BinCountDistributions",
    "BinaryColumns",
    "binary_column_results",
    "evaluation_results",
    "loss_results_array",
    "proportion_results",
]

FloatArray = npt.NDArray[np.float64]

FAILED_METHOD = "modified Wilson (Brown, Cai & DasGupta 2001)"


@dataclass(frozen=True)
class _Proportion:
    """A binary proportion as cells of (tp, fp, fn, tn): numerator and denominator."""

    numerator: tuple[int, ...]
    denominator: tuple[int, ...]
    undefined_reason: str
    higher_is_better: bool = True


_TP, _FP, _FN, _TN = 0, 1, 2, 3
_ALL = (_TP, _FP, _FN, _TN)
# binary_metrics' proportions, in its order; "f1" is the Jaccard index, mapped.
_PROPORTIONS: dict[str, _Proportion] = {
    "accuracy": _Proportion((_TP, _TN), _ALL, "no rows"),
    "precision": _Proportion((_TP,), (_TP, _FP), "nothing predicted positive"),
    "recall": _Proportion((_TP,), (_TP, _FN), "no actual positives"),
    "specificity": _Proportion((_TN,), (_TN, _FP), "no actual negatives"),
    "f1": _Proportion((_TP,), (_TP, _FP, _FN), "no positive labels or predictions"),
    "false_positive_rate": _Proportion((_FP,), (_FP, _TN), "no actual negatives", False),
    "negative_predictive_value": _Proportion((_TN,), (_TN, _FN), "nothing predicted negative"),
    "error_rate": _Proportion((_FP, _FN), _ALL, "no rows", False),
    "prevalence": _Proportion((_TP, _FN), _ALL, "no rows"),
}
# Every name binary_metrics can return, in its order (f-beta's name depends on beta).
_BINARY_ORDER = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "<fbeta>",
    "balanced_accuracy",
    "mcc",
    "cohen_kappa",
    "false_positive_rate",
    "negative_predictive_value",
    "error_rate",
    "baseline_accuracy",
    "prevalence",
)


def _sum_cells(cells: FloatArray, which: tuple[int, ...]) -> FloatArray:
    """Per row of ``cells`` (tp, fp, fn, tn), the sum of the cells ``which``: whole
    counts, so exactly the scalar code's masked sums."""
    total = cells[:, which[0]].copy()
    for c in which[1:]:
        total += cells[:, c]
    return total


def proportion_results(
    name: str,
    numerator: npt.ArrayLike,
    denominator: npt.ArrayLike,
    rows: npt.ArrayLike,
    confidence: float,
    *,
    undefined_reason: str,
    higher_is_better: bool = True,
) -> list[MetricResult]:
    """Unweighted proportions numerator / denominator with modified Wilson intervals,
    one :class:`MetricResult` per entry.

    Formula: the share numerator / denominator; interval
    :func:`~liveeval.metrics.interval_array.modified_wilson_array` on (r·d, d) with
    r the share clipped to [0, 1] (as ``classification._proportion`` through
    ``ratio_interval``: the same floats). Undefined where the denominator is 0:
    reported as scikit-learn's ``zero_division`` value 0 with a reason and no
    interval. ``rows`` is each entry's row count (the result's ``n``).

    References
    ----------
    Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Statistical Science 16(2), 101–133.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    defined = den > 0
    safe = np.where(defined, den, 1.0)
    r = np.minimum(np.maximum(num / safe, 0.0), 1.0)
    lower, upper = modified_wilson_array(r * safe, safe, confidence)
    values = (num / safe).tolist()
    counts = np.rint(np.asarray(rows, dtype=np.float64)).astype(np.int64).tolist()
    zero_reason = (
        f"undefined: {undefined_reason}; reported as {ZERO_DIVISION} like scikit-learn's "
        "zero_division"
    )
    out = []
    for i, (ok, lo, up) in enumerate(
        zip(defined.tolist(), lower.tolist(), upper.tolist(), strict=True)
    ):
        if not ok:
            out.append(
                MetricResult(
                    name,
                    ZERO_DIVISION,
                    None,
                    None,
                    counts[i],
                    confidence,
                    PROPORTION_METHOD,
                    zero_reason,
                    ZERO_DIVISION,
                    higher_is_better,
                )
            )
        else:
            out.append(
                MetricResult(
                    name,
                    values[i],
                    lo,
                    up,
                    counts[i],
                    confidence,
                    PROPORTION_METHOD,
                    higher_is_better=higher_is_better,
                )
            )
    return out


def _to_f1(j: float) -> float:
    return 2.0 * j / (1.0 + j)


def _binary_cells(cms: Sequence[Evaluation]) -> tuple[FloatArray, FloatArray]:
    """(tp, fp, fn, tn) per evaluation, of the weighted counts and of the rows."""
    count = len(cms)
    cells = np.empty((count, 4))
    rows = np.empty((count, 4))
    for i, ev in enumerate(cms):
        p = ev.pos_index
        q = 1 - p
        c = ev.confusion.counts
        r = c if ev.confusion.rows is None else ev.confusion.rows
        cells[i] = (c[p, p], c[q, p], c[p, q], c[q, q])
        rows[i] = (r[p, p], r[q, p], r[p, q], r[q, q])
    return cells, rows


def _binary_proportions(
    cells: FloatArray, rows: FloatArray, names: list[str], confidence: float
) -> list[dict[str, MetricResult]]:
    """The proportion metrics ``names`` from unweighted binary cells (tp, fp, fn, tn)."""
    count = cells.shape[0]
    out: list[dict[str, MetricResult]] = [{} for _ in range(count)]
    all_rows = _sum_cells(rows, _ALL)
    for name in names:
        spec = _PROPORTIONS[name]
        results = proportion_results(
            name,
            _sum_cells(cells, spec.numerator),
            _sum_cells(cells, spec.denominator),
            _sum_cells(rows, spec.denominator),
            confidence,
            undefined_reason=spec.undefined_reason,
            higher_is_better=spec.higher_is_better,
        )
        if name == "f1":
            results = [
                j
                if j.zero_division is not None or j.value is None
                else MetricResult(
                    "f1",
                    _to_f1(j.value),
                    None if j.lower is None else _to_f1(j.lower),
                    None if j.upper is None else _to_f1(j.upper),
                    int(round(float(all_rows[i]))),
                    confidence,
                    j.method + " on the Jaccard index, mapped to F1",
                )
                for i, j in enumerate(results)
            ]
        for i, result in enumerate(results):
            out[i][name] = result
    return out


def loss_results_array(
    losses: Sequence[LossSums], confidence: float = 0.95
) -> list[dict[str, MetricResult]]:
    """``[s.results(confidence) for s in losses]`` (log loss and Brier score with
    intervals), the intervals of every entry computed together.

    Formula: the weighted mean per-row loss Σwℓ / Σw; interval
    :func:`~liveeval.metrics.interval_array.t_mean_array` on the sums scaled to
    Kish's effective n = (Σw)² / Σw², skew-corrected (Hall 1992) when the cubes are
    known and there are at most ``SKEW_LIMIT`` rows, as
    :meth:`~liveeval.metrics.loss.LossSums.results`. Undefined without rows.

    References
    ----------
    Hall, P. (1992). On the removal of skewness by transformation. JRSS B 54(1), 221–228.
    """
    count = len(losses)
    weight = np.array([s.weight for s in losses], dtype=np.float64)
    weight_sq = np.array([s.weight_sq for s in losses], dtype=np.float64)
    rows = [s.rows for s in losses]
    has = weight > 0
    weighted = ~np.isclose(weight, weight_sq)
    n_eff = np.where(weight_sq > 0, weight**2 / np.where(weight_sq > 0, weight_sq, 1.0), 0.0)
    scale = n_eff / np.where(has, weight, 1.0)
    out: list[dict[str, MetricResult]] = [{} for _ in range(count)]
    for name in ("log_loss", "brier"):
        total = np.array([getattr(s, name) for s in losses], dtype=np.float64)
        total_sq = np.array([getattr(s, f"{name}_sq") for s in losses], dtype=np.float64)
        cubes = [getattr(s, f"{name}_cu") for s in losses]
        skewed = [c is not None and r <= SKEW_LIMIT for c, r in zip(cubes, rows, strict=True)]
        total_cu = np.array(
            [c if ok else np.nan for c, ok in zip(cubes, skewed, strict=True)], dtype=np.float64
        )
        lower, upper = t_mean_array(
            total * scale, total_sq * scale, n_eff, confidence, total_cu=total_cu * scale
        )
        values = (total / np.where(has, weight, 1.0)).tolist()
        for i in range(count):
            out[i][name] = _loss_result(
                name,
                bool(has[i]),
                values[i],
                float(lower[i]),
                float(upper[i]),
                rows[i],
                float(n_eff[i]),
                float(weight[i]) if weighted[i] else None,
                skewed[i],
                confidence,
            )
    return out


def _loss_result(
    name: str,
    has: bool,
    value: float,
    lower: float,
    upper: float,
    rows: int,
    n_eff: float,
    weight_total: float | None,
    skewed: bool,
    confidence: float,
) -> MetricResult:
    if not has:
        return MetricResult.undefined(
            name, "undefined: no rows", confidence=confidence, higher_is_better=False
        )
    if np.isnan(lower):
        return MetricResult(
            name,
            value,
            None,
            None,
            rows,
            confidence,
            "no interval: one row",
            higher_is_better=False,
            weight_total=weight_total,
        )
    note = None
    if n_eff < SMALL_N:
        note = f"interval approximate: only {rows} rows for a mean of skewed losses"
    method = "Student t on the mean per-row loss" + (
        ", skew-corrected (Hall 1992)" if skewed else ""
    )
    return MetricResult(
        name,
        value,
        max(lower, 0.0),
        max(upper, value),
        rows,
        confidence,
        method + ("; weighted: Kish effective n" if weight_total is not None else ""),
        higher_is_better=False,
        note=note,
        weight_total=weight_total,
    )


def evaluation_results(
    evaluations: Sequence[Evaluation],
    confidence: float = 0.95,
    *,
    only: Collection[str],
    beta: float = 2.0,
) -> list[EvaluationResult]:
    """``[e.result(confidence, beta=beta, only=only) for e in evaluations]``, with the
    intervals of every evaluation computed together where they have an array form
    (see the module docstring); the same metrics, methods and notes, values within
    1e-9 relative.
    """
    wanted = set(only)
    out: list[EvaluationResult | None] = [None] * len(evaluations)
    fast = _unweighted_binary(evaluations)
    for i, ev in enumerate(evaluations):
        if i not in fast:
            out[i] = ev.result(confidence, beta=beta, only=only)
    chosen = [evaluations[i] for i in sorted(fast)]
    if chosen:
        for i, result in zip(
            sorted(fast), _binary_results(chosen, confidence, wanted, beta), strict=True
        ):
            out[i] = result
    return [r for r in out if r is not None]


def _unweighted_binary(evaluations: Sequence[Evaluation]) -> set[int]:
    binary = [i for i, ev in enumerate(evaluations) if ev.is_binary]
    if not binary:
        return set()
    counts = np.stack([evaluations[i].confusion.counts for i in binary])
    squares = np.stack([evaluations[i].confusion.squares for i in binary])
    plain = (counts == squares).all(axis=(1, 2))
    return {i for i, ok in zip(binary, plain.tolist(), strict=True) if ok}


@dataclass(frozen=True)
class BinaryColumns:
    """Unweighted binary evaluations of many groups as columns (G groups), one model's
    two ``labels`` with ``pos_label`` among them: what
    :func:`binary_column_results` needs, without an :class:`Evaluation` per group.

    ``confusion[g]`` is group g's matrix (rows actual, columns predicted, in ``labels``
    order); ``scores[g]``, ``losses[g]`` and ``latency(g)`` its labelled score
    distribution, loss sums and latency sketch (None when it has none);
    ``predictions`` and ``failures`` its prediction counts. ``matrix(g)`` gives the
    :class:`~liveeval.metrics.confusion.ConfusionMatrix` for the metrics without an
    array form. ``score_counts``, when given: the labelled pairs' unweighted counts per
    score bin, ``score_counts[g, side, bin]`` (side 1 positive), of which ``scores[g]``
    is the binned distribution (None without counts; :class:`BinCountDistributions`):
    ROC-AUC is then computed from the counts (:func:`~.ranking_array.roc_auc_bins`)
    and builds no distribution."""

    labels: tuple[Label, ...]
    pos_label: Label
    confusion: FloatArray
    predictions: npt.NDArray[np.int64]
    failures: npt.NDArray[np.int64]
    scores: Sequence[ScoreDistribution | None]
    losses: Sequence[LossSums | None]
    latency: Callable[[int], LatencySketch | None]
    matrix: Callable[[int], ConfusionMatrix]
    score_counts: npt.NDArray[np.int64] | None = None

    @classmethod
    def of(cls, evaluations: Sequence[Evaluation]) -> BinaryColumns:
        """The columns of unweighted binary evaluations of one model."""
        first = evaluations[0]
        return cls(
            first.labels,
            first.pos_label,
            np.stack([ev.confusion.counts for ev in evaluations]),
            np.array([ev.predictions for ev in evaluations], dtype=np.int64),
            np.array([ev.failures for ev in evaluations], dtype=np.int64),
            [ev.scores[0] if ev.scores else None for ev in evaluations],
            [ev.losses for ev in evaluations],
            lambda g: evaluations[g].latency,
            lambda g: evaluations[g].confusion,
        )


class BinCountDistributions(Sequence[ScoreDistribution | None]):
    """The labelled score distributions of G groups given as unweighted counts per score
    bin, ``counts[g, side, bin]`` (side 1 positive), each built when first read
    (:meth:`~.ranking.ScoreDistribution.from_bin_counts`): a group outside ``kept``,
    or without counts, has none. A live read computes ROC-AUC from the counts and
    builds a distribution only for the metrics that need one."""

    def __init__(
        self, counts: npt.NDArray[np.int64], kept: npt.NDArray[np.bool_] | None = None
    ) -> None:
        self.counts = counts
        self.kept = np.ones(counts.shape[0], np.bool_) if kept is None else kept
        self._built: dict[int, ScoreDistribution | None] = {}

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @overload
    def __getitem__(self, index: int) -> ScoreDistribution | None: ...

    @overload
    def __getitem__(self, index: slice) -> list[ScoreDistribution | None]: ...

    def __getitem__(
        self, index: int | slice
    ) -> ScoreDistribution | list[ScoreDistribution | None] | None:
        if isinstance(index, slice):
            return [self[g] for g in range(*index.indices(len(self)))]
        g = range(len(self))[index]  # negative indices, and IndexError past the end
        if g not in self._built:
            dist = None
            if self.kept[g]:
                found = ScoreDistribution.from_bin_counts(self.counts[g, 1], self.counts[g, 0])
                dist = found if found.keys.size else None
            self._built[g] = dist
        return self._built[g]


def _binary_results(
    evaluations: list[Evaluation], confidence: float, wanted: set[str], beta: float
) -> list[EvaluationResult]:
    # Evaluations of several label sets (one per model) are columns each.
    out: list[EvaluationResult | None] = [None] * len(evaluations)
    by_labels: dict[tuple[str, str], list[int]] = {}
    for i, ev in enumerate(evaluations):
        by_labels.setdefault((repr(ev.labels), repr(ev.pos_label)), []).append(i)
    for members in by_labels.values():
        chosen = [evaluations[i] for i in members]
        cells, rows = _binary_cells(chosen)
        results = binary_column_results(
            BinaryColumns.of(chosen), confidence, only=wanted, beta=beta, cells=(cells, rows)
        )
        for i, result in zip(members, results, strict=True):
            out[i] = result
    return [r for r in out if r is not None]


def binary_column_results(
    columns: BinaryColumns,
    confidence: float = 0.95,
    *,
    only: Collection[str],
    beta: float = 2.0,
    cells: tuple[FloatArray, FloatArray] | None = None,
) -> list[EvaluationResult]:
    """Every group's ``Evaluation.result(confidence, beta=beta, only=only)`` from
    :class:`BinaryColumns`: the proportions, F1, ROC-AUC, loss means and the failed
    rate of all groups together (as :func:`evaluation_results`, the same floats), the
    rest group by group. ``cells``: (tp, fp, fn, tn) of the counts and of the rows,
    when the caller has them (default: the counts, unweighted)."""
    wanted = set(only)
    count = columns.confusion.shape[0]
    p = columns.labels.index(columns.pos_label)
    q = 1 - p
    if cells is None:
        c = columns.confusion
        flat = np.stack([c[:, p, p], c[:, q, p], c[:, p, q], c[:, q, q]], axis=1)
        cells = (flat, flat)
    beta_name = f"f{beta:g}".replace(".", "_")
    order = [beta_name if n == "<fbeta>" else n for n in _BINARY_ORDER]
    array_names = [n for n in _PROPORTIONS if n in wanted]
    rest = [n for n in order if n in wanted and n not in _PROPORTIONS]
    per_window = _binary_proportions(cells[0], cells[1], array_names, confidence)
    if rest:
        for g, metrics in enumerate(per_window):
            metrics.update(
                binary_metrics(columns.matrix(g), columns.pos_label, confidence, beta, only=rest)
            )
    ordered = [{n: m[n] for n in order if n in m} for m in per_window]

    counts = columns.score_counts
    if counts is not None:
        scored = np.flatnonzero(counts.any(axis=(1, 2))).tolist()
        if scored and "roc_auc" in wanted:
            picked = counts if len(scored) == count else counts[scored]
            for g, result in zip(scored, roc_auc_bins(picked, confidence), strict=True):
                ordered[g]["roc_auc"] = result
    else:
        scored = [g for g, d in enumerate(columns.scores) if d is not None]
        if scored and "roc_auc" in wanted:
            dists = [columns.scores[g] for g in scored]
            for g, result in zip(scored, roc_auc_array(dists, confidence), strict=True):  # type: ignore[arg-type]
                ordered[g]["roc_auc"] = result
    for g in scored if {"average_precision", "expected_calibration_error"} & wanted else ():
        dist = columns.scores[g]
        assert dist is not None
        if "average_precision" in wanted:
            ordered[g]["average_precision"] = average_precision(dist, confidence)
        if "expected_calibration_error" in wanted:
            ordered[g]["expected_calibration_error"] = expected_calibration_error(
                dist, 10, confidence
            )
    lossy = [g for g, s in enumerate(columns.losses) if s is not None]
    if lossy and {"log_loss", "brier"} & wanted:
        sums = [columns.losses[g] for g in lossy]
        for g, results in zip(lossy, loss_results_array(sums, confidence), strict=True):  # type: ignore[arg-type]
            ordered[g].update(results)
    if not _LATENCY.isdisjoint(wanted):
        for g in range(count):
            sketch = columns.latency(g)
            if sketch is not None:
                ordered[g].update(sketch.results(confidence))
    failing = np.flatnonzero(columns.predictions)
    if failing.size and "failed_prediction_rate" in wanted:
        failures = columns.failures[failing].astype(np.float64)
        totals = columns.predictions[failing].astype(np.float64)
        lower, upper = modified_wilson_array(failures, totals, confidence)
        for j, g in enumerate(failing.tolist()):
            n = int(columns.predictions[g])
            ordered[g]["failed_prediction_rate"] = MetricResult(
                "failed_prediction_rate",
                int(columns.failures[g]) / n,
                float(lower[j]),
                float(upper[j]),
                n,
                confidence,
                FAILED_METHOD,
                higher_is_better=False,
            )
    totals = columns.confusion.sum(axis=(1, 2)).tolist()
    matrices = columns.confusion.astype(np.int64).tolist()
    return [
        EvaluationResult(
            "binary",
            columns.labels,
            columns.pos_label,
            round(totals[g]),
            confidence,
            matrices[g],
            ordered[g],
            [],
        )
        for g in range(count)
    ]
