"""Live drift: each window's features, score, predictions and labels against a reference.

Both sides are merges of the store's per-bucket histograms (features on the fixed bins
the store keeps per model and feature; scores in ``SCORE_BINS`` bins), so a drift read
over thirty days is a merge of small rows, never a scan. The call is the one
:func:`liveeval.metrics.drift.call_drift` makes for files: effect size above its
threshold and significant after Benjamini–Hochberg over every column × window in the
answer.

A reference is named in the request: ``version:NAME`` (all predictions of a version)
or ``START/END`` (a time range, ISO 8601, UTC), or ``previous:7d`` (the given duration
just before the first window).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..errors import NotFoundError, ValidationError
from ..metrics.drift import (
    DriftCall,
    DriftRule,
    Histogram,
    Status,
    measure_categorical,
    measure_numeric,
    measure_numeric_windows,
)
from ..metrics.drift_grid import DriftGrid, GridCalls, call_grids, categorical_grid, numeric_grid
from ..monitor.drift import ColumnDrift, Role, histogram_from_store
from ..monitor.windows import ceil_to, floor_to
from ..store.interface import (
    ROLLUP_BUCKET,
    SCORE_BINS,
    FeatureHistogram,
    FeatureWindows,
    Scope,
    ScoreHistogram,
    StatisticsSource,
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

    def scope(self, model: str, first_window: datetime | None) -> Scope:
        if self.before is not None:
            end = first_window or _EPOCH
            try:
                return Scope(model, end - self.before, end)
            except OverflowError:  # before year 1: from the beginning
                return Scope(model, None, end)
        return Scope(model, self.since, self.until, self.version)


def parse_reference(text: str) -> Reference:
    """``version:NAME``, ``START/END`` (ISO 8601, UTC) or ``previous:DURATION``.

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
        "a reference is 'version:NAME', 'START/END' (ISO 8601 times) or 'previous:7d' "
        "(the duration just before the first window)"
    )
    if raw.startswith("version:") and len(raw) > len("version:"):
        return Reference(raw, version=raw[len("version:") :])
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
    current = source.feature_window_arrays(scope, every, features)
    first = max(len(current.starts) - MAX_DRIFT_WINDOWS, 0)
    starts = list(current.starts[first:])
    ref_scope = ref.scope(model, starts[0] if starts else scope.since)
    merged = source.feature_windows(ref_scope, None, None)
    ref_hists: dict[str, FeatureHistogram] = next(iter(merged.values()), {})
    present = current.rows[first:] > 0
    shown = [n for f, n in enumerate(current.names) if present[:, f].any()]
    names = sorted(set(shown) | set(ref_hists))
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

    columns: list[_Column] = []
    slot = {n: f for f, n in enumerate(current.names)}
    for name in names:
        ref_h = ref_hists.get(name)
        if ref_h is not None and name in slot and present[:, slot[name]].any():
            columns.append(_feature_column(current, first, slot[name], ref_h, grid_rule))
    if pos_label is not None:
        columns += _score_columns(
            source, scope, ref_scope, every, starts, classes, pos_label, grid_rule
        )

    grid_calls, tests = call_grids([c.grid for c in columns], rule)
    text = rule.describe(tests)
    # Per window: (rank key, column, cell) of every column measured in it.
    by_window: list[list[tuple[tuple[int, float, str], _Column, GridCalls, int]]] = [
        [] for _ in starts
    ]
    for column, calls in zip(columns, grid_calls, strict=True):
        threshold = column.threshold = rule.threshold(column.grid.kind)
        effects = column.grid.effect.tolist()
        drifted = calls.drifted.tolist()
        column.cells = (
            [e if math.isfinite(e) else None for e in effects],
            [None if math.isnan(v) else v for v in column.grid.p_value.tolist()],
            [None if math.isnan(v) else v for v in calls.p_adjusted.tolist()],
            drifted,
            calls.status,
            column.grid.rows_current.tolist(),
        )
        for j, i in enumerate(column.windows.tolist()):
            effect = -1.0 if math.isnan(effects[j]) else effects[j]
            scaled = effect / threshold if threshold > 0 else effect
            by_window[i].append(((0 if drifted[j] else 1, -scaled, column.name), column, calls, j))
    for cells in by_window:
        cells.sort(key=lambda cell: cell[0])

    latest: list[dict[str, Any]] = []
    if starts:
        last = len(starts) - 1
        for _, column, calls, j in by_window[last]:
            # The latest window is what a user reads first: measured in full, with intervals.
            entry = column.full(last, grid_rule, calls, j, text).to_dict()
            entry["effect"].update(_interval(column, last, rule))
            latest.append(entry)
    return {
        "model": model,
        "window": window,
        "reference": {
            "given": ref.text,
            "since": None if ref_scope.since is None else ref_scope.since.isoformat(),
            "until": None if ref_scope.until is None else ref_scope.until.isoformat(),
            "version": ref_scope.version,
            "rows": {name: h.rows for name, h in ref_hists.items()},
        },
        "rule": {**rule.to_dict(), "description": text},
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
                "drifted": sorted(column.name for key, column, _, _ in by_window[i] if key[0] == 0),
                "columns": [
                    _cell(column, j, intervals and _interval(column, i, rule))
                    for _, column, _, j in by_window[i]
                ],
            }
            for i, start in enumerate(starts)
        ],
    }


