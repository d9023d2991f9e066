"""A notice as text a person reads (Slack, the log, Alertmanager's description).

The evidence is read tolerantly: ``before`` and ``after`` (a sequential rule) may be
numbers or ``{"value", "lower", "upper"}`` tables, or ``value``/``lower``/``upper`` sit
at the top (a window rule) with its ``window`` (``start``, ``end``); ``samples`` (or
``n``) is the number of samples the value was computed from — labelled predictions,
predictions, outcome values or resource samples, as the metric counts them
(:func:`samples_noun`); any other scalar item is listed as ``name=value``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ...errors import UnknownMetricError
from ...metrics.registry import metric_spec
from ..notice import AlertNotice

__all__ = ["evidence_line", "headline", "samples_noun", "scope"]

_KNOWN = {"before", "after", "samples", "n", "value", "lower", "upper", "window"}
_STATE = {"firing": "FIRING", "resolved": "RESOLVED", "pending": "PENDING"}


def scope(notice: AlertNotice) -> str:
    out = notice.model
    if notice.version:
        out += f" {notice.version}"
    if notice.segment:
        out += f" (segment {notice.segment})"
    return out


def headline(notice: AlertNotice) -> str:
    return (
        f"[{_STATE.get(notice.state, notice.state.upper())}] {notice.rule}: {notice.metric} "
        f"on {scope(notice)} ({notice.severity})"
    )


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _estimate(value: Any) -> str:
    if isinstance(value, Mapping):
        text = _number(value.get("value"))
        lower, upper = value.get("lower"), value.get("upper")
        if lower is not None and upper is not None:
            text += f" [{_number(lower)}, {_number(upper)}]"
        return text
    return _number(value)


def samples_noun(metric: str) -> str:
    """What an alert's ``samples`` count for ``metric``, in words (as
    :func:`liveeval.monitor.drop.look_samples` and the alert engine count them)."""
    if metric in ("cpu_percent", "rss_bytes"):
        return "resource samples"
    if metric == "label_coverage":
        return "predictions"
    if metric.startswith("drift:"):
        return "rows"
    try:
        family = metric_spec(metric).family
    except UnknownMetricError:  # false alarms, expected cost, label delay: labelled pairs
        return "labelled samples"
    if family == "operational":
        return "predictions"
    if family == "business":
        return "outcome values"
    return "labelled samples"


def evidence_line(notice: AlertNotice) -> str:
    """``recall 0.91 [0.89, 0.93] → 0.72 [0.65, 0.79]; 400 labelled samples; stat=…``."""
    ev = notice.evidence
    parts = []
    if "before" in ev or "after" in ev:
        before = _estimate(ev["before"]) if "before" in ev else "?"
        after = _estimate(ev["after"]) if "after" in ev else "?"
        parts.append(f"{notice.metric} {before} → {after}")
    elif "value" in ev:  # a window rule: the window's value and interval
        parts.append(f"{notice.metric} {_estimate(ev)}")
    samples = ev.get("samples", ev.get("n"))
    if samples is not None:
        parts.append(f"{_number(samples)} {samples_noun(notice.metric)}")
    window = ev.get("window")
    if isinstance(window, Mapping) and window.get("start") and window.get("end"):
        parts.append(f"window {str(window['start'])[:16]} → {str(window['end'])[:16]}")
    for key, value in ev.items():
        if key not in _KNOWN and (value is None or isinstance(value, str | int | float | bool)):
            parts.append(f"{key}={_number(value)}")
    return "; ".join(parts)
