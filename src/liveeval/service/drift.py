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

import hashlib
import math
import re
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..errors import NotFoundError, ValidationError
from ..metrics.drift import (
    DriftCall,
    DriftMeasurement,
    DriftRule,
    Histogram,
    Status,
    measure_categorical,
    measure_numeric,
    measure_numeric_windows,
)
from ..metrics.drift_grid import DriftGrid, GridCalls, call_grids, categorical_grid
from ..monitor.drift import ColumnDrift, Role, histogram_from_store
from ..monitor.windows import ceil_to, floor_to
from ..store.interface import (
    ROLLUP_BUCKET,
    SCORE_BINS,
    FeatureHistogram,
    FeatureWindows,
    ReferenceStore,
    Scope,
    ScoreHistogram,
    ScoreWindows,
    ScoreWindowSource,
    StatisticsSource,
    StoredReference,
)
from ._clock import now
from ._drift_kept import NumericColumn, kept_numeric_grids
from ._future import after_now_notes

if TYPE_CHECKING:
    from .core import Service

__all__ = ["Reference", "drift", "drift_of", "parse_reference"]

_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
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

    def scope(self, model: str, first_window: datetime | None) -> Scope | None:
        """The reference's predictions; None for ``previous:`` without a first window."""
        if self.before is not None:
            if first_window is None:
                return None
            end = first_window
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
        except ConfigError as exc:
            why = str(exc) if "longest window" in str(exc) else forms
            raise ValidationError(f"reference {raw[:80]!r}: {why}", column="reference") from None
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
    # Without ``until`` the windows end with the one holding now: a prediction dated in
    # the future (a client's clock ahead) must not become the "latest" window; the
    # answer's notes count what was left out.
    end = now() if until is None else until
    answer = drift_of(
        service.store,
        model,
        reference=reference,
        window=window,
        since=since,
        until=end,
        version=version,
        features=features,
        intervals=intervals,
        rule=rule,
        classes=classes,
        pos_label=pos_label,
    )
    if until is None:
        from ..config import parse_window

        boundary = ceil_to(end, parse_window(window)) or end
        answer["notes"] = after_now_notes(service.store, boundary, [model])
    return answer


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
    scores: ScoreWindows | None = None
    unscored: str | None = None  # why scores are not compared, when they are not
    # A source whose reads may run at once (each on its own cursor; DuckDB releases
    # the GIL while it runs a query) reads the windows' scores, and a reference whose
    # scope does not depend on the windows, beside the windows' features.
    pending_scores: Future[tuple[ScoreWindows, str | None]] | None = None
    pending_ref: Future[tuple[_Resolved, dict[tuple[Role, str], Histogram]]] | None = None
    if getattr(source, "concurrent_reads", False):
        pool = _read_pool()
        if pos_label is not None or classes is None:
            pending_scores = pool.submit(_score_windows, source, scope, every, classes, pos_label)
        if ref.before is None:
            pending_ref = pool.submit(_resolve_scored, source, ref, model, classes, pos_label)
    score_ref: dict[tuple[Role, str], Histogram] | None = None
    # Until a feature's bins are fixed (10,000 numbers), each read bins it on the
    # numbers stored so far: a load between the two reads can move those edges, so
    # read again until both sides agree (a store taking traffic, as the live demo's).
    for _ in range(5):
        current = source.feature_window_arrays(scope, every, features)
        if scores is None:
            # After the features' read (which waits for a PostgreSQL store's rolls).
            scores, unscored = ScoreWindows.of({}), None
            if pending_scores is not None:
                scores, unscored = pending_scores.result()
            elif pos_label is not None or classes is None:
                scores, unscored = _score_windows(source, scope, every, classes, pos_label)
        # The windows with features or scores (a model may log scores and no features).
        starts = sorted({*current.starts, *scores.starts})[-MAX_DRIFT_WINDOWS:]
        first = bisect_left(current.starts, starts[0]) if starts else len(current.starts)
        if pending_ref is not None:
            resolved, score_ref = pending_ref.result()
            pending_ref = None
        else:
            resolved = _resolve(source, ref, model, starts[0] if starts else scope.since)
            score_ref = None
        ref_hists = resolved.features
        present = current.rows[first:] > 0
        if _same_edges(ref_hists, current, present):
            break
    index = {start: i for i, start in enumerate(starts)}
    # Each feature window's place among ``starts``.
    placed = np.array([index[s] for s in current.starts[first:]], dtype=np.int64)
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
    compared = bool(ref_hists)  # whether the reference holds anything to compare with
    slot = {n: f for f, n in enumerate(current.names)}
    for name in names:
        ref_h = ref_hists.get(name)
        if ref_h is not None and name in slot and present[:, slot[name]].any():
            columns.append(_feature_column(current, first, placed, slot[name], ref_h, grid_rule))
    if scores is not None and scores.starts:
        if score_ref is None:
            score_ref = resolved.score_columns(source, classes, pos_label)
        compared |= bool(score_ref)
        if score_ref:
            columns += _score_columns(scores, score_ref, starts, grid_rule)
    # The numeric columns' grids together, reusing kept cells of unchanged windows.
    numeric = [column for column in columns if column.counts is not None]
    if numeric:
        window_keys = np.array([(s - _EPOCH) // _SECOND for s in starts], dtype=np.int64)
        found = kept_numeric_grids(
            [
                NumericColumn((n.role, n.name), n.reference, n.counts, window_keys[n.windows])
                for n in numeric
                if n.counts is not None
            ],
            grid_rule,
        )
        for column, grid in zip(numeric, found, strict=True):
            column.grid, column.counts = grid, None

    grid_calls, tests = call_grids([c.grid for c in columns], rule)
    text = rule.describe(tests)
    # Column-wise: every column's cells as JSON at once, then one sort of all cells by
    # (window, drifted first, effect over threshold descending, name).
    cells: list[dict[str, Any]] = []
    # Per cell: its window, 0 if drifted, −effect / threshold, its column, its index there.
    parts: list[list[np.ndarray[Any, Any]]] = [[], [], [], [], []]
    for c, (column, calls) in enumerate(zip(columns, grid_calls, strict=True)):
        threshold = column.threshold = rule.threshold(column.grid.kind)
        effects = column.grid.effect
        column.cells = (
            [e if math.isfinite(e) else None for e in effects.tolist()],
            [None if math.isnan(v) else v for v in column.grid.p_value.tolist()],
            [None if math.isnan(v) else v for v in calls.p_adjusted.tolist()],
            calls.drifted.tolist(),
            calls.status,
            column.grid.rows_current.tolist(),
        )
        cells += _cells(column)
        scaled = np.where(np.isnan(effects), -1.0, effects)
        if threshold > 0:
            scaled = scaled / threshold
        for part, values in zip(
            parts,
            (
                column.windows,
                (~calls.drifted).astype(np.int64),
                -scaled,
                np.full(effects.size, c, np.int64),
                np.arange(effects.size, dtype=np.int64),
            ),
            strict=True,
        ):
            part.append(values)
    keys = [np.concatenate(part) if part else np.zeros(0, np.int64) for part in parts]
    owner_column, owner_cell = keys[3].tolist(), keys[4].tolist()
    # Names rank by text; columns of one name keep their order (a stable sort).
    rank = {n: r for r, n in enumerate(sorted({column.name for column in columns}))}
    name_rank = np.array([rank[column.name] for column in columns], np.int64)[keys[3]]
    order = np.lexsort((keys[3], name_rank, keys[2], keys[1], keys[0])).tolist()
    window_of = keys[0][order] if order else np.zeros(0, np.int64)
    bounds = np.searchsorted(window_of, np.arange(len(starts) + 1)).tolist()
    by_window = [order[bounds[i] : bounds[i + 1]] for i in range(len(starts))]
    # A window's drifted cells come first in its order: how many there are.
    called = (keys[1][order] == 0) if order else np.zeros(0, np.bool_)
    drifted_in = np.bincount(window_of[called], minlength=len(starts)).tolist()
    if intervals:
        for i, members in enumerate(by_window):
            for k in members:
                interval = _interval(columns[owner_column[k]], i, rule)
                cells[k].update(
                    {"effect_lower": interval["lower"], "effect_upper": interval["upper"]}
                )

    latest: list[dict[str, Any]] = []
    reason = None if unscored is None else f"scores are not compared: {unscored}"
    if not starts:
        reason = "no window to compare: no prediction in the range carries features" + (
            f", and {reason}" if reason else " or a score"
        )
    elif not compared:
        reason = f"the reference {ref.text!r} holds no predictions to compare with"
    if starts:
        last = len(starts) - 1
        for k in by_window[last]:
            c, j = owner_column[k], owner_cell[k]
            column, calls = columns[c], grid_calls[c]
            # The latest window is what a user reads first: measured in full, with intervals
            # (one measurement with the rule's bootstrap gives both).
            measured = column.measure(last, rule)
            entry = column.full(measured, calls, j, text).to_dict()
            entry["effect"].update(_interval_of(measured))
            latest.append(entry)
    return {
        "model": model,
        "window": window,
        "reference": resolved.describe(ref_hists),
        "rule": {**rule.to_dict(), "description": text},
        "bins": "features on the store's fixed bins per model and feature (50 quantiles of "
        "the first 10,000 values, open ends); scores in 1000 equal bins of [0, 1]",
        "latest": {
            "start": starts[-1].isoformat() if starts else None,
            "columns": latest,
        },
        "reason": reason,
        "windows": [
            {
                "start": start.isoformat(),
                "end": (start + every).isoformat(),
                "drifted": sorted(cells[k]["name"] for k in members[:called_here]),
                "columns": list(map(cells.__getitem__, members)),
            }
            for start, members, called_here in zip(starts, by_window, drifted_in, strict=True)
        ],
    }


def _cells(column: _Column) -> list[dict[str, Any]]:
    """Every cell of ``column`` as the answer shows it."""
    name, role, kind, threshold = column.name, column.role, column.grid.kind, column.threshold
    return [
        {
            "name": name,
            "role": role,
            "kind": kind,
            "effect": effect,
            "threshold": threshold,
            "p_value": p_value,
            "p_adjusted": p_adjusted,
            "drifted": drifted,
            "status": status,
            "rows": rows,
        }
        for effect, p_value, p_adjusted, drifted, status, rows in zip(*column.cells, strict=True)
    ]


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
    # A numeric column's window rows ``[below, counts…, above]`` until its grid is
    # computed with the others' (then ``None``).
    counts: np.ndarray[Any, np.dtype[np.int64]] | None = None

    def measure(self, i: int, rule: DriftRule) -> DriftMeasurement:
        """Window ``i`` measured in full (with ``rule``'s bootstrap interval), or the
        measurement of the same counts kept from an earlier read (:data:`_MEASURED`)."""
        current = self.histogram(i)
        key = _measured_key(self.grid.kind, self.scalar, self.reference, current, rule)
        with _MEASURED_LOCK:
            kept = _MEASURED.get(key)
            if kept is not None:
                _MEASURED.move_to_end(key)
                return kept
        if self.grid.kind == "categorical":
            measured = measure_categorical(self.reference, current, rule)
        elif self.scalar:
            measured = measure_numeric(self.reference, current, rule)
        else:
            measured = measure_numeric_windows(self.reference, [current], rule)[0]
        with _MEASURED_LOCK:
            _MEASURED[key] = measured
            while len(_MEASURED) > MEASURED_KEPT:
                _MEASURED.popitem(last=False)
        return measured

    def full(self, m: DriftMeasurement, calls: GridCalls, j: int, text: str) -> ColumnDrift:
        """The call of cell ``j`` (measured in full as ``m``) as the answer shows it."""
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


# The latest window's full measurements, by what determines them: the column's kind
# and path, the reference's and the window's counts, and the rule (the bootstrap is
# seeded, so equal inputs give equal measurements). A closed window read again — the
# dashboard, Prometheus and API reads of one state — skips its bootstrap (~12% of a
# read); a window still taking predictions has new counts and is measured anew.
MEASURED_KEPT = 512
_MEASURED: OrderedDict[bytes, DriftMeasurement] = OrderedDict()
_MEASURED_LOCK = threading.Lock()


def _measured_key(
    kind: str, scalar: bool, reference: Histogram, current: Histogram, rule: DriftRule
) -> bytes:
    digest = hashlib.blake2b(repr((kind, scalar, rule)).encode(), digest_size=32)
    for h in (reference, current):
        digest.update(np.ascontiguousarray(h.edges, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(h.counts, dtype=np.int64).tobytes())
        digest.update(
            repr(
                (
                    np.size(h.edges),
                    np.size(h.counts),
                    h.below,
                    h.above,
                    sorted(h.categories.items()),
                    h.other,
                    h.missing,
                    h.value_sum,
                    h.value_sum_squares,
                )
            ).encode()
        )
    return digest.digest()


def _interval(column: _Column, i: int, rule: DriftRule) -> dict[str, Any]:
    """The bootstrap interval of one cell's effect (measured again with the rule's
    bootstrap; the grid itself is measured without, for speed)."""
    current = column.histogram(i)
    if column.grid.kind == "numeric":
        m = measure_numeric(column.reference, current, rule)
    else:
        m = measure_categorical(column.reference, current, rule)
    return _interval_of(m)


def _interval_of(m: DriftMeasurement) -> dict[str, Any]:
    """A measurement's effect interval as the answer shows it."""
    finite = [
        None if v is None or not math.isfinite(v) else v for v in (m.effect_lower, m.effect_upper)
    ]
    return {"lower": finite[0], "upper": finite[1], "interval_method": m.interval_method}


def _feature_column(
    current: FeatureWindows,
    first: int,
    placed: np.ndarray[Any, np.dtype[np.int64]],
    f: int,
    ref: Histogram,
    rule: DriftRule,
) -> _Column:
    """A feature's grid from the store's arrays (windows ``first`` onwards, the answer's
    windows ``placed``) against the reference's histogram (a store scope's or an
    upload's)."""
    rows = current.rows[first:, f]
    at = np.flatnonzero(rows > 0)

    def histogram(w: int) -> Histogram:
        # ``placed`` rises with the windows: window ``w``'s row is where it sits there.
        h = current.histogram(first + int(np.searchsorted(placed, w)), f)
        assert h is not None
        return histogram_from_store(h)

    windows = placed[at]
    bins = current.bins[first:, f][at]
    if len(ref.edges):
        b = len(ref.edges) - 1
        if tuple(current.edges[f]) != tuple(ref.edges.tolist()):
            # Bins fixed between the two reads: the one-window path names the mismatch.
            grid = DriftGrid.of(
                "numeric",
                measure_numeric_windows(ref, [histogram(int(w)) for w in windows], rule),
            )
            return _Column("feature", current.names[f], ref, grid, windows, histogram)
        counts = bins[:, : b + 2]
        scalar = bool(not ref.numeric_rows or not counts.sum(axis=1).all())
        return _Column(
            "feature", current.names[f], ref, _NO_GRID, windows, histogram, scalar, counts=counts
        )
    values, counts = current.categories[f]
    kept = counts[first:][at]
    other = current.strings[first:, f][at] - kept.sum(axis=1)
    missing = current.missing[first:, f][at] + bins.sum(axis=1)
    grid = categorical_grid(ref, values, kept, other, missing, rule)
    return _Column("feature", current.names[f], ref, grid, windows, histogram)


def _score_columns(
    current: ScoreWindows,
    reference: dict[tuple[Role, str], Histogram],
    starts: list[datetime],
    rule: DriftRule,
) -> list[_Column]:
    """Score, predicted-label and label (prevalence) drift of a binary model's windows
    ``current`` against the reference's columns (:meth:`_Resolved.score_columns`: a
    store scope's or an upload's; a column the reference lacks is not measured)."""
    index = {start: i for i, start in enumerate(starts)}
    at = np.array([index[s] for s in current.starts if s in index], dtype=np.int64)
    if at.size == 0:
        return []
    # The rows of ``current`` the answer's windows ``at`` hold (the most recent ones).
    rows = np.arange(len(current.starts) - at.size, len(current.starts))
    row_of = {int(w): int(r) for w, r in zip(at.tolist(), rows.tolist(), strict=True)}
    zeros = np.zeros(at.size, dtype=np.int64)

    def two(counts: np.ndarray[Any, Any]) -> Histogram:
        neg, pos = (int(v) for v in counts)
        return Histogram.from_categories({"negative": neg, "positive": pos})

    out: list[_Column] = []
    ref_scores = reference.get(("score", "score"))
    if ref_scores is not None:
        scores = current.scores[rows]
        full = np.column_stack([zeros, scores, zeros])
        scalar = bool(not ref_scores.numeric_rows or not full.sum(axis=1).all())
        out.append(
            _Column(
                "score",
                "score",
                ref_scores,
                _NO_GRID,
                at,
                lambda i: Histogram(edges=_SCORE_EDGES, counts=current.scores[row_of[i]]),
                scalar=scalar,
                counts=full,
            )
        )
    ref_predicted = reference.get(("prediction", "predicted label"))
    if ref_predicted is not None:
        predicted = current.predicted[rows]
        out.append(
            _Column(
                "prediction",
                "predicted label",
                ref_predicted,
                categorical_grid(ref_predicted, _SIDES, predicted, zeros, zeros, rule),
                at,
                lambda i: two(current.predicted[row_of[i]]),
            )
        )
    ref_labels = reference.get(("label", "label"))
    if ref_labels is not None:
        labelled = current.labelled[rows]
        has = labelled.sum(axis=1) > 0
        out.append(
            _Column(
                "label",
                "label",
                ref_labels,
                categorical_grid(ref_labels, _SIDES, labelled[has], zeros[has], zeros[has], rule),
                at[has],
                lambda i: two(current.labelled[row_of[i]]),
            )
        )
    return out


_SIDES = ("negative", "positive")
# A numeric column's grid until :func:`kept_numeric_grids` computes it.
_NO_GRID = DriftGrid(
    "numeric", np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.bool_)
)


def _score_windows(
    source: StatisticsSource,
    scope: Scope,
    every: timedelta,
    classes: tuple[Any, ...] | None,
    pos_label: Any,
) -> tuple[ScoreWindows, str | None]:
    """The windows' scores as arrays: in one read where the source answers them so,
    else from its score histograms. Without ``pos_label`` the store's score read infers
    it from the labels (1 of 0/1 or -1/1, as the metrics read); for other labels there
    are no score windows, and why."""
    try:
        if isinstance(source, ScoreWindowSource):
            found = source.score_window_arrays(scope, every, classes=classes, pos_label=pos_label)
        else:
            found = ScoreWindows.of(
                source.score_histograms(scope, every, classes=classes, pos_label=pos_label)
            )
    except ValidationError as exc:
        if pos_label is not None:
            raise
        return ScoreWindows.of({}), str(exc)
    return found, None


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
        try:
            found = source.score_histograms(self.scope, None, classes=classes, pos_label=pos_label)
        except ValidationError:
            if pos_label is not None:
                raise
            return {}  # an undeclared model whose reference labels give no positive class
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
        if scope is None:
            return _Resolved(
                ref.text, {}, {},
                extra={"reason": f"{ref.text!r} is the time just before the first window, and "
                       "there is none"},
            )  # fmt: skip
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


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _read_pool() -> ThreadPoolExecutor:
    """The threads that run a drift read's other store reads (made on first use)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(2, thread_name_prefix="liveeval-drift-read"))
        return _POOL[0]


def _resolve_scored(
    source: StatisticsSource,
    ref: Reference,
    model: str,
    classes: tuple[Any, ...] | None,
    pos_label: Any,
) -> tuple[_Resolved, dict[tuple[Role, str], Histogram]]:
    """A reference that does not depend on the windows (not ``previous:``), with its
    score columns when the model has a positive class (else none)."""
    resolved = _resolve(source, ref, model, None)
    if pos_label is None:
        return resolved, {}
    return resolved, resolved.score_columns(source, classes, pos_label)


def _same_edges(
    reference: Mapping[str, Histogram], current: FeatureWindows, present: np.ndarray[Any, Any]
) -> bool:
    """Whether every numeric reference feature has the windows' bin edges (checked only
    for features some window shown carries with numbers' edges)."""
    slot = {n: f for f, n in enumerate(current.names)}
    for name, h in reference.items():
        f = slot.get(name)
        if f is None or not len(h.edges) or not current.edges[f] or not present[:, f].any():
            continue
        if tuple(current.edges[f]) != tuple(h.edges.tolist()):
            return False
    return True


def _whole(d: timedelta) -> timedelta:
    return d if d % ROLLUP_BUCKET == timedelta(0) else (d // ROLLUP_BUCKET + 1) * ROLLUP_BUCKET
