"""The alert loop's fast path: looks as count arrays, and detectors kept between cycles.

A sequential rule on a proportion (recall, precision, accuracy … — a ratio of
confusion cells —, the failed-prediction rate, a 0/1 business outcome) needs only
counts per look. The engine reads every model's rollup buckets in one query
(:class:`~liveeval.store.interface.BucketCounts`), sums them into looks with numpy
(:func:`series_looks`), and turns a look into (successes, trials, samples) with the
cell masks of the catalogue's own metric (:func:`~liveeval.monitor.drop.proportion_cells`).

Each series (rule × model × group) keeps a :class:`~liveeval.monitor.drop.DropRun`
checkpoint over its *frozen* looks — those older than the part re-read each cycle —
so a cycle feeds the detector only the looks since that boundary. Feeding a copy of
the checkpoint the same looks in the same order gives the evidence a run over the
whole series gives (tested against a fresh engine and against
:func:`~liveeval.monitor.drop.detect_drop`).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ..metrics.labels import Label
from ..metrics.registry import MetricSpec
from ..monitor.drop import (
    DropEvidence,
    DropRun,
    DropTest,
    LookCounts,
    RunMark,
    proportion_cells,
    start_run,
)
from ..monitor.rules import Rule
from ..store.interface import ROLLUP_BUCKET, BucketCounts
from ..store.labels import resolve_labels

__all__ = [
    "ModelBuckets",
    "SeriesLooks",
    "SeriesState",
    "light_reading",
    "model_buckets",
    "resume",
    "series_digest",
    "series_looks",
    "split_reference",
]

_EPOCH = datetime(1970, 1, 1)
IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def light_reading(spec: MetricSpec) -> bool:
    """Whether a sequential rule on ``spec`` can be read from bucket counts (a proportion
    of confusion cells, failures or 0/1 business outcomes)."""
    return spec.interval == "proportion"


@dataclass
class ModelBuckets:
    """One model's buckets: counts per row and the confusion cells as a tensor over the
    model's classes (the same for every look: no label outside the declared classes)."""

    labels: tuple[Label, ...]
    pos_label: Label | None
    version: np.ndarray[Any, np.dtype[np.object_]]
    segment: np.ndarray[Any, np.dtype[np.object_]]
    bucket: IntArray
    predictions: IntArray
    failed: IntArray
    values_n: IntArray
    values_sum: FloatArray
    values_binary: np.ndarray[Any, np.dtype[np.bool_]]
    cells: FloatArray  # [row, actual, predicted]


def model_buckets(
    counts: BucketCounts, model: str, classes: tuple[Label, ...] | None, pos_label: Label | None
) -> ModelBuckets | None:
    """The rows of ``model`` in ``counts``; None when its looks cannot share one label set
    (no declared classes, or stored labels outside them): those read the slow way."""
    if not classes:
        return None
    rows = np.flatnonzero(counts.model == model)
    local = np.full(len(counts), -1, dtype=np.int64)
    local[rows] = np.arange(rows.size)
    at = local[counts.cell_row]
    mine = at >= 0
    actual = counts.cell_actual[mine]
    predicted = counts.cell_predicted[mine]
    texts = set(actual.tolist()) | set(predicted.tolist())
    resolved = resolve_labels(texts, classes)
    labels = resolved.labels
    if labels != resolve_labels((), classes).labels:
        return None
    # As a look's statistics decide it (store.duck.aggregate.assemble).
    if pos_label is None and set(labels) in ({0, 1}, {-1, 1}):
        pos_label = 1
    binary = len(labels) == 2 and pos_label is not None and pos_label in labels
    k = len(labels)
    cells = np.zeros((rows.size, k, k))
    if texts:
        index = resolved.index
        ti = np.array([index[t] for t in actual.tolist()], dtype=np.int64)
        pi = np.array([index[t] for t in predicted.tolist()], dtype=np.int64)
        np.add.at(cells, (at[mine], ti, pi), counts.cell_n[mine].astype(np.float64))
    return ModelBuckets(
        labels,
        pos_label if binary else None,
        counts.version[rows],
        counts.segment[rows],
        counts.bucket[rows],
        counts.predictions[rows],
        counts.failed[rows],
        counts.values_n[rows],
        counts.values_sum[rows],
        counts.values_binary[rows],
        cells,
    )