def _cell(column: _Column, j: int, interval: dict[str, Any] | bool | None) -> dict[str, Any]:
    effect, p_value, p_adjusted, drifted, status, rows = column.cells
    out: dict[str, Any] = {
        "name": column.name,
        "role": column.role,
        "kind": column.grid.kind,
        "effect": effect[j],
        "threshold": column.threshold,
        "p_value": p_value[j],
        "p_adjusted": p_adjusted[j],
        "drifted": drifted[j],
        "status": status[j],
        "rows": rows[j],
    }
    if isinstance(interval, dict):
        out.update({"effect_lower": interval["lower"], "effect_upper": interval["upper"]})
    return out


@dataclass
class _Column:
    """One column of the grid: its reference, its cells (``windows[j]`` is the window
    of cell ``j``) and how to rebuild one window's histogram for a full measurement."""

    role: Role
    name: str
    reference: Histogram
    grid: DriftGrid
    windows: np.ndarray[Any, np.dtype[np.int64]]
    histogram: Callable[[int], Histogram]
    threshold: float = 0.0
    # The grid took the one-window path (a window without numbers): so does a full cell.
    scalar: bool = False
    # Per cell, as the answer shows them: effect, p-value, adjusted p, drifted, status, rows.
    cells: tuple[Sequence[Any], ...] = ()

    def full(self, i: int, rule: DriftRule, calls: GridCalls, j: int, text: str) -> ColumnDrift:
        current = self.histogram(i)
        if self.grid.kind == "categorical":
            m = measure_categorical(self.reference, current, rule)
        elif self.scalar:
            m = measure_numeric(self.reference, current, rule)
        else:
            m = measure_numeric_windows(self.reference, [current], rule)[0]
        p_adjusted = float(calls.p_adjusted[j])
        call = DriftCall(
            m,
            self.threshold,
            None if math.isnan(p_adjusted) else p_adjusted,
            bool(calls.drifted[j]),
            cast(Status, calls.status[j]),
            text,
        )
        return ColumnDrift(self.name, self.role, call)


def _interval(column: _Column, i: int, rule: DriftRule) -> dict[str, Any]:
    """The bootstrap interval of one cell's effect (measured again with the rule's
    bootstrap; the grid itself is measured without, for speed)."""
    current = column.histogram(i)
    if column.grid.kind == "numeric":
        m = measure_numeric(column.reference, current, rule)
    else:
        m = measure_categorical(column.reference, current, rule)
    finite = [
        None if v is None or not math.isfinite(v) else v for v in (m.effect_lower, m.effect_upper)
    ]
    return {"lower": finite[0], "upper": finite[1], "interval_method": m.interval_method}


