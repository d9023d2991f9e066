"""Windows over time: what was predicted, how much of it has ground truth yet, and the
metrics of what has.

Windows are cohorts by **prediction time**: an outcome that arrives a day later counts
in the window its prediction was made in, so a recent window fills in as labels
arrive. Every window says how far it has (``label_coverage``, labelled / ok
predictions) and whether it is still ``estimating`` (coverage below the maturity
level) or ``realized``. Label delay is normal; it is shown, never hidden.

Windows are merges of the store's per-bucket sufficient statistics
(:meth:`~liveeval.store.StatisticsSource.grouped_statistics`), never a scan of rows
here. Count windows ("every N labelled predictions") merge consecutive buckets until
each holds at least N labelled predictions, so a count window ends on a bucket
boundary and may hold a few more than N (its ``labelled`` says how many).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from ..errors import ValidationError
from ..metrics.batch import binary_column_results, evaluation_results
from ..metrics.evaluation import _LATENCY, EvaluationResult
from ..metrics.labels import Label
from ..metrics.registry import metric_spec
from ..metrics.result import MetricResult
from ..store.interface import (
    GroupedArrays,
    LabelDelays,
    Scope,
    ScoreHistogram,
    StatisticsSource,
    StoreStats,
    event_years,
)
from ._window_cache import WindowResults

__all__ = [
    "DEFAULT_MATURITY",
    "MAX_WINDOWS",
    "LabelDelaySummary",
    "TimeWindows",
    "Window",
    "WindowResults",
    "WindowSize",
    "count_windows",
    "summarise_label_delays",
    "time_windows",
]

# A window is read as realized once this share of its ok predictions has ground truth.
DEFAULT_MATURITY = 0.9
# More windows than this in one answer is a mistake (1m windows over a year), not a view.
MAX_WINDOWS = 10_000

_EPOCH = datetime(1970, 1, 1)
State = Literal["empty", "estimating", "realized"]


@dataclass(frozen=True)
class WindowSize:
    """A tumbling time window (``every``) or a count window (``labelled`` per window)."""

    every: timedelta | None = None
    labelled: int | None = None

    @classmethod
    def parse(cls, text: str) -> WindowSize:
        """``15m``, ``1h``, ``1d`` … for time windows; a bare integer ``N`` for windows of
        N labelled predictions.

        Raises
        ------
        ValidationError
            naming the value and what is accepted.
        """
        from ..config import parse_window
        from ..errors import ConfigError

        raw = str(text).strip()
        if raw.isdigit():
            n = int(raw)
            if not 1 <= n <= 10_000_000:
                raise ValidationError(
                    f"window size {raw}: a count window needs 1 to 10,000,000 labelled predictions",
                    column="size",
                )
            return cls(labelled=n)
        try:
            return cls(every=parse_window(raw))
        except ConfigError as exc:
            if "longest window" in str(exc):
                raise ValidationError(str(exc), column="size") from None
            raise ValidationError(
                f"window size {raw[:40]!r} is neither a duration like 15m, 1h or 1d nor a "
                "number of labelled predictions like 500",
                column="size",
            ) from None

    def __str__(self) -> str:
        if self.labelled is not None:
            return f"{self.labelled} labelled"
        assert self.every is not None  # one of the two is always set by parse()
        return _duration(self.every)


@dataclass(frozen=True)
class Window:
    """One window of one model (and version and segment when grouped by them)."""

    start: datetime
    end: datetime
    version: str | None
    segment: str | None
    predictions: int
    failed: int
    labelled: int
    maturity: float
    result: EvaluationResult | None = None
    notes: tuple[str, ...] = ()
    # Metrics of the window's business outcomes (mean value, click-through rate).
    outcome_values: dict[str, MetricResult] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.predictions - self.failed

    @property
    def label_coverage(self) -> float | None:
        """Labelled / ok predictions; None for a window without ok predictions."""
        return self.labelled / self.ok if self.ok > 0 else None

    @property
    def state(self) -> State:
        coverage = self.label_coverage
        if coverage is None:
            return "empty"
        return "realized" if coverage >= self.maturity else "estimating"


def _stats_window(
    start: datetime,
    end: datetime,
    version: str | None,
    segment: str | None,
    stats: StoreStats | None,
    maturity: float,
    confidence: float,
    metrics: Collection[str] | None = None,
    results: dict[int, EvaluationResult] | None = None,
) -> Window:
    """A window of ``stats``; its metrics from ``results`` (computed for many windows
    together, by ``id(stats)``) when there, else computed here."""
    if stats is None:
        return Window(start, end, version, segment, 0, 0, 0, maturity)
    result = None
    if stats.evaluation is not None and stats.labelled > 0:
        result = (results or {}).get(id(stats))
        if result is None:
            result = stats.evaluation.result(confidence, only=metrics)
    elif stats.evaluation is not None:
        # Latency and failures are known the moment predictions are made: a window
        # whose labels have not arrived still shows them (and no quality metric).
        served = tuple(m for m in metrics or () if metric_spec(m).family == "operational")
        if served:
            result = stats.evaluation.result(confidence, only=served)
    return Window(
        start,
        end,
        version,
        segment,
        stats.predictions,
        stats.failed,
        stats.labelled,
        maturity,
        result,
        tuple(stats.notes),
        stats.business_metrics(confidence),
    )


def floor_to(ts: datetime, every: timedelta) -> datetime | None:
    """The epoch-aligned boundary of ``every`` at or before ``ts`` (exact timedelta
    arithmetic); None (no bound) before year 1."""
    try:
        return _EPOCH + ((ts - _EPOCH) // every) * every
    except OverflowError:
        return None


def ceil_to(ts: datetime, every: timedelta) -> datetime | None:
    """The boundary at or after ``ts``; None (no bound) past year 9999."""
    floor = floor_to(ts, every)
    try:
        return None if floor is None else floor if floor == ts else floor + every
    except OverflowError:
        return None


def _check_maturity(maturity: float) -> None:
    if not 0.0 < maturity <= 1.0:
        raise ValidationError(
            f"maturity {maturity!r} is not a share of labelled predictions in (0, 1]",
            column="maturity",
        )


@dataclass(frozen=True)
class TimeWindows:
    """What :func:`time_windows` read: the windows, and their score histograms when
    asked for and the store answered them from the same read (else None: read them
    with :meth:`~liveeval.store.StatisticsSource.score_histograms`)."""

    windows: list[Window]
    histograms: Mapping[datetime, ScoreHistogram] | None = None


def time_windows(
    source: StatisticsSource,
    scope: Scope,
    every: timedelta,
    *,
    by: Sequence[Literal["version", "segment"]] = (),
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    maturity: float = DEFAULT_MATURITY,
    confidence: float = 0.95,
    metrics: Collection[str] | None = None,
    score_histograms: bool = False,
    cache: WindowResults | None = None,
) -> TimeWindows:
    """Tumbling windows of length ``every`` (aligned to the Unix epoch, UTC), in time
    order, per group of ``by``. Windows without predictions between the first and the
    last are included (no traffic is news too), as ``empty``; beyond
    :data:`MAX_WINDOWS` windows, the most recent ones. ``score_histograms``: also the
    windows' score histograms, when the store answers them from the same read
    (``GroupedArrays.histograms``). ``cache``: the results of the last read of these
    windows, reused for every window whose statistics have not changed since
    (:class:`~liveeval.monitor.WindowResults`).

    Raises
    ------
    ValidationError
        for a non-positive size or a maturity outside (0, 1].
    """
    _check_maturity(maturity)
    if every.total_seconds() <= 0:
        raise ValidationError(f"window size {every} must be positive", column="size")
    # Whole windows: a range that starts or ends inside one takes all of it (and the
    # store answers whole windows from its per-bucket statistics, without a scan).
    since, until = event_years(scope)
    scope = replace(scope, since=floor_to(since, every), until=ceil_to(until, every))
    arrays = source.grouped_statistic_arrays(
        scope,
        by,
        every=every,
        classes=classes,
        pos_label=pos_label,
        latency=metrics is None or not _LATENCY.isdisjoint(metrics),
        score_histograms=score_histograms,
    )
    if not len(arrays):
        return TimeWindows([], arrays.histograms)
    per_group: dict[tuple[Any, ...], dict[datetime, int]] = {}
    for g, key in enumerate(arrays.keys):
        per_group.setdefault(tuple(key[:-1]), {})[key[-1]] = g
    # From the first window with predictions to the last: the range asked for only
    # narrows, so a wide 'since' never makes thousands of empty windows. Beyond
    # MAX_WINDOWS, the most recent ones.
    first = min(k[-1] for k in arrays.keys)
    last = max(k[-1] for k in arrays.keys)
    count = int(round((last - first) / every)) + 1
    try:
        first = max(first, last - (MAX_WINDOWS - 1) * every)
    except OverflowError:  # 10,000 windows of this size reach before year 1
        pass
    starts = [first + i * every for i in range(min(count, MAX_WINDOWS))]
    shown = [per_group[grp].get(start) for grp in per_group for start in starts]
    key = (scope.model, scope.version, scope.segment, scope.segment_is_null, tuple(by), every)
    key += (classes, pos_label, confidence, tuple(sorted(metrics or ())))
    shown_groups = [g for g in shown if g is not None]
    results = _array_results(arrays, shown_groups, confidence, metrics, cache, key)
    out: list[Window] = []
    for group in sorted(per_group, key=lambda g: tuple((v is None, str(v)) for v in g)):
        values = dict(zip(by, group, strict=True))
        buckets = per_group[group]
        for start in starts:
            version = values.get("version", scope.version)
            segment = values.get("segment", scope.segment)
            at = buckets.get(start)
            end = start + every
            if at is None:
                out.append(Window(start, end, version, segment, 0, 0, 0, maturity))
            elif at in arrays.other or metrics is None:
                stats = arrays.stats(at)
                got = {id(stats): results[at]} if at in results else None
                out.append(
                    _stats_window(
                        start, end, version, segment, stats, maturity, confidence, metrics, got
                    )
                )
            else:
                window = (start, end, version, segment)
                out.append(
                    _column_window(arrays, at, window, maturity, confidence, results.get(at))
                )
    return TimeWindows(out, arrays.histograms)


def _column_window(
    arrays: GroupedArrays,
    g: int,
    window: tuple[datetime, datetime, str | None, str | None],
    maturity: float,
    confidence: float,
    result: EvaluationResult | None,
) -> Window:
    """Group ``g`` of the binary columns as a window (``_stats_window`` of its
    statistics, without building them): (start, end, version, segment)."""
    n, total, total_sq = arrays.values[g].tolist()
    outcome_values = {}
    if n:
        outcome_values = StoreStats(
            None, 0, 0, 0, 0, values=(int(n), total, total_sq, bool(arrays.values_binary[g]))
        ).business_metrics(confidence)
    return Window(
        *window,
        int(arrays.predictions[g]),
        int(arrays.failed[g]),
        int(arrays.labelled[g]),
        maturity,
        result,
        (),
        outcome_values,
    )


def _array_results(
    arrays: GroupedArrays,
    shown: Sequence[int],
    confidence: float,
    metrics: Collection[str] | None,
    cache: WindowResults | None = None,
    key: Hashable = None,
) -> dict[int, EvaluationResult]:
    """The results of the groups ``shown`` that have labels, by group number: the binary
    columns together from arrays
    (:func:`~liveeval.metrics.batch.binary_column_results`), the other groups'
    evaluations together (:func:`~liveeval.metrics.batch.evaluation_results`). Only
    for a limited set of ``metrics`` (a time series); a full result per window is
    computed window by window. ``cache`` (under ``key``) gives the binary columns'
    results of windows unchanged since its last read."""
    if metrics is None:
        return {}
    labelled = [g for g in shown if arrays.labelled[g] > 0]
    columns = [g for g in labelled if g not in arrays.other]
    out: dict[int, EvaluationResult] = {}
    if columns:

        def compute(groups: list[int]) -> list[EvaluationResult]:
            if not groups:
                return []
            return binary_column_results(arrays.columns(groups), confidence, only=metrics)

        if cache is not None and _LATENCY.isdisjoint(metrics):
            found = cache.results(key, arrays, columns, compute)
        else:
            found = compute(columns)
        out.update(zip(columns, found, strict=True))
    rest = [g for g in labelled if g in arrays.other]
    stats = [arrays.other[g] for g in rest]
    with_evaluation = [(g, s) for g, s in zip(rest, stats, strict=True) if s.evaluation]
    evaluations = [s.evaluation for _, s in with_evaluation if s.evaluation is not None]
    found = evaluation_results(evaluations, confidence, only=metrics)
    out.update(zip((g for g, _ in with_evaluation), found, strict=True))
    return out


def _results_together(
    found: Sequence[StoreStats | None], confidence: float, metrics: Collection[str] | None
) -> dict[int, EvaluationResult]:
    """The results of every window with labels, computed together (one array
    computation of their intervals, :func:`~liveeval.metrics.batch.evaluation_results`),
    by ``id`` of the window's statistics. Only for a limited set of ``metrics`` (a time
    series); a full result per window is computed window by window."""
    if metrics is None:
        return {}
    labelled = [s for s in found if s is not None and s.evaluation is not None and s.labelled > 0]
    evaluations = [s.evaluation for s in labelled if s.evaluation is not None]
    results = evaluation_results(evaluations, confidence, only=metrics)
    return {id(s): r for s, r in zip(labelled, results, strict=True)}


def count_windows(
    source: StatisticsSource,
    scope: Scope,
    labelled: int,
    *,
    base: timedelta = timedelta(minutes=15),
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    maturity: float = DEFAULT_MATURITY,
    confidence: float = 0.95,
    metrics: Collection[str] | None = None,
) -> list[Window]:
    """Windows of at least ``labelled`` labelled predictions each, consecutive in
    prediction time, built from buckets of ``base``: a window closes at the first bucket
    boundary where it holds ``labelled`` or more. The last window may hold fewer (it is
    still filling) and says so in its notes.

    Raises
    ------
    ValidationError
        for ``labelled < 1`` or a maturity outside (0, 1].
    """
    _check_maturity(maturity)
    if labelled < 1:
        raise ValidationError(
            f"a count window needs at least 1 labelled prediction, not {labelled}",
            column="size",
        )
    since, until = event_years(scope)
    scope = replace(scope, since=floor_to(since, base), until=ceil_to(until, base))
    grouped = source.grouped_statistics(scope, (), every=base, classes=classes, pos_label=pos_label)
    spans: list[tuple[datetime, datetime, StoreStats]] = []
    start: datetime | None = None
    acc: StoreStats | None = None
    for key in sorted(grouped, key=lambda k: k[-1]):
        stats = grouped[key]
        bucket = key[-1]
        if acc is None:
            start, acc = bucket, stats
        else:
            acc = merge_stats(acc, stats)
        if acc.labelled >= labelled:
            assert start is not None
            spans.append((start, bucket + base, acc))
            start, acc = None, None
    filling = acc is not None and start is not None
    if acc is not None and start is not None:
        spans.append((start, max(k[-1] for k in grouped) + base, acc))
    spans = spans[-MAX_WINDOWS:]
    results = _results_together([s for _, _, s in spans], confidence, metrics)
    out = [
        _stats_window(a, b, scope.version, scope.segment, s, maturity, confidence, metrics, results)
        for a, b, s in spans
    ]
    if filling and out:
        partial = out[-1]
        out[-1] = replace(
            partial,
            notes=(
                *partial.notes,
                f"still filling: {partial.labelled} of {labelled} labelled predictions",
            ),
        )
    return out


def merge_stats(a: StoreStats, b: StoreStats) -> StoreStats:
    """Two groups' statistics as one (counts add, evaluations merge)."""
    if a.evaluation is None:
        evaluation = b.evaluation
    elif b.evaluation is None:
        evaluation = a.evaluation
    else:
        evaluation = a.evaluation.merge(b.evaluation)
    na, ta, sa, ba = a.values
    nb, tb, sb, bb = b.values
    binary = (ba or na == 0) and (bb or nb == 0) and na + nb > 0
    labels = tuple(dict.fromkeys((*a.labels, *b.labels)))
    return StoreStats(
        evaluation,
        a.predictions + b.predictions,
        a.failed + b.failed,
        a.labelled + b.labelled,
        max(a.unmatched_outcomes, b.unmatched_outcomes),
        labels,
        list(dict.fromkeys((*a.notes, *b.notes))),
        (na + nb, ta + tb, sa + sb, binary),
    )