@dataclass
class SeriesLooks:
    """One group's looks (windows with predictions), oldest first."""

    start: list[datetime]
    end: list[datetime]
    predictions: IntArray
    failed: IntArray
    values_n: IntArray
    values_sum: FloatArray
    values_binary: np.ndarray[Any, np.dtype[np.bool_]]
    cells: FloatArray

    def digest(self, h: Any, since: datetime | None = None) -> None:
        """Feed the periods and counts of the looks from ``since`` on to the hash ``h``
        (equal digests: equal looks)."""
        first = 0 if since is None else bisect.bisect_left(self.start, since)
        h.update(
            repr((self.start[first : first + 1], self.end[-1:], len(self.start) - first)).encode()
        )
        h.update(np.array([(s - _EPOCH).total_seconds() for s in self.start[first:]]).tobytes())
        for values in (self.predictions, self.failed, self.values_n, self.values_sum,
                       self.values_binary, self.cells):  # fmt: skip
            h.update(np.ascontiguousarray(values[first:]).tobytes())

    @classmethod
    def empty(cls, k: int) -> SeriesLooks:
        """One look without predictions."""
        zero = np.zeros(1, dtype=np.int64)
        return cls(
            [], [], zero, zero, zero, np.zeros(1), np.ones(1, dtype=bool), np.zeros((1, k, k))
        )

    @property
    def labelled(self) -> IntArray:
        out: IntArray = self.cells.sum(axis=(1, 2)).astype(np.int64)
        return out

    def counts(
        self, spec: MetricSpec, labels: tuple[Label, ...], pos_label: Label | None
    ) -> tuple[FloatArray, FloatArray, IntArray] | None:
        """(successes, trials, samples) per look for the proportion ``spec``; None when the
        metric is not a fixed ratio of cells for these classes."""
        if spec.family == "operational":
            return (
                self.failed.astype(np.float64),
                self.predictions.astype(np.float64),
                self.predictions,
            )
        if spec.family == "business":
            binary = self.values_binary
            x = np.where(binary, self.values_sum, 0.0)
            n = np.where(binary, self.values_n.astype(np.float64), 0.0)
            return x, n, self.values_n
        masks = proportion_cells(spec.name, labels, pos_label)
        if masks is None:
            return None
        numerator, denominator = masks
        x = self.cells[:, numerator].sum(axis=1)
        n = self.cells[:, denominator].sum(axis=1)
        return x, n, self.labelled

    def look_counts(
        self, spec: MetricSpec, labels: tuple[Label, ...], pos_label: Label | None
    ) -> LookCounts | None:
        """The looks as the detector takes them (columns); None when the metric is not
        a fixed ratio of cells for these classes."""
        found = self.counts(spec, labels, pos_label)
        if found is None:
            return None
        x, n, samples = found
        return LookCounts(self.start, self.end, x, n, samples.astype(np.int64, copy=False))


def series_digest(
    series: dict[tuple[Any, ...], SeriesLooks], since: datetime | None = None
) -> bytes:
    """A digest of every group's looks from ``since`` on (to tell that nothing changed
    since a cycle)."""
    h = hashlib.blake2b(digest_size=16)
    for group, looks in series.items():
        h.update(repr(group).encode())
        looks.digest(h, since)
    return h.digest()


