"""Drops (and rises) in a metric, detected against a reference with a stated false-alarm rate.

The store's statistics arrive as **looks**: one per time block (or per batch of labels
in a replay), each the sufficient statistics of the predictions it holds. A look with
fewer than ``min_samples`` samples is merged into the next, so every look the detector
takes holds at least ``min_samples``. The reference (the first looks after a deploy, or
a named period) fixes the baseline ``p0``: its one-sided lower confidence limit at
``reference_alpha`` for a drop (upper for a rise), so that a stable metric lies on the
null side with probability at least ``1 − reference_alpha``. A fixed threshold may
replace the reference (``recall < 0.8``, sequentially).

How a look becomes counts depends on the metric's declaration in the catalogue
(:mod:`liveeval.metrics.registry`), never on a list of names here:

- ``proportion`` metrics (recall, precision, accuracy, error rate, failed predictions
  …): successes and trials of the look, exactly (``value · n`` of ``n``);
- latency quantiles: the share of the look's latencies above the reference's quantile
  (a rise of the p95 is a rise of that share above 5%);
- other bounded metrics (F1, ROC-AUC, MCC, balanced accuracy …): the look's value,
  rescaled to [0, 1], as one bounded observation (approximate: it assumes looks of
  similar size, whose values share a mean);
- unbounded ones (log loss, mean latency, business values) have no sequential test;
  rules on them compare a window with a threshold.

The decision is :class:`~liveeval.metrics.change.ShiryaevRoberts`: at most one false
alarm per ``1/alpha`` looks on average, i.e. per ``min_samples/alpha`` samples.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..metrics.change import Direction, ShiryaevRoberts
from ..metrics.classification import binary_metrics, confusion_metrics
from ..metrics.confusion import ConfusionMatrix
from ..metrics.interval import normal_mean, wilson
from ..metrics.labels import Label
from ..metrics.registry import MetricSpec, metric_spec
from ..metrics.result import MetricResult
from ..store.interface import StoreStats
from .windows import merge_stats

__all__ = [
    "DropEvidence",
    "DropRun",
    "DropTest",
    "Look",
    "LookCount",
    "LookCounts",
    "Reading",
    "RunMark",
    "detect_drop",
    "look_samples",
    "metric_result",
    "reading_of",
    "start_run",
]

Reading = Literal["proportion", "quantile", "bounded"]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]

# A bounded metric's reference needs this many looks with a value to estimate its mean.
MIN_REFERENCE_LOOKS = 5
_CLIP = 0.002


def reading_of(spec: MetricSpec) -> Reading | None:
    """How a look of ``spec`` becomes counts; ``None`` when it has no sequential test."""
    if spec.interval == "proportion":
        return "proportion"
    if spec.quantile is not None:
        return "quantile"
    if spec.bounds is not None:
        return "bounded"
    return None


def look_samples(spec: MetricSpec, stats: StoreStats) -> int:
    """The samples a look holds for ``spec``: predictions for operational metrics,
    labelled predictions (or business outcomes) for the others."""
    if spec.family == "operational":
        return stats.predictions
    if spec.family == "business":
        return stats.values[0]
    return stats.labelled


def metric_result(stats: StoreStats, name: str, confidence: float = 0.95) -> MetricResult | None:
    """The metric ``name`` of one look (None when the look cannot give it)."""
    spec = metric_spec(name)
    if spec.family == "business":
        return stats.business_metrics(confidence).get(name)
    if stats.evaluation is None:
        return None
    return stats.evaluation.result(confidence, only=(name,)).metrics.get(name)


@dataclass(frozen=True)
class Look:
    """One look: the statistics of the predictions made in ``[start, end)``."""

    start: datetime
    end: datetime
    stats: StoreStats


@dataclass(frozen=True)
class DropTest:
    """What to test: a metric, which way is bad, and the error budget.

    ``baseline`` fixes ``p0`` (a threshold such as ``recall < 0.8``) instead of taking it
    from the reference.
    """

    metric: str
    direction: Direction = "drop"
    alpha: float = 0.001
    reference_alpha: float = 0.01
    min_change: float = 0.01
    min_samples: int = 100
    baseline: float | None = None

    @property
    def budget(self) -> str:
        looks = 1.0 / self.alpha
        return (
            f"at most one false alarm per {looks:,.0f} looks on average (ARL ≥ 1/alpha), "
            f"each look holding ≥ {self.min_samples} samples: ≤ 1 per "
            f"{looks * self.min_samples:,.0f} samples"
        )


@dataclass
class DropEvidence:
    """What decided: the baseline and where it came from, the data since the change,
    the statistic and its threshold, the samples it took."""

    metric: str
    direction: Direction
    alarmed: bool
    ready: bool
    reason: str | None
    statistic: float | None = None
    threshold: float | None = None
    baseline: float | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    looks: int = 0
    samples: int = 0
    first_alarm: dict[str, Any] | None = None
    method: str = ""
    budget: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "alarmed": self.alarmed,
            "ready": self.ready,
            "reason": self.reason,
            "statistic": _finite(self.statistic),
            "threshold": self.threshold,
            "baseline": self.baseline,
            "before": self.before,
            "after": self.after,
            "looks": self.looks,
            "samples": self.samples,
            "first_alarm": self.first_alarm,
            "method": self.method,
            "false_alarm_budget": self.budget,
        }


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


def _batched(looks: Sequence[Look], spec: MetricSpec, min_samples: int) -> list[Look]:
    """Consecutive looks merged until each holds ``min_samples`` (a last short one is
    left out: it is still filling)."""
    out: list[Look] = []
    acc: Look | None = None
    for look in looks:
        acc = look if acc is None else Look(acc.start, look.end, merge_stats(acc.stats, look.stats))
        if look_samples(spec, acc.stats) >= min_samples:
            out.append(acc)
            acc = None
    return out


def _merged(looks: Sequence[Look]) -> StoreStats | None:
    acc: StoreStats | None = None
    for look in looks:
        acc = look.stats if acc is None else merge_stats(acc, look.stats)
    return acc


def _one_metric(cm: ConfusionMatrix, pos_label: Label | None, name: str) -> MetricResult | None:
    """``confusion_metrics(cm, pos_label)[name]``, computing that metric's interval only."""
    if pos_label is not None and cm.k == 2:
        return binary_metrics(cm, pos_label, only=(name,)).get(name)
    return confusion_metrics(cm, None).get(name)


