"""The ``business`` object of a window in the windows answer (glue between
:mod:`liveeval.monitor.business` and the JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..metrics.labels import Label
from ..monitor.business import error_counts, expected_cost, false_alarms_per_day
from ..monitor.windows import Window
from ..readiness.profile import Costs
from ..report.model import metric_dict

if TYPE_CHECKING:
    from .core import Service

__all__ = ["model_costs", "window_business"]

_VALUE_METRICS = ("outcome_value_mean", "click_through_rate")


def window_business(
    window: Window,
    pos_label: Label | None,
    costs: Costs | None,
    confidence: float = 0.95,
) -> dict[str, Any] | None:
    """False alarms (count and per day), expected cost per labelled prediction and in
    total (with ``costs``) for a binary window with labels, and the business outcomes'
    metrics when the window has any; None when it has none of these."""
    out: dict[str, Any] = {}
    result = window.result
    if pos_label is not None and result is not None and result.kind == "binary":
        counts = error_counts(result.confusion_matrix, result.labels, pos_label)
        seconds = (window.end - window.start).total_seconds()
        out["false_alarms"] = counts.fp
        out["misses"] = counts.fn
        out["labelled"] = counts.n
        out["false_alarms_per_day"] = metric_dict(
            false_alarms_per_day(counts.fp, seconds, confidence)
        )
        if costs is not None:
            out["costs"] = costs.to_dict()
            out["expected_cost"] = metric_dict(
                expected_cost(counts, costs.false_positive, costs.false_negative, confidence)
            )
            out["total_cost"] = counts.fp * costs.false_positive + counts.fn * costs.false_negative
        if window.state != "realized":
            out["note"] = (
                "counts of the labelled predictions so far: the window is still estimating, "
                "so false alarms and costs can only grow as labels arrive"
            )
    values = window.outcome_values
    out.update({k: metric_dict(values[k]) for k in _VALUE_METRICS if k in values})
    return out or None


def model_costs(service: Service, model: str, version: str | None = None) -> Costs | None:
    """The costs of ``model``'s errors: its ``costs`` in ``liveeval.toml``, else its
    profile's ``[costs]``, else None (unknown: no expected cost is shown)."""
    override = service.config.costs.get(model)
    if override is not None:
        return override
    _, _, profile = service.model_meta(model, version)
    return service.profile(profile).costs if profile else None
