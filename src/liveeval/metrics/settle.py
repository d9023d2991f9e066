"""How much more data would settle an inconclusive check, with a stated power.

An interval that straddles a target settles once it lies wholly on one side. How many
more rows that takes depends on the interval method itself (Wilson, a bootstrap, a
confidence sequence …), so the answer here is found by *calling* the method: the
caller passes ``interval_at(g)``, the interval the real method gives when every
count is ``g`` times what it is now (the data grown at the current rates), and
:func:`growth_to_settle` searches for the smallest growth at which the interval
excludes the target with probability ``power``.

The probability: with the estimate v at its current value, the rows still to come
move the final estimate by a normal amount with standard deviation
``se(g) · sqrt((g − 1)/g)`` (only the new share of the rows is random), and the check
settles when the final estimate clears the target by the interval's width on that
side:

    P(settle at g) = Φ((|v − target| − h(g)) / (se(g) · sqrt((g − 1)/g))),

where ``h(g)`` is the half-width facing the target at growth g and ``se(g)`` the
estimate's standard error there: the interval's full width over 2z by default, or
``se_at(g)`` when the interval is not a z-interval (a confidence sequence is about
1.7 times wider than z·se, and its width would overstate the estimate's spread). At 50% power this
is the old rule "the interval's edge reaches the target", which settled only about
half the time; liveeval states 80%.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

__all__ = [
    "DEFAULT_POWER",
    "growth_to_settle",
    "samples_to_settle",
    "settle_probability",
    "sqrt_law",
]

DEFAULT_POWER = 0.8
MAX_GROWTH = 1e6

Interval = tuple[float, float]
IntervalAt = Callable[[float], Interval | None]
IntervalFor = Callable[[float, float], Interval | None]


def sqrt_law(value: float, lower: float, upper: float) -> IntervalAt:
    """``interval_at`` for a method that cannot be re-run: each side shrinks as 1/√g.

    Use it only when the metric cannot be recomputed from grown counts.
    """

    def interval_at(growth: float) -> Interval:
        shrink = 1.0 / math.sqrt(growth)
        return (value - (value - lower) * shrink, value + (upper - value) * shrink)

    return interval_at


def settle_probability(
    interval_at: IntervalAt,
    value: float,
    target: float,
    growth: float,
    *,
    confidence: float = 0.95,
    se_at: Callable[[float], float] | None = None,
    interval_for: IntervalFor | None = None,
) -> float:
    """The probability that the interval excludes ``target`` after growing the data
    ``growth``-fold at the current rates (see the module docstring).

    With ``interval_for(g, v)`` (the method's interval at growth g when the estimate
    is v) the limit is allowed to move with the estimate: the check settles when the
    final estimate passes the v* whose limit sits on the target. Returns 0.0 when the
    method gives no interval at that size.
    """
    if growth <= 1.0:
        return 0.0
    limits = interval_at(growth)
    if limits is None or not all(math.isfinite(v) for v in limits):
        return 0.0
    lower, upper = limits
    distance = abs(value - target)
    half = (value - lower) if target <= value else (upper - value)
    if half <= 0.0:
        return 1.0 if distance > 0.0 else 0.0
    if se_at is not None:
        se = se_at(growth)
    else:
        se = (upper - lower) / (2.0 * NormalDist().inv_cdf(0.5 + confidence / 2.0))
    spread = se * math.sqrt((growth - 1.0) / growth)
    if spread <= 0.0:
        return 1.0 if distance > half else 0.0
    if interval_for is None:
        return NormalDist().cdf((distance - half) / spread)
    # The estimate at which the facing limit just reaches the target, at this growth:
    # the limit moves with the estimate (a Wilson limit moves less than it near 0 or 1).
    edge = _settling_estimate(interval_for, value, target, growth, half)
    if edge is None:
        return 0.0
    # Settles when the final estimate passes v*, away from the target.
    ahead = (value - edge) if value > target else (edge - value)
    return NormalDist().cdf(ahead / spread)


def _settling_estimate(
    interval_for: IntervalFor, value: float, target: float, growth: float, half: float
) -> float | None:
    """The estimate v* whose interval at ``growth`` has its target-facing limit on the
    target: a root of limit(v) − target between the target and well past ``value``,
    found by regula falsi with the Illinois step (a handful of calls)."""
    up = value > target

    def gap(v: float) -> float | None:
        limits = interval_for(growth, v)
        if limits is None:
            return None
        # Positive once the interval clears the target on the far side.
        return limits[0] - target if up else target - limits[1]

    a = target
    b = value + (4.0 * half + abs(value - target)) * (1.0 if up else -1.0)
    if 0.0 <= value <= 1.0:  # a rate: stay inside [0, 1]
        b = min(max(b, 0.0), 1.0)
    fa, fb = gap(a), gap(b)
    if fa is None or fb is None or fb <= 0.0:
        return None
    if fa > 0.0:
        return a
    side = 0
    for _ in range(40):
        c = b - fb * (b - a) / (fb - fa)
        fc = gap(c)
        if fc is None:
            return None
        if abs(b - a) < 1e-6 or fc == 0.0:
            return c
        if fc > 0.0:
            b, fb = c, fc
            if side == 1:
                fa /= 2.0
            side = 1
        else:
            a, fa = c, fc
            if side == -1:
                fb /= 2.0
            side = -1
    return b


def growth_to_settle(
    interval_at: IntervalAt,
    value: float,
    target: float,
    *,
    confidence: float = 0.95,
    power: float = DEFAULT_POWER,
    max_growth: float = MAX_GROWTH,
    se_at: Callable[[float], float] | None = None,
    interval_for: IntervalFor | None = None,
) -> float | None:
    """The smallest factor g > 1 by which the data must grow, at the current rates, for
    the interval to exclude ``target`` with probability ``power``.

    Parameters
    ----------
    interval_at:
        ``interval_at(g)`` is ``(lower, upper)`` from the real interval method with every
        count multiplied by ``g`` (``g = 1`` is the current interval), or ``None`` where
        the method gives no interval.
    value, target:
        The current estimate and the check's target.
    confidence:
        The interval's two-sided level, to turn its width into a standard error.
    power:
        The probability of settling that the answer promises (0.8 by default).
    se_at:
        The estimate's standard error at growth g, when the interval's width is not
        2·z·se (a confidence sequence); by default the width over 2z.
    interval_for:
        ``interval_for(g, v)``, the method's interval at growth g for an estimate v,
        when the method can be run at another estimate (rates): then the interval's
        limit moves with the estimate instead of keeping its current width.

    Returns
    -------
    The growth factor, or ``None`` when the estimate sits on the target (no amount of
    data settles it at this estimate) or even ``max_growth`` does not reach ``power``.

    Notes
    -----
    Found by doubling then bisecting on g (the probability rises with g), calling
    ``interval_at`` about 20 times. Reference: the power of a confidence-interval test
    at a fixed effect size (e.g. Julious 2004, Stat. Med. 23(12)), here inverted for
    the method in use rather than for a normal interval.

    Examples
    --------
    >>> g = growth_to_settle(sqrt_law(0.95, 0.90, 0.98), 0.95, 0.92)
    >>> round(g, 2)
    4.73
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    if value == target:
        return None

    def enough(g: float) -> bool:
        p = settle_probability(
            interval_at,
            value,
            target,
            g,
            confidence=confidence,
            se_at=se_at,
            interval_for=interval_for,
        )
        return p >= power

    low, high = 1.0, 2.0
    while not enough(high):
        low, high = high, high * 2.0
        if high > max_growth:
            return None
    for _ in range(40):
        if high - low <= 5e-3 * low:
            break
        mid = math.sqrt(low * high)
        if enough(mid):
            high = mid
        else:
            low = mid
    return high


def samples_to_settle(
    value: float,
    lower: float,
    upper: float,
    n: float,
    target: float,
    *,
    interval_at: IntervalAt | None = None,
    confidence: float = 0.95,
    power: float = DEFAULT_POWER,
) -> int | None:
    """How many more samples (in the units of ``n``) would settle the check with
    probability ``power`` at the current rates.

    ``interval_at`` is the real method at grown counts (see :func:`growth_to_settle`);
    without it the interval is assumed to shrink as 1/√n (:func:`sqrt_law`). Returns
    ``None`` when ``[lower, upper]`` already excludes ``target``, ``n`` is 0, or no
    amount of data settles it at this estimate.

    Examples
    --------
    >>> samples_to_settle(0.95, 0.90, 0.98, 100, 0.92)
    374
    """
    if not (lower <= target <= upper) or n <= 0:
        return None
    at = interval_at if interval_at is not None else sqrt_law(value, lower, upper)
    growth = growth_to_settle(at, value, target, confidence=confidence, power=power)
    if growth is None:
        return None
    return max(math.ceil((growth - 1.0) * n), 1)
