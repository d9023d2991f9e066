"""Classification metrics, with intervals, from a :class:`ConfusionMatrix`.

Names follow scikit-learn (``precision``, ``recall``, ``f1``, ``balanced_accuracy``,
``mcc`` for ``matthews_corrcoef``, ``cohen_kappa``; averages as ``f1_macro`` …).
For binary problems the unqualified names refer to the positive class; for
multiclass problems they are the macro averages.

Zero division: where scikit-learn substitutes ``zero_division`` (0.0 by default)
the result carries that value in ``value``, sets ``zero_division`` and says why in
``reason``, and has no interval — so it can be told apart from a measured 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .confusion import ConfusionMatrix, cells, safe_divide
from .interval import (
    DIRICHLET_PRIOR,
    cell_weight,
    dirichlet_bootstrap,
    mover_mean,
    poisson_lower,
    ratio_interval,
)
from .labels import Label
from .result import MetricResult

__all__ = [
    "POINT_METRICS",
    "binary_metrics",
    "binary_point",
    "binary_points",
    "confusion_metrics",
    "multiclass_metrics",
    "per_class_metrics",
]

FloatArray = npt.NDArray[np.float64]
ZERO_DIVISION = 0.0
PROPORTION_METHOD = "modified Wilson (Brown, Cai & DasGupta 2001)"
WEIGHTED_SUFFIX = "; weighted: linearised (sandwich) variance from the squared weights"
BOOTSTRAP_METHOD = (
    "Bayesian bootstrap over the cells, Dirichlet(counts + Jeffreys-type prior), "
    "2000 draws, fixed seed"
)


# --- formulas on (..., k, k) count arrays --------------------------------------


def _zero_filled(values: FloatArray) -> FloatArray:
    return np.where(np.isnan(values), ZERO_DIVISION, values)


def precision_of(c: FloatArray) -> FloatArray:
    tp, fp, _, _ = cells(c)
    return safe_divide(tp, tp + fp)


def recall_of(c: FloatArray) -> FloatArray:
    tp, _, fn, _ = cells(c)
    return safe_divide(tp, tp + fn)


def specificity_of(c: FloatArray) -> FloatArray:
    _, fp, _, tn = cells(c)
    return safe_divide(tn, tn + fp)


def fbeta_of(c: FloatArray, beta: float) -> FloatArray:
    """F-beta as (1+β²)TP / ((1+β²)TP + β²FN + FP), scikit-learn's form."""
    tp, fp, fn, _ = cells(c)
    b2 = beta * beta
    return safe_divide((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)


def accuracy_of(c: FloatArray) -> FloatArray:
    trace = np.trace(c, axis1=-2, axis2=-1)
    return safe_divide(trace, c.sum(axis=(-2, -1)))


def mcc_of(c: FloatArray) -> FloatArray:
    """Matthews correlation, multiclass (Gorodkin 2004), 0 when undefined as in scikit-learn."""
    t = c.sum(axis=-1)
    p = c.sum(axis=-2)
    correct = np.trace(c, axis1=-2, axis2=-1)
    s = c.sum(axis=(-2, -1))
    cov_ytyp = correct * s - (t * p).sum(axis=-1)
    cov_ypyp = s * s - (p * p).sum(axis=-1)
    cov_ytyt = s * s - (t * t).sum(axis=-1)
    return safe_divide(cov_ytyp, np.sqrt(cov_ytyt * cov_ypyp))


def kappa_of(c: FloatArray) -> FloatArray:
    """Cohen's kappa (po - pe) / (1 - pe)."""
    s = c.sum(axis=(-2, -1))
    po = safe_divide(np.trace(c, axis1=-2, axis2=-1), s)
    pe = safe_divide((c.sum(axis=-1) * c.sum(axis=-2)).sum(axis=-1), s * s)
    return safe_divide(po - pe, 1.0 - pe)


def balanced_accuracy_of(c: FloatArray) -> FloatArray:
    """Mean recall over the classes that occur in y_true (scikit-learn's definition)."""
    tp, _, fn, _ = cells(c)
    support = tp + fn
    recall = safe_divide(tp, support)
    present = support > 0
    total = np.where(present, recall, 0.0).sum(axis=-1)
    return safe_divide(total, present.sum(axis=-1).astype(np.float64))


def balanced_accuracy_given(counts: FloatArray) -> Callable[[FloatArray], FloatArray]:
    """Balanced accuracy over the classes present in the observed ``counts``, for draws
    in which every class has some mass (see :func:`_as_defined_in`)."""
    tp, _, fn, _ = cells(counts)
    present = (tp + fn) > 0

    def statistic(c: FloatArray) -> FloatArray:
        tp_c, _, fn_c, _ = cells(c)
        recall = safe_divide(tp_c, tp_c + fn_c)
        total = np.where(present, recall, 0.0).sum(axis=-1)
        return safe_divide(total, np.asarray(float(present.sum())))

    return statistic


def average_of(per_class: FloatArray, c: FloatArray, average: str) -> FloatArray:
    """Macro or support-weighted average of per-class values (zero division → 0)."""
    values = _zero_filled(per_class)
    if average == "macro":
        macro: FloatArray = values.mean(axis=-1)
        return macro
    tp, _, fn, _ = cells(c)
    support = tp + fn
    return _zero_filled(safe_divide((values * support).sum(axis=-1), support.sum(axis=-1)))


def micro_of(c: FloatArray, kind: str) -> FloatArray:
    tp, fp, fn, _ = cells(c)
    tp_s, fp_s, fn_s = tp.sum(axis=-1), fp.sum(axis=-1), fn.sum(axis=-1)
    if kind == "precision":
        return safe_divide(tp_s, tp_s + fp_s)
    if kind == "recall":
        return safe_divide(tp_s, tp_s + fn_s)
    return safe_divide(2 * tp_s, 2 * tp_s + fp_s + fn_s)


# --- results with intervals ----------------------------------------------------


def _proportion(
    cm: ConfusionMatrix,
    name: str,
    numerator: npt.NDArray[np.bool_],
    denominator: npt.NDArray[np.bool_],
    confidence: float,
    *,
    undefined_reason: str,
    higher_is_better: bool = True,
) -> MetricResult:
    """A ratio of cell sums with a modified Wilson interval (linearised when weighted)."""
    den = float(cm.counts[denominator].sum())
    rows = cm.row_count(denominator)
    weighted = cm.is_weighted
    if den <= 0:
        return MetricResult(
            name,
            ZERO_DIVISION,
            None,
            None,
            rows,
            confidence,
            PROPORTION_METHOD,
            f"undefined: {undefined_reason}; reported as {ZERO_DIVISION} like scikit-learn's "
            "zero_division",
            ZERO_DIVISION,
            higher_is_better,
        )
    hits = numerator & denominator
    num = float(cm.counts[hits].sum())
    squares = cm.squares
    if weighted:
        # An empty cell counts as half a row of the weight it would carry (Jeffreys'
        # half observation): otherwise an empty heavy cell adds no variance at all.
        empty = cm.counts <= 0
        squares = squares + np.where(empty, 0.5 * cell_weight(cm.counts, cm.squares) ** 2, 0.0)
    lower, upper, _ = ratio_interval(
        num, den, float(squares[hits].sum()), float(squares[denominator].sum()), confidence
    )
    method = PROPORTION_METHOD + (WEIGHTED_SUFFIX if weighted else "")
    return MetricResult(
        name,
        num / den,
        lower,
        upper,
        rows,
        confidence,
        method,
        higher_is_better=higher_is_better,
        weight_total=den if weighted else None,
    )


def _bootstrapped(
    cm: ConfusionMatrix,
    name: str,
    statistic: Callable[[FloatArray], FloatArray],
    confidence: float,
    *,
    undefined_reason: str,
    zero_division: float | None = ZERO_DIVISION,
    higher_is_better: bool = True,
) -> MetricResult:
    n = cm.row_count()
    weight_total = cm.total if cm.is_weighted else None
    value = float(statistic(cm.counts))
    if math.isnan(value):
        if zero_division is None:
            return MetricResult.undefined(
                name, f"undefined: {undefined_reason}", n=n, confidence=confidence
            )
        return MetricResult(
            name,
            zero_division,
            None,
            None,
            n,
            confidence,
            BOOTSTRAP_METHOD,
            f"undefined: {undefined_reason}; reported as {zero_division} like scikit-learn",
            zero_division,
            higher_is_better,
        )

    def replicate(c: FloatArray) -> FloatArray:
        # Replicates get the same zero-division value as the point estimate.
        values = statistic(c)
        return (
            values if zero_division is None else np.where(np.isnan(values), zero_division, values)
        )

    lower, upper = dirichlet_bootstrap(
        cm.counts, cm.squares, replicate, confidence, prior=_prior(cm.k)
    )
    if math.isnan(lower) or math.isnan(upper):
        return MetricResult(
            name,
            value,
            None,
            None,
            n,
            confidence,
            BOOTSTRAP_METHOD + "; no interval: the metric is undefined in most draws",
            higher_is_better=higher_is_better,
            weight_total=weight_total,
        )
    method = BOOTSTRAP_METHOD
    # Few errors (1, or up to 2 beyond 50 rows): like the modified Wilson interval,
    # let the upper limit reach the metric at the exact Poisson lower limit of the
    # error count, the error pattern kept. A Jeffreys posterior alone stops short
    # of the truth whenever a near-perfect model makes one mistake in 30 rows (81%
    # coverage for MCC); with this, 97–98% (docs/coverage.md).
    off = ~np.eye(cm.k, dtype=bool)
    errors = cm.row_count(off)
    if 0 < errors <= (1 if n <= 50 else 2):
        fewest = cm.counts.astype(np.float64)  # integer counts when unweighted
        fewest[off] *= poisson_lower(errors, (1.0 - confidence) / 2.0) / errors
        edge = float(replicate(fewest))
        if math.isfinite(edge) and edge > upper:
            upper = edge
            method += f"; upper limit at the Poisson limit of {errors} error(s)"
    lower, upper = min(lower, value), max(upper, value)
    return MetricResult(
        name,
        value,
        lower,
        upper,
        n,
        confidence,
        method,
        higher_is_better=higher_is_better,
        weight_total=weight_total,
    )


def _prior(k: int) -> FloatArray:
    """Dirichlet prior over a k × k matrix: ½ on each diagonal cell and ½ on the
    off-diagonal cells together (½ each for two classes: Jeffreys' prior).

    Jeffreys' ½ on every cell of a many-class matrix would add k(k − 1)/2
    pseudo-errors — 10 for five classes — and drag a near-perfect model's interval
    far below it (52% coverage at n = 100); one pseudo-error in all keeps the
    doubt a clean sample deserves without that bias.
    """
    prior = np.full((k, k), DIRICHLET_PRIOR / max(k * (k - 1) / 2, 1))
    np.fill_diagonal(prior, DIRICHLET_PRIOR)
    return prior


def _as_defined_in(
    per_class: Callable[[FloatArray], FloatArray], counts: FloatArray
) -> Callable[[FloatArray], FloatArray]:
    """``per_class`` with NaN wherever the observed matrix leaves it undefined.

    Posterior draws give every cell some mass, so a class that never occurred
    would get a (prior-driven) value in every draw; averages must leave it out,
    or fill it with the zero-division value, exactly as the point estimate does.
    """
    undefined = np.isnan(per_class(counts))
    if not undefined.any():
        return per_class

    def masked(c: FloatArray) -> FloatArray:
        return np.where(undefined, np.nan, per_class(c))

    return masked


def _balanced_accuracy(cm: ConfusionMatrix, confidence: float) -> MetricResult:
    """Balanced accuracy; with classes absent from y_true the interval allows any recall
    for them.

    The value is scikit-learn's mean recall over the classes present. Its interval
    is for the population's mean recall over every declared class: a class that
    is declared but has no rows in this sample (0.1% prevalence, 1,000 rows) still
    has a recall, of which the data say nothing. The lower limit counts it as 0
    and the upper as 1, around the Dirichlet bootstrap of the classes present;
    reporting the present classes' interval alone covered a binary model at 0.1%
    prevalence 64% of the time, every miss a false pass.
    """
    name = "balanced_accuracy"
    tp, _, fn, _ = cells(cm.counts)
    present = (tp + fn) > 0
    if present.all() or not present.any():
        return _bootstrapped(
            cm,
            name,
            balanced_accuracy_given(cm.counts),
            confidence,
            undefined_reason="no rows",
            zero_division=None,
        )
    k, absent = cm.k, int((~present).sum())
    value = float(balanced_accuracy_of(cm.counts))

    def present_sum(c: FloatArray) -> FloatArray:
        tp_c, _, fn_c, _ = cells(c)
        total: FloatArray = np.where(present, safe_divide(tp_c, tp_c + fn_c), 0.0).sum(axis=-1)
        return total

    prior = _prior(k)
    lower, _ = dirichlet_bootstrap(
        cm.counts, cm.squares, lambda c: present_sum(c) / k, confidence, prior=prior
    )
    _, upper = dirichlet_bootstrap(
        cm.counts, cm.squares, lambda c: (present_sum(c) + absent) / k, confidence, prior=prior
    )
    missing = ", ".join(repr(cm.labels[i]) for i in np.flatnonzero(~present))
    return MetricResult(
        name,
        value,
        min(lower, value),
        max(upper, value),
        cm.row_count(),
        confidence,
        BOOTSTRAP_METHOD + "; absent classes' recall bounded by 0 and 1",
        higher_is_better=True,
        note=f"interval allows any recall for class(es) {missing}, absent from y_true",
        weight_total=cm.total if cm.is_weighted else None,
    )


def _f1_via_jaccard(cm: ConfusionMatrix, pos: int, confidence: float) -> MetricResult:
    """F1 with an interval on J = TP/(TP+FP+FN), mapped by the monotone F1 = 2J/(1+J)."""
    mask = np.zeros_like(cm.counts, dtype=bool)
    mask[pos, :] = True
    mask[:, pos] = True
    hit = np.zeros_like(mask)
    hit[pos, pos] = True
    jaccard = _proportion(
        cm, "f1", hit, mask, confidence, undefined_reason="no positive labels or predictions"
    )
    if jaccard.zero_division is not None or jaccard.value is None:
        return jaccard
    assert jaccard.lower is not None and jaccard.upper is not None  # defined above

    def to_f1(j: float) -> float:
        return 2.0 * j / (1.0 + j)

    return MetricResult(
        "f1",
        to_f1(jaccard.value),
        to_f1(jaccard.lower),
        to_f1(jaccard.upper),
        cm.row_count(),
        confidence,
        jaccard.method + " on the Jaccard index, mapped to F1",
        weight_total=cm.total if cm.is_weighted else None,
    )


# The binary metrics whose value :func:`binary_point` gives without an interval.
POINT_METRICS = frozenset({"accuracy", "precision", "recall", "specificity", "f1"})


def _point_masks(p: int) -> dict[str, tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
    """Numerator and denominator cells of each point metric for the positive index
    ``p``: the masks binary_metrics sums, so the same sums and the same floats."""
    q = 1 - p

    def cellmask(rows: Sequence[int], cols: Sequence[int]) -> npt.NDArray[np.bool_]:
        m = np.zeros((2, 2), dtype=bool)
        m[np.ix_(list(rows), list(cols))] = True
        return m

    return {
        "accuracy": (np.eye(2, dtype=bool), np.ones((2, 2), dtype=bool)),
        "precision": (cellmask([p], [p]), cellmask([0, 1], [p])),
        "recall": (cellmask([p], [p]), cellmask([p], [0, 1])),
        "specificity": (cellmask([q], [q]), cellmask([q], [0, 1])),
        "f1": (cellmask([p], [p]), cellmask([p], [0, 1]) | cellmask([0, 1], [p])),
    }


_POINT_MASKS = (_point_masks(0), _point_masks(1))


def binary_point(cm: ConfusionMatrix, pos_label: Label, name: str) -> float | None:
    """The value :func:`binary_metrics` gives ``name`` (one of :data:`POINT_METRICS`),
    without its interval: a sparkline point needs the value alone, and each interval is
    a root search.

    Formulas: accuracy = (TP + TN) / n, precision = TP / (TP + FP), recall = TP / (TP + FN),
    specificity = TN / (TN + FP), F1 = 2J / (1 + J) with J = TP / (TP + FP + FN) (the
    form :func:`binary_metrics` computes it in), each with weighted cells when the
    matrix is weighted. Undefined (None) when the denominator is 0; no interval.
    Reference: scikit-learn's ``precision_recall_fscore_support``.

    Raises
    ------
    ValueError
        when ``cm`` is not 2 × 2 or ``name`` is not a point metric.
    """
    if cm.k != 2:
        raise ValueError(f"binary metrics need exactly 2 classes, got {list(cm.labels)!r}")
    if name not in POINT_METRICS:
        raise ValueError(f"no point value for {name!r}; accepted: {sorted(POINT_METRICS)}")
    numerator, denominator = _POINT_MASKS[cm.index_of(pos_label)][name]
    den = float(cm.counts[denominator].sum())
    if den <= 0:
        return None
    value = float(cm.counts[numerator & denominator].sum()) / den
    return 2.0 * value / (1.0 + value) if name == "f1" else value


def binary_points(counts: FloatArray, pos_index: int, name: str) -> FloatArray:
    """:func:`binary_point` of many binary confusion matrices at once: ``counts`` is
    ``[n, 2, 2]`` (rows actual, columns predicted, the positive class at ``pos_index``),
    the answer ``[n]`` with NaN where the value is undefined (a zero denominator).

    The same formulas and the same sums as :func:`binary_point` (each matrix's masked
    cells added in the same order), so each value equals its ``binary_point``; no
    interval. Reference: scikit-learn's ``precision_recall_fscore_support``.

    Raises
    ------
    ValueError
        when ``counts`` is not ``[n, 2, 2]`` or ``name`` is not a point metric.
    """
    if counts.ndim != 3 or counts.shape[1:] != (2, 2):
        raise ValueError(f"binary points need [n, 2, 2] counts, got shape {counts.shape}")
    if name not in POINT_METRICS:
        raise ValueError(f"no point value for {name!r}; accepted: {sorted(POINT_METRICS)}")
    numerator, denominator = _POINT_MASKS[pos_index][name]
    den = np.zeros(counts.shape[0])
    num = np.zeros(counts.shape[0])
    for i, j in zip(*np.nonzero(denominator), strict=True):
        den = den + counts[:, i, j]
        if numerator[i, j]:
            num = num + counts[:, i, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    out: FloatArray = 2.0 * value / (1.0 + value) if name == "f1" else value
    return out


def binary_metrics(
    cm: ConfusionMatrix,
    pos_label: Label,
    confidence: float = 0.95,
    beta: float = 2.0,
    *,
    only: Collection[str] | None = None,
) -> dict[str, MetricResult]:
    """Every binary metric of ``cm`` for the positive class ``pos_label``.

    ``only`` names the metrics wanted: the others are skipped (each interval costs a
    root search; a window of a time series needs one or two metrics, many times).
    The values are those of the full call.
    """

    def wanted(name: str) -> bool:
        return only is None or name in only

    if cm.k != 2:
        raise ValueError(f"binary metrics need exactly 2 classes, got {list(cm.labels)!r}")
    p = cm.index_of(pos_label)
    q = 1 - p
    k = 2

    def cellmask(rows: Sequence[int], cols: Sequence[int]) -> npt.NDArray[np.bool_]:
        m = np.zeros((k, k), dtype=bool)
        m[np.ix_(list(rows), list(cols))] = True
        return m

    everything = np.ones((k, k), dtype=bool)
    diagonal = np.eye(k, dtype=bool)
    actual_pos, actual_neg = cellmask([p], [0, 1]), cellmask([q], [0, 1])
    pred_pos, pred_neg = cellmask([0, 1], [p]), cellmask([0, 1], [q])
    tp, tn = cellmask([p], [p]), cellmask([q], [q])
    fp = cellmask([q], [p])
    out: dict[str, MetricResult] = {}
    if wanted("accuracy"):
        out["accuracy"] = _proportion(
            cm, "accuracy", diagonal, everything, confidence, undefined_reason="no rows"
        )
    if wanted("precision"):
        out["precision"] = _proportion(
            cm, "precision", tp, pred_pos, confidence, undefined_reason="nothing predicted positive"
        )
    # Balanced accuracy is built from recall and specificity.
    if wanted("recall") or wanted("balanced_accuracy"):
        out["recall"] = _proportion(
            cm, "recall", tp, actual_pos, confidence, undefined_reason="no actual positives"
        )
    if wanted("specificity") or wanted("balanced_accuracy"):
        out["specificity"] = _proportion(
            cm, "specificity", tn, actual_neg, confidence, undefined_reason="no actual negatives"
        )
    if wanted("f1"):
        out["f1"] = _f1_via_jaccard(cm, p, confidence)
    beta_name = f"f{beta:g}".replace(".", "_")
    if wanted(beta_name):
        out[beta_name] = _bootstrapped(
            cm,
            beta_name,
            lambda c: fbeta_of(c, beta)[..., p],
            confidence,
            undefined_reason="no positive labels or predictions",
        )
    if wanted("balanced_accuracy"):
        recall, specificity = out["recall"], out["specificity"]
        if recall.is_defined and specificity.is_defined:
            assert recall.value is not None and specificity.value is not None
            assert recall.lower is not None and recall.upper is not None
            assert specificity.lower is not None and specificity.upper is not None
            lower, upper = mover_mean(
                (recall.value, specificity.value),
                ((recall.lower, recall.upper), (specificity.lower, specificity.upper)),
            )
            out["balanced_accuracy"] = MetricResult(
                "balanced_accuracy",
                (recall.value + specificity.value) / 2.0,
                lower,
                upper,
                cm.row_count(),
                confidence,
                "MOVER (Newcombe 1998) from the modified Wilson intervals of recall and "
                "specificity" + (WEIGHTED_SUFFIX if cm.is_weighted else ""),
                weight_total=cm.total if cm.is_weighted else None,
            )
        else:
            out["balanced_accuracy"] = _balanced_accuracy(cm, confidence)
    out.update(_agreement(cm, confidence, wanted))
    if wanted("false_positive_rate"):
        out["false_positive_rate"] = _proportion(
            cm,
            "false_positive_rate",
            fp,
            actual_neg,
            confidence,
            undefined_reason="no actual negatives",
            higher_is_better=False,
        )
    if wanted("negative_predictive_value"):
        out["negative_predictive_value"] = _proportion(
            cm,
            "negative_predictive_value",
            tn,
            pred_neg,
            confidence,
            undefined_reason="nothing predicted negative",
        )
    out.update(_shared(cm, confidence, everything, diagonal, wanted))
    if wanted("prevalence"):
        out["prevalence"] = _proportion(
            cm, "prevalence", actual_pos, everything, confidence, undefined_reason="no rows"
        )
    return {name: m for name, m in out.items() if wanted(name)}


def _agreement(
    cm: ConfusionMatrix,
    confidence: float,
    wanted: Callable[[str], bool] = lambda name: True,
) -> dict[str, MetricResult]:
    """MCC and Cohen's kappa, the chance-corrected agreement metrics (bootstrapped)."""
    out: dict[str, MetricResult] = {}
    if wanted("mcc"):
        out["mcc"] = _bootstrapped(
            cm,
            "mcc",
            mcc_of,
            confidence,
            undefined_reason="a row or column of the matrix is empty",
        )
    if wanted("cohen_kappa"):
        out["cohen_kappa"] = _bootstrapped(
            cm,
            "cohen_kappa",
            kappa_of,
            confidence,
            undefined_reason="chance agreement is 1",
            zero_division=None,
        )
    return out


def _shared(
    cm: ConfusionMatrix,
    confidence: float,
    everything: npt.NDArray[np.bool_],
    diagonal: npt.NDArray[np.bool_],
    wanted: Callable[[str], bool] = lambda name: True,
) -> dict[str, MetricResult]:
    out: dict[str, MetricResult] = {}
    if wanted("error_rate"):
        out["error_rate"] = _proportion(
            cm,
            "error_rate",
            ~diagonal,
            everything,
            confidence,
            undefined_reason="no rows",
            higher_is_better=False,
        )
    if not wanted("baseline_accuracy"):
        return out
    support = cm.counts.sum(axis=1)
    majority = int(np.argmax(support))
    row = np.zeros_like(everything)
    row[majority, :] = True
    baseline = _proportion(
        cm, "baseline_accuracy", row, everything, confidence, undefined_reason="no rows"
    )
    out["baseline_accuracy"] = MetricResult(
        baseline.name,
        baseline.value,
        baseline.lower,
        baseline.upper,
        baseline.n,
        confidence,
        f"{baseline.method}; accuracy of always predicting {cm.labels[majority]!r}",
        baseline.reason,
        baseline.zero_division,
        weight_total=baseline.weight_total,
    )
    return out


def multiclass_metrics(
    cm: ConfusionMatrix,
    confidence: float = 0.95,
    beta: float = 2.0,
    *,
    only: Collection[str] | None = None,
) -> dict[str, MetricResult]:
    """Every multiclass metric of ``cm``; unqualified names are macro averages.

    ``only`` skips the bootstrapped metrics not named in it (a macro average is
    kept when its unqualified name is asked for), for callers that need a few.
    """

    def wanted(name: str) -> bool:
        return only is None or name in only or name.removesuffix("_macro") in only

    k = cm.k
    everything = np.ones((k, k), dtype=bool)
    diagonal = np.eye(k, dtype=bool)
    out: dict[str, MetricResult] = {}
    out["accuracy"] = _proportion(
        cm, "accuracy", diagonal, everything, confidence, undefined_reason="no rows"
    )
    if wanted("balanced_accuracy"):
        out["balanced_accuracy"] = _balanced_accuracy(cm, confidence)
    per_class: dict[str, Callable[[FloatArray], FloatArray]] = {
        "precision": precision_of,
        "recall": recall_of,
        "f1": lambda c: fbeta_of(c, 1.0),
        f"f{beta:g}".replace(".", "_"): lambda c: fbeta_of(c, beta),
    }
    for base, raw in per_class.items():
        fn = _as_defined_in(raw, cm.counts)
        for average in ("macro", "weighted"):
            name = f"{base}_{average}"
            if not wanted(name):
                continue
            out[name] = _bootstrapped(
                cm,
                name,
                lambda c, fn=fn, average=average: average_of(fn(c), c, average),  # type: ignore[misc]
                confidence,
                undefined_reason="no rows",
            )
        if base in ("precision", "recall", "f1"):
            micro = _proportion(
                cm, f"{base}_micro", diagonal, everything, confidence, undefined_reason="no rows"
            )
            out[f"{base}_micro"] = micro
        if f"{base}_macro" not in out:
            continue
        macro = out[f"{base}_macro"]
        out[base] = MetricResult(
            base,
            macro.value,
            macro.lower,
            macro.upper,
            macro.n,
            confidence,
            macro.method + "; macro average over classes",
            macro.reason,
            macro.zero_division,
            note=macro.note,
            weight_total=macro.weight_total,
        )
    out.update(_agreement(cm, confidence, wanted))
    out.update(_shared(cm, confidence, everything, diagonal))
    if k == 1:
        return {name: _one_class(m, cm.labels[0]) for name, m in out.items()}
    return out


def _one_class(m: MetricResult, label: Label) -> MetricResult:
    """A bootstrapped metric of a matrix of one class, without its interval.

    Every draw of a 1 × 1 matrix is the same matrix, so its bootstrap interval has zero
    width ([1, 1] from a single row); and with no other class known, precision, recall,
    F and balanced accuracy compare nothing. The value (scikit-learn's) is kept; the
    interval is dropped and ``reason`` says why. Proportions over all rows (accuracy,
    error rate, the micro averages) keep their modified Wilson interval.
    """
    if not m.method.startswith(BOOTSTRAP_METHOD) or m.value is None or m.zero_division is not None:
        return m
    return replace(
        m,
        lower=None,
        upper=None,
        method="none: a single class",
        reason=f"only class {label!r} occurs and no other class is declared, so {m.name} "
        "compares nothing and has no interval; declare the classes (and pos_label) to "
        "evaluate the data as a binary problem",
        note=None,
    )


def confusion_metrics(
    cm: ConfusionMatrix,
    pos_label: Label | None = None,
    confidence: float = 0.95,
    beta: float = 2.0,
) -> dict[str, MetricResult]:
    """Binary metrics when ``pos_label`` is given and there are 2 classes, else multiclass."""
    if pos_label is not None and cm.k == 2:
        return binary_metrics(cm, pos_label, confidence, beta)
    return multiclass_metrics(cm, confidence, beta)


def per_class_metrics(
    cm: ConfusionMatrix, confidence: float = 0.95, *, only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Precision, recall, specificity and F1 per class (one-vs-rest), with support.

    ``only`` names the metrics wanted (each is an interval per class; the pitfalls read
    the support and the recall): the others are left out of each row, the values of
    those kept are the full call's."""
    rows: list[dict[str, Any]] = []
    for i, label in enumerate(cm.labels):
        k = cm.k
        actual = np.zeros((k, k), dtype=bool)
        actual[i, :] = True
        predicted = np.zeros((k, k), dtype=bool)
        predicted[:, i] = True
        hit = np.zeros((k, k), dtype=bool)
        hit[i, i] = True
        negative = ~actual
        true_negative = negative & ~predicted
        row: dict[str, Any] = {"label": label, "support": float(cm.counts[i, :].sum())}
        if only is None or "precision" in only:
            row["precision"] = _proportion(
                cm, "precision", hit, predicted, confidence, undefined_reason="never predicted"
            )
        if only is None or "recall" in only:
            row["recall"] = _proportion(
                cm, "recall", hit, actual, confidence, undefined_reason="no actual rows"
            )
        if only is None or "specificity" in only:
            row["specificity"] = _proportion(
                cm,
                "specificity",
                true_negative,
                negative,
                confidence,
                undefined_reason="no other classes",
            )
        if only is None or "f1" in only:
            row["f1"] = _f1_via_jaccard(cm, i, confidence)
        rows.append(row)
    return rows