# -- label delay --------------------------------------------------------------------

# Ages at which the coverage curve is read: when is a window worth reading?
_CURVE_AGES = (60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0, 30 * 86400.0)


@dataclass(frozen=True)
class LabelDelaySummary:
    """How long ground truth takes: quantiles of outcome time minus prediction time, and
    the share of eventually-labelled predictions labelled by each age.

    Quantiles are interpolated within the store's delay bins (log-linearly), so they are
    exact to within one bin's width; ``early`` outcomes (stamped before their
    prediction) count as a delay of zero.
    """

    n: int
    early: int
    p50_seconds: float | None
    p90_seconds: float | None
    coverage_by_age: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "early": self.early,
            "p50_seconds": self.p50_seconds,
            "p90_seconds": self.p90_seconds,
            "coverage_by_age": [
                {"age_seconds": age, "share_labelled": share} for age, share in self.coverage_by_age
            ],
            "method": "share of the labelled predictions whose outcome arrived within the "
            "age; quantiles interpolated within the store's delay bins",
        }


def summarise_label_delays(delays: LabelDelays) -> LabelDelaySummary:
    """Quantiles and the coverage-by-age curve of a :class:`LabelDelays` histogram."""
    n = delays.n
    if n == 0:
        return LabelDelaySummary(0, 0, None, None, ())
    edges = np.asarray(delays.edges, dtype=np.float64)
    counts = delays.counts.astype(np.float64)
    # Cumulative share at each edge; early outcomes sit at zero delay.
    at_edges = (delays.early + np.concatenate(([0.0], np.cumsum(counts)))) / n
    return LabelDelaySummary(
        n,
        delays.early,
        _delay_quantile(edges, at_edges, 0.5),
        _delay_quantile(edges, at_edges, 0.9),
        tuple((age, _share_by(edges, at_edges, counts, n, age)) for age in _CURVE_AGES),
    )


