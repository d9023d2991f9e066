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
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ValidationError
from ..metrics import ConfusionMatrix, Evaluation, LatencySketch, ScoreDistribution
from ..metrics.classification import POINT_METRICS, binary_points, per_class_metrics
from ..metrics.evaluation import _LATENCY, EvaluationResult
from ..metrics.labels import Label
from ..metrics.registry import metric_spec
from ..monitor.windows import DEFAULT_MATURITY, Window, ceil_to, floor_to
from ..readiness import accuracy_paradox, single_class, verdict
from ..readiness.profile import Profile
from ..report.model import metric_dict
from ..store import Scope, StoreStats
from ..store.interface import (
    EARLIEST_TS,
    GroupedArrays,
    ModelArraysSource,
    StatisticsSource,
)
from ._clock import now
from ._future import after_now_notes
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
        raise ValidationError(
            f"size {duration_text(size)} is longer than the window {window}", column="size"
        )
    if start is not None and (end - start) / size > MAX_POINTS:
        raise ValidationError(
            f"size {duration_text(size)} gives more than {MAX_POINTS} sparkline points over "
            f"{window}; "
            "choose a larger size",
            column="size",
        )
    # Whole windows of ``size``: the cards are the merge of their sparkline's windows,
    # one read of the store's per-bucket rollups per model, never a scan.
    since = floor_to(start or EARLIEST_TS, size)
    # The read ends with the window holding now: a prediction dated in the future (a
    # client's clock ahead) is kept but neither counted in "the last hour" nor stretches
    # the sparklines to its date; the answer's notes count what was left out.
    until = ceil_to(end, size) or end
    names = sorted(known_models(service))
    meta = {name: service.model_meta(name, None) for name in names}
    # Each profile parsed once per answer (a card per version names one).
    profile_of = functools.cache(service.profile)
    judged = {c.metric for n, m in meta.items() for c in _checks(service, profile_of, n, m[2])}
    # One read for every model (the server-wide unmatched-outcomes count once), as
    # columns: the windows of a binary model are rows of arrays, not objects.
    arrays = _models_arrays(
        service.store,
        {name: (classes, pos_label) for name, (classes, pos_label, _) in meta.items()},
        every=size,
        since=since,
        until=until,
        scores=not SCORE_METRICS.isdisjoint(judged),
    )
    models = [_model(service, profile_of, name, meta[name], arrays[name], size) for name in names]
    return {
        "now": end.isoformat(),
        "until": until.isoformat(),
        "notes": after_now_notes(service.store, until, names),
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


def _models_arrays(
    store: StatisticsSource,
    labels: dict[str, tuple[tuple[Label, ...] | None, Label | None]],
    *,
    every: timedelta,
    since: datetime | None,
    until: datetime | None,
    scores: bool,
) -> dict[str, GroupedArrays]:
    """Every model's windows per version as columns: in one columnar read when the store
    has one, else its grouped read of every model converted (correct, not faster)."""
    if isinstance(store, ModelArraysSource):
        return store.models_grouped_statistic_arrays(
            labels, ("version",), every=every, since=since, until=until, scores=scores
        )
    grouped = store.models_grouped_statistics(
        labels, ("version",), every=every, since=since, until=until, scores=scores
    )
    return {name: GroupedArrays.of(grouped.get(name, {})) for name in labels}


def _model(
    service: Service,
    profile_of: Callable[[str], Profile],
    model: str,
    meta: tuple[tuple[Label, ...] | None, Label | None, str | None],
    arrays: GroupedArrays,
    size: timedelta,
) -> dict[str, Any]:
    _, pos_label, profile_name = meta
    profile = profile_of(profile_name) if profile_name else None
    # A logged-only 0/1 model is binary as its metrics read infers it (positive class 1).
    binary = pos_label is not None or (arrays.pos_label is not None and bool(arrays.binary.any()))
    key = key_metric(profile, binary)
    per_version: dict[str, dict[datetime, int]] = {}
    for g, (version, start) in enumerate(arrays.keys):
        per_version.setdefault(str(version), {})[start] = g
    starts: list[datetime] = []
    if len(arrays):
        first = min(start for _, start in arrays.keys)
        last = max(start for _, start in arrays.keys)
        # At most MAX_POINTS points, the most recent (a window of "all" data may span
        # more windows of ``size``); the card still merges every window.
        count = min(int(round((last - first) / size)) + 1, MAX_POINTS)
        starts = [last - (count - 1 - i) * size for i in range(count)]
    values = _points(arrays, key)
    # Versions in the order they first took traffic.
    versions = sorted(per_version, key=lambda v: (min(per_version[v]), v))
    cards = []
    for v in versions:
        # A version's profile is its own (served versions may name different ones).
        name = service.model_meta(model, v)[2]
        judged = profile_of(name) if name else None
        windows = per_version[v]
        points = [_point(start, size, arrays, windows.get(start), values) for start in starts]
        cards.append(_card(v, _merged_groups(arrays, list(windows.values())), judged, key, points))
    if not cards:
        empty = StoreStats(None, 0, 0, 0, 0)
        cards.append(_card(None, empty, profile, key, []))
    return {
        "model": model,
        "profile": profile_name,
        "key_metric": key,
        "versions": cards,
    }


def _points(arrays: GroupedArrays, key: str) -> list[float | None]:
    """The key metric's value of every group with labels (None where undefined or
    without labels): the binary columns' proportions at once from their confusion
    matrices (:func:`~liveeval.metrics.classification.binary_points`, each equal to
    ``Evaluation.point``), any other group from its statistics."""
    out: list[float | None] = [None] * len(arrays)
    columns = np.flatnonzero(arrays.binary).tolist()
    if columns and key in POINT_METRICS and arrays.pos_label is not None:
        found = binary_points(
            arrays.confusion[columns], arrays.labels.index(arrays.pos_label), key
        ).tolist()
        for g, value in zip(columns, found, strict=True):
            out[g] = None if math.isnan(value) else value
        columns = []
    for g in [*columns, *arrays.other]:
        stats = arrays.stats(g)
        if stats.evaluation is not None and stats.labelled > 0:
            out[g] = stats.evaluation.point(key)
    return out


def _merged_groups(arrays: GroupedArrays, groups: list[int]) -> StoreStats:
    """The merge of ``groups`` (one version's windows): the binary columns summed in one
    pass (counts, matrices, loss sums, score bins and latency buckets), then merged with
    the other groups' statistics as the grouped read's windows merge."""
    columns = [g for g in groups if g not in arrays.other]
    parts = [arrays.other[g] for g in groups if g in arrays.other]
    if columns:
        parts.insert(0, _column_sum(arrays, columns))
    return _merged(parts)


def _column_sum(arrays: GroupedArrays, groups: list[int]) -> StoreStats:
    """The binary-column groups ``groups`` merged into one :class:`StoreStats`, equal to
    merging their ``arrays.stats(g)`` in order (sums of the same terms in the same
    order; counts are whole numbers, added exactly)."""
    assert arrays.pos_label is not None
    counts = arrays.confusion[groups].sum(axis=0)
    dists = [d for d in (arrays.scores[g] for g in groups) if d is not None]
    scores = None
    if dists:
        keys, at = np.unique(np.concatenate([d.keys for d in dists]), return_inverse=True)
        positive = np.bincount(
            at, weights=np.concatenate([d.positive for d in dists]), minlength=keys.size
        )
        negative = np.bincount(
            at, weights=np.concatenate([d.negative for d in dists]), minlength=keys.size
        )
        merged = dists[0]
        if len(dists) > 1:
            merged = ScoreDistribution(
                dists[0].resolution,
                dists[0].exact_limit,
                False,
                sum(d.rows for d in dists),
                keys.astype(np.float64),
                positive.astype(np.float64),
                negative.astype(np.float64),
                functools.reduce(lambda a, b: a + b, (d.positive_sq for d in dists)),
                functools.reduce(lambda a, b: a + b, (d.negative_sq for d in dists)),
            )
        scores = [merged]
    found = [s for s in (arrays.losses[g] for g in groups) if s is not None]
    losses = functools.reduce(lambda a, b: a.merge(b), found) if found else None
    evaluation = Evaluation(
        arrays.labels,
        arrays.pos_label,
        ConfusionMatrix(arrays.labels, counts, counts.copy()),
        scores,
        None,
        losses,
        _sketch_sum(arrays, groups),
    )
    predictions = int(arrays.predictions[groups].sum())
    failed = int(arrays.failed[groups].sum())
    evaluation.predictions = predictions
    evaluation.failures = failed
    values = arrays.values[groups].tolist()
    return StoreStats(
        evaluation,
        predictions,
        failed,
        int(arrays.labelled[groups].sum()),
        arrays.unmatched,
        arrays.labels,
        [],
        (
            int(sum(int(v[0]) for v in values)),
            functools.reduce(lambda a, b: a + b, (v[1] for v in values), 0.0),
            functools.reduce(lambda a, b: a + b, (v[2] for v in values), 0.0),
            bool(arrays.values_binary[groups].all()),
        ),
    )


def _sketch_sum(arrays: GroupedArrays, groups: list[int]) -> LatencySketch | None:
    """The merge of the groups' latency sketches in one pass: every bucket of every
    group added by key (what merging them one pair at a time gives)."""
    with_latency = [g for g in groups if arrays.latency[g, 0]]
    if not with_latency:
        return None
    totals = arrays.latency[with_latency].tolist()
    at, keys, counts = arrays.sketch_keys
    rows = np.isin(at, with_latency)
    uniq, inverse = np.unique(keys[rows], return_inverse=True)
    sketch = LatencySketch()
    sketch.keys = uniq.astype(np.int64)
    sketch.counts = np.bincount(inverse, weights=counts[rows], minlength=uniq.size).astype(
        np.float64
    )
    sketch.count = int(sum(int(t[0]) for t in totals))
    sketch.zeros = int(sum(int(t[1]) for t in totals))
    sketch.total = functools.reduce(lambda a, b: a + b, (t[2] for t in totals))
    sketch.total_sq = functools.reduce(lambda a, b: a + b, (t[3] for t in totals))
    sketch.maximum = max(t[4] for t in totals)
    return sketch


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


def _point(
    start: datetime,
    size: timedelta,
    arrays: GroupedArrays,
    g: int | None,
    values: list[float | None],
) -> dict[str, Any]:
    window = Window(start, start + size, None, None, 0, 0, 0, DEFAULT_MATURITY)
    value = None
    if g is not None:
        window = Window(
            start, start + size, None, None, int(arrays.predictions[g]), int(arrays.failed[g]),
            int(arrays.labelled[g]), DEFAULT_MATURITY,
        )  # fmt: skip
        # The value alone: the card carries the interval, a 140-px line does not.
        value = values[g]
    return {
        "start": start.isoformat(),
        "end": (start + size).isoformat(),
        "value": value,
        "state": window.state,
    }


_QUANTILES = {"latency_p50_seconds": 0.5, "latency_p95_seconds": 0.95, "latency_p99_seconds": 0.99}


def _limited_result(evaluation: Evaluation, wanted: set[str]) -> EvaluationResult:
    """``evaluation.result(only=wanted)``, with only the latency quantiles named
    computed (a limited result computes p50, p95 and p99, a rank interval each, when
    any latency metric is named; the card shows p95). Same values, same order."""
    quantiles = {k: q for k, q in _QUANTILES.items() if k in wanted}
    latency = evaluation.latency
    if latency is None or not quantiles or not _LATENCY.isdisjoint(wanted - set(quantiles)):
        return evaluation.result(only=wanted)
    result = evaluation.result(only=wanted - set(quantiles))
    metrics = dict(result.metrics)
    failed = metrics.pop("failed_prediction_rate", None)
    metrics.update({k: latency.quantile(q, 0.95) for k, q in quantiles.items()})
    if failed is not None:
        metrics["failed_prediction_rate"] = failed
    return replace(result, metrics=metrics)


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
        result = _limited_result(stats.evaluation, wanted)
        body["metrics"].update(
            {k: metric_dict(m) for k, m in result.metrics.items() if k in wanted}
        )
        if profile is not None:
            # The pitfalls read the per-class support and recall, which a limited result
            # leaves out.
            per_class = per_class_metrics(stats.evaluation.confusion, 0.95, only=("recall",))
            result = replace(result, per_class=per_class)
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
