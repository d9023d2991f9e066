"""The overview: every model's and version's headline numbers and the sparkline of its
key metric, in one read (the dashboard's first page makes one request, not three per
model).

Each version's numbers are those of ``GET /v1/models/{m}/metrics?version=…`` over the
same range, limited to what a card shows: the counts, the key metric, p95 latency, the
failed-prediction rate and the verdict of the model's profile (computed on the same
metrics and pitfalls, so the badge is the model page's). The sparkline is the key
metric per window, as ``GET /v1/models/{m}/windows?by=version&metrics=KEY``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..metrics.classification import per_class_metrics
from ..monitor.windows import time_windows
from ..readiness import accuracy_paradox, single_class, verdict
from ..readiness.profile import Profile
from ..report.model import metric_dict
from ..store import Scope
from ._clock import now
from .operations import duration_text
from .reads import known_models

if TYPE_CHECKING:
    from .core import Service

__all__ = ["key_metric", "overview"]

# What a card shows beside the key metric and the profile's checks.
CARD_METRICS = ("latency_p95_seconds", "failed_prediction_rate")
# More sparkline points than this and the size is refused (a sparkline is 140 px wide).
MAX_POINTS = 200


def key_metric(profile: Profile | None, binary: bool) -> str:
    """The first metric the profile judges that is not latency or failures, else F1 for
    a binary model, else accuracy."""
    for check in profile.checks if profile is not None else ():
        if not check.metric.endswith("_seconds") and check.metric != "failed_prediction_rate":
            return check.metric
    return "f1" if binary else "accuracy"


def overview(service: Service, *, window: str, size: timedelta) -> dict[str, Any]:
    """Every known model: per version with predictions in the last ``window``, the
    card's numbers and a sparkline of windows of ``size``.

    Raises
    ------
    ValidationError
        when ``window`` / ``size`` would give more than :data:`MAX_POINTS` points.
    """
    since = service.since_window(window)
    end = now()
    if since is not None and (end - since) / size > MAX_POINTS:
        raise ValidationError(
            f"size {size} gives more than {MAX_POINTS} sparkline points over {window}; "
            "choose a larger size",
            column="size",
        )
    models = [_model(service, name, since, size) for name in sorted(known_models(service))]
    return {
        "now": end.isoformat(),
        "window": window,
        "since": None if since is None else since.isoformat(),
        "size": duration_text(size),
        "models": models,
    }


def _model(service: Service, model: str, since: datetime | None, size: timedelta) -> dict[str, Any]:
    classes, pos_label, profile_name = service.model_meta(model, None)
    profile = service.profile(profile_name) if profile_name else None
    key = key_metric(profile, pos_label is not None)
    wanted = {key, *CARD_METRICS}
    scope = Scope(model, since)
    groups = service.store.grouped_statistics(
        scope, ("version",), classes=classes, pos_label=pos_label
    )
    windows = time_windows(
        service.store,
        scope,
        size,
        by=("version",),
        classes=classes,
        pos_label=pos_label,
        metrics=(key,),
    )
    versions = sorted(
        {str(k[0]) for k, s in groups.items() if s.predictions}, key=_first_seen(windows)
    )
    if not versions:
        stats = service.store.statistics(scope, classes=classes, pos_label=pos_label)
        cards = [_card(None, stats, profile, wanted, key, [])]
    else:
        cards = []
        for v in versions:
            # A version's profile is its own (served versions may name different ones).
            name = service.model_meta(model, v)[2]
            judged = service.profile(name) if name else None
            mine = [w for w in windows if w.version == v]
            cards.append(_card(v, groups[(v,)], judged, wanted, key, mine))
    return {
        "model": model,
        "profile": profile_name,
        "key_metric": key,
        "versions": cards,
    }


def _first_seen(windows: list[Any]) -> Any:
    order: dict[str, int] = {}
    for i, w in enumerate(sorted(windows, key=lambda w: w.start)):
        if w.version is not None and w.predictions:
            order.setdefault(str(w.version), i)
    return lambda v: (order.get(v, len(order)), v)


def _card(
    version: str | None,
    stats: Any,
    profile: Profile | None,
    wanted: set[str],
    key: str,
    windows: list[Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": version,
        "predictions": stats.predictions,
        "failed_predictions": stats.failed,
        "labelled": stats.labelled,
        "label_coverage": stats.label_coverage,
        "metrics": {},
        "verdict": None,
    }
    if profile is not None:
        wanted = wanted | {c.metric for c in profile.checks}
    business = stats.business_metrics()
    body["metrics"].update({k: metric_dict(m) for k, m in business.items() if k in wanted})
    if stats.evaluation is not None:
        result = stats.evaluation.result(only=wanted)
        # The pitfalls read the per-class table, which a limited result leaves out.
        result = replace(result, per_class=per_class_metrics(stats.evaluation.confusion, 0.95))
        body["metrics"].update(
            {k: metric_dict(m) for k, m in result.metrics.items() if k in wanted}
        )
        if profile is not None:
            recall_target = next((c.target for c in profile.checks if c.metric == "recall"), None)
            findings = accuracy_paradox(result, recall_target) + single_class(result)
            judged = verdict(
                profile, result, findings, mode="anytime", latency=stats.evaluation.latency
            )
            body["verdict"] = {"status": judged.status, "summary": judged.summary}
    body["sparkline"] = [
        {
            "start": w.start.isoformat(),
            "end": w.end.isoformat(),
            "value": _value(w, key),
            "state": w.state,
        }
        for w in windows
    ]
    return body


def _value(window: Any, key: str) -> float | None:
    if window.result is None:
        return None
    m = window.result.metrics.get(key)
    return None if m is None or not m.is_defined else float(m.value)
