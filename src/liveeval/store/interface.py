"""What the service sees of a store: an event sink and a statistics source.

An engine (DuckDB today; PostgreSQL for several replicas, Spark for lake-scale logs
later) implements :class:`Store`; nothing above ``liveeval.store`` sees its types.
An acknowledged write is durable (for DuckDB: its journal record is synced; for
PostgreSQL: the database committed). Reads see every acknowledged event and return
sufficient statistics, never rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from ..errors import ValidationError
from ..metrics import (
    ConfusionMatrix,
    Evaluation,
    LatencySketch,
    LossSums,
    MetricResult,
    ScoreDistribution,
)
from ..metrics.batch import BinaryColumns, BinCountDistributions
from ..metrics.interval import normal_mean, wilson
from ..metrics.labels import Label
from .events import Kind

__all__ = [
    "MAX_PROBA_CLASSES",
    "ROLLUP_BUCKET",
    "SCORE_BINS",
    "ActionRun",
    "AlertRow",
    "BatchOutcome",
    "BucketCountSource",
    "BucketCounts",
    "ClassScoreHistograms",
    "DeploymentEvent",
    "EventSink",
    "FeatureHistogram",
    "FeatureWindows",
    "GroupedArrays",
    "LabelDelays",
    "Ledger",
    "ModelArraysSource",
    "Notification",
    "PairStats",
    "ReferenceStore",
    "ResourceUsage",
    "Scope",
    "ScoreHistogram",
    "SplitScoreHistogram",
    "StatisticsSource",
    "Store",
    "StoreStats",
    "StoredReference",
    "WriteOutcome",
    "freeze_edges",
]


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one event of a batch."""

    status: Literal["stored", "duplicate", "conflict"]
    key: str | None = None
    detail: str | None = None


_STORED = WriteOutcome("stored")
_CODES = {"stored": 0, "duplicate": 1, "conflict": 2}
_STATUSES: tuple[Literal["stored", "duplicate", "conflict"], ...] = (
    "stored",
    "duplicate",
    "conflict",
)


@dataclass(frozen=True)
class BatchOutcome:
    """The outcome of every row of a large batch, kept columnar: building an object per
    row cost more than accepting 100,000 rows."""

    keys: list[str] | None  # None for kinds without ids
    status: np.ndarray[Any, np.dtype[np.int8]]  # 0 stored, 1 duplicate, 2 conflict
    details: dict[int, str]

    def __len__(self) -> int:
        return len(self.status)

    @classmethod
    def all_stored(cls, keys: list[str] | None, n: int) -> BatchOutcome:
        return cls(keys, np.zeros(n, dtype=np.int8), {})

    @classmethod
    def of(cls, outcomes: list[WriteOutcome]) -> BatchOutcome:
        status = np.array([_CODES[o.status] for o in outcomes], dtype=np.int8)
        details = {i: o.detail for i, o in enumerate(outcomes) if o.detail}
        return cls([o.key or "" for o in outcomes], status, details)

    def count(self, status: str) -> int:
        return int((self.status == _CODES[status]).sum())

    def keys_with(self, status: str) -> list[str]:
        keys = self.keys or []
        return [keys[i] for i in np.flatnonzero(self.status == _CODES[status]).tolist()]

    def conflicts(self) -> list[tuple[str | None, str | None]]:
        """(id, what differs) of every row that conflicted."""
        at = np.flatnonzero(self.status == _CODES["conflict"]).tolist()
        return [(self.keys[i] if self.keys else None, self.details.get(i)) for i in at]

    def outcomes(self) -> list[WriteOutcome]:
        keys = self.keys
        return [
            WriteOutcome(_STATUSES[code], None if keys is None else keys[i], self.details.get(i))
            for i, code in enumerate(self.status.tolist())
        ]


# Events are stamped within these years (the write paths refuse others): a window of
# any accepted length then ends before datetime's year 9999. Window reads keep to them,
# so a row stored before the rule (a "9999-12-31" sentinel) cannot break a read.
EARLIEST_TS = datetime(1900, 1, 1)
LATEST_TS = datetime(3000, 1, 1)


def event_years(scope: Scope) -> tuple[datetime, datetime]:
    """``scope``'s time range narrowed to :data:`EARLIEST_TS` … :data:`LATEST_TS`."""
    since = EARLIEST_TS if scope.since is None else max(scope.since, EARLIEST_TS)
    until = LATEST_TS if scope.until is None else min(scope.until, LATEST_TS)
    return since, until


@dataclass(frozen=True)
class Scope:
    """Which predictions: one model, optionally one version and segment, a time range."""

    model: str
    since: datetime | None = None
    until: datetime | None = None
    version: str | None = None
    segment: str | None = None
    # Groups by segment need "no segment" as a value of its own.
    segment_is_null: bool = False


@dataclass
class StoreStats:
    """An Evaluation plus the counts a live view needs around it."""

    evaluation: Evaluation | None
    predictions: int
    failed: int
    labelled: int
    unmatched_outcomes: int
    labels: tuple[Label, ...] = ()
    notes: list[str] = field(default_factory=list)
    # Business outcomes (e.g. clicks): count, sum, sum of squares, all values 0 or 1.
    values: tuple[int, float, float, bool] = (0, 0.0, 0.0, False)

    def business_metrics(self, confidence: float = 0.95) -> dict[str, MetricResult]:
        """Mean business outcome (CLT interval), and the click-through rate (Wilson) when
        every value is 0 or 1."""
        n, total, total_sq, binary = self.values
        if n == 0:
            return {}
        if not math.isfinite(total):
            # Accepted values (any finite number) can still overflow their float sum.
            reason = f"the sum of {n} outcome values overflows a float; their mean is undefined"
            mean = MetricResult.undefined(
                "outcome_value_mean", reason, n=n, confidence=confidence, method="normal (CLT)"
            )
            return {"outcome_value_mean": mean}
        lower, upper = normal_mean(total, total_sq, n, confidence)
        bounded = math.isfinite(lower) and math.isfinite(upper)
        out = {
            "outcome_value_mean": MetricResult(
                "outcome_value_mean",
                total / n,
                lower if bounded else None,
                upper if bounded else None,
                n,
                confidence,
                "normal (CLT)",
                reason=None
                if bounded or n < 2
                else "the sum of squared outcome values overflows a float; no interval",
            )
        }
        if binary:
            lo, hi = wilson(total, n, confidence)
            out["click_through_rate"] = MetricResult(
                "click_through_rate", total / n, lo, hi, n, confidence, "wilson"
            )
        return out

    @property
    def label_coverage(self) -> float | None:
        ok = self.predictions - self.failed
        return self.labelled / ok if ok > 0 else None