def _delay_quantile(edges: np.ndarray[Any, Any], cdf: np.ndarray[Any, Any], q: float) -> float:
    """The delay at which the cumulative share reaches ``q``; cdf[i] is the share below
    edges[i] (cdf has one more entry: the share below +inf)."""
    if cdf[0] >= q:  # within the early outcomes, counted as no delay
        return 0.0
    i = int(np.searchsorted(cdf, q, side="left"))  # the bin [edges[i-1], edges[i]) crosses q
    if i >= len(edges):  # in the last, open bin: its lower edge is all we know
        return float(edges[-1])
    lo, hi = float(edges[i - 1]), float(edges[i])
    frac = (q - cdf[i - 1]) / (cdf[i] - cdf[i - 1]) if cdf[i] > cdf[i - 1] else 1.0
    if lo > 0:
        return float(lo * (hi / lo) ** frac)
    return float(lo + (hi - lo) * frac)


def _share_by(
    edges: np.ndarray[Any, Any],
    cdf: np.ndarray[Any, Any],
    counts: np.ndarray[Any, Any],
    n: int,
    age: float,
) -> float:
    """Share of outcomes with delay <= ``age``, interpolating within the bin."""
    if age < edges[0]:
        return float(cdf[0])
    i = int(np.searchsorted(edges, age, side="right"))  # edges[i-1] <= age < edges[i]
    if i >= len(edges):
        # In the open last bin: only outcomes up to its lower edge are known to be in.
        return float(cdf[len(edges) - 1])
    lo, hi = float(edges[i - 1]), float(edges[i])
    frac = (age - lo) / (hi - lo) if hi > lo else 1.0
    return float(cdf[i - 1] + frac * counts[i - 1] / n)


def _duration(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
