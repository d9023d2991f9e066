"""The classic evaluation pitfalls, checked on measured results.

- accuracy paradox: accuracy that is no better than always predicting the
  majority class, or high accuracy hiding a minority class the model misses;
- too few labels: metrics whose interval is too wide to act on;
- overfitting: metrics that drop significantly from training to validation to
  live data.

Data leakage needs the raw tables and lives in :mod:`liveeval.readiness.leakage`.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

from ..metrics import EvaluationResult, MetricResult
from ..metrics.registry import METRICS, check_metric_names, metric_spec
from .verdict import Finding

__all__ = ["accuracy_paradox", "holm", "overfitting", "single_class", "too_few_labels"]

HIGH_ACCURACY = 0.90
DEFAULT_MINORITY_RECALL = 0.50


def single_class(result: EvaluationResult) -> list[Finding]:
    """Labels with only one class: nothing that compares classes can be judged."""
    support = [row["support"] for row in result.per_class]
    present = [result.labels[i] for i, s in enumerate(support) if s > 0]
    if len(present) != 1:
        return []
    only = present[0]
    binary = result.kind == "binary"
    how = (
        "It is evaluated as a binary problem with no rows of the other class: metrics of "
        "the absent class (specificity or recall, ROC-AUC, balanced accuracy) are undefined "
        "and checks on them are inconclusive."
        if binary
        else "Declare both classes (for example --labels 0,1 --pos-label 1) to evaluate it "
        "as a binary problem; metrics that need two classes are undefined and checks on "
        "them are inconclusive."
    )
    return [
        Finding(
            "single_class",
            "warn",
            f"Only class {only!r} occurs in the labels of all {result.rows:,} rows. {how}",
            {"class": only, "rows": result.rows, "treated_as": result.kind},
        )
    ]


def accuracy_paradox(result: EvaluationResult, recall_target: float | None = None) -> list[Finding]:
    """Accuracy that means little because one class dominates, judged on intervals.

    With accuracy of at least 90%, the minority class's recall is compared with
    ``recall_target`` (the profile's recall target, else 50%): the finding FAILs only
    when the recall's whole interval is below the target, and warns when the interval
    straddles it (or the recall has no interval). Otherwise, accuracy whose interval
    reaches down to the always-predict-the-majority baseline is a warning — or a FAIL
    when balanced accuracy's whole interval is within 5 points of chance. Needs at
    least two classes in the labels (see :func:`single_class`).
    """
    findings: list[Finding] = []
    acc = result.metrics.get("accuracy")
    base = result.metrics.get("baseline_accuracy")
    if acc is None or base is None or not acc.is_defined or not base.is_defined:
        return findings
    if acc.value is None or base.value is None:
        return findings
    support = [row["support"] for row in result.per_class]
    present = [i for i, s in enumerate(support) if s > 0]
    if len(present) < 2:
        return findings
    majority = result.labels[max(range(len(support)), key=support.__getitem__)]
    target = DEFAULT_MINORITY_RECALL if recall_target is None else recall_target
    minority_i = min(present, key=support.__getitem__)
    minority = result.labels[minority_i]
    recall: MetricResult = result.per_class[minority_i]["recall"]
    if acc.value >= HIGH_ACCURACY and recall.is_defined and recall.value is not None:
        paradox = _minority_recall(acc.value, base.value, majority, minority, recall, target)
        if paradox is not None:
            return [paradox]
    if acc.lower is not None and acc.lower <= base.value:
        balanced = result.metrics.get("balanced_accuracy")
        chance = 1.0 / len(present)
        useless = (
            balanced is not None
            and balanced.upper is not None
            and (balanced.upper <= chance + 0.05)
        )
        upper = acc.upper if acc.upper is not None else acc.value
        if useless:
            findings.append(
                Finding(
                    "accuracy_paradox",
                    "fail",
                    f"Accuracy paradox: accuracy {acc.value:.1%} ({acc.confidence:.0%} CI {acc.lower:.1%}–"
                    f"{upper:.1%}) is not significantly above the "
                    f"{base.value:.1%} of always predicting the majority class {majority!r}, "
                    "and balanced accuracy's whole interval is within 5 points of chance: "
                    "the model does no better than chance on the other classes.",
                    {"accuracy": acc.value, "baseline_accuracy": base.value},
                )
            )
        else:
            findings.append(
                Finding(
                    "accuracy_paradox",
                    "warn",
                    f"Accuracy says little here: {acc.value:.1%} ({acc.confidence:.0%} CI {acc.lower:.1%}–"
                    f"{upper:.1%}) is not significantly above the "
                    f"{base.value:.1%} of always predicting the majority class {majority!r}. "
                    "Judge this model by recall, precision and balanced accuracy instead.",
                    {"accuracy": acc.value, "baseline_accuracy": base.value},
                )
            )
    return findings


def _minority_recall(
    accuracy: float,
    baseline: float,
    majority: object,
    minority: object,
    recall: MetricResult,
    target: float,
) -> Finding | None:
    """The high-accuracy, low-minority-recall paradox, judged on recall's interval."""
    assert recall.value is not None
    details: dict[str, Any] = {
        "accuracy": accuracy,
        "baseline_accuracy": baseline,
        "minority_class": minority,
        "minority_recall": recall.value,
        "minority_recall_lower": recall.lower,
        "minority_recall_upper": recall.upper,
        "recall_target": target,
    }
    why = (
        f"The accuracy is high only because class {majority!r} makes up {baseline:.1%} of "
        f"the rows: always predicting {majority!r} would score {baseline:.1%}."
    )
    if recall.lower is None or recall.upper is None:
        if recall.value >= target:
            return None
        return Finding(
            "accuracy_paradox",
            "warn",
            f"Possible accuracy paradox: accuracy is {accuracy:.1%} but recall on the minority "
            f"class {minority!r} is {recall.value:.1%} (target {target:.0%}) with no interval "
            f"({recall.method}), so it cannot be judged. {why}",
            details,
        )
    ci = f"{recall.confidence:.0%} CI {recall.lower:.1%}–{recall.upper:.1%}"
    if recall.upper < target:
        return Finding(
            "accuracy_paradox",
            "fail",
            f"Accuracy paradox: accuracy is {accuracy:.1%} but recall on the minority class "
            f"{minority!r} is only {recall.value:.1%} ({ci}, below the {target:.0%} target "
            f"even at its upper end), so the model misses {1 - recall.value:.0%} of those "
            f"cases. {why}",
            details,
        )
    if recall.lower < target:
        if recall.value >= target:
            return None
        return Finding(
            "accuracy_paradox",
            "warn",
            f"Possible accuracy paradox: accuracy is {accuracy:.1%} but recall on the minority "
            f"class {minority!r} is {recall.value:.1%} ({ci}); the interval straddles the "
            f"{target:.0%} target, so more labels are needed to tell. {why}",
            details,
        )
    return None


def too_few_labels(
    result: EvaluationResult, metrics: list[str], max_half_width: float = 0.05
) -> list[Finding]:
    """Metrics whose interval is wider than ±``max_half_width``, and what would narrow it."""
    findings = []
    for name in metrics:
        r = result.metrics.get(name)
        spec = METRICS.get(name)
        timed = spec.unit == "seconds" if spec is not None else name.endswith("_seconds")
        if r is None or not r.is_defined or r.half_width is None or timed:
            continue
        if r.half_width > max_half_width and r.n > 0:
            needed_n = r.n * (r.half_width / max_half_width) ** 2
            more_rows = math.ceil((needed_n - r.n) * result.rows / r.n)
            findings.append(
                Finding(
                    "too_few_labels",
                    "warn",
                    f"Too few labels for {name}: its {r.confidence:.0%} interval {r.lower:.3f}–{r.upper:.3f} is "
                    f"±{r.half_width:.3f} wide on {r.n:,} rows; about {more_rows:,} more labelled "
                    f"rows would narrow it to ±{max_half_width:g}.",
                    {
                        "metric": name,
                        "half_width": r.half_width,
                        "n": r.n,
                        "more_rows": more_rows,
                    },
                )
            )
    return findings


def _p(p: float) -> str:
    return "< 1e-6" if p < 1e-6 else f"= {p:.2g}"


def _side_se(r: MetricResult, side: str) -> float | None:
    """A standard error from one side of ``r``'s interval (``"lower"`` or ``"upper"``)."""
    if r.value is None or r.lower is None or r.upper is None:
        return None
    half = (r.value - r.lower) if side == "lower" else (r.upper - r.value)
    return half / NormalDist().inv_cdf(0.5 + r.confidence / 2)


def holm(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's step-down rejections at family-wise error ``alpha`` (Holm 1979)."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (m - rank):
            break
        rejected[i] = True
    return rejected


def overfitting(
    stages: dict[str, EvaluationResult],
    metrics: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc"),
    min_gap: float = 0.02,
    alpha: float = 0.05,
    fail_gap: float = 0.05,
) -> list[Finding]:
    """Drops from each earlier stage (train, validation) to each later one that are
    significantly larger than the allowed gap.

    Each (earlier, later, metric) is a one-sided z-test of "the drop is at most
    ``min_gap``" on the difference of two independent estimates, with standard errors
    from the facing sides of their intervals (the earlier one's lower side, the later
    one's upper side). The whole family (every pair of stages × every metric: 15 tests
    for train, validation and live) is corrected with Holm's step-down rule, so a model
    that does not degrade is flagged with probability at most ``alpha`` in all. A drop
    of ``fail_gap`` or more fails; a smaller one warns. Metrics without an interval are
    not tested.
    """
    check_metric_names(metrics)
    names = list(stages)
    tests: list[dict[str, Any]] = []
    for i, earlier in enumerate(names):
        for later in names[i + 1 :]:
            for metric in metrics:
                a = stages[earlier].metrics.get(metric)
                b = stages[later].metrics.get(metric)
                if a is None or b is None or not (a.is_defined and b.is_defined):
                    continue
                if a.value is None or b.value is None:
                    continue
                worse = (
                    ("lower", "upper")
                    if metric_spec(metric).higher_is_better
                    else (
                        "upper",
                        "lower",
                    )
                )
                se_a, se_b = _side_se(a, worse[0]), _side_se(b, worse[1])
                if se_a is None or se_b is None:
                    continue
                # A drop is a change for the worse, whichever way the metric points.
                gap = (
                    a.value - b.value if metric_spec(metric).higher_is_better else b.value - a.value
                )
                se = math.hypot(se_a, se_b)
                excess = gap - min_gap
                if se > 0:
                    p = 1 - NormalDist().cdf(excess / se)
                else:
                    p = 0.0 if excess > 0 else 1.0
                tests.append(
                    {
                        "from": earlier,
                        "to": later,
                        "metric": metric,
                        "from_value": a.value,
                        "to_value": b.value,
                        "gap": gap,
                        "p_value": p,
                    }
                )
    rejected = holm([t["p_value"] for t in tests], alpha)
    findings = []
    for i, earlier in enumerate(names):
        for later in names[i + 1 :]:
            drops = [
                {k: v for k, v in t.items() if k not in ("from", "to")}
                for t, r in zip(tests, rejected, strict=True)
                if r and t["from"] == earlier and t["to"] == later
            ]
            if not drops:
                continue
            worst = max(d["gap"] for d in drops)
            listed = "; ".join(
                f"{d['metric']} {d['from_value']:.3f} → {d['to_value']:.3f} "
                f"(−{d['gap']:.3f}, p {_p(d['p_value'])})"
                for d in drops
            )
            findings.append(
                Finding(
                    "overfitting",
                    "fail" if worst >= fail_gap else "warn",
                    f"Overfitting: from {earlier} to {later}, {listed}. Each drop is "
                    f"significantly more than {min_gap:g} (Holm-corrected over {len(tests)} "
                    f"tests, family-wise {alpha:.0%}).",
                    {
                        "from": earlier,
                        "to": later,
                        "drops": drops,
                        "allowed_gap": min_gap,
                        "tests": len(tests),
                        "correction": "holm",
                        "alpha": alpha,
                    },
                )
            )
    return findings
