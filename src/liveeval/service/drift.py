"""Live drift: each window's features, score, predictions and labels against a reference.

Both sides are merges of the store's per-bucket histograms (features on the fixed bins
the store keeps per model and feature; scores in ``SCORE_BINS`` bins), so a drift read
over thirty days is a merge of small rows, never a scan. The call is the one
:func:`liveeval.metrics.drift.call_drift` makes for files: effect size above its
threshold and significant after Benjamini–Hochberg over every column × window in the
answer.

A reference is named in the request: ``version:NAME`` (all predictions of a version)
or ``START/END`` (a time range, ISO 8601, UTC), or ``previous:7d`` (the given duration
just before the first window), or ``upload:NAME`` (a file registered under that name,
:mod:`liveeval.service.reference`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError, ValidationError
from ..metrics.drift import (
    DriftMeasurement,
    DriftRule,
    Histogram,
    call_drift,
    measure_categorical,
    measure_numeric,
    measure_numeric_windows,
)
from ..monitor.drift import ColumnDrift, Role, histogram_from_store
from ..monitor.windows import ceil_to, floor_to
from ..store.interface import (
    ROLLUP_BUCKET,
    SCORE_BINS,
    FeatureHistogram,
    ReferenceStore,
    Scope,
    ScoreHistogram,
    StatisticsSource,
    StoredReference,
)

if TYPE_CHECKING:
    from .core import Service

__all__ = ["Reference", "drift", "drift_of", "parse_reference"]

_EPOCH = datetime(1970, 1, 1)
_SCORE_EDGES = np.linspace(0.0, 1.0, SCORE_BINS + 1)
# More windows than this in one drift answer: the most recent ones.
MAX_DRIFT_WINDOWS = 2_000


@dataclass(frozen=True)
class Reference:
    """Which predictions a window is compared with."""

    text: str
    version: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: timedelta | None = None
    upload: str | None = None

    def scope(self, model: str, first_window: datetime | None) -> Scope:
        if self.before is not None:
            end = first_window or _EPOCH
            try:
                return Scope(model, end - self.before, end)
            except OverflowError:  # before year 1: from the beginning
                return Scope(model, None, end)
        return Scope(model, self.since, self.until, self.version)


def parse_reference(text: str) -> Reference:
    """``version:NAME``, ``START/END`` (ISO 8601, UTC), ``previous:DURATION`` or
    ``upload:NAME`` (a registered reference).

    Raises
    ------
    ValidationError
        naming the value and the accepted forms.
    """
    from ..config import parse_window
    from ..errors import ConfigError
    from .events import naive_utc

    raw = str(text).strip()
    forms = (
        "a reference is 'version:NAME', 'START/END' (ISO 8601 times), 'previous:7d' "
        "(the duration just before the first window) or 'upload:NAME' (a registered file)"
    )
    if raw.startswith("version:") and len(raw) > len("version:"):
        return Reference(raw, version=raw[len("version:") :])
    if raw.startswith("upload:"):
        from .reference import NAME_PATTERN

        name = raw[len("upload:") :]
        if not re.match(NAME_PATTERN, name):
            raise ValidationError(
                f"reference {raw[:80]!r}: an uploaded reference is 'upload:NAME', NAME of "
                "1–64 letters, digits, '.', '_' or '-'",
                column="reference",
            )
        return Reference(raw, upload=name)
    if raw.startswith("previous:"):
        try:
            before = parse_window(raw[len("previous:") :])
        except ConfigError:
            raise ValidationError(f"reference {raw[:80]!r}: {forms}", column="reference") from None
        return Reference(raw, before=_whole(before))
    start, sep, end = raw.partition("/")
    if sep:
        try:
            since = naive_utc(datetime.fromisoformat(start.replace("Z", "+00:00")))
            until = naive_utc(datetime.fromisoformat(end.replace("Z", "+00:00")))
        except ValueError:
            raise ValidationError(f"reference {raw[:80]!r}: {forms}", column="reference") from None
        if until <= since:
            raise ValidationError(
                f"reference {raw[:80]!r}: the end is not after the start", column="reference"
            )
        return Reference(
            raw, since=floor_to(since, ROLLUP_BUCKET), until=ceil_to(until, ROLLUP_BUCKET)
        )
    raise ValidationError(f"reference {raw[:80]!r}: {forms}", column="reference")


def drift(
    service: Service,
    model: str,
    *,
    reference: str,
    window: str = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    features: tuple[str, ...] | None = None,
    intervals: bool = False,
    rule: DriftRule | None = None,
) -> dict[str, Any]:
    """Drift of ``model``'s windows against ``reference`` (see the module docstring).

    Raises
    ------
    NotFoundError
        for a model neither served nor seen.
    ValidationError
        for a bad reference, window or feature name.
    """
    service.require_model(model)
    classes, pos_label, _ = service.model_meta(model, version)
    return drift_of(
        service.store,
        model,
        reference=reference,
        window=window,
        since=since,
        until=until,
        version=version,
        features=features,
        intervals=intervals,
        rule=rule,
        classes=classes,
        pos_label=pos_label,
    )


def drift_of(
    source: StatisticsSource,
    model: str,
    *,
    reference: str,
    window: str = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    features: tuple[str, ...] | None = None,
    intervals: bool = False,
    rule: DriftRule | None = None,
    classes: tuple[Any, ...] | None = None,
    pos_label: Any = None,
) -> dict[str, Any]:
    """:func:`drift` over any statistics source."""
    from ..config import parse_window
    from ..errors import ConfigError

    try:
        every = parse_window(window)
    except ConfigError:
        raise ValidationError(
            f"window {window[:40]!r} is not a duration like 1h or 1d", column="window"
        ) from None
    if every % ROLLUP_BUCKET:
        raise ValidationError(
            f"window {window}: drift windows are whole multiples of 15m", column="window"
        )
    ref = parse_reference(reference)
    rule = rule or DriftRule()
    grid_rule = replace(rule, bootstrap=0)
    scope = Scope(
        model,
        None if since is None else floor_to(since, every),
        None if until is None else ceil_to(until, every),
        version,
    )
    # Until a feature's bins are fixed (10,000 numbers), each read bins it on the
    # numbers stored so far: a load between the two reads can move those edges, so
    # read again until both sides agree (a store taking traffic, as the live demo's).
    for _ in range(5):
        current = source.feature_windows(scope, every, features)
        starts = sorted(current)[-MAX_DRIFT_WINDOWS:]
        resolved = _resolve(source, ref, model, starts[0] if starts else scope.since)
        ref_hists = resolved.features
        if _same_edges(ref_hists, [current[s] for s in starts]):
            break
    names = sorted({n for s in starts for n in current[s]} | set(ref_hists))
    if features is not None:
        ref_hists = {n: h for n, h in ref_hists.items() if n in features}
        unknown = [f for f in features if f not in names]
        if unknown:
            # A feature this model never had is a resource that does not exist: 404.
            raise NotFoundError(
                f"no feature {unknown[0]!r} in the reference or the windows; features: "
                f"{', '.join(names[:30]) or 'none'}"
            )
        names = [n for n in names if n in features]

    # (role, name) → reference histogram and one histogram per window (None: absent).
    columns: dict[tuple[Role, str], tuple[Histogram, list[Histogram | None]]] = {}
    for name in names:
        ref_h = ref_hists.get(name)
        if ref_h is None:
            continue
        columns[("feature", name)] = (ref_h, [_or_none(current[s].get(name)) for s in starts])
    if pos_label is not None:
        score_ref = resolved.score_columns(source, classes, pos_label)
        if score_ref:
            _add_score_columns(source, columns, scope, score_ref, every, starts, classes, pos_label)

    measured: list[tuple[int, Role, str, DriftMeasurement]] = []
    for (role, name), (ref_hist, hists) in columns.items():
        kind_numeric = bool(len(ref_hist.edges))
        present = [(i, h) for i, h in enumerate(hists) if h is not None]
        if kind_numeric:
            found = measure_numeric_windows(ref_hist, [h for _, h in present], grid_rule)
            measured += [(i, role, name, m) for (i, _), m in zip(present, found, strict=True)]
        else:
            measured += [
                (i, role, name, measure_categorical(ref_hist, h, grid_rule)) for i, h in present
            ]
    calls = call_drift([m for *_, m in measured], rule)
    by_window: dict[int, list[ColumnDrift]] = {}
    for (i, role, name, _), call in zip(measured, calls, strict=True):
        by_window.setdefault(i, []).append(ColumnDrift(name, role, call))

    latest: list[dict[str, Any]] = []
    if starts:
        last = len(starts) - 1
        for column in sorted(by_window.get(last, []), key=lambda c: c.rank_key):
            # The latest window is what a user reads first: its effects get intervals.
            entry = column.to_dict()
            entry["effect"].update(_interval(columns, column, last, rule))
            latest.append(entry)
    return {
        "model": model,
        "window": window,
        "reference": resolved.describe(ref_hists),
        "rule": {
            **rule.to_dict(),
            "description": rule.describe(sum(c.p_adjusted is not None for c in calls)),
        },
        "bins": "features on the store's fixed bins per model and feature (50 quantiles of "
        "the first 10,000 values, open ends); scores in 1000 equal bins of [0, 1]",
        "latest": {
            "start": starts[-1].isoformat() if starts else None,
            "columns": latest,
        },
        "windows": [
            {
                "start": start.isoformat(),
                "end": (start + every).isoformat(),
                "drifted": sorted(c.name for c in by_window.get(i, []) if c.drifted),
                "columns": [
                    _cell(c, intervals and _interval(columns, c, i, rule))
                    for c in sorted(by_window.get(i, []), key=lambda c: c.rank_key)
                ],
            }
            for i, start in enumerate(starts)
        ],
    }


def _cell(column: ColumnDrift, interval: dict[str, Any] | bool | None) -> dict[str, Any]:
    m = column.call.measurement
    effect = m.effect if m.effect is None or math.isfinite(m.effect) else None
    out: dict[str, Any] = {
        "name": column.name,
        "role": column.role,
        "kind": m.kind,
        "effect": effect,
        "threshold": column.call.threshold,
        "p_value": m.p_value,
        "p_adjusted": column.call.p_adjusted,
        "drifted": column.call.drifted,
        "status": column.call.status,
        "rows": m.rows_current,
    }
    if isinstance(interval, dict):
        out.update({"effect_lower": interval["lower"], "effect_upper": interval["upper"]})
    return out


def _interval(
    columns: dict[tuple[Role, str], tuple[Histogram, list[Histogram | None]]],
    column: ColumnDrift,
    i: int,
    rule: DriftRule,
) -> dict[str, Any]:
    """The bootstrap interval of one cell's effect (measured again with the rule's
    bootstrap; the grid itself is measured without, for speed)."""
    ref_hist, hists = columns[(column.role, column.name)]
    current = hists[i]
    if current is None:
        return {"lower": None, "upper": None, "interval_method": "none"}
    if column.kind == "numeric":
        m = measure_numeric(ref_hist, current, rule)
    else:
        m = measure_categorical(ref_hist, current, rule)
    finite = [
        None if v is None or not math.isfinite(v) else v for v in (m.effect_lower, m.effect_upper)
    ]
    return {"lower": finite[0], "upper": finite[1], "interval_method": m.interval_method}


def _add_score_columns(
    source: StatisticsSource,
    columns: dict[tuple[Role, str], tuple[Histogram, list[Histogram | None]]],
    scope: Scope,
    reference: dict[tuple[Role, str], Histogram],
    every: timedelta,
    starts: list[datetime],
    classes: tuple[Any, ...] | None,
    pos_label: Any,
) -> None:
    """Score, predicted-label and label (prevalence) drift of a binary model against
    the reference's columns (:func:`_score_reference`)."""
    current = source.score_histograms(scope, every, classes=classes, pos_label=pos_label)
    windows = [current.get(s) for s in starts]

    def scores(h: ScoreHistogram) -> Histogram:
        return Histogram(edges=_SCORE_EDGES, counts=h.predicted.sum(axis=0))

    def predicted(h: ScoreHistogram) -> Histogram:
        neg, pos = (int(v) for v in h.predicted.sum(axis=1))
        return Histogram.from_categories({"negative": neg, "positive": pos})

    def labels(h: ScoreHistogram) -> Histogram:
        neg, pos = (int(v) for v in h.labelled.sum(axis=1))
        return Histogram.from_categories({"negative": neg, "positive": pos})

    if ("score", "score") in reference:
        columns[("score", "score")] = (
            reference[("score", "score")],
            [None if w is None else scores(w) for w in windows],
        )
    if ("prediction", "predicted label") in reference:
        columns[("prediction", "predicted label")] = (
            reference[("prediction", "predicted label")],
            [None if w is None else predicted(w) for w in windows],
        )
    if ("label", "label") in reference:
        columns[("label", "label")] = (
            reference[("label", "label")],
            [None if w is None or not w.n_labelled else labels(w) for w in windows],
        )


