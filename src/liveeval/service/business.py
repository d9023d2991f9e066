"""The ``business`` object of a window in the windows answer (glue between
:mod:`liveeval.monitor.business` and the JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..metrics.labels import Label
from ..monitor.business import (
    ErrorCounts,
    error_counts,
    expected_cost_array,
    false_alarms_per_day_array,
)
from ..monitor.windows import Window
from ..readiness.profile import Costs
from ..report.model import metric_dict

if TYPE_CHECKING:
    from .core import Service

__all__ = ["model_costs", "window_business", "windows_business"]

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
    return windows_business([window], pos_label, costs, confidence)[0]


def windows_business(
    windows: Sequence[Window],
    pos_label: Label | None,
    costs: Costs | None,
    confidence: float = 0.95,
) -> list[dict[str, Any] | None]:
    """:func:`window_business` of every window, the intervals of windows of one length
    computed together (:func:`~liveeval.monitor.business.false_alarms_per_day_array`,
    :func:`~liveeval.monitor.business.expected_cost_array`)."""
    outs: list[dict[str, Any]] = [{} for _ in windows]
    binary: dict[float, list[tuple[int, ErrorCounts]]] = {}
    if pos_label is not None:
        for i, window in enumerate(windows):
            result = window.result
            if result is not None and result.kind == "binary":
                cells = error_counts(result.confusion_matrix, result.labels, pos_label)
                seconds = (window.end - window.start).total_seconds()
                binary.setdefault(seconds, []).append((i, cells))
    for seconds, members in binary.items():
        counts = [c for _, c in members]
        rates = false_alarms_per_day_array([c.fp for c in counts], seconds, confidence)
        costed = (
            expected_cost_array(counts, costs.false_positive, costs.false_negative, confidence)
            if costs is not None
            else None
        )
        for j, (i, c) in enumerate(members):
            out = outs[i]
            out["false_alarms"] = c.fp
            out["misses"] = c.fn
            out["labelled"] = c.n
            out["false_alarms_per_day"] = metric_dict(rates[j])
            if costs is not None and costed is not None:
                out["costs"] = costs.to_dict()
                out["expected_cost"] = metric_dict(costed[j])
                out["total_cost"] = c.fp * costs.false_positive + c.fn * costs.false_negative
            if windows[i].state != "realized":
                out["note"] = (
                    "counts of the labelled predictions so far: the window is still "
                    "estimating, so false alarms and costs can only grow as labels arrive"
                )
    for window, out in zip(windows, outs, strict=True):
        values = window.outcome_values
        out.update({k: metric_dict(values[k]) for k in _VALUE_METRICS if k in values})
    return [out or None for out in outs]


def model_costs(service: Service, model: str, version: str | None = None) -> Costs | None:
    """The costs of ``model``'s errors: its ``costs`` in ``liveeval.toml``, else its
    profile's ``[costs]``, else None (unknown: no expected cost is shown)."""
    override = service.config.costs.get(model)
    if override is not None:
        return override
    _, _, profile = service.model_meta(model, version)
    return service.profile(profile).costs if profile else None
