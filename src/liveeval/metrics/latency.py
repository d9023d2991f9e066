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
from .interval import normal_mean, z_value
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

    def _value_at_rank(self, rank: float) -> float:
        """Value of the order statistic of (0-based) ``rank``."""
        if rank < self.zeros:
            return 0.0
        cumulative = self.zeros + np.cumsum(self.counts)
        i = int(np.searchsorted(cumulative, rank, side="right"))
        i = min(i, len(self.keys) - 1)
        g = self.gamma
        value = 2.0 * g ** int(self.keys[i]) / (g + 1.0)
        return min(value, self.maximum)

    def quantile(self, q: float, confidence: float = 0.95) -> MetricResult:
        """The q-quantile with a distribution-free order-statistic interval."""
        name = f"latency_p{q * 100:g}_seconds"
        if self.count == 0:
            return MetricResult.undefined(name, "undefined: no latencies", higher_is_better=False)
        n = self.count
        rank = q * (n - 1)
        z = z_value(confidence)
        spread = z * math.sqrt(n * q * (1 - q))
        lower_rank = max(0.0, math.floor(rank - spread))
        upper_rank = min(n - 1.0, math.ceil(rank + spread))
        return MetricResult(
            name,
            self._value_at_rank(rank),
            self._value_at_rank(lower_rank),
            self._value_at_rank(upper_rank),
            n,
            confidence,
            f"order statistics (binomial ranks) on a sketch with ±{self.relative_accuracy:.0%} "
            "relative error",
            higher_is_better=False,
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
            lower, upper = normal_mean(self.total, self.total_sq, self.count, confidence)
            if math.isnan(lower):
                lower = upper = mean
            out["latency_mean_seconds"] = MetricResult(
                "latency_mean_seconds",
                mean,
                max(lower, 0.0),
                upper,
                self.count,
                confidence,
                "normal (CLT)",
                higher_is_better=False,
            )
        return out