def _score_reference(ref: ScoreHistogram | None) -> dict[tuple[Role, str], Histogram]:
    """A store scope's score, predicted-label and label histograms (none without scores)."""
    if ref is None or ref.n == 0:
        return {}
    neg, pos = (int(v) for v in ref.predicted.sum(axis=1))
    out: dict[tuple[Role, str], Histogram] = {
        ("score", "score"): Histogram(edges=_SCORE_EDGES, counts=ref.predicted.sum(axis=0)),
        ("prediction", "predicted label"): Histogram.from_categories(
            {"negative": neg, "positive": pos}
        ),
    }
    if ref.n_labelled:
        neg, pos = (int(v) for v in ref.labelled.sum(axis=1))
        out[("label", "label")] = Histogram.from_categories({"negative": neg, "positive": pos})
    return out


def _uploaded_score_reference(ref: StoredReference) -> dict[tuple[Role, str], Histogram]:
    """An uploaded reference's score, predicted-label and label histograms."""
    out: dict[tuple[Role, str], Histogram] = {}
    if ref.scores is not None and any(ref.scores):
        out[("score", "score")] = Histogram(
            edges=_SCORE_EDGES, counts=np.asarray(ref.scores, dtype=np.int64)
        )
    if ref.predicted is not None and any(ref.predicted.values()):
        out[("prediction", "predicted label")] = Histogram.from_categories(ref.predicted)
    if ref.labels is not None and any(ref.labels.values()):
        out[("label", "label")] = Histogram.from_categories(ref.labels)
    return out


