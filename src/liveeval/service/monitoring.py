"""Monitoring reads: a model's windows over time with label coverage and maturity.

Windows are merges of the store's statistics per time bucket (see
:mod:`liveeval.monitor.windows`); this module chooses the scope, the model's classes
and the metrics to show, and renders JSON.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import LiveevalError
from ..metrics.labels import Label
from ..metrics.registry import metric_names, metric_spec
from ..metrics.result import MetricResult
from ..monitor.estimate import PerformanceEstimator
from ..monitor.multiclass import MulticlassEstimator
from ..monitor.windows import (
    DEFAULT_MATURITY,
    Window,
    WindowResults,
    WindowSize,
    ceil_to,
    count_windows,
    summarise_label_delays,
    time_windows,
)
from ..readiness.profile import Costs
from ..report.model import metric_dict
from ..store import Scope
from ..store.interface import (
    MAX_PROBA_CLASSES,
    ROLLUP_BUCKET,
    ClassScoreHistograms,
    ScoreHistogram,
    StatisticsSource,
)
from ._clock import now
from ._future import after_now_notes
from .business import model_costs, windows_business

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
    service.require_model(model)
    classes, pos_label, _ = service.model_meta(model, version)
    costs = model_costs(service, model, version)
    # Without ``until`` the windows end with the one holding now: a prediction dated in
    # the future (a client's clock ahead) must not push the real windows out of the
    # most recent MAX_WINDOWS; the answer's notes count what was left out.
    end = now() if until is None else until
    answer = windows_of(
        service.store,
        model,
        size,
        classes=classes,
        pos_label=pos_label,
        since=since,
        until=end,
        version=version,
        segment=segment,
        by=by,
        maturity=maturity,
        metrics=metrics,
        costs=costs,
        cache=service.window_results,
        estimated=service.estimates,
    )
    answer["scope"]["until"] = None if until is None else until.isoformat()
    every = WindowSize.parse(size).every
    boundary = (ceil_to(end, every) if every is not None else None) or end
    answer["notes"] = [] if until is not None else after_now_notes(service.store, boundary, [model])
    return answer


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
    costs: Costs | None = None,
    cache: WindowResults | None = None,
    estimated: EstimateAnswers | None = None,
) -> dict[str, Any]:
    """:func:`windows` over any statistics source (a store file, an export folder);
    ``costs`` add the expected cost to each window's ``business`` object; ``cache``
    keeps the windows' results for the next read (the same answer, computed only for
    the windows whose statistics changed); ``estimated`` the last estimates before
    labels, given again while their inputs are equal."""
    chosen = metrics or DEFAULT_WINDOW_METRICS
    for name in chosen:
        metric_spec(name)
    window_size = WindowSize.parse(size)
    level = DEFAULT_MATURITY if maturity is None else maturity
    scope = Scope(model, since, until, version, segment)
    read: Mapping[datetime, ScoreHistogram] | None = None
    if window_size.every is not None:
        timed = time_windows(
            source,
            scope,
            window_size.every,
            by=by,
            classes=classes,
            pos_label=pos_label,
            maturity=level,
            metrics=chosen,
            score_histograms=not by and pos_label is not None,
            cache=cache,
        )
        found, read = timed.windows, timed.histograms
    else:
        assert window_size.labelled is not None
        found = count_windows(
            source,
            scope,
            window_size.labelled,
            classes=classes,
            pos_label=pos_label,
            maturity=level,
            metrics=chosen,
        )
    if pos_label is None:
        # As the metrics read does: a model of 0/1 (or -1/1) labels is binary with
        # positive class 1, declared or not (the store's windows agree on their labels).
        pos_label = next(
            (w.result.pos_label for w in found if w.result and w.result.pos_label is not None),
            None,
        )
    estimates: dict[tuple[datetime, str | None, str | None], dict[str, Any]] = {}
    estimation: dict[str, Any] = {"available": False, "reason": "count windows are not estimated"}
    if window_size.every is not None:
        estimation, estimates = _estimates(
            source, scope, window_size.every, found, classes, pos_label, by, read, estimated
        )
    delays = _label_delay(source, scope)
    business = windows_business(found, pos_label, costs)
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
        "estimation": estimation,
        "label_delay": delays,
        "windows": [
            {
                **window_dict(w, chosen, requested=metrics is not None),
                "estimate": estimates.get((w.start, w.version, w.segment)),
                "business": money,
            }
            for w, money in zip(found, business, strict=True)
        ],
    }


# A calibration needs labels of both classes from realized windows: fewer than this and
# no estimate is made (its interval would say little and its check could not run).
MIN_REFERENCE_LABELS = 200


def _estimates(
    source: StatisticsSource,
    scope: Scope,
    every: timedelta,
    found: list[Window],
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
    by: tuple[str, ...],
    read: Mapping[datetime, ScoreHistogram] | None = None,
    estimated: EstimateAnswers | None = None,
) -> tuple[dict[str, Any], dict[tuple[datetime, str | None, str | None], dict[str, Any]]]:
    """Estimates before labels for the ``estimating`` windows of a binary model with
    scores: calibrated on the labelled predictions of the realized windows in the
    answer, checked against the estimating windows' labels so far, and counting the
    labels each window already has (its interval closes as they arrive). ``read``: the
    windows' score histograms when the windows' read gave them; ``estimated``: the last
    answers, given again (copied) when the reference and the estimating windows'
    histograms are equal to theirs (the estimates are seeded: equal inputs, equal
    answer)."""
    none: dict[tuple[datetime, str | None, str | None], dict[str, Any]] = {}
    if by:
        return {"available": False, "reason": "not estimated per version or segment group"}, none
    if every % ROLLUP_BUCKET:
        # The scores are kept per 15-minute bucket: not a mistake the reader can fix.
        minutes = int(ROLLUP_BUCKET.total_seconds() // 60)
        return {
            "available": False,
            "reason": f"estimates are made for windows of whole {minutes}-minute buckets "
            f"(15m, 1h, 1d …), not of {_shown_size(every)}",
        }, none
    if pos_label is None:
        return _multiclass_estimates(source, scope, every, found, classes)
    try:
        hists = (
            read
            if read is not None
            else source.score_histograms(
                _window_bounds(scope, found),
                every,
                classes=classes,
                pos_label=pos_label,
            )
        )
    except LiveevalError as exc:
        return {"available": False, "reason": str(exc)}, none
    realized = [hists[w.start] for w in found if w.state == "realized" and w.start in hists]
    estimating = [w for w in found if w.state == "estimating" and w.start in hists]
    if not estimating:
        return {"available": True, "reason": "no window is still estimating"}, none
    reference = ScoreHistogram.empty()
    for h in realized:
        reference = reference.merge(h)
    negatives, positives = (int(v) for v in reference.labelled.sum(axis=1))
    if negatives + positives < MIN_REFERENCE_LABELS or not negatives or not positives:
        return {
            "available": False,
            "reason": f"calibration needs at least {MIN_REFERENCE_LABELS} labelled predictions "
            f"of both classes in realized windows; they hold {negatives} negative and "
            f"{positives} positive",
        }, none
    key = (scope.model, scope.version, scope.segment, every)
    inputs = [reference.labelled] + [
        a for w in estimating for a in (hists[w.start].predicted, hists[w.start].labelled)
    ]
    # The answer also names how many realized windows the reference merges.
    names = [len(realized), *((w.start, w.version, w.segment) for w in estimating)]
    digest = EstimateAnswers.digest(names, inputs)
    kept = None if estimated is None else estimated.get(key, digest)
    if kept is not None:
        return kept
    estimator = PerformanceEstimator.fit(reference)
    check = estimator.check([hists[w.start] for w in estimating])
    results = estimator.estimate_many(
        [hists[w.start] for w in estimating], check=check, use_labels=True
    )
    out = {}
    for w, est in zip(estimating, results, strict=True):
        body = est.to_dict(metric_dict)
        out[(w.start, w.version, w.segment)] = body
    meta = {
        "available": True,
        "reference": f"the labelled predictions of the {len(realized)} realized windows "
        f"({negatives + positives} labels)",
        "calibration": estimator.calibration.to_dict(),
        "check": check.to_dict(),
        "method": "confidence-based estimation on binned scores (as NannyML's CBPE); the "
        "labels a window already has are counted, the rest estimated",
    }
    if estimated is not None:
        estimated.put(key, digest, (meta, out))
    return meta, out


EstimatesAnswer = tuple[
    dict[str, Any], dict[tuple[datetime, str | None, str | None], dict[str, Any]]
]


class EstimateAnswers:
    """The last estimates before labels per (model, version, segment, window size),
    with a 128-bit digest (BLAKE2b) of their inputs: the reference's labelled counts,
    the estimating windows and their histograms. A read whose inputs have the same
    digest gets a copy of the kept answer instead of refitting and redrawing (0.1-0.2 s
    of CPU for a month of daily windows); any changed count (a new prediction or label)
    recomputes. At most ``size`` answers are kept (the oldest dropped); the digest, not
    the histograms, is kept, so an entry holds little beyond its answer."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._kept: dict[tuple[Any, ...], tuple[bytes, EstimatesAnswer]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(names: list[Any], inputs: list[np.ndarray[Any, Any]]) -> bytes:
        h = hashlib.blake2b(repr(names).encode(), digest_size=16)
        for a in inputs:
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.digest()

    def get(self, key: tuple[Any, ...], digest: bytes) -> EstimatesAnswer | None:
        with self._lock:
            kept = self._kept.get(key)
        if kept is None or kept[0] != digest:
            return None
        return copy.deepcopy(kept[1])

    def put(self, key: tuple[Any, ...], digest: bytes, answer: EstimatesAnswer) -> None:
        with self._lock:
            self._kept.pop(key, None)
            if len(self._kept) >= self._size:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (digest, copy.deepcopy(answer))


