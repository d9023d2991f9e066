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
from .verdict import Finding

__all__ = ["accuracy_paradox", "overfitting", "too_few_labels"]

HIGH_ACCURACY = 0.90
DEFAULT_MINORITY_RECALL = 0.50


def accuracy_paradox(result: EvaluationResult, recall_target: float | None = None) -> list[Finding]:
    """Accuracy that means little because one class dominates."""
    findings: list[Finding] = []
    acc = result.metrics.get("accuracy")
    base = result.metrics.get("baseline_accuracy")
    if acc is None or base is None or not acc.is_defined or not base.is_defined:
        return findings
    assert acc.value is not None and base.value is not None
    support = [row["support"] for row in result.per_class]
    majority = result.labels[max(range(len(support)), key=support.__getitem__)]
    present = [i for i, s in enumerate(support) if s > 0]
    target = DEFAULT_MINORITY_RECALL if recall_target is None else recall_target
    if len(present) >= 2:
        minority_i = min(present, key=support.__getitem__)
        minority = result.labels[minority_i]
        recall: MetricResult = result.per_class[minority_i]["recall"]
        if acc.value >= HIGH_ACCURACY and recall.is_defined and recall.value is not None:
            if recall.value < target:
                findings.append(
                    Finding(
                        "accuracy_paradox",
                        "fail",
                        f"Accuracy paradox: accuracy is {acc.value:.1%} but recall on the "
                        f"minority class {minority!r} is only {recall.value:.1%} (target "
                        f"{target:.0%}), so the model misses {1 - recall.value:.0%} of those "
                        f"cases. The accuracy is high only because class {majority!r} makes up "
                        f"{base.value:.1%} of the rows: always predicting {majority!r} would "
                        f"score {base.value:.1%}.",
                        {
                            "accuracy": acc.value,
                            "baseline_accuracy": base.value,
                            "minority_class": minority,
                            "minority_recall": recall.value,
                            "recall_target": target,
                        },
                    )
                )
                return findings
    if acc.lower is not None and acc.lower <= base.value:
        balanced = result.metrics.get("balanced_accuracy")
        chance = 1.0 / max(len(present), 1)
        useless = balanced is None or balanced.upper is None or balanced.upper <= chance + 0.05
        if useless:
            findings.append(
                Finding(
                    "accuracy_paradox",
                    "fail",
                    f"Accuracy paradox: accuracy {acc.value:.1%} (95% CI {acc.lower:.1%}–"
                    f"{acc.upper or acc.value:.1%}) is not significantly above the "
                    f"{base.value:.1%} of always predicting the majority class {majority!r}, "
                    "and balanced accuracy shows the model does no better than chance on "
                    "the other classes.",
                    {"accuracy": acc.value, "baseline_accuracy": base.value},
                )
            )
        else:
            findings.append(
                Finding(
                    "accuracy_paradox",
                    "warn",
                    f"Accuracy says little here: {acc.value:.1%} (95% CI {acc.lower:.1%}–"
                    f"{acc.upper or acc.value:.1%}) is not significantly above the "
                    f"{base.value:.1%} of always predicting the majority class {majority!r}. "
                    "Judge this model by recall, precision and balanced accuracy instead.",
                    {"accuracy": acc.value, "baseline_accuracy": base.value},
                )
            )
    return findings


def too_few_labels(
    result: EvaluationResult, metrics: list[str], max_half_width: float = 0.05
) -> list[Finding]:
    """Metrics whose interval is wider than ±``max_half_width``, and what would narrow it."""
    findings = []
    for name in metrics:
        r = result.metrics.get(name)
        if r is None or not r.is_defined or r.half_width is None or name.endswith("_seconds"):
            continue
        if r.half_width > max_half_width and r.n > 0:
            needed_n = r.n * (r.half_width / max_half_width) ** 2
            more_rows = math.ceil((needed_n - r.n) * result.rows / r.n)
            findings.append(
                Finding(
                    "too_few_labels",
                    "warn",
                    f"Too few labels for {name}: its 95% interval {r.lower:.3f}–{r.upper:.3f} is "
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


def _se(r: MetricResult) -> float | None:
    if r.half_width is None or r.value is None:
        return None
    return r.half_width / NormalDist().inv_cdf(0.5 + r.confidence / 2)


def overfitting(
    stages: dict[str, EvaluationResult],
    metrics: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc"),
    min_gap: float = 0.02,
    alpha: float = 0.05,
) -> list[Finding]:
    """Significant drops from each earlier stage (train, validation) to each later one.

    The test is a one-sided z-test on the difference of two independent
    estimates, with standard errors taken from their intervals. A drop counts
    when it is significant at ``alpha`` and at least ``min_gap``; at 5 points or
    more it fails.
    """
    findings = []
    names = list(stages)
    for i, earlier in enumerate(names):
        for later in names[i + 1 :]:
            drops: list[dict[str, Any]] = []
            for metric in metrics:
                a = stages[earlier].metrics.get(metric)
                b = stages[later].metrics.get(metric)
                if a is None or b is None or not (a.is_defined and b.is_defined):
                    continue
                assert a.value is not None and b.value is not None
                gap = a.value - b.value
                se_a, se_b = _se(a), _se(b)
                if se_a is None or se_b is None:
                    continue
                se = math.hypot(se_a, se_b)
                p = 1 - NormalDist().cdf(gap / se) if se > 0 else (0.0 if gap > 0 else 1.0)
                if gap >= min_gap and p < alpha:
                    drops.append(
                        {
                            "metric": metric,
                            "from_value": a.value,
                            "to_value": b.value,
                            "gap": gap,
                            "p_value": p,
                        }
                    )
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
                    "fail" if worst >= 0.05 else "warn",
                    f"Overfitting: from {earlier} to {later}, {listed}.",
                    {"from": earlier, "to": later, "drops": drops},
                )
            )
    return findings
