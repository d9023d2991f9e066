"""Latency as a mergeable log-bucket sketch (DDSketch's scheme, Masson et al. 2019).

Each positive value x falls in bucket ceil(log_γ x) with γ = (1+α)/(1−α); every
quantile read from the sketch is within relative error α (1% by default) of a
value of the data. Buckets are kept sparse, so the sketch is a few hundred
numbers whatever the row count, and merging adds counts bucket by bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from .interval import binomial_rank_limits, t_mean
from .result import MetricResult

__all__ = ["LatencySketch"]

FloatArray = npt.NDArray[np.float64]


@dataclass(eq=False)
class LatencySketch:
    """Latency in seconds; quantiles within ``relative_accuracy``; exact max and mean."""

    relative_accuracy: float = 0.01
    keys: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    counts: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    zeros: int = 0
    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    maximum: float = -math.inf

    @property
    def gamma(self) -> float:
        return (1 + self.relative_accuracy) / (1 - self.relative_accuracy)

    def update(self, seconds: npt.ArrayLike, *, column: str = "latency") -> LatencySketch:
        """Add latencies (in seconds) in place; returns self."""
        x = np.asarray(seconds, dtype=np.float64)
        bad = np.flatnonzero(~(x >= 0) | ~np.isfinite(x))
        if bad.size:
            row = int(bad[0])
            raise ValidationError(
                f"{float(x[row])!r} is not a non-negative latency", column=column, row=row
            )
        if x.size == 0:
            return self
        positive = x[x > 0]
        keys = np.ceil(np.log(positive) / math.log(self.gamma)).astype(np.int64)
        self._add(*np.unique(keys, return_counts=True))
        self.zeros += int(x.size - positive.size)
        self.count += int(x.size)
        self.total += float(x.sum())
        self.total_sq += float(np.dot(x, x))
        self.maximum = max(self.maximum, float(x.max()))
        return self

    def _add(self, keys: npt.NDArray[np.int64], counts: npt.ArrayLike) -> None:
        all_keys = np.concatenate([self.keys, keys])
        all_counts = np.concatenate([self.counts, np.asarray(counts, dtype=np.float64)])
        uniq, inverse = np.unique(all_keys, return_inverse=True)
        self.keys = uniq.astype(np.int64)
        self.counts = np.bincount(inverse, weights=all_counts, minlength=uniq.shape[0]).astype(
            np.float64
        )

    def merge(self, other: LatencySketch) -> LatencySketch:
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("cannot merge latency sketches of different accuracy")
        out = LatencySketch(self.relative_accuracy, self.keys.copy(), self.counts.copy())
        out._add(other.keys, other.counts)
        out.zeros = self.zeros + other.zeros
        out.count = self.count + other.count
        out.total = self.total + other.total
        out.total_sq = self.total_sq + other.total_sq
        out.maximum = max(self.maximum, other.maximum)
        return out

    def count_above(self, seconds: float) -> float:
        """How many latencies are certainly above ``seconds``: those in buckets whose
        lower edge γ^(k−1) is at or above it (a bucket straddling ``seconds`` counts as
        not above, so the count is a lower bound within one bucket)."""
        if self.keys.size == 0:
            return 0.0
        if seconds <= 0.0:
            return float(self.counts.sum())
        lower_edges = self.gamma ** (self.keys.astype(np.float64) - 1.0)
        return float(self.counts[lower_edges >= seconds].sum())

    def _bucket_at_rank(self, rank: float) -> int | None:
        """Index into ``keys`` of the bucket holding the order statistic of (0-based)
        ``rank``; ``None`` when it is one of the exact zeros."""
        if rank < self.zeros:
            return None
        cumulative = self.zeros + np.cumsum(self.counts)
        i = int(np.searchsorted(cumulative, rank, side="right"))
        return min(i, len(self.keys) - 1)

    def _value_at_rank(self, rank: float) -> float:
        """Value of the order statistic of (0-based) ``rank``."""
        i = self._bucket_at_rank(rank)
        if i is None:
            return 0.0
        g = self.gamma
        value = 2.0 * g ** int(self.keys[i]) / (g + 1.0)
        return min(value, self.maximum)

    def _bucket_bounds(self, rank: float) -> tuple[float, float]:
        """Smallest and largest value the order statistic of ``rank`` can have: its
        bucket's edges (γ^(k−1), γ^k], the upper one capped by the exact maximum."""
        i = self._bucket_at_rank(rank)
        if i is None:
            return (0.0, 0.0)
        key = int(self.keys[i])
        return (self.gamma ** (key - 1), min(self.gamma**key, self.maximum))

    def quantile(self, q: float, confidence: float = 0.95) -> MetricResult:
        """The q-quantile with a distribution-free interval from exact binomial ranks.

        The value is the sketch's estimate of the order statistic at rank q·(n − 1).
        The interval takes the order statistics X₍ₗ₎ and X₍ᵤ₎ whose ranks come from
        the exact Binomial(n, q) distribution of the number of latencies below the
        true quantile (:func:`~liveeval.metrics.interval.binomial_rank_limits`), then
        widens each to the edge of its sketch bucket, so the sketch's own relative
        error is inside the interval. When n is too small for any order statistic to
        bound the quantile from above (the 99th percentile needs 367 values at 95%),
        ``upper`` is ``math.inf`` and ``note`` says so: a check "p99 ≤ target" can
        then never pass, only fail on the lower limit or stay inconclusive.
        Undefined with no latencies.
        """
        name = f"latency_p{q * 100:g}_seconds"
        if self.count == 0:
            return MetricResult.undefined(name, "undefined: no latencies", higher_is_better=False)
        n = self.count
        low_rank, high_rank = binomial_rank_limits(n, q, confidence)
        lower = 0.0 if low_rank is None else self._bucket_bounds(low_rank - 1)[0]
        note = None
        if high_rank is None:
            upper = math.inf
            need = math.ceil(math.log((1.0 - confidence) / 2.0) / math.log(q)) if q > 0 else 1
            note = (
                f"upper limit unbounded: {n} latencies cannot bound the {q * 100:g}th "
                f"percentile from above at {confidence:.0%} (that needs at least {need})"
            )
        else:
            upper = self._bucket_bounds(high_rank - 1)[1]
        value = self._value_at_rank(q * (n - 1))
        return MetricResult(
            name,
            value,
            min(lower, value),
            max(upper, value),
            n,
            confidence,
            "exact binomial order-statistic ranks (distribution-free), widened to the "
            f"sketch's bucket edges (±{self.relative_accuracy:.0%} relative error)",
            higher_is_better=False,
            note=note,
        )

    def results(self, confidence: float = 0.95) -> dict[str, MetricResult]:
        out = {
            f"latency_p{int(q * 100)}_seconds": self.quantile(q, confidence)
            for q in (0.5, 0.95, 0.99)
        }
        if self.count:
            out["latency_max_seconds"] = MetricResult(
                "latency_max_seconds",
                self.maximum,
                self.maximum,
                self.maximum,
                self.count,
                confidence,
                "exact",
                higher_is_better=False,
            )
            mean = self.total / self.count
            lower, upper = t_mean(self.total, self.total_sq, self.count, confidence)
            defined = not math.isnan(lower)
            out["latency_mean_seconds"] = MetricResult(
                "latency_mean_seconds",
                mean,
                max(lower, 0.0) if defined else None,
                upper if defined else None,
                self.count,
                confidence,
                "Student t on the running sums" if defined else "no interval: one latency",
                higher_is_better=False,
            )
        return out