FloatMatrix = np.ndarray[Any, np.dtype[np.float64]]
IntVector = np.ndarray[Any, np.dtype[np.int64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolVector = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class GroupedArrays:
    """:meth:`StatisticsSource.grouped_statistics` as columns, one entry per group
    (G groups, ``keys[g]`` as that method's keys and in its order): what a read of many
    windows needs without a :class:`StoreStats` and an :class:`Evaluation` per window.

    - ``predictions``, ``failed``, ``labelled``: ``int64[G]``; ``unmatched`` the
      store-wide count of outcomes without a prediction.
    - ``values``: ``float64[G, 3]`` business outcomes' count, sum and sum of squares;
      ``values_binary[g]`` whether all of group g's values are 0 or 1.
    - The **binary columns**: the groups whose classes are exactly ``labels`` (two,
      ``pos_label`` among them) with unweighted counts and no notes — every window with
      labelled pairs of a binary model (the windows of one read share its classes).
      ``binary[g]`` says which; for them ``confusion[g]`` (``float64[G, 2, 2]``, rows
      actual, columns predicted, in ``labels`` order), ``scores[g]`` (the labelled
      pairs' score distribution), ``losses[g]`` (log-loss and Brier sums) and the
      latency sketch of ``latency[g]`` (count, zeros, sum, sum of squares, max) with
      its buckets ``sketch_keys`` (group, key, count rows, by group) hold what
      :meth:`stats` would put in an :class:`Evaluation`.
    - ``other[g]``: every other group's :class:`StoreStats` (multiclass windows,
      windows with one class so far, weighted or noted ones), as the grouped read
      gives it.
    - ``histograms``: :meth:`StatisticsSource.score_histograms` of the same windows when
      asked for (``score_histograms=True``, not grouped) and the engine answers it from
      the same read; None otherwise (read them separately).
    - ``score_counts``: when the engine read the scores as counts per bin, the binary
      columns' labelled counts, ``int64[G, 2, SCORE_BINS]`` (side 1 positive), of which
      ``scores[g]`` is the binned distribution, built when first read
      (:class:`~liveeval.metrics.batch.BinCountDistributions`); the metrics of many
      windows take ROC-AUC from the counts. None otherwise.

    :meth:`stats` gives any group as the grouped read's :class:`StoreStats`; the
    DuckDB engine answers from its rollups with one query per table, other engines
    convert their grouped read (:meth:`of`).
    """

    keys: tuple[tuple[Any, ...], ...]
    predictions: IntVector
    failed: IntVector
    labelled: IntVector
    unmatched: int
    values: FloatMatrix
    values_binary: BoolVector
    labels: tuple[Label, ...]
    pos_label: Label | None
    binary: BoolVector
    confusion: FloatMatrix
    scores: Sequence[ScoreDistribution | None]
    losses: tuple[LossSums | None, ...]
    latency: FloatMatrix
    sketch_keys: tuple[IntVector, IntVector, FloatMatrix]
    other: Mapping[int, StoreStats] = field(default_factory=dict)
    # score_histograms(scope, every) of the same windows, when asked and answered.
    histograms: Mapping[datetime, ScoreHistogram] | None = None
    # The binary columns' labelled counts per score bin, [g, side, bin], when read so.
    score_counts: IntArray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def of(cls, grouped: Mapping[tuple[Any, ...], StoreStats]) -> GroupedArrays:
        """The columns of a grouped read's answer (how an engine without a columnar
        read answers :meth:`StatisticsSource.grouped_statistic_arrays`: correct, not
        faster)."""
        keys = tuple(grouped)
        stats = list(grouped.values())
        g = len(stats)
        common: tuple[tuple[Label, ...], Label] | None = None
        column: list[bool] = []
        for st in stats:
            ev = st.evaluation
            ok = (
                ev is not None
                and st.labelled > 0  # as the columnar reads: a window without labels
                and ev.is_binary  # is read the old way (its latency, no metrics)
                and not st.notes
                and ev.confusion.rows is None
                and bool((ev.confusion.counts == ev.confusion.squares).all())
                and (ev.scores is None or len(ev.scores) == 1)
                and ev.top_label is None
            )
            if ok and ev is not None:
                here = (ev.labels, ev.pos_label)
                common = common or here
                ok = here == common
            column.append(ok)
        confusion = np.zeros((g, 2, 2))
        latency = np.zeros((g, 5))
        scores: list[ScoreDistribution | None] = [None] * g
        losses: list[LossSums | None] = [None] * g
        groups, keys_, counts = [], [], []
        other: dict[int, StoreStats] = {}
        for i, (st, ok) in enumerate(zip(stats, column, strict=True)):
            ev = st.evaluation
            if not ok or ev is None:
                other[i] = st
                continue
            confusion[i] = ev.confusion.counts
            scores[i] = ev.scores[0] if ev.scores else None
            losses[i] = ev.losses
            sketch = ev.latency
            if sketch is not None:
                latency[i] = (
                    sketch.count,
                    sketch.zeros,
                    sketch.total,
                    sketch.total_sq,
                    sketch.maximum,
                )
                groups.append(np.full(sketch.keys.size, i, np.int64))
                keys_.append(sketch.keys.astype(np.int64))
                counts.append(sketch.counts.astype(np.float64))
        labels, pos_label = common if common is not None else ((), None)
        return cls(
            keys,
            np.array([st.predictions for st in stats], np.int64),
            np.array([st.failed for st in stats], np.int64),
            np.array([st.labelled for st in stats], np.int64),
            max((st.unmatched_outcomes for st in stats), default=0),
            np.array([st.values[:3] for st in stats], np.float64).reshape(g, 3),
            np.array([bool(st.values[3]) for st in stats], np.bool_),
            labels,
            pos_label,
            np.array(column, np.bool_),
            confusion,
            tuple(scores),
            tuple(losses),
            latency,
            (
                np.concatenate(groups) if groups else np.zeros(0, np.int64),
                np.concatenate(keys_) if keys_ else np.zeros(0, np.int64),
                np.concatenate(counts) if counts else np.zeros(0),
            ),
            other,
        )

    def sketch(self, g: int) -> LatencySketch | None:
        """Group ``g``'s latency sketch (None without latencies)."""
        return self.sketch_of(self.latency[g], self.sketch_keys, g)

    @staticmethod
    def sketch_of(
        totals: FloatMatrix, sketch_keys: tuple[IntVector, IntVector, FloatMatrix], g: int
    ) -> LatencySketch | None:
        """The latency sketch of group ``g`` from its ``latency`` row and the buckets."""
        count, zeros, total, total_sq, maximum = totals.tolist()
        if not count:
            return None
        at, keys, counts = sketch_keys
        lo, hi = np.searchsorted(at, [g, g + 1]).tolist()
        sketch = LatencySketch()
        sketch.keys = keys[lo:hi].astype(np.int64)
        sketch.counts = counts[lo:hi].astype(np.float64)
        sketch.zeros = int(zeros)
        sketch.count = int(count)
        sketch.total = float(total)
        sketch.total_sq = float(total_sq)
        sketch.maximum = float(maximum)
        return sketch

    def matrix(self, g: int) -> ConfusionMatrix:
        """Group ``g``'s confusion matrix (a binary-column group)."""
        counts = self.confusion[g].copy()
        return ConfusionMatrix(self.labels, counts, counts.copy())

    def columns(self, rows: Sequence[int]) -> BinaryColumns:
        """The binary columns of groups ``rows`` (each with ``binary[g]``) for
        :func:`~liveeval.metrics.batch.binary_column_results`."""
        at = list(rows)
        assert self.pos_label is not None
        counts = self.score_counts
        if counts is not None and at != list(range(len(self))):
            counts = counts[at]
        return BinaryColumns(
            self.labels,
            self.pos_label,
            self.confusion[at],
            self.predictions[at],
            self.failed[at],
            [self.scores[g] for g in at] if counts is None else BinCountDistributions(counts),
            [self.losses[g] for g in at],
            lambda i: self.sketch(at[i]),
            lambda i: self.matrix(at[i]),
            counts,
        )

    def stats(self, g: int) -> StoreStats:
        """Group ``g`` as :meth:`StatisticsSource.grouped_statistics` gives it."""
        found = self.other.get(g)
        if found is not None:
            return found
        dist = self.scores[g]
        evaluation = Evaluation(
            self.labels,
            self.pos_label,
            self.matrix(g),
            None if dist is None else [dist],
            None,
            self.losses[g],
            self.sketch(g),
        )
        predictions, failed = int(self.predictions[g]), int(self.failed[g])
        evaluation.predictions = predictions
        evaluation.failures = failed
        n, total, total_sq = self.values[g].tolist()
        return StoreStats(
            evaluation,
            predictions,
            failed,
            int(self.labelled[g]),
            self.unmatched,
            self.labels,
            [],
            (int(n), total, total_sq, bool(self.values_binary[g])),
        )


@dataclass(frozen=True)
class FeatureHistogram:
    """One feature's values over a scope: numbers in bins, other values per category.

    Numbers fall in ``counts[i]`` when ``edges[i] <= x < edges[i + 1]`` (the last bin
    also holds ``x == edges[-1]``, as :func:`numpy.histogram`); with edges given by
    the caller, numbers outside them are ``below`` or ``above``. Strings, booleans
    (``"true"``/``"false"``) and nested objects or lists (as JSON text) are
    categories; the most frequent ``max_categories`` are kept and the rest counted
    in ``other``. ``missing`` counts JSON nulls and non-finite numbers. ``rows`` is
    the number of predictions that carry the feature, so
    ``rows == sum(counts) + below + above + sum(categories.values()) + other + missing``.
    """

    name: str
    rows: int
    missing: int = 0
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    below: int = 0
    above: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    other: int = 0


IntMatrix = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class FeatureWindows:
    """Feature histograms of many windows at once, as arrays with the window axis first
    (what :meth:`StatisticsSource.feature_window_arrays` answers; W windows, F features).

    - ``starts[w]``: the start of window ``w``, ascending; only windows in which some
      prediction carried a feature. ``names[f]``: the features, sorted.
    - ``rows``, ``missing``, ``strings``: ``int64[W, F]``, as
      :class:`FeatureHistogram`'s ``rows`` and ``missing``, and the number of values
      that are categories (strings, booleans, nested JSON).
    - ``edges[f]``: feature ``f``'s bin edges (empty for a feature without numbers).
      With ``b = len(edges[f]) - 1`` bins, ``bins[w, f, 0]`` counts numbers below the
      first edge, ``bins[w, f, i]`` (1 ≤ i ≤ b) bin ``i`` and ``bins[w, f, b + 1]``
      numbers above the last edge; columns beyond are zero. ``bins`` is
      ``int64[W, F, K]`` with ``K`` at least ``max(len(edges)) + 1``.
    - ``categories[f]``: ``(values, counts)`` with ``counts`` ``int64[W, len(values)]``:
      each window's ``max_categories`` most frequent categories of the feature (ties by
      value), zero for the values not among them. The rest of ``strings`` is
      ``other``.

    A (window, feature) with ``rows == 0`` has no histogram. :meth:`histogram` gives one
    cell as a :class:`FeatureHistogram`; the arrays are for reads over many windows.
    """

    starts: tuple[datetime, ...]
    names: tuple[str, ...]
    edges: tuple[tuple[float, ...], ...]
    rows: IntMatrix
    missing: IntMatrix
    strings: IntMatrix
    bins: IntMatrix
    categories: tuple[tuple[tuple[str, ...], IntMatrix], ...]

    @classmethod
    def empty(cls) -> FeatureWindows:
        z = np.zeros((0, 0), dtype=np.int64)
        return cls((), (), (), z, z, z, np.zeros((0, 0, 1), dtype=np.int64), ())

    def top_categories(self, w: int, f: int) -> dict[str, int]:
        """Window ``w``'s kept categories of feature ``f`` with their counts."""
        values, counts = self.categories[f]
        row = counts[w]
        return {values[j]: int(row[j]) for j in np.flatnonzero(row).tolist()}

    def histogram(self, w: int, f: int) -> FeatureHistogram | None:
        """Window ``w``'s histogram of feature ``f`` (None when no prediction carried it)."""
        rows = int(self.rows[w, f])
        if rows == 0:
            return None
        edges = self.edges[f]
        b = max(len(edges) - 1, 0)
        counts = self.bins[w, f]
        top = self.top_categories(w, f)
        strings = int(self.strings[w, f])
        return FeatureHistogram(
            self.names[f],
            rows,
            int(self.missing[w, f]),
            edges,
            tuple(counts[1 : b + 1].tolist()),
            int(counts[0]) if b else 0,
            int(counts[b + 1]) if b else 0,
            top,
            strings - sum(top.values()),
        )

    def histograms(self) -> dict[datetime, dict[str, FeatureHistogram]]:
        """Every cell as :class:`FeatureHistogram`s, by window start and feature name
        (as :meth:`histogram`, with the arrays turned into Python numbers once)."""
        out: dict[datetime, dict[str, FeatureHistogram]] = {}
        if not self.starts:
            return out
        rows, missing, strings = (a.tolist() for a in (self.rows, self.missing, self.strings))
        shapes = [(e, max(len(e) - 1, 0)) for e in self.edges]
        cells = np.nonzero(self.rows)
        for w, f in zip(cells[0].tolist(), cells[1].tolist(), strict=True):
            edges, b = shapes[f]
            counts = self.bins[w, f, : b + 2].tolist() if b else []
            top = self.top_categories(w, f) if self.categories[f][0] else {}
            window = out.get(self.starts[w])
            if window is None:
                window = out[self.starts[w]] = {}
            window[self.names[f]] = FeatureHistogram(
                self.names[f],
                rows[w][f],
                missing[w][f],
                edges,
                tuple(counts[1 : b + 1]),
                counts[0] if b else 0,
                counts[b + 1] if b else 0,
                top,
                strings[w][f] - sum(top.values()),
            )
        return out


# Rollups (sufficient statistics kept as events load) are per bucket of this length of
# prediction time, from the Unix epoch (UTC): windows that are whole numbers of buckets
# are merges of them.
ROLLUP_BUCKET = timedelta(minutes=15)

# Scores of binary models are kept in equal-width bins of [0, 1]: score ``s`` falls in
# bin ``min(floor(s * SCORE_BINS), SCORE_BINS - 1)``. Fine enough that estimation
# before labels and score drift lose at most 1/(2 * SCORE_BINS) of a score.
SCORE_BINS = 1000

# A multiclass model's class probabilities are kept per window (for estimation before
# labels) when it has at most this many classes: the rollup holds up to k^2 lists of
# SCORE_BINS counts per bucket for its predictions and k^3 for its labelled pairs.
MAX_PROBA_CLASSES = 10


@dataclass(frozen=True)
class ScoreHistogram:
    """A binary model's scores over one group or time bucket, in ``SCORE_BINS`` bins.

    ``predicted[k, b]``: ok predictions with a score in bin ``b`` whose predicted label
    is the negative (``k = 0``) or positive (``k = 1``) class — every prediction,
    labelled or not. ``labelled[k, b]``: the labelled ones among them whose actual label
    is negative (``k = 0``) or positive (``k = 1``). Counts are unweighted.
    """

    predicted: np.ndarray[Any, np.dtype[np.int64]]
    labelled: np.ndarray[Any, np.dtype[np.int64]]

    @classmethod
    def empty(cls) -> ScoreHistogram:
        z = np.zeros((2, SCORE_BINS), dtype=np.int64)
        return cls(z, z.copy())

    @property
    def n(self) -> int:
        return int(self.predicted.sum())

    @property
    def n_labelled(self) -> int:
        return int(self.labelled.sum())

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        return ScoreHistogram(self.predicted + other.predicted, self.labelled + other.labelled)


@dataclass(frozen=True)
class SplitScoreHistogram(ScoreHistogram):
    """A :class:`ScoreHistogram` that also knows which labelled predictions were
    predicted positive: ``labelled_positive[k, b]`` counts the labelled predictions
    of bin ``b`` predicted positive whose actual class is ``k``. With it,
    :func:`liveeval.monitor.histogram.labelled_by_prediction` is exact in every bin (a
    one-vs-rest histogram of a multiclass model mixes both predicted classes in many
    bins)."""

    labelled_positive: np.ndarray[Any, np.dtype[np.int64]]

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        if not isinstance(other, SplitScoreHistogram):
            return ScoreHistogram(self.predicted + other.predicted, self.labelled + other.labelled)
        return SplitScoreHistogram(
            self.predicted + other.predicted,
            self.labelled + other.labelled,
            self.labelled_positive + other.labelled_positive,
        )


@dataclass(frozen=True)
class ClassScoreHistograms:
    """A multiclass model's class probabilities over one window, binned per class in
    ``SCORE_BINS`` bins (class ``i``'s probability ``p`` in bin
    ``min(floor(p * SCORE_BINS), SCORE_BINS - 1)``), classes in the model's order.

    ``predicted[i, j, b]``: predictions of class ``j`` whose probability of class ``i``
    is in bin ``b`` (every prediction, labelled or not, once per ``i``).
    ``labelled[i, a, b]``: the labelled ones with the probability of class ``i`` in bin
    ``b`` whose actual class is ``i`` (``a = 1``) or another (``a = 0``).
    ``labelled_hit[i, a, b]``: the same, restricted to the predictions of class ``i``.
    ``labelled_confusion[i, j]``: labelled predictions of class ``j`` whose actual class
    is ``i``. ``labels``: the classes in that order, when known (a store's read gives
    them; histograms built from class indices leave them empty).
    """

    predicted: np.ndarray[Any, np.dtype[np.int64]]
    labelled: np.ndarray[Any, np.dtype[np.int64]]
    labelled_hit: np.ndarray[Any, np.dtype[np.int64]]
    labelled_confusion: np.ndarray[Any, np.dtype[np.int64]]
    labels: tuple[Label, ...] = ()

    def __post_init__(self) -> None:
        k = np.shape(self.predicted)[0] if np.ndim(self.predicted) == 3 else 0
        shapes = {
            "predicted": (k, k, SCORE_BINS),
            "labelled": (k, 2, SCORE_BINS),
            "labelled_hit": (k, 2, SCORE_BINS),
            "labelled_confusion": (k, k),
        }
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape or k < 2:
                raise ValidationError(
                    f"{name} must have shape {shape} with at least 2 classes, "
                    f"got {np.shape(getattr(self, name))}",
                    column=name,
                )
        if self.labels and len(self.labels) != k:
            raise ValidationError(
                f"labels must name the {k} classes, got {list(self.labels)!r}", column="labels"
            )

    @classmethod
    def empty(cls, k: int, labels: tuple[Label, ...] = ()) -> ClassScoreHistograms:
        return cls(
            np.zeros((k, k, SCORE_BINS), dtype=np.int64),
            np.zeros((k, 2, SCORE_BINS), dtype=np.int64),
            np.zeros((k, 2, SCORE_BINS), dtype=np.int64),
            np.zeros((k, k), dtype=np.int64),
            labels,
        )

    @property
    def k(self) -> int:
        return int(self.predicted.shape[0])

    @property
    def n(self) -> int:
        return int(self.predicted[0].sum())

    @property
    def n_labelled(self) -> int:
        return int(self.labelled[0].sum())

    def merge(self, other: ClassScoreHistograms) -> ClassScoreHistograms:
        return ClassScoreHistograms(
            self.predicted + other.predicted,
            self.labelled + other.labelled,
            self.labelled_hit + other.labelled_hit,
            self.labelled_confusion + other.labelled_confusion,
            self.labels or other.labels,
        )

    def one_vs_rest(self, i: int) -> SplitScoreHistogram:
        """Class ``i`` against the others, as a binary histogram."""
        hit = self.predicted[i, i]
        rest = self.predicted[i].sum(axis=0) - hit
        return SplitScoreHistogram(np.stack([rest, hit]), self.labelled[i], self.labelled_hit[i])


@dataclass(frozen=True)
class LabelDelays:
    """How long outcomes took to arrive: seconds from a prediction's ``ts`` to its
    outcome's ``ts``, counted in bins ``edges[i] <= d < edges[i + 1]`` (the last bin
    open above). ``early`` counts outcomes stamped before their prediction."""

    edges: tuple[float, ...]
    counts: np.ndarray[Any, np.dtype[np.int64]]
    early: int = 0

    @property
    def n(self) -> int:
        return int(self.counts.sum()) + self.early

    def merge(self, other: LabelDelays) -> LabelDelays:
        if self.edges != other.edges:
            raise ValueError("label delays with different edges do not merge")
        return LabelDelays(self.edges, self.counts + other.counts, self.early + other.early)


@dataclass(frozen=True)
class FailureCount:
    """Failed predictions of one window (``start``), version and error type."""

    start: datetime
    version: str
    error_type: str
    count: int


@dataclass(frozen=True)
class ResourceWindow:
    """One server process's resource samples in one window: how many, CPU percent (of
    one core; above 100 on several) mean and max, resident memory mean and max."""

    start: datetime
    end: datetime
    process: str
    samples: int
    cpu_percent_mean: float
    cpu_percent_max: float
    rss_bytes_mean: float
    rss_bytes_max: int


@dataclass(frozen=True)
class DeploymentEvent:
    """One deployment event as stored (status: started, succeeded, failed, rolled_back)."""

    id: str
    model: str
    version: str
    ts: datetime
    status: str


@dataclass(frozen=True)
class PairStats:
    """Predictions of two versions on the same inputs (same features, compared key by
    key): how many inputs both versions predicted, on how many the predicted label
    differs, and the sums of the score differences ``b - a`` where both have a score."""

    pairs: int = 0
    flips: int = 0
    scored: int = 0
    abs_diff_sum: float = 0.0
    diff_sum: float = 0.0
    diff_sq_sum: float = 0.0


@dataclass(frozen=True)
class Notification:
    """One notice for one channel in the outbox. ``key`` is the idempotency key: the
    same notice for the same channel is stored (and delivered) once."""

    key: str
    channel: str
    alert_id: str
    state: str
    model: str | None
    notice: Mapping[str, Any]
    created_at: datetime
    status: Literal["pending", "delivered"] = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class ActionRun:
    """One run (or refusal) of an alert's action; written when it starts and again
    when it ends. ``status``: running, succeeded, failed, timed_out, skipped (cooldown
    or concurrency, with the ``reason``), interrupted (the server stopped)."""

    id: str
    action: str
    status: str
    started_at: datetime
    alert_id: str | None = None
    model: str | None = None
    version: str | None = None
    metric: str | None = None
    reason: str | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    duration_s: float | None = None
    log_tail: str | None = None
    rows_exported: int | None = None


@dataclass(frozen=True)
class AlertRow:
    """One state change of one alert, as the store keeps it: the keys a query filters on,
    and ``body``, the change as JSON text (the service's ``AlertNotice``)."""

    alert_id: str
    rule: str
    model: str
    version: str | None
    segment: str | None
    metric: str
    state: str
    severity: str
    ts: datetime
    body: str


@dataclass(frozen=True)
class ResourceUsage:
    """Resource samples of the server's processes over a time range."""

    samples: int
    cpu_percent_mean: float | None
    cpu_percent_max: float | None
    rss_bytes_max: int | None


def freeze_edges(quantiles: Sequence[float]) -> list[float]:
    """The store's rule for a numeric feature's fixed bins, from its quantiles: the
    distinct quantiles, plus one edge a typical bin's width above the largest (so the
    largest value has a bin of its own; 1 above it when all values are equal)."""
    e = np.unique(np.asarray(quantiles, dtype=np.float64))
    width = float(e[-1] - e[0]) / max(e.size - 1, 1) if e.size > 1 else 1.0
    top = e[-1] + width
    if not np.isfinite(top) or top <= e[-1]:
        top = np.nextafter(e[-1], np.inf)
    out: list[float] = [*e.tolist(), float(top)]
    return out


@dataclass(frozen=True)
class StoredReference:
    """A reference registered by name for a model: what an uploaded file of features
    (and optionally scores and labels) reduces to, kept so drift can compare live
    windows with it after any restart.

    ``features`` holds each feature's histogram on the store's fixed bins of that
    feature (numbers) or by category; ``moments`` the count, sum and sum of squares of
    each numeric feature's finite values (so its standard deviation is exact).
    ``scores`` counts a binary model's scores in ``SCORE_BINS`` equal bins of [0, 1];
    ``predicted`` and ``labels`` count the predicted and actual labels as
    ``{"negative": n, "positive": n}``. ``columns`` maps every column of the file to
    what it became (``feature``, ``score``, ``prediction``, ``label``) or why it was
    left out.
    """

    model: str
    name: str
    rows: int
    features: dict[str, FeatureHistogram]
    moments: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    scores: tuple[int, ...] | None = None
    predicted: dict[str, int] | None = None
    labels: dict[str, int] | None = None
    columns: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None


class EventSink(Protocol):
    """Writes events; an answer means the events are durable."""

    async def write(
        self, kind: Kind, events: list[dict[str, Any]], *, fresh: bool = False
    ) -> list[WriteOutcome]:
        """Commit small batches from the event loop (grouped with concurrent ones);
        ``fresh`` says the ids were just generated, so they need no duplicate check."""
        ...

    async def write_table(self, kind: Kind, table: pa.Table) -> BatchOutcome:
        """Commit a large Arrow batch (in the store's column layout) off the loop."""
        ...

    def commit(self, kind: Kind, events: list[dict[str, Any]]) -> list[WriteOutcome]:
        """Commit from a plain thread (background samplers, tools, tests)."""
        ...

    def known_ids(self, kind: Kind, ids: Sequence[str]) -> list[bool]:
        """Whether each id has been accepted, loaded or not (never waits for a load)."""
        ...

    def amend_latency(self, amendments: Sequence[tuple[str, datetime, float]]) -> None:
        """Set ``latency_total_s`` of predictions already committed, given as (id, ts,
        seconds): the total measured once their commit returned, which the event
        could not hold when it was written. Never waits and is not made durable on
        its own (the next commit or load carries it); until then, and after a crash
        before it, the value written with the event stays."""
        ...


class StatisticsSource(Protocol):
    """Sufficient statistics of the stored events; every read sees every acknowledged write."""

    def statistics(
        self,
        scope: Scope,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> StoreStats:
        """Statistics of the labelled predictions and operational facts in ``scope``."""
        ...

    def grouped_statistics(
        self,
        scope: Scope,
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta | None = None,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[tuple[Any, ...], StoreStats]:
        """Statistics per group of ``by`` (and per time bucket of length ``every``,
        its start last in the key).

        With ``every`` a multiple of :data:`ROLLUP_BUCKET` and the scope's ``since`` and
        ``until`` on bucket boundaries, the statistics are merged from the rollups:
        counts, confusion matrices and loss sums as a scan gives them; binary scores in
        ``SCORE_BINS`` bins (ROC-AUC and average precision count pairs sharing a bin as
        ties); multiclass ranking and loss metrics are left out with a note. Otherwise
        each group is a scan (exact, slower)."""
        ...

    def grouped_statistic_arrays(
        self,
        scope: Scope,
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
        latency: bool = True,
        score_histograms: bool = False,
    ) -> GroupedArrays:
        """:meth:`grouped_statistics` with ``every`` as columns (:class:`GroupedArrays`;
        ``GroupedArrays.stats(g)`` equals the grouped read's ``StoreStats`` of
        ``keys[g]``, sums within float rounding): for reads of many windows. The DuckDB
        engine (and a table export) reads its rollups into arrays directly; an engine
        may convert its grouped read (``GroupedArrays.of``). ``latency=False`` leaves
        the latency sketches out (no latency metric then; their buckets are most of
        the rows read) where the caller shows none; ``score_histograms=True`` asks for
        :meth:`score_histograms` of the same windows in ``GroupedArrays.histograms``
        (an engine may leave it None)."""
        ...

    def models_grouped_statistics(
        self,
        labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        since: datetime | None = None,
        until: datetime | None = None,
        scores: bool = True,
    ) -> dict[str, dict[tuple[Any, ...], StoreStats]]:
        """:meth:`grouped_statistics` with ``every`` for each model of ``labels`` (its
        classes and positive label) over the same range, in one read: the dashboard's
        overview of every model. Each model's answer equals ``grouped_statistics(
        Scope(model, since, until), by, every=every, ...)``; a model with no
        predictions in the range maps to ``{}``. ``scores=False`` skips the score
        distributions on the rollup path (no ranking or calibration metric then; the
        largest part of the read) where no caller needs them."""
        ...

    def feature_histograms(
        self,
        scope: Scope,
        names: Sequence[str] | None = None,
        *,
        bins: int = 10,
        edges: Mapping[str, Sequence[float]] | None = None,
        max_categories: int = 50,
    ) -> dict[str, FeatureHistogram]:
        """Histograms of the features of every prediction in ``scope`` (failed ones
        too: they had inputs), by feature name (all features when ``names`` is None).

        Numbers go into ``bins`` equal-width bins over the scope's range (numpy's
        edges), or into the ``edges`` given for a feature (e.g. a reference
        window's, so that two windows compare bin by bin). A feature no prediction
        in ``scope`` carries is absent from the answer.

        Raises
        ------
        ValidationError
            for ``bins < 1``, ``max_categories < 0``, or edges that are not at least two
            finite, increasing numbers.
        """
        ...

    def score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[datetime, ScoreHistogram]:
        """A binary model's score histograms per window of ``every`` (keyed by the
        window's start; one for the whole scope, keyed by ``scope.since`` or the epoch,
        when ``every`` is None), from the rollups. Windows without ok predictions with a
        score are absent.

        Raises
        ------
        ValidationError
            when ``every``, ``scope.since`` or ``scope.until`` is not a whole number of
            :data:`ROLLUP_BUCKET`, or the model is not binary with a known positive class.
        """
        ...

    def class_score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
    ) -> dict[datetime, ClassScoreHistograms]:
        """A multiclass model's class probabilities per window of ``every`` (keyed as
        :meth:`score_histograms`), from the rollups: every ok prediction whose
        ``probas`` has one value in [0, 1] per class (the classes: ``classes``, else
        the sorted labels seen, as scikit-learn's ``classes_``), and the labelled pairs
        among them. Windows without such predictions are absent.

        Raises
        ------
        ValidationError
            for windows not on :data:`ROLLUP_BUCKET` boundaries. (Rows labelled outside
            ``classes``, which have no probability column, are left out.)
        """
        ...

    def feature_windows(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> dict[datetime, dict[str, FeatureHistogram]]:
        """Feature histograms per window of ``every`` (as :meth:`score_histograms`), on the
        fixed bins of :meth:`feature_bins` (``below``/``above`` outside them), from the
        rollups. Categories are exact for a feature's first 1,000 distinct values; later
        new values count in ``other``.

        Raises
        ------
        ValidationError
            for windows not on :data:`ROLLUP_BUCKET` boundaries, a scope with a segment
            (feature rollups have none), or ``max_categories < 0``.
        """
        ...

    def feature_window_arrays(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> FeatureWindows:
        """:meth:`feature_windows` as arrays with a window axis: the same counts, for
        reads over many windows (a drift grid), without an object per window and
        feature. ``FeatureWindows.histograms()`` equals :meth:`feature_windows`.

        An engine answers it with one aggregation per statistic over its per-bucket
        feature sums, grouped by (window, feature) — and (window, feature, value) for
        the categories, keeping each group's ``max_categories`` most frequent.

        Raises
        ------
        ValidationError
            as :meth:`feature_windows`.
        """
        ...

    def feature_bins(self, model: str) -> dict[str, tuple[float, ...]]:
        """The fixed bin edges of each numeric feature of ``model`` (bin a reference with
        them to compare it with :meth:`feature_windows`). Fixed once 10,000 numbers of
        the feature are stored; before that, the same rule over the numbers so far."""
        ...

    def label_delays(self, scope: Scope) -> LabelDelays:
        """Outcome time minus prediction time of the labelled pairs whose prediction is
        in ``scope`` (bins: 0, 1 s, then doubling to 2^25 s, the last open above).

        Raises
        ------
        ValidationError
            when ``scope.since`` or ``scope.until`` is not on a :data:`ROLLUP_BUCKET`
            boundary.
        """
        ...

    def failures(self, scope: Scope, every: timedelta) -> list[FailureCount]:
        """Failed predictions in ``scope`` per window of ``every`` (aligned to the Unix
        epoch), version and error type (``""`` when none was given), in time order."""
        ...

    def resource_windows(
        self, since: datetime | None, until: datetime | None, every: timedelta
    ) -> list[ResourceWindow]:
        """Resource samples of every server process per window of ``every``."""

    def deployment_events(self, model: str) -> list[DeploymentEvent]:
        """The deployment events of ``model``, oldest first."""
        ...

    def prediction_pairs(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> PairStats:
        """Ok predictions of two versions of ``model`` on the same inputs: inputs match
        when their features are equal name by name (numbers as numbers, so ``1`` and
        ``1.0`` match, whatever the key order); an input a version predicted several
        times counts once, with its latest prediction."""
        ...

    def prediction_pair_windows(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime,
        until: datetime,
        every: timedelta,
    ) -> dict[int, PairStats]:
        """:meth:`prediction_pairs` per window counted back from ``until``: key 0 is
        ``[until - every, until)``, 1 the window before, …, from ``since`` on; a pair
        counts in a window when both its predictions fall in it. Windows without pairs
        are absent."""
        ...

    def has_model(self, model: str) -> bool: ...

    def models(self) -> set[str]: ...

    def versions_since(self, since: datetime | None) -> list[tuple[str, str]]:
        """(model, version) pairs with predictions at or after ``since``."""
        ...

    def count(self, kind: Kind) -> int: ...


@runtime_checkable
class ReferenceStore(Protocol):
    """Named references of a model, kept durably in the store."""

    def fix_feature_bins(
        self, model: str, proposed: Mapping[str, Sequence[float]]
    ) -> dict[str, tuple[float, ...]]:
        """The fixed bin edges of each feature named in ``proposed``: a feature that has
        fixed bins keeps them; one that has none gets the proposed edges as its fixed
        bins from now on (numbers already stored are binned on them at once, in the same
        transaction). Bins once fixed never change, so a reference binned on the
        answer compares bin by bin with every window."""
        ...

    def save_reference(self, reference: StoredReference, *, replace: bool = False) -> datetime:
        """Keep ``reference`` under (model, name); returns when it was created.

        Raises
        ------
        ConflictError
            when the name is taken and ``replace`` is false.
        """
        ...

    def reference(self, model: str, name: str) -> StoredReference | None:
        """The reference of that name, or None."""
        ...

    def references(self, model: str) -> list[StoredReference]:
        """Every reference of ``model``, by name."""
        ...

    def delete_reference(self, model: str, name: str) -> bool:
        """Forget a reference; False when there was none of that name."""
        ...


class Ledger(Protocol):
    """What the monitor keeps besides events: the notifications outbox and the runs
    of actions. Plain transactions, not journalled events: they are updated."""

    def outbox_add(self, items: Sequence[Notification]) -> int:
        """Store pending notifications; one whose key is stored already is left as it is.
        Returns how many were new."""
        ...

    def outbox_due(
        self, at: datetime, limit: int = 100, channel: str | None = None
    ) -> list[Notification]:
        """Pending notifications (of ``channel``, or all) whose next attempt is due at
        ``at``, oldest first."""
        ...

    def outbox_claim(
        self,
        at: datetime,
        owner: str,
        *,
        limit: int = 1,
        channel: str | None = None,
        lease_seconds: float = 300.0,
    ) -> list[Notification]:
        """Like :meth:`outbox_due`, but each notification returned is claimed by
        ``owner`` for ``lease_seconds``: no other caller (another replica's sender) gets
        it until :meth:`outbox_update` records the attempt or the claim runs out (its
        claimer stopped). Notifications claimed by others are skipped, not waited for."""
        ...

    def outbox_update(
        self,
        key: str,
        *,
        attempts: int,
        next_attempt_at: datetime | None,
        error: str | None,
        delivered_at: datetime | None = None,
    ) -> None:
        """Record an attempt: delivered (``delivered_at`` set) or to retry later; the
        notification's claim ends."""
        ...

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``owner`` until ``seconds`` from now;
        whether ``owner`` holds it. One holder at a time among every process sharing
        the store; a holder that stops renewing loses it when its time runs out (the
        store's clock decides)."""
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """End ``owner``'s lease ``name`` now (nothing when another holds it)."""
        ...

    def notifications(
        self,
        status: str | None = None,
        channel: str | None = None,
        model: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        """Stored notifications, newest first."""
        ...

    def outbox_backlog(self) -> dict[str, tuple[int, datetime]]:
        """Per channel with pending notifications: how many, and the oldest's time."""
        ...

    def record_action_run(self, run: ActionRun) -> None:
        """Insert or replace the run with ``run.id``."""
        ...

    def action_runs(
        self, action: str | None = None, model: str | None = None, limit: int = 100
    ) -> list[ActionRun]:
        """Stored runs, newest first."""
        ...

    def export_labelled(
        self, model: str, out: Path, *, since: datetime | None = None, limit: int = 100_000
    ) -> int:
        """Write ``model``'s most recent labelled ok predictions (at most ``limit``, at
        or after ``since``) to the Parquet file ``out``: id, version, ts, segment,
        predicted, score, probas, actual label, value, and one column per feature
        (``feature_<name>``). Returns the number of rows."""
        ...


@dataclass(frozen=True)
class BucketCounts:
    """The counts of every rollup bucket of some models, as arrays: what a proportion
    (a ratio of confusion cells), the failed-prediction rate, label coverage and a 0/1
    business outcome need, with no statistics object per bucket.

    One row per (model, version, segment, bucket) with predictions; ``bucket`` is the
    bucket number (its start is the Unix epoch plus ``bucket`` × :data:`ROLLUP_BUCKET`),
    ``segment`` is None for predictions without one. The confusion cells of row ``i``
    are the cells ``j`` with ``cell_row[j] == i``: stored label texts (actual,
    predicted) and their count, labelled pairs with both labels only. ``values_*``: the
    business outcomes' count, sum, sum of squares, and whether all are 0 or 1.
    """

    model: np.ndarray[Any, np.dtype[np.object_]]
    version: np.ndarray[Any, np.dtype[np.object_]]
    segment: np.ndarray[Any, np.dtype[np.object_]]
    bucket: np.ndarray[Any, np.dtype[np.int64]]
    predictions: np.ndarray[Any, np.dtype[np.int64]]
    failed: np.ndarray[Any, np.dtype[np.int64]]
    values_n: np.ndarray[Any, np.dtype[np.int64]]
    values_sum: np.ndarray[Any, np.dtype[np.float64]]
    values_sq: np.ndarray[Any, np.dtype[np.float64]]
    values_binary: np.ndarray[Any, np.dtype[np.bool_]]
    cell_row: np.ndarray[Any, np.dtype[np.int64]]
    cell_actual: np.ndarray[Any, np.dtype[np.object_]]
    cell_predicted: np.ndarray[Any, np.dtype[np.object_]]
    cell_n: np.ndarray[Any, np.dtype[np.int64]]

    def __len__(self) -> int:
        return int(self.bucket.size)


@runtime_checkable
class BucketCountSource(Protocol):
    """An engine that answers :class:`BucketCounts` for many models in one read (the
    alert loop uses it when the store has it, and windowed statistics otherwise)."""

    def bucket_counts(
        self, models: Sequence[str], since: datetime | None, until: datetime | None
    ) -> BucketCounts:
        """Every bucket of ``models`` whose start is in ``[since, until)`` (both on
        :data:`ROLLUP_BUCKET` boundaries; None: unbounded)."""
        ...


@runtime_checkable
class ModelArraysSource(Protocol):
    """An engine that answers :class:`GroupedArrays` for many models in one read (the
    dashboard's overview uses it when the store has it, and converts
    :meth:`StatisticsSource.models_grouped_statistics` otherwise)."""

    def models_grouped_statistic_arrays(
        self,
        labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        since: datetime | None = None,
        until: datetime | None = None,
        scores: bool = True,
    ) -> dict[str, GroupedArrays]:
        """:meth:`StatisticsSource.grouped_statistic_arrays` of each model of ``labels``
        (its classes and positive label) over one range, in one read: each model's
        answer equals ``grouped_statistic_arrays(Scope(model, since, until), by,
        every=every, ...)`` (a model without predictions in the range has no groups);
        ``scores=False`` leaves the score distributions and loss sums out, as
        :meth:`StatisticsSource.models_grouped_statistics` does."""
        ...


class Store(EventSink, StatisticsSource, ReferenceStore, Ledger, Protocol):
    """An engine: both halves, named references, the ledger, its lifecycle and the alert
    history."""

    schema_version: int

    def record_alert(self, row: AlertRow) -> None:
        """Keep one alert state change; durable when it returns."""
        ...

    def alert_history(
        self, alert_id: str | None = None, *, model: str | None = None, limit: int = 10_000
    ) -> list[AlertRow]:
        """Alert state changes, oldest first (the last ``limit``), of one alert or one
        model's alerts or all."""
        ...

    def resource_usage(self, since: datetime | None, until: datetime | None) -> ResourceUsage:
        """The resource samples in ``[since, until)``."""
        ...

    def close(self) -> None:
        """Flush and load everything acknowledged, then release the store."""
        ...

    def export(self, out: Path) -> dict[str, int]:
        """Write every event as Parquet under ``out``; rows written per kind."""
        ...