@lru_cache(maxsize=256)
def proportion_cells(
    name: str, labels: tuple[Label, ...], pos_label: Label | None
) -> tuple[np.ndarray[Any, np.dtype[np.bool_]], np.ndarray[Any, np.dtype[np.bool_]]] | None:
    """Which confusion cells a proportion metric counts: (numerator, denominator) masks.

    Found by asking the catalogue's own metric about each cell alone (a one-row
    confusion matrix: the metric counts the row when its ``n`` is 1, and succeeds when
    its value is 1), so no metric's formula is written twice; cached per class set.
    ``None`` when the metric is not a ratio of cell counts for these classes.
    """
    k = len(labels)
    numerator = np.zeros((k, k), dtype=bool)
    denominator = np.zeros((k, k), dtype=bool)
    for i in range(k):
        for j in range(k):
            cm = ConfusionMatrix.empty(labels).update_codes(np.array([i]), np.array([j]))
            result = _one_metric(cm, pos_label, name)
            if result is None:
                return None
            if result.n == 1 and result.is_defined:
                denominator[i, j] = True
                numerator[i, j] = result.value == 1.0
    # A metric that is not a fixed ratio of cells (the majority-class baseline) is told
    # apart by checking the masks on uneven matrices.
    for seed in (1, 2):
        counts = np.random.default_rng(seed).integers(1, 50, (k, k))
        true, pred = np.nonzero(counts)
        cm = ConfusionMatrix.empty(labels).update_codes(
            np.repeat(true, counts[true, pred]), np.repeat(pred, counts[true, pred])
        )
        result = _one_metric(cm, pos_label, name)
        den = counts[denominator].sum()
        if result is None or not result.is_defined or den == 0 or result.value is None:
            return None
        if abs(counts[numerator].sum() / den - result.value) > 1e-12:
            return None
    return numerator, denominator