def series_looks(
    buckets: ModelBuckets,
    rule: Rule,
    every: timedelta,
    by: tuple[str, ...],
    until: datetime,
    *,
    since: datetime | None = None,
) -> dict[tuple[Any, ...], SeriesLooks]:
    """Looks of ``every`` before ``until`` per group of ``by`` (version, segment) in the
    rule's scope, as the windowed statistics read would give them; with ``since``, one
    look ``[since, until)`` per group (a window rule's)."""
    per = int(every / ROLLUP_BUCKET)
    last = int((until - _EPOCH) / ROLLUP_BUCKET)
    keep = buckets.bucket < last
    if since is not None:
        keep &= buckets.bucket >= int((since - _EPOCH) / ROLLUP_BUCKET)
    if rule.version not in (None, "*"):
        keep &= buckets.version == rule.version
    if rule.segment not in (None, "*"):
        keep &= buckets.segment == rule.segment
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        return {}
    window = buckets.bucket[rows] // per if since is None else np.zeros(rows.size, np.int64)
    # One integer per (group, window), groups in the order of their values (None last).
    codes = np.zeros(rows.size, dtype=np.int64)
    names: list[list[Any]] = []
    for column in by:
        values = (buckets.version if column == "version" else buckets.segment)[rows]
        distinct_values = sorted(set(values.tolist()), key=lambda v: (v is None, str(v)))
        lookup = {v: i for i, v in enumerate(distinct_values)}
        codes = codes * len(distinct_values) + np.array(
            [lookup[v] for v in values.tolist()], dtype=np.int64
        )
        names.append(distinct_values)
    low = int(window.min())
    span = int(window.max()) - low + 1
    combined = codes * span + (window - low)
    keys, at = np.unique(combined, return_inverse=True)
    at = at.astype(np.int64)
    m = keys.size

    def total(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.bincount(at, weights=values, minlength=m)

    predictions = total(buckets.predictions[rows]).astype(np.int64)
    failed = total(buckets.failed[rows]).astype(np.int64)
    values_n = total(buckets.values_n[rows]).astype(np.int64)
    values_sum = np.zeros(m)
    np.add.at(values_sum, at, buckets.values_sum[rows])
    binary = np.ones(m, dtype=bool)
    np.logical_and.at(binary, at, buckets.values_binary[rows] | (buckets.values_n[rows] == 0))
    k = buckets.cells.shape[1]
    cells = np.zeros((m, k, k))
    np.add.at(cells, at, buckets.cells[rows])
    out: dict[tuple[Any, ...], SeriesLooks] = {}
    group_codes, window_of = keys // span, keys % span + low
    edges = np.flatnonzero(np.r_[True, group_codes[1:] != group_codes[:-1], True])
    for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        code = int(group_codes[a])
        group: list[Any] = []
        for distinct_values in reversed(names):
            code, index = divmod(code, len(distinct_values))
            group.insert(0, distinct_values[index])
        if since is None:
            starts = [_EPOCH + int(w) * every for w in window_of[a:b].tolist()]
            ends = [s + every for s in starts]
        else:
            starts, ends = [since], [until]
        out[tuple(group)] = SeriesLooks(
            starts,
            ends,
            predictions[a:b],
            failed[a:b],
            values_n[a:b],
            values_sum[a:b],
            binary[a:b],
            cells[a:b],
        )
    return out


@dataclass
class SeriesState:
    """What a series keeps between cycles. While its reference is not complete: the
    looks before the re-read ``boundary`` (``frozen``). After: the detector ``run`` fed
    every look so far, its mark at the boundary (``base``) and the looks fed since
    (``tail``, read again each cycle): a cycle whose re-read looks start with the tail
    only feeds the new ones; otherwise it goes back to the base and feeds the re-read
    part again (a few days of looks, in numpy)."""

    boundary: datetime
    frozen: LookCounts | None = None
    run: DropRun | None = None
    base: RunMark | None = None
    tail: LookCounts | None = None


def split_reference(
    rule: Rule,
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    samples: Callable[[int], int],
) -> tuple[slice, slice, datetime | None]:
    """The reference and the looks after it, as slices of looks sorted by start (with
    ``ends`` in the same order), and when the reference ends — None while it is still
    filling. ``samples(i)`` is the number of samples of look ``i`` (read only until the
    reference is full). One split for both evaluation paths: the fast path's counts
    and the windowed statistics.

    A threshold rule has no reference (it ends at the epoch). ``first:N``: the looks
    until they hold ``N`` samples. A time range: the looks inside it; those after it
    start at its end or later.
    """
    if rule.condition.threshold is not None:
        return slice(0, 0), slice(0, len(starts)), _EPOCH
    first = rule.reference_first
    if first is not None:
        total = 0
        for i in range(len(starts)):
            total += samples(i)
            if total >= first:
                return slice(0, i + 1), slice(i + 1, len(starts)), ends[i]
        return slice(0, len(starts)), slice(len(starts), len(starts)), None
    found = rule.reference_range()
    assert found is not None
    start, end = found
    low = bisect.bisect_left(starts, start)
    return (
        slice(low, max(low, bisect.bisect_right(ends, end))),
        slice(bisect.bisect_left(starts, end), len(starts)),
        end,
    )


def resume(
    test: DropTest,
    rule: Rule,
    state: SeriesState | None,
    fresh: LookCounts,
    boundary: datetime,
) -> tuple[DropEvidence, SeriesState]:
    """The evidence after the series' kept part (``state``) and ``fresh`` (its looks
    from the old boundary on), and the state to keep with the new ``boundary``."""
    if state is not None and state.run is not None and state.base is not None:
        run, tail, base = state.run, state.tail, state.base
        frozen = bisect.bisect_left(fresh.start, boundary)  # looks the boundary passed
        same = 0 if tail is None else fresh.same_prefix(tail)
        if tail is not None and same == len(tail) and frozen == 0:
            run.feed_many(fresh[same:])  # only new looks
            return run.evidence(), SeriesState(boundary, run=run, base=base, tail=fresh)
        run.restore(base)
        advanced = _advance(run, fresh, boundary, base)
        return run.evidence(), advanced
    looks = fresh if state is None or state.frozen is None else state.frozen + fresh
    samples = looks.samples.tolist()
    reference, after, ends = split_reference(rule, looks.start, looks.end, samples.__getitem__)
    started = start_run(test, looks[reference])
    kept = looks[: bisect.bisect_left(looks.start, boundary)]
    if isinstance(started, DropEvidence):
        return started, SeriesState(boundary, frozen=kept)
    if ends is None or ends > boundary:  # the reference is still read again
        started.feed_many(looks[after])
        return started.evidence(), SeriesState(boundary, frozen=kept)
    # The reference is complete and will not be read again: keep the detector.
    advanced = _advance(started, looks[after], boundary, started.mark())
    return started.evidence(), advanced


def _advance(run: DropRun, looks: LookCounts, boundary: datetime, base: RunMark) -> SeriesState:
    """Feed ``looks`` (in order) to ``run``, whose state is ``base``; those from
    ``boundary`` on are read again next cycle: the mark before them is the new base."""
    frozen = bisect.bisect_left(looks.start, boundary)
    if frozen:
        run.feed_many(looks[:frozen])
        base = run.mark()
    run.feed_many(looks[frozen:])
    return SeriesState(boundary, run=run, base=base, tail=looks[frozen:])