def _feature_column(
    current: FeatureWindows, first: int, f: int, reference: FeatureHistogram, rule: DriftRule
) -> _Column:
    """A feature's grid from the store's arrays (windows ``first`` onwards)."""
    ref = histogram_from_store(reference)
    rows = current.rows[first:, f]
    at = np.flatnonzero(rows > 0)

    def histogram(i: int) -> Histogram:
        h = current.histogram(first + i, f)
        assert h is not None
        return histogram_from_store(h)

    bins = current.bins[first:, f][at]
    if len(ref.edges):
        b = len(ref.edges) - 1
        if current.edges[f] != reference.edges:
            # Bins fixed between the two reads: the one-window path names the mismatch.
            grid = DriftGrid.of(
                "numeric",
                measure_numeric_windows(ref, [histogram(int(i)) for i in at], rule),
            )
            return _Column("feature", current.names[f], ref, grid, at, histogram)
        counts = bins[:, : b + 2]
        scalar = bool(not ref.numeric_rows or not counts.sum(axis=1).all())
        grid = numeric_grid(ref, counts, rule)
        return _Column("feature", current.names[f], ref, grid, at, histogram, scalar=scalar)
    values, counts = current.categories[f]
    kept = counts[first:][at]
    other = current.strings[first:, f][at] - kept.sum(axis=1)
    missing = current.missing[first:, f][at] + bins.sum(axis=1)
    grid = categorical_grid(ref, values, kept, other, missing, rule)
    return _Column("feature", current.names[f], ref, grid, at, histogram)


def _score_columns(
    source: StatisticsSource,
    scope: Scope,
    ref_scope: Scope,
    every: timedelta,
    starts: list[datetime],
    classes: tuple[Any, ...] | None,
    pos_label: Any,
    rule: DriftRule,
) -> list[_Column]:
    """Score, predicted-label and label (prevalence) drift of a binary model."""
    current = source.score_histograms(scope, every, classes=classes, pos_label=pos_label)
    reference = source.score_histograms(ref_scope, None, classes=classes, pos_label=pos_label)
    ref = next(iter(reference.values()), None)
    if ref is None or ref.n == 0:
        return []
    windows = [current.get(s) for s in starts]
    at = np.array([i for i, w in enumerate(windows) if w is not None], dtype=np.int64)
    if at.size == 0:
        return []
    hists = [windows[i] for i in at.tolist()]
    predicted = np.array([h.predicted.sum(axis=1) for h in hists], np.int64).reshape(-1, 2)
    scores = np.array([h.predicted.sum(axis=0) for h in hists], np.int64).reshape(-1, SCORE_BINS)
    zeros = np.zeros(len(hists), dtype=np.int64)

    def score_hist(h: ScoreHistogram) -> Histogram:
        return Histogram(edges=_SCORE_EDGES, counts=h.predicted.sum(axis=0))

    def two(counts: np.ndarray[Any, Any]) -> Histogram:
        neg, pos = (int(v) for v in counts)
        return Histogram.from_categories({"negative": neg, "positive": pos})

    def window(i: int) -> ScoreHistogram:
        w = windows[i]
        assert w is not None
        return w

    ref_scores = score_hist(ref)
    full = np.column_stack([zeros, scores, zeros])
    scalar = bool(not ref_scores.numeric_rows or not full.sum(axis=1).all())
    out = [
        _Column(
            "score",
            "score",
            ref_scores,
            numeric_grid(ref_scores, full, rule),
            at,
            lambda i: score_hist(window(i)),
            scalar=scalar,
        ),
        _Column(
            "prediction",
            "predicted label",
            two(ref.predicted.sum(axis=1)),
            categorical_grid(two(ref.predicted.sum(axis=1)), _SIDES, predicted, zeros, zeros, rule),
            at,
            lambda i: two(window(i).predicted.sum(axis=1)),
        ),
    ]
    if ref.n_labelled:
        labelled = np.array([h.labelled.sum(axis=1) for h in hists], np.int64).reshape(-1, 2)
        has = labelled.sum(axis=1) > 0
        ref_labels = two(ref.labelled.sum(axis=1))
        out.append(
            _Column(
                "label",
                "label",
                ref_labels,
                categorical_grid(ref_labels, _SIDES, labelled[has], zeros[has], zeros[has], rule),
                at[has],
                lambda i: two(window(i).labelled.sum(axis=1)),
            )
        )
    return out


_SIDES = ("negative", "positive")


def _whole(d: timedelta) -> timedelta:
    return d if d % ROLLUP_BUCKET == timedelta(0) else (d // ROLLUP_BUCKET + 1) * ROLLUP_BUCKET
