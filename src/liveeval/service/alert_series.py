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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ..metrics.labels import Label
from ..metrics.registry import MetricSpec, metric_spec
from ..monitor.drop import (
    DropEvidence,
    DropRun,
    DropTest,
    LookCount,
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
    ) -> list[LookCount] | None:
        found = self.counts(spec, labels, pos_label)
        if found is None:
            return None
        x, n, samples = found
        return [
            LookCount(s, e, xi, ni, si)
            for s, e, xi, ni, si in zip(
                self.start, self.end, x.tolist(), n.tolist(), samples.tolist(), strict=True
            )
        ]


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
    looks before the re-read ``boundary``. After: the detector ``run`` fed every look
    so far, its mark at the boundary (``base``) and, for each look read again since,
    the look and the mark after it (``tail``): a cycle resumes from the mark before the
    first look that changed."""

    boundary: datetime
    frozen: list[LookCount] = field(default_factory=list)
    run: DropRun | None = None
    base: RunMark | None = None
    tail: list[tuple[LookCount, RunMark]] = field(default_factory=list)


def split_reference(
    rule: Rule, spec: MetricSpec, looks: list[LookCount]
) -> tuple[list[LookCount], list[LookCount], datetime | None]:
    """(reference, after, when the reference ends) as the engine's whole-series split;
    the end is None while the reference is still filling."""
    if rule.condition.threshold is not None:
        return [], looks, _EPOCH
    first = rule.reference_first
    if first is not None:
        total = 0
        for i, look in enumerate(looks):
            total += look.samples
            if total >= first:
                return looks[: i + 1], looks[i + 1 :], look.end
        return looks, [], None
    found = rule.reference_range()
    assert found is not None
    start, end = found
    return (
        [look for look in looks if look.start >= start and look.end <= end],
        [look for look in looks if look.start >= end],
        end,
    )


def resume(
    test: DropTest,
    rule: Rule,
    state: SeriesState | None,
    fresh: list[LookCount],
    boundary: datetime,
) -> tuple[DropEvidence, SeriesState]:
    """The evidence after the series' kept part (``state``) and ``fresh`` (its looks
    from the old boundary on), and the state to keep with the new ``boundary``."""
    if state is not None and state.run is not None and state.base is not None:
        run, tail = state.run, state.tail
        same = 0
        while same < min(len(fresh), len(tail)) and fresh[same] == tail[same][0]:
            same += 1
        if same < len(tail):
            run.restore(tail[same - 1][1] if same else state.base)
        entries = [entry for entry in tail[:same] if entry[0].start >= boundary]
        base = state.base
        if same and tail[same - 1][0].start < boundary:
            base = tail[same - 1][1]
        base = _feed(run, fresh[same:], boundary, base, entries)
        return run.evidence(), SeriesState(boundary, run=run, base=base, tail=entries)
    spec = metric_spec(rule.metric)
    looks = ([] if state is None else state.frozen) + fresh
    reference, after, ends = split_reference(rule, spec, looks)
    started = start_run(test, reference)
    if isinstance(started, DropEvidence):
        return started, SeriesState(boundary, frozen=[x for x in looks if x.start < boundary])
    if ends is None or ends > boundary:  # the reference is still read again
        for look in after:
            started.feed(look)
        frozen = [x for x in looks if x.start < boundary]
        return started.evidence(), SeriesState(boundary, frozen=frozen)
    # The reference is complete and will not be read again: keep the detector.
    marks: list[tuple[LookCount, RunMark]] = []
    base = _feed(started, after, boundary, started.mark(), marks)
    return started.evidence(), SeriesState(boundary, run=started, base=base, tail=marks)


def _feed(
    run: DropRun,
    looks: list[LookCount],
    boundary: datetime,
    base: RunMark,
    entries: list[tuple[LookCount, RunMark]],
) -> RunMark:
    """Feed ``looks`` (in order); those from ``boundary`` on are read again next cycle,
    so each gets its mark in ``entries``; returns the mark at the boundary."""
    frozen = 0
    while frozen < len(looks) and looks[frozen].start < boundary:
        run.feed(looks[frozen])
        frozen += 1
    if frozen:
        base = run.mark()
    for look in looks[frozen:]:
        run.feed(look)
        entries.append((look, run.mark()))
    return base