def _window_bounds(scope: Scope, found: list[Window]) -> Scope:
    """The windows' own bounds: whole buckets, whatever 'since'/'until' were given."""
    return replace(
        scope,
        since=found[0].start if found else scope.since,
        until=max(w.end for w in found) if found else scope.until,
    )


def _multiclass_estimates(
    source: StatisticsSource,
    scope: Scope,
    every: timedelta,
    found: list[Window],
    classes: tuple[Label, ...] | None,
) -> tuple[dict[str, Any], dict[tuple[datetime, str | None, str | None], dict[str, Any]]]:
    """Estimates before labels for the ``estimating`` windows of a multiclass model with
    class probabilities (accuracy and macro precision, recall and F1; one-vs-rest
    calibration per class, see :mod:`liveeval.monitor.multiclass`): calibrated on the
    labelled predictions of the realized windows of the answer, checked per class
    against the estimating windows' labels so far, counting the labels they have."""
    none: dict[tuple[datetime, str | None, str | None], dict[str, Any]] = {}
    try:
        hists = source.class_score_histograms(_window_bounds(scope, found), every, classes=classes)
    except LiveevalError as exc:
        return {"available": False, "reason": str(exc)}, none
    if not hists:
        seen = max((w.result.labels for w in found if w.result is not None), key=len, default=())
        if classes is None and len(seen) < 2:
            # A model known only from its logs: its classes are the labels seen so far.
            what = f"only label {seen[0]!r} seen so far" if seen else "no label seen yet"
            return {
                "available": False,
                "reason": f"{what}, so the model's classes are unknown: estimation needs two "
                "classes; declare classes (and pos_label, for a score) to estimate",
            }, none
        return {
            "available": False,
            "reason": "estimation needs scores (binary) or class probabilities (multiclass, "
            f"2 to {MAX_PROBA_CLASSES} classes); this model's predictions carry neither",
        }, none
    realized = [hists[w.start] for w in found if w.state == "realized" and w.start in hists]
    estimating = [w for w in found if w.state == "estimating" and w.start in hists]
    if not estimating:
        return {"available": True, "reason": "no window is still estimating"}, none
    k = next(iter(hists.values())).k
    labels = next(iter(hists.values())).labels
    reference = ClassScoreHistograms.empty(k, labels)
    for h in realized:
        reference = reference.merge(h)
    per_class = reference.labelled_confusion.sum(axis=1)
    total = int(per_class.sum())
    if total < MIN_REFERENCE_LABELS or not per_class.all():
        held = ", ".join(f"{c!r}: {int(n)}" for c, n in zip(labels, per_class, strict=True))
        return {
            "available": False,
            "reason": f"calibration needs at least {MIN_REFERENCE_LABELS} labelled predictions "
            f"in realized windows, with every class among them; they hold {total} ({held})",
        }, none
    estimator = MulticlassEstimator.fit(reference)
    windows = [hists[w.start] for w in estimating]
    checks = estimator.check(windows)
    results = estimator.estimate_many(windows, check=checks, use_labels=True)
    out = {}
    for w, est in zip(estimating, results, strict=True):
        body = est.to_dict(metric_dict)
        body["labels"] = list(labels)
        out[(w.start, w.version, w.segment)] = body
    return {
        "available": True,
        "reference": f"the labelled predictions of the {len(realized)} realized windows "
        f"({total} labels)",
        "calibration": [
            {"class": c, **e.calibration.to_dict()}
            for c, e in zip(labels, estimator.per_class, strict=True)
        ],
        "check": [{"class": c, **ch.to_dict()} for c, ch in zip(labels, checks, strict=True)],
        "method": "confidence-based estimation from class probabilities, one-vs-rest per "
        "class with a joint draw of the confusion matrix (as NannyML's multiclass CBPE); "
        "macro averages; the labels a window already has are counted, the rest estimated",
    }, out


