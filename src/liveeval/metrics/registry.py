"""The metric catalogue: every metric liveeval reports, declared once.

Each entry says what the metric is called, which way is better, which family of
statistics it is computed from, how its interval is made, when it is undefined and
which scikit-learn function is its oracle. Every list of metric names elsewhere
(terminal, HTML, JSON schema, Prometheus gauges, profiles, pitfalls, tests) derives
from :data:`METRICS`; a name not in it is an :class:`UnknownMetricError` with a
"did you mean" suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ..errors import UnknownMetricError

__all__ = [
    "METRICS",
    "Family",
    "MetricSpec",
    "Role",
    "check_metric_names",
    "metric_names",
    "metric_spec",
]

Family = Literal[
    "confusion", "averaged", "ranking", "calibration", "loss", "operational", "business"
]


Role = Literal["summary", "breakdown", "per_class", "operating_point"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric's declaration.

    ``oracle`` names the scikit-learn function (with its arguments) whose value the
    metric equals on the same rows; ``None`` when scikit-learn has no such function.
    ``live`` says whether the server exports it as a Prometheus gauge. ``bounds`` are
    the values the metric can take when they are finite (``None``: unbounded), which a
    drop detector on its per-look values needs; ``quantile`` is the level of a latency
    quantile. ``roles`` name
    the tables that show it: the metric table (``summary``), breakdowns by version,
    segment and time (``breakdown``), the per-class table (``per_class``) and the
    operating points of the threshold tuner (``operating_point``).
    """

    name: str
    family: Family
    higher_is_better: bool
    interval: str
    undefined_when: str
    oracle: str | None
    description: str
    unit: str = "ratio"
    binary_only: bool = False
    live: bool = False
    roles: frozenset[Role] = frozenset({"summary"})
    bounds: tuple[float, float] | None = None
    quantile: float | None = None


_HEADLINE: frozenset[Role] = frozenset({"summary", "breakdown"})
_CLASS_TABLE: frozenset[Role] = frozenset({"summary", "breakdown", "per_class", "operating_point"})


def _m(
    name: str,
    family: Family,
    higher_is_better: bool,
    interval: str,
    undefined_when: str,
    oracle: str | None,
    description: str,
    *,
    unit: str = "ratio",
    binary_only: bool = False,
    live: bool = False,
    roles: frozenset[Role] = frozenset({"summary"}),
    bounds: tuple[float, float] | None = None,
    quantile: float | None = None,
) -> MetricSpec:
    if bounds is None and unit == "ratio":
        bounds = (0.0, 1.0)
    return MetricSpec(
        name,
        family,
        higher_is_better,
        interval,
        undefined_when,
        oracle,
        description,
        unit,
        binary_only,
        live,
        roles,
        bounds,
        quantile,
    )


_NO_POSITIVES = "no positive labels and nothing predicted positive"

