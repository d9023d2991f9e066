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

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..metrics.classification import per_class_metrics
from ..metrics.labels import Label
from ..metrics.registry import metric_spec
from ..monitor.windows import DEFAULT_MATURITY, Window, ceil_to, floor_to
from ..readiness import accuracy_paradox, single_class, verdict
from ..readiness.profile import Profile
from ..report.model import metric_dict
from ..store import Scope, StoreStats
from ..store.interface import EARLIEST_TS, LATEST_TS
from ._clock import now
from .operations import duration_text
from .reads import known_models

if TYPE_CHECKING:
    from .core import Service

__all__ = ["VERSION_METRICS", "key_metric", "overview", "version_cards"]

# What a card shows beside the key metric and the profile's checks; accuracy and the
# baseline are what the accuracy-paradox pitfall reads (the verdict folds it in).
CARD_METRICS = ("latency_p95_seconds", "failed_prediction_rate", "accuracy", "baseline_accuracy")
# Metrics read from the score distributions: the overview's one read leaves those out
# unless a profile judges one (they are the largest part of the read).
SCORE_METRICS = frozenset({"roc_auc", "average_precision", "expected_calibration_error"})
# What the model page's "versions side by side" compares, unless asked for others.
VERSION_METRICS = (
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "accuracy",
    "latency_p95_seconds",
    "failed_prediction_rate",
)
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
    """Every known model: per version with predictions since the start of the window
    of ``size`` that holds ``now - window``, the card's numbers and a sparkline of
    windows of ``size``.

    Raises
    ------
    ValidationError
        when ``size`` is longer than ``window`` or would give more than
        :data:`MAX_POINTS` points over it.
    """
    start = service.since_window(window)
    end = now()
    if start is not None and size > end - start:
        raise ValidationError(f"size {size} is longer than the window {window}", column="size")
    if start is not None and (end - start) / size > MAX_POINTS:
        raise ValidationError(
            f"size {size} gives more than {MAX_POINTS} sparkline points over {window}; "
            "choose a larger size",
            column="size",
        )
    # Whole windows of ``size``: the cards are the merge of their sparkline's windows,
    # one read of the store's per-bucket rollups per model, never a scan.
    since = floor_to(start or EARLIEST_TS, size)
    names = sorted(known_models(service))
    meta = {name: service.model_meta(name, None) for name in names}
    # Each profile parsed once per answer (a card per version names one).
    profile_of = functools.cache(service.profile)
    judged = {c.metric for n, m in meta.items() for c in _checks(service, profile_of, n, m[2])}
    # One read for every model (the server-wide unmatched-outcomes count once).
    grouped = service.store.models_grouped_statistics(
        {name: (classes, pos_label) for name, (classes, pos_label, _) in meta.items()},
        ("version",),
        every=size,
        since=since,
        until=ceil_to(LATEST_TS, size),
        scores=not SCORE_METRICS.isdisjoint(judged),
    )
    models = [_model(service, profile_of, name, meta[name], grouped[name], size) for name in names]
    return {
        "now": end.isoformat(),
        "window": window,
        "since": None if since is None else since.isoformat(),
        "size": duration_text(size),
        "maturity": DEFAULT_MATURITY,
        "models": models,
    }


