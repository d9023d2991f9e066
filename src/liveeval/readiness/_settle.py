"""How many more rows would settle an inconclusive check (for :mod:`.verdict`).

Builds ``interval_at`` / ``interval_for`` from the counts behind the metric
(:mod:`.evidence`) — the fixed-sample method or the confidence sequence, as the check
was judged — and inverts it with :func:`liveeval.metrics.settle.growth_to_settle`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Literal

from ..metrics import EvaluationResult, MetricResult
from ..metrics.registry import METRICS
from ..metrics.settle import IntervalAt, IntervalFor, growth_to_settle, sqrt_law
from .evidence import Evidence, anytime_interval, grown_interval, interval_for
from .profile import Check

__all__ = ["more_to_settle"]


def _fixed_se(result: MetricResult, evidence: Evidence) -> Callable[[float], float]:
    """The estimate's standard error at growth g, from its fixed-sample interval, or
    from the binomial error of its rate when it has none."""
    if result.lower is not None and result.upper is not None and result.upper > result.lower:
        z = NormalDist().inv_cdf(0.5 + result.confidence / 2.0)
        se = (result.upper - result.lower) / (2.0 * z)
    else:
        x, t = evidence.parts[0]
        p = x / t if t > 0 else 0.5
        se = math.sqrt(max(p * (1.0 - p), 0.25 / max(t, 1.0)) / max(t, 1.0))

    def se_at(g: float) -> float:
        return se / math.sqrt(g)

    return se_at


def _counts_predictions(metric: str) -> bool:
    """Metrics counted over served predictions rather than labelled rows."""
    spec = METRICS.get(metric)
    return spec is not None and spec.family in ("operational", "business")


def more_to_settle(
    check: Check,
    result: MetricResult,
    value: float,
    limits: tuple[float, float],
    total_rows: int,
    mode: Literal["fixed", "anytime"],
    evaluation: EvaluationResult | None,
    evidence: Evidence | None,
    power: float,
) -> tuple[int | None, str]:
    """More rows that settle the check with probability ``power``, and their unit."""
    lower, upper = limits
    se_at: Callable[[float], float] | None = None
    at: IntervalAt | None = None
    moving: IntervalFor | None = None
    if mode == "anytime" and evidence is not None:
        alpha = (1.0 - result.confidence) / 2.0
        found = evidence

        def interval_at(g: float) -> tuple[float, float]:
            return anytime_interval(found.scaled(g), alpha, check.target)

        at = interval_at
        moving = (
            interval_for(evaluation, evidence, result, anytime_alpha=alpha, target=check.target)
            if evaluation is not None
            else None
        )
        # The sequence is wider than z·se: take the spread of the estimate from the
        # fixed-sample interval (or the rate's binomial error) instead.
        se_at = _fixed_se(result, evidence)
    else:
        if evaluation is not None:
            at = grown_interval(evaluation, check.metric, result)
            if evidence is not None:
                moving = interval_for(evaluation, evidence, result)
        if at is None:
            at = sqrt_law(value, lower, upper)
    growth = growth_to_settle(
        at,
        value,
        check.target,
        confidence=result.confidence,
        power=power,
        se_at=se_at,
        interval_for=moving,
    )
    if growth is None:
        return None, ""
    if _counts_predictions(check.metric):
        return max(math.ceil((growth - 1.0) * result.n), 1), "predictions"
    rows = total_rows if total_rows > 0 else result.n
    return max(math.ceil((growth - 1.0) * rows), 1), "labelled rows"