class _Counter:
    """Turns a look into (successes, trials) on the [0, 1] scale of the test."""

    def __init__(self, spec: MetricSpec, reading: Reading, cut: float | None) -> None:
        self.spec, self.reading, self.cut = spec, reading, cut
        low, high = spec.bounds or (0.0, 1.0)
        self.low, self.width = low, high - low

    def counts(self, stats: StoreStats) -> tuple[float, float] | None:
        if self.reading == "quantile":
            sketch = None if stats.evaluation is None else stats.evaluation.latency
            if sketch is None or sketch.count == 0 or self.cut is None:
                return None
            return (sketch.count_above(self.cut), float(sketch.count))
        if self.reading == "proportion":
            fast = self._proportion(stats)
            if fast is not None:
                return fast if fast[1] > 0 else None
        result = metric_result(stats, self.spec.name)
        if result is None or not result.is_defined or result.value is None:
            return None
        if self.reading == "proportion":
            n = float(result.n)
            return (min(max(result.value * n, 0.0), n), n)
        scaled = (result.value - self.low) / self.width
        return (min(max(scaled, 0.0), 1.0), 1.0)

    def _proportion(self, stats: StoreStats) -> tuple[float, float] | None:
        """Successes and trials straight from the counts (no interval computed)."""
        family = self.spec.family
        if family == "operational":  # failures need no label
            return (float(stats.failed), float(stats.predictions))
        if family == "business":
            n, total, _, binary = stats.values
            return (total, float(n)) if binary else (0.0, 0.0)
        ev = stats.evaluation
        if ev is None:
            return (0.0, 0.0)
        cells = proportion_cells(self.spec.name, ev.labels, ev.pos_label)
        if cells is None:
            return None
        numerator, denominator = cells
        counts = ev.confusion.counts
        return (float(counts[numerator].sum()), float(counts[denominator].sum()))

    def unscale(self, v: float) -> float:
        return v if self.reading != "bounded" else self.low + v * self.width


@dataclass(frozen=True)
class LookCount:
    """One look as the detector takes it: its period, its counts on the test's [0, 1]
    scale (``x`` successes of ``n`` trials; 0 and 0 for a look without the metric) and
    the samples it holds."""

    start: datetime
    end: datetime
    x: float
    n: float
    samples: int