def _label_delay(source: StatisticsSource, scope: Scope) -> dict[str, Any] | None:
    try:
        return summarise_label_delays(
            source.label_delays(replace(scope, since=None, until=None, segment=None))
        ).to_dict()
    except LiveevalError:
        return None


def window_dict(
    window: Window, metrics: tuple[str, ...], *, requested: bool = False
) -> dict[str, Any]:
    """One window as JSON: counts, coverage, state and the chosen metrics. ``requested``
    (the metrics were named in the request): a named metric a window with predictions
    cannot give is present, undefined, with the reason (an empty window has none)."""
    shown: dict[str, Any] = {}
    confusion = None
    got = {} if window.result is None else window.result.metrics
    for name in metrics:
        if name in got:
            shown[name] = metric_dict(got[name])
        elif requested and window.predictions:  # an empty window's state says why
            shown[name] = metric_dict(_not_measured(window, name))
    if window.result is not None:
        if window.labelled:  # before labels there is no confusion matrix to show
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


def _shown_size(every: timedelta) -> str:
    return str(WindowSize(every=every))


def _not_measured(window: Window, name: str) -> MetricResult:
    """A named metric a window does not give, undefined, saying why."""
    spec = metric_spec(name)
    if spec.family in ("operational", "business") or window.labelled:
        why = spec.undefined_when
    else:
        why = "no labelled predictions in this window yet"
    return MetricResult.undefined(
        name, f"undefined: {why}", n=window.predictions, higher_is_better=spec.higher_is_better
    )
