"""Monitoring reads: a model's windows over time with label coverage and maturity.

Windows are merges of the store's statistics per time bucket (see
:mod:`liveeval.monitor.windows`); this module chooses the scope, the model's classes
and the metrics to show, and renders JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..errors import NotFoundError
from ..metrics.labels import Label
from ..metrics.registry import metric_names, metric_spec
from ..monitor.windows import DEFAULT_MATURITY, Window, WindowSize, count_windows, time_windows
from ..report.model import metric_dict
from ..store import Scope
from ..store.interface import StatisticsSource

if TYPE_CHECKING:
    from .core import Service

__all__ = ["DEFAULT_WINDOW_METRICS", "window_dict", "windows", "windows_of"]

# What a window shows unless asked for more: the live gauges' metrics.
DEFAULT_WINDOW_METRICS = metric_names(live=True)


def windows(
    service: Service,
    model: str,
    size: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    segment: str | None = None,
    by: tuple[Literal["version", "segment"], ...] = (),
    maturity: float | None = None,
    metrics: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Windows of ``size`` (``1h`` … or a count of labelled predictions) for one model.

    Raises
    ------
    NotFoundError
        for a model neither served nor seen.
    ValidationError
        for a bad size, maturity or metric name (with "did you mean").
    """
    known = model in service.models or model in service.logged
    if not known and not service.store.has_model(model):
        raise NotFoundError(f"unknown model {model[:200]!r}")
    classes, pos_label, _ = service.model_meta(model, version)
    return windows_of(
        service.store,
        model,
        size,
        classes=classes,
        pos_label=pos_label,
        since=since,
        until=until,
        version=version,
        segment=segment,
        by=by,
        maturity=maturity,
        metrics=metrics,
    )


def windows_of(
    source: StatisticsSource,
    model: str,
    size: str,
    *,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    segment: str | None = None,
    by: tuple[Literal["version", "segment"], ...] = (),
    maturity: float | None = None,
    metrics: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """:func:`windows` over any statistics source (a store file, an export folder)."""
    chosen = metrics or DEFAULT_WINDOW_METRICS
    for name in chosen:
        metric_spec(name)
    window_size = WindowSize.parse(size)
    level = DEFAULT_MATURITY if maturity is None else maturity
    scope = Scope(model, since, until, version, segment)
    if window_size.every is not None:
        found = time_windows(
            source,
            scope,
            window_size.every,
            by=by,
            classes=classes,
            pos_label=pos_label,
            maturity=level,
        )
    else:
        assert window_size.labelled is not None
        found = count_windows(
            source,
            scope,
            window_size.labelled,
            classes=classes,
            pos_label=pos_label,
            maturity=level,
        )
    return {
        "model": model,
        "size": str(window_size),
        "cohort": "prediction time: an outcome counts in its prediction's window",
        "maturity": level,
        "maturity_rule": f"'realized' once label_coverage >= {level:g}, else 'estimating'",
        "scope": {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "version": version,
            "segment": segment,
            "by": list(by),
        },
        "windows": [window_dict(w, chosen) for w in found],
    }


def window_dict(window: Window, metrics: tuple[str, ...]) -> dict[str, Any]:
    """One window as JSON: counts, coverage, state and the chosen metrics."""
    shown: dict[str, Any] = {}
    confusion = None
    if window.result is not None:
        shown = {
            name: metric_dict(window.result.metrics[name])
            for name in metrics
            if name in window.result.metrics
        }
        confusion = {
            "labels": list(window.result.labels),
            "matrix": window.result.confusion_matrix,
        }
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "version": window.version,
        "segment": window.segment,
        "predictions": window.predictions,
        "failed_predictions": window.failed,
        "labelled": window.labelled,
        "label_coverage": window.label_coverage,
        "state": window.state,
        "metrics": shown,
        "confusion_matrix": confusion,
        "notes": list(window.notes),
    }