@dataclass(frozen=True)
class LookCounts:
    """Looks as columns (each row a :class:`LookCount`): how the alert loop's fast path
    and :func:`detect_drop` hand a run of looks to :meth:`DropRun.feed_many`."""

    start: list[datetime]
    end: list[datetime]
    x: FloatArray
    n: FloatArray
    samples: IntArray

    @classmethod
    def of(cls, looks: Sequence[LookCount]) -> LookCounts:
        return cls(
            [look.start for look in looks],
            [look.end for look in looks],
            np.array([look.x for look in looks], dtype=np.float64),
            np.array([look.n for look in looks], dtype=np.float64),
            np.array([look.samples for look in looks], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.start)

    def __getitem__(self, part: slice) -> LookCounts:
        return LookCounts(
            self.start[part], self.end[part], self.x[part], self.n[part], self.samples[part]
        )

    def __add__(self, other: LookCounts) -> LookCounts:
        return LookCounts(
            self.start + other.start,
            self.end + other.end,
            np.concatenate([self.x, other.x]),
            np.concatenate([self.n, other.n]),
            np.concatenate([self.samples, other.samples]),
        )

    def same_prefix(self, other: LookCounts) -> int:
        """How many leading looks the two have in common (periods and counts)."""
        m = min(len(self), len(other))
        periods = [
            a != b or c != d
            for a, b, c, d in zip(self.start, other.start, self.end, other.end, strict=False)
        ]
        differ = (
            (self.x[:m] != other.x[:m])
            | (self.n[:m] != other.n[:m])
            | (self.samples[:m] != other.samples[:m])
            | np.array(periods, dtype=bool)
        )
        return int(np.argmax(differ)) if differ.any() else m

    @property
    def total(self) -> tuple[float, float]:
        """(successes, trials) over every look."""
        return float(self.x.sum()), float(self.n.sum())


def _look_counts(looks: Sequence[Look], counter: _Counter, min_samples: int) -> list[LookCount]:
    """Looks as counts. Counts add up, so only a bounded metric's looks are merged as
    statistics first (its value is not additive), until each holds ``min_samples``."""
    spec = counter.spec
    out: list[LookCount] = []
    if counter.reading == "bounded":
        for look in _batched(looks, spec, min_samples):
            x, n = counter.counts(look.stats) or (0.0, 0.0)
            out.append(LookCount(look.start, look.end, x, n, look_samples(spec, look.stats)))
        return out
    for look in looks:
        x, n = counter.counts(look.stats) or (0.0, 0.0)
        out.append(LookCount(look.start, look.end, x, n, look_samples(spec, look.stats)))
    return out


@dataclass(frozen=True)
class RunMark:
    """A :class:`DropRun`'s state at one look (see :meth:`DropRun.mark`)."""

    detector: ShiryaevRoberts
    start: datetime | None
    x: float
    n: float
    held: int
    units: int
    samples: int
    first_alarm: dict[str, Any] | None


class DropRun:
    """The detector of a :class:`DropTest` after its reference, fed one look at a time.

    Consecutive looks are summed until they hold ``min_samples`` (a unit); each unit
    updates the Shiryaev–Roberts statistic. :meth:`copy` is a checkpoint: the alert
    loop keeps one per series and resumes from it with the looks that are new, which
    gives the same evidence as feeding every look again (the same sums in the same
    order).
    """

    def __init__(
        self,
        test: DropTest,
        reading: Reading,
        baseline: float,
        before: dict[str, Any],
        scale: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.test, self.reading, self.before = test, reading, before
        self.low, self.width = scale
        self.baseline = min(max(baseline, _CLIP), 1.0 - _CLIP)
        self.detector = ShiryaevRoberts(self.baseline, test.direction, test.alpha, test.min_change)
        self.unit_starts: list[datetime] = []
        self.unit_samples: list[int] = []
        self.samples = 0
        self.first_alarm: dict[str, Any] | None = None
        self._start: datetime | None = None
        self._x = self._n = 0.0
        self._held = 0

    def feed(self, look: LookCount) -> None:
        """Take one look (in time order)."""
        self.feed_many(LookCounts.of([look]))

    def feed_many(self, looks: LookCounts) -> None:
        """Take a run of looks (in time order): the same state as :meth:`feed` look by
        look, bitwise (the units hold the same sums, and the detector's
        :meth:`~liveeval.metrics.change.ShiryaevRoberts.update_many` does not depend on
        how its looks are batched)."""
        if not len(looks):
            return
        whole = (
            self._x.is_integer()
            and self._n.is_integer()
            and bool(np.array_equal(looks.x, np.floor(looks.x)))
            and bool(np.array_equal(looks.n, np.floor(looks.n)))
        )
        units = self._group(looks) if whole else self._group_one_by_one(looks)
        if units[0]:
            self._units(*units)

    def _group(
        self, looks: LookCounts
    ) -> tuple[list[datetime], list[datetime], list[float], list[float], list[int]]:
        """Looks summed into units of ``min_samples`` with numpy: whole-number counts,
        whose sums are exact in any order (so the same as one by one)."""
        size = len(looks)
        least = self.test.min_samples
        held = np.cumsum(looks.samples)  # samples since the first look
        # The look that closes the first unit, and after a unit closed at j, the next.
        first = int(np.searchsorted(held, least - self._held, "left"))
        after = np.maximum(np.searchsorted(held, held + least, "left"), np.arange(1, size + 1))
        follow = after.tolist()
        ends: list[int] = []
        at = first
        while at < size:
            ends.append(at)
            at = follow[at]
        cx, cn = np.cumsum(looks.x), np.cumsum(looks.n)
        if not ends:  # every look goes to the unit being filled
            self._start = self._start if self._start is not None else looks.start[0]
            self._x, self._n = self._x + float(cx[-1]), self._n + float(cn[-1])
            self._held += int(held[-1])
            return [], [], [], [], []
        last = ends[-1]
        leftover: tuple[datetime | None, float, float, int] = (None, 0.0, 0.0, 0)
        if last + 1 < size:  # the looks after the last unit start the next one
            leftover = (
                looks.start[last + 1],
                float(cx[-1] - cx[last]),
                float(cn[-1] - cn[last]),
                int(held[-1] - held[last]),
            )
        at_end = np.array(ends)
        before = np.concatenate(([-1], at_end[:-1]))
        ux = cx[at_end] - np.where(before >= 0, cx[before], 0.0)
        un = cn[at_end] - np.where(before >= 0, cn[before], 0.0)
        us = held[at_end] - np.where(before >= 0, held[before], 0)
        ux[0] += self._x
        un[0] += self._n
        us[0] += self._held
        starts = [looks.start[b + 1] for b in before.tolist()]
        if self._start is not None:
            starts[0] = self._start
        ends_at = [looks.end[e] for e in ends]
        self._start, self._x, self._n, self._held = leftover
        return starts, ends_at, ux.tolist(), un.tolist(), us.tolist()

    def _group_one_by_one(
        self, looks: LookCounts
    ) -> tuple[list[datetime], list[datetime], list[float], list[float], list[int]]:
        """Looks summed into units of ``min_samples``, in order (any counts)."""
        least = self.test.min_samples
        start, x, n, held = self._start, self._x, self._n, self._held
        starts: list[datetime] = []
        ends: list[datetime] = []
        ux: list[float] = []
        un: list[float] = []
        us: list[int] = []
        for i, (xi, ni, si) in enumerate(
            zip(looks.x.tolist(), looks.n.tolist(), looks.samples.tolist(), strict=True)
        ):
            if start is None:
                start = looks.start[i]
            x, n, held = x + xi, n + ni, held + si
            if held >= least:
                starts.append(start)
                ends.append(looks.end[i])
                ux.append(x)
                un.append(n)
                us.append(held)
                start, x, n, held = None, 0.0, 0.0, 0
        self._start, self._x, self._n, self._held = start, x, n, held
        return starts, ends, ux, un, us

    def _units(
        self,
        starts: list[datetime],
        ends: list[datetime],
        x: list[float],
        n: list[float],
        samples: list[int],
    ) -> None:
        first = len(self.unit_starts)
        self.unit_starts += starts
        self.unit_samples += samples
        self.samples += sum(samples)
        detector = self.detector
        taken = 0
        if self.first_alarm is None:
            taken = detector.update_many(x, n, until_alarm=True)
            if detector.alarmed:
                _, _, since_looks, _ = detector.since_change()
                at = first + taken
                self.first_alarm = {
                    "at": ends[taken - 1].isoformat(),
                    "looks_since_change": since_looks,
                    "samples_since_change": sum(self.unit_samples[at - since_looks : at]),
                }
        if taken < len(x):
            detector.update_many(x[taken:], n[taken:])

    def mark(self) -> RunMark:
        """The run's state now, to :meth:`restore` later (the units fed so far stay in
        the lists; a mark keeps their number)."""
        return RunMark(
            self.detector.copy(),
            self._start,
            self._x,
            self._n,
            self._held,
            len(self.unit_starts),
            self.samples,
            None if self.first_alarm is None else dict(self.first_alarm),
        )

    def restore(self, mark: RunMark) -> None:
        """Go back to ``mark`` (taken on this run, before the looks fed since)."""
        self.detector = mark.detector.copy()
        self._start, self._x, self._n, self._held = mark.start, mark.x, mark.n, mark.held
        del self.unit_starts[mark.units :]
        del self.unit_samples[mark.units :]
        self.samples = mark.samples
        self.first_alarm = None if mark.first_alarm is None else dict(mark.first_alarm)

    def copy(self) -> DropRun:
        """An independent run in the same state."""
        other = copy.copy(self)
        other.detector = self.detector.copy()
        other.unit_starts = list(self.unit_starts)
        other.unit_samples = list(self.unit_samples)
        other.first_alarm = None if self.first_alarm is None else dict(self.first_alarm)
        return other

    def unscale(self, v: float) -> float:
        return v if self.reading != "bounded" else self.low + v * self.width

    def evidence(self) -> DropEvidence:
        """The evidence after the looks fed so far."""
        test, detector = self.test, self.detector
        confidence = 1.0 - 2.0 * test.reference_alpha
        evidence = DropEvidence(
            test.metric,
            test.direction,
            detector.alarmed,
            True,
            None,
            statistic=detector.statistic,
            threshold=detector.threshold,
            baseline=self.unscale(self.baseline),
            before=self.before,
            looks=len(self.unit_starts),
            samples=self.samples,
            first_alarm=None if self.first_alarm is None else dict(self.first_alarm),
            budget=test.budget,
        )
        sx, sn, since_looks, alternative = detector.since_change()
        evidence.after = self._after(sx, sn, since_looks, confidence)
        evidence.after["alternative"] = self.unscale(alternative)
        evidence.method = (
            f"mixture Shiryaev–Roberts e-detector on {self.reading} counts per look against "
            f"the {'threshold' if test.baseline is not None else 'reference'} "
            f"(Pollak 1987; Shin, Ramdas & Rinaldo 2024); alarm at log R ≥ log(1/alpha) = "
            f"{detector.threshold:.3g}"
        )
        return evidence

    def _after(self, x: float, n: float, looks: int, confidence: float) -> dict[str, Any]:
        if looks == 0 or n <= 0:
            return {"looks": 0, "samples": 0}
        first = len(self.unit_starts) - looks
        out: dict[str, Any] = {
            "since": self.unit_starts[first].isoformat(),
            "looks": looks,
            "samples": sum(self.unit_samples[first:]),
        }
        if self.reading == "bounded":
            out["value"] = self.unscale(x / n)
            return out
        lo, hi = wilson(x, n, confidence)
        key = "share_above" if self.reading == "quantile" else "value"
        out.update({key: x / n, "lower": lo, "upper": hi, "n": int(n), "confidence": confidence})
        return out


def start_run(
    test: DropTest, reference: Sequence[LookCount] | LookCounts
) -> DropRun | DropEvidence:
    """The run of a proportion metric's ``test`` after ``reference`` (its looks as
    counts), or evidence that is not ready (with its reason). The same baseline as
    :func:`detect_drop`: Wilson's one-sided limit at ``reference_alpha``, or the
    test's threshold."""
    spec = metric_spec(test.metric)
    if reading_of(spec) != "proportion":
        raise ValueError(f"start_run takes proportion metrics, not {test.metric!r}")
    if test.baseline is not None:
        return DropRun(test, "proportion", test.baseline, {"threshold": test.baseline})
    if not isinstance(reference, LookCounts):
        reference = LookCounts.of(reference)
    x, n = reference.total
    start = reference.start[0].isoformat() if len(reference) else None
    end = reference.end[-1].isoformat() if len(reference) else None
    found = _counts_baseline(test, "proportion", x, n, start, end, None)
    if isinstance(found, str):
        return DropEvidence(test.metric, test.direction, False, False, found, budget=test.budget)
    return DropRun(test, "proportion", *found)


def detect_drop(test: DropTest, reference: Sequence[Look], looks: Sequence[Look]) -> DropEvidence:
    """Run the detector of ``test`` over ``looks`` after ``reference``.

    Returns
    -------
    DropEvidence
        ``alarmed`` when the statistic is at or above its threshold after the last
        look; ``ready`` False (with a ``reason``) when the reference cannot fix a
        baseline yet.

    Notes
    -----
    Statistic: the mixture Shiryaev–Roberts statistic (log scale) of
    :class:`~liveeval.metrics.change.ShiryaevRoberts`; threshold ``log(1/alpha)``.
    Baseline: for proportions the Wilson limit of the reference at one-sided level
    ``reference_alpha``; for quantiles the Wilson limit of the share of reference
    latencies above the reference quantile; for other bounded metrics the normal
    (CLT) limit of the mean of the reference's look values. The same as a
    :class:`DropRun` fed look by look.
    """
    spec = metric_spec(test.metric)
    reading = reading_of(spec)
    evidence = DropEvidence(test.metric, test.direction, False, False, None, budget=test.budget)
    if reading is None:
        evidence.reason = (
            f"{test.metric} is unbounded ({spec.unit}): no sequential test; compare a "
            "window with a threshold instead"
        )
        return evidence
    confidence = 1.0 - 2.0 * test.reference_alpha  # two-sided, one side used
    bounded = reading == "bounded" and test.baseline is None
    ref_looks = _batched(reference, spec, test.min_samples) if bounded else []
    cut = None
    if reading == "quantile":
        merged = _merged(reference)
        sketch = None if merged is None or merged.evaluation is None else merged.evaluation.latency
        if sketch is None or sketch.count == 0:
            evidence.reason = "the reference has no latencies yet"
            return evidence
        assert spec.quantile is not None
        q = sketch.quantile(spec.quantile, confidence)
        cut = q.value
    counter = _Counter(spec, reading, cut)
    if test.baseline is not None:
        p0 = (test.baseline - counter.low) / counter.width if reading == "bounded" else None
        if reading == "quantile":
            evidence.reason = "a latency quantile is compared with its reference, not a threshold"
            return evidence
        baseline = test.baseline if p0 is None else p0
        before: dict[str, Any] = {"threshold": test.baseline}
    else:
        found = _reference_baseline(counter, ref_looks, reference, test, confidence)
        if isinstance(found, str):
            evidence.reason = found
            return evidence
        baseline, before = found
    run = DropRun(test, reading, baseline, before, (counter.low, counter.width))
    run.feed_many(LookCounts.of(_look_counts(looks, counter, test.min_samples)))
    return run.evidence()


def _counts_baseline(
    test: DropTest,
    reading: Reading,
    x: float,
    n: float,
    start: str | None,
    end: str | None,
    cut: float | None,
) -> tuple[float, dict[str, Any]] | str:
    """Wilson's one-sided limit of the reference's counts, and its description."""
    if n <= 0:
        return f"the reference has no {test.metric} yet"
    confidence = 1.0 - 2.0 * test.reference_alpha
    lo, hi = wilson(x, n, confidence)
    before: dict[str, Any] = {
        "value": x / n,
        "lower": lo,
        "upper": hi,
        "n": int(n),
        "start": start,
        "end": end,
        "confidence": confidence,
    }
    if reading == "quantile":
        before["quantile_seconds"] = cut
        before["share_above"] = before.pop("value")
    return (lo if test.direction == "drop" else hi), before


def _reference_baseline(
    counter: _Counter,
    ref_looks: list[Look],
    reference: Sequence[Look],
    test: DropTest,
    confidence: float,
) -> tuple[float, dict[str, Any]] | str:
    drop = test.direction == "drop"
    start = reference[0].start.isoformat() if reference else None
    end = reference[-1].end.isoformat() if reference else None
    if counter.reading in ("proportion", "quantile"):
        counts = _look_counts(reference, counter, 1)
        x, n = sum(c.x for c in counts), sum(c.n for c in counts)
        return _counts_baseline(test, counter.reading, x, n, start, end, counter.cut)
    values = [c[0] for c in (counter.counts(look.stats) for look in ref_looks) if c is not None]
    if len(values) < MIN_REFERENCE_LOOKS:
        return (
            f"the reference holds {len(values)} looks with a {test.metric} value; "
            f"{MIN_REFERENCE_LOOKS} are needed"
        )
    total, total_sq, m = sum(values), sum(v * v for v in values), len(values)
    lo, hi = normal_mean(total, total_sq, m, confidence)
    lo, hi = max(lo, 0.0), min(hi, 1.0)
    before = {
        "value": counter.unscale(total / m),
        "lower": counter.unscale(lo),
        "upper": counter.unscale(hi),
        "n": sum(look_samples(counter.spec, look.stats) for look in ref_looks),
        "looks": m,
        "start": start,
        "end": end,
        "confidence": confidence,
    }
    return (lo if drop else hi), before