# In reporting order: the order of the terminal's and the HTML report's tables.
_ENTRIES: list[MetricSpec] = [
    _m("accuracy", "confusion", True, "proportion", "no labelled rows", "accuracy_score",
       "share of rows predicted correctly", live=True, roles=_HEADLINE),
    _m("precision", "confusion", True, "proportion", "nothing predicted positive",
       "precision_score", "TP / (TP + FP)", binary_only=True, live=True, roles=_CLASS_TABLE),
    _m("recall", "confusion", True, "proportion", "no positive labels", "recall_score",
       "TP / (TP + FN)", binary_only=True, live=True, roles=_CLASS_TABLE),
    _m("specificity", "confusion", True, "proportion", "no negative labels",
       "recall_score(pos_label=negative)", "TN / (TN + FP)", binary_only=True,
       roles=frozenset({"summary", "per_class"})),
    _m("f1", "confusion", True, "confusion", _NO_POSITIVES, "f1_score",
       "harmonic mean of precision and recall", live=True, roles=_CLASS_TABLE),
    _m("f2", "confusion", True, "confusion", _NO_POSITIVES, "fbeta_score(beta=2)",
       "F-beta with beta = 2: recall weighted over precision"),
    _m("balanced_accuracy", "confusion", True, "confusion", "no labelled rows",
       "balanced_accuracy_score", "mean recall over classes"),
    _m("mcc", "confusion", True, "confusion", "a row or column of the confusion matrix is empty",
       "matthews_corrcoef", "Matthews correlation coefficient", bounds=(-1.0, 1.0)),
    _m("cohen_kappa", "confusion", True, "confusion", "chance agreement is 1",
       "cohen_kappa_score", "agreement beyond chance", bounds=(-1.0, 1.0)),
    _m("roc_auc", "ranking", True, "ranking", "one class absent from the labels",
       "roc_auc_score", "area under the ROC curve (one-vs-rest macro for several classes)",
       live=True, roles=_HEADLINE),
    _m("average_precision", "ranking", True, "ranking", "no positive labels",
       "average_precision_score", "area under the precision-recall curve (step-wise)"),
    _m("log_loss", "loss", False, "mean", "no scored rows", "log_loss",
       "mean negative log-likelihood of the true class", unit="nats", live=True),
    _m("brier", "loss", False, "mean", "no scored rows", "brier_score_loss",
       "mean squared error of the probability", live=True),
    _m("expected_calibration_error", "calibration", False, "calibration", "no scored rows",
       None, "mean gap between predicted probability and observed frequency, over bins"),
    *(
        _m(f"{base}_{average}", "averaged", True, "confusion", "no labelled rows",
           f"{oracle}(average='{average}')", f"{average} average of per-class {base}",
           # micro precision and recall equal accuracy for single-label data
           roles=frozenset() if (average == "micro" and base != "f1") else frozenset({"summary"}))
        for average in ("macro", "weighted", "micro")
        for base, oracle in (
            ("precision", "precision_score"),
            ("recall", "recall_score"),
            ("f1", "f1_score"),
        )
    ),
    *(
        _m(f"f2_{average}", "averaged", True, "confusion", "no labelled rows",
           f"fbeta_score(beta=2, average='{average}')", f"{average} average of per-class F2",
           roles=frozenset())
        for average in ("macro", "weighted")
    ),
    _m("false_positive_rate", "confusion", False, "proportion", "no negative labels",
       "1 - recall_score(pos_label=negative)", "FP / (FP + TN)", binary_only=True),
    _m("negative_predictive_value", "confusion", True, "proportion",
       "nothing predicted negative", "precision_score(pos_label=negative)", "TN / (TN + FN)",
       binary_only=True),
    _m("error_rate", "confusion", False, "proportion", "no labelled rows", "1 - accuracy_score",
       "share of rows predicted wrongly"),
    _m("prevalence", "confusion", True, "proportion", "no labelled rows", None,
       "share of positive labels", binary_only=True),
    _m("baseline_accuracy", "confusion", True, "proportion", "no labelled rows", None,
       "accuracy of always predicting the majority class"),
    _m("failed_prediction_rate", "operational", False, "proportion", "no predictions", None,
       "share of predictions that failed", live=True),
    *(
        _m(f"latency_{q}_seconds", "operational", False, "quantile", "no latencies recorded",
           None, f"{q} latency as the client sees it", unit="seconds",
           quantile=int(q[1:]) / 100)
        for q in ("p50", "p95", "p99")
    ),
    _m("latency_max_seconds", "operational", False, "none", "no latencies recorded", None,
       "largest latency", unit="seconds"),
    _m("latency_mean_seconds", "operational", False, "mean", "no latencies recorded", None,
       "mean latency", unit="seconds"),
    _m("outcome_value_mean", "business", True, "mean", "no business outcomes", None,
       "mean business outcome (e.g. revenue per prediction)", unit="value"),
    _m("click_through_rate", "business", True, "proportion", "no 0/1 business outcomes", None,
       "share of predictions with a positive business outcome"),
]  # fmt: skip

#: Every metric, by name, in reporting order.
METRICS: Mapping[str, MetricSpec] = MappingProxyType({m.name: m for m in _ENTRIES})


def metric_names(
    family: Family | None = None, *, live: bool | None = None, role: Role | None = None
) -> tuple[str, ...]:
    """Names of the metrics of one family (all when ``None``), live or not, shown in
    one table (``role``), in reporting order."""
    return tuple(
        m.name
        for m in METRICS.values()
        if (family is None or m.family == family)
        and (live is None or m.live == live)
        and (role is None or role in m.roles)
    )


def metric_spec(name: str, *, what: str = "metric") -> MetricSpec:
    """The declaration of ``name``.

    Raises
    ------
    UnknownMetricError
        when ``name`` is not a metric, with the closest names as a suggestion.
    """
    spec = METRICS.get(name)
    if spec is not None:
        return spec
    close = difflib.get_close_matches(str(name), list(METRICS), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownMetricError(
        f"unknown {what} {name!r}{hint} (known: {', '.join(METRICS)})", name=str(name)
    )


def check_metric_names(names: list[str] | tuple[str, ...], *, what: str = "metric") -> None:
    """Raise :class:`UnknownMetricError` for the first name that is not a metric."""
    for name in names:
        metric_spec(name, what=what)