@dataclass
class _Resolved:
    """A reference as drift reads it: feature histograms, and where the score columns
    come from (a store scope, or an uploaded file)."""

    given: str
    features: dict[str, Histogram]
    rows: dict[str, int]
    scope: Scope | None = None
    stored: StoredReference | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def score_columns(
        self, source: StatisticsSource, classes: tuple[Any, ...] | None, pos_label: Any
    ) -> dict[tuple[Role, str], Histogram]:
        if self.stored is not None:
            return _uploaded_score_reference(self.stored)
        if self.scope is None:
            return {}
        found = source.score_histograms(self.scope, None, classes=classes, pos_label=pos_label)
        return _score_reference(next(iter(found.values()), None))

    def describe(self, shown: dict[str, Histogram]) -> dict[str, Any]:
        scope = self.scope
        return {
            "given": self.given,
            "since": None if scope is None or scope.since is None else scope.since.isoformat(),
            "until": None if scope is None or scope.until is None else scope.until.isoformat(),
            "version": None if scope is None else scope.version,
            "rows": {name: self.rows[name] for name in shown},
            **self.extra,
        }


def _resolve(
    source: StatisticsSource, ref: Reference, model: str, first_window: datetime | None
) -> _Resolved:
    """The reference's histograms: merged from the store's rollups over its scope, or
    read from the registered upload.

    Raises
    ------
    NotFoundError
        for an upload name the model does not have.
    ValidationError
        for an upload asked of a source that keeps no references (a file export).
    """
    if ref.upload is None:
        scope = ref.scope(model, first_window)
        merged = source.feature_windows(scope, None, None)
        found: dict[str, FeatureHistogram] = next(iter(merged.values()), {})
        return _Resolved(
            ref.text,
            {n: histogram_from_store(h) for n, h in found.items()},
            {n: h.rows for n, h in found.items()},
            scope=scope,
        )
    if not isinstance(source, ReferenceStore):
        raise ValidationError(
            f"reference {ref.text!r}: uploaded references live in a store (a server or a "
            "store file); this source keeps none",
            column="reference",
        )
    stored = source.reference(model, ref.upload)
    if stored is None:
        from .reference import missing_reference_message

        names = [r.name for r in source.references(model)]
        raise NotFoundError(missing_reference_message(names, model, ref.upload))
    features: dict[str, Histogram] = {}
    for name, h in stored.features.items():
        hist = histogram_from_store(h)
        moments = stored.moments.get(name)
        if moments is not None and moments[0]:
            # The exact sums make the reference's standard deviation exact.
            hist = replace(hist, value_sum=moments[1], value_sum_squares=moments[2])
        features[name] = hist
    return _Resolved(
        ref.text,
        features,
        {n: h.rows for n, h in stored.features.items()},
        stored=stored,
        extra={
            "upload": stored.name,
            "created": None if stored.created is None else stored.created.isoformat(),
            "file_rows": stored.rows,
        },
    )


def _same_edges(
    reference: Mapping[str, Histogram], windows: list[dict[str, FeatureHistogram]]
) -> bool:
    return all(
        tuple(w[name].edges) == tuple(h.edges)
        for name, h in reference.items()
        if len(h.edges)
        for w in windows
        if name in w and len(w[name].edges)
    )


def _or_none(h: FeatureHistogram | None) -> Histogram | None:
    return None if h is None else histogram_from_store(h)


def _whole(d: timedelta) -> timedelta:
    return d if d % ROLLUP_BUCKET == timedelta(0) else (d // ROLLUP_BUCKET + 1) * ROLLUP_BUCKET