def version_cards(
    service: Service,
    model: str,
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    profile: str | None = None,
    metrics: tuple[str, ...] = VERSION_METRICS,
) -> dict[str, Any]:
    """Each version's headline over one range, from one store read grouped by version:
    the model page's "versions side by side" (it made one full metrics read per version).

    A version's counts and ``metrics`` equal those of ``GET /v1/models/{m}/metrics?
    version=…`` over the same range, limited to ``metrics``, the key metric and what the
    verdict reads; the verdict (``profile``, else the version's own profile) is its
    status and summary, without the "rows to settle" search. Versions in the order of
    their names; ``versions`` is empty when the range holds no prediction.

    Raises
    ------
    NotFoundError
        for a model neither served nor seen, or an unknown profile.
    ValidationError
        for an unknown metric name (with "did you mean").
    """
    for name in metrics:
        metric_spec(name)
    service.require_model(model)
    if window is not None:
        # Both restrict the range: the later start wins (as the metrics route).
        start = service.since_window(window)
        since = start if since is None or (start is not None and start > since) else since
    classes, pos_label, default_profile = service.model_meta(model, None)
    profile_of = functools.cache(service.profile)
    chosen = profile or default_profile
    judged = profile_of(chosen) if chosen else None
    key = key_metric(judged, pos_label is not None)
    grouped = service.store.grouped_statistics(
        Scope(model, since, until), ("version",), classes=classes, pos_label=pos_label
    )
    cards = []
    for (version,), stats in sorted(grouped.items(), key=lambda kv: str(kv[0][0])):
        own = profile or service.model_meta(model, str(version))[2]
        card = _card(str(version), stats, profile_of(own) if own else None, key, [], metrics)
        del card["sparkline"]
        cards.append(card)
    return {
        "model": model,
        "scope": {
            "window": window,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
        "profile": chosen,
        "key_metric": key,
        "versions": cards,
    }


def _checks(
    service: Service,
    profile_of: Callable[[str], Profile],
    model: str,
    profile_name: str | None,
) -> list[Any]:
    """The checks of every profile the model's versions name (what its cards judge)."""
    names = {profile_name} | {
        service.model_meta(model, v)[2] for v in service.models.get(model, {})
    }
    return [c for n in names if n for c in profile_of(n).checks]


def _model(
    service: Service,
    profile_of: Callable[[str], Profile],
    model: str,
    meta: tuple[tuple[Label, ...] | None, Label | None, str | None],
    grouped: dict[tuple[Any, ...], StoreStats],
    size: timedelta,
) -> dict[str, Any]:
    _, pos_label, profile_name = meta
    profile = profile_of(profile_name) if profile_name else None
    key = key_metric(profile, pos_label is not None)
    per_version: dict[str, dict[datetime, StoreStats]] = {}
    for (version, start), stats in grouped.items():
        per_version.setdefault(str(version), {})[start] = stats
    starts: list[datetime] = []
    if grouped:
        first = min(start for _, start in grouped)
        last = max(start for _, start in grouped)
        starts = [first + i * size for i in range(int(round((last - first) / size)) + 1)]
    # Versions in the order they first took traffic.
    versions = sorted(per_version, key=lambda v: (min(per_version[v]), v))
    cards = []
    for v in versions:
        # A version's profile is its own (served versions may name different ones).
        name = service.model_meta(model, v)[2]
        judged = profile_of(name) if name else None
        windows = per_version[v]
        points = [_point(start, size, windows.get(start), key) for start in starts]
        cards.append(_card(v, _merged(list(windows.values())), judged, key, points))
    if not cards:
        empty = StoreStats(None, 0, 0, 0, 0)
        cards.append(_card(None, empty, profile, key, []))
    return {
        "model": model,
        "profile": profile_name,
        "key_metric": key,
        "versions": cards,
    }


def _merged(parts: list[StoreStats]) -> StoreStats:
    evaluation = None
    for p in parts:
        if p.evaluation is not None:
            evaluation = p.evaluation if evaluation is None else evaluation.merge(p.evaluation)
    notes = list(dict.fromkeys(n for p in parts for n in p.notes))
    values = (
        sum(p.values[0] for p in parts),
        sum(p.values[1] for p in parts),
        sum(p.values[2] for p in parts),
        all(p.values[3] for p in parts),
    )
    return StoreStats(
        evaluation,
        sum(p.predictions for p in parts),
        sum(p.failed for p in parts),
        sum(p.labelled for p in parts),
        max((p.unmatched_outcomes for p in parts), default=0),
        parts[0].labels if parts else (),
        notes,
        values,
    )


def _point(start: datetime, size: timedelta, stats: StoreStats | None, key: str) -> dict[str, Any]:
    window = Window(start, start + size, None, None, 0, 0, 0, DEFAULT_MATURITY)
    value = None
    if stats is not None:
        window = Window(
            start, start + size, None, None, stats.predictions, stats.failed, stats.labelled,
            DEFAULT_MATURITY,
        )  # fmt: skip
        if stats.evaluation is not None and stats.labelled > 0:
            # The value alone: the card carries the interval, a 140-px line does not.
            value = stats.evaluation.point(key)
    return {
        "start": start.isoformat(),
        "end": (start + size).isoformat(),
        "value": value,
        "state": window.state,
    }


def _card(
    version: str | None,
    stats: StoreStats,
    profile: Profile | None,
    key: str,
    points: list[dict[str, Any]],
    extra: tuple[str, ...] = (),
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
    wanted = {key, *CARD_METRICS, *extra}
    if profile is not None:
        wanted |= {c.metric for c in profile.checks}
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
            # settle=False: the card shows the status and summary, not how many more
            # rows would settle a check (the model page's verdict does).
            judged = verdict(
                profile,
                result,
                findings,
                mode="anytime",
                settle=False,
                latency=stats.evaluation.latency,
            )
            body["verdict"] = {"status": judged.status, "summary": judged.summary}
    body["sparkline"] = points
    return body
