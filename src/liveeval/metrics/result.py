"""The value object every metric turns into."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MetricResult"]


@dataclass(frozen=True, slots=True)
class MetricResult:
    """A metric's value with its confidence interval.

    ``value`` is ``None`` when the metric is undefined on the data (for example
    precision when nothing was predicted positive); ``reason`` then says why.
    Undefined is never silently reported as 0. When scikit-learn would substitute
    a ``zero_division`` value, ``zero_division`` holds it so callers can match.

    ``n`` always counts rows. ``upper`` (or ``lower``) is ``math.inf`` (``-math.inf``)
    when the data cannot bound the value on that side at all — a 99th percentile
    from 100 latencies — so a check against it can never pass on that side.
    ``note`` says when an interval is only approximate or unbounded (for example
    "interval approximate: 12 positives"). ``weight_total`` is the summed weight
    behind the value when rows were weighted (``None`` unweighted).
    """

    name: str
    value: float | None
    lower: float | None
    upper: float | None
    n: int
    confidence: float
    method: str
    reason: str | None = None
    zero_division: float | None = None
    higher_is_better: bool = True
    note: str | None = None
    weight_total: float | None = None

    @property
    def is_defined(self) -> bool:
        return self.value is not None and self.zero_division is None and not math.isnan(self.value)

    @property
    def half_width(self) -> float | None:
        if self.lower is None or self.upper is None:
            return None
        return (self.upper - self.lower) / 2.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def undefined(
        cls,
        name: str,
        reason: str,
        *,
        n: int = 0,
        confidence: float = 0.95,
        method: str = "none",
        zero_division: float | None = None,
        higher_is_better: bool = True,
    ) -> MetricResult:
        return cls(
            name,
            None,
            None,
            None,
            n,
            confidence,
            method,
            reason,
            zero_division,
            higher_is_better,
        )
