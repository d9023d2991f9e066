"""Rows to settle an inconclusive check, found by re-running the interval method."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liveeval.metrics import growth_to_settle, samples_to_settle, wilson
from liveeval.metrics.settle import settle_probability, sqrt_law


def _wilson_at(successes: float, n: float):
    return lambda g: wilson(successes * g, n * g)


def test_settling_probability_reaches_the_stated_power_at_the_answer():
    at = _wilson_at(93, 100)
    g = growth_to_settle(at, 0.93, 0.90, power=0.8)
    assert g is not None and g > 1
    assert settle_probability(at, 0.93, 0.90, g) >= 0.8
    assert settle_probability(at, 0.93, 0.90, g * 0.95) < 0.8


def test_more_power_needs_more_rows():
    at = _wilson_at(93, 100)
    half = growth_to_settle(at, 0.93, 0.90, power=0.5)
    eighty = growth_to_settle(at, 0.93, 0.90, power=0.8)
    assert half is not None and eighty is not None and eighty > half


def test_an_estimate_on_the_target_never_settles():
    assert growth_to_settle(_wilson_at(90, 100), 0.90, 0.90) is None
    assert samples_to_settle(0.9, 0.84, 0.95, 100, 0.9) is None


def test_an_interval_that_already_excludes_the_target_needs_nothing():
    assert samples_to_settle(0.95, 0.93, 0.97, 1000, 0.9) is None


def test_samples_use_the_real_method_when_given():
    lower, upper = wilson(28, 30)
    with_method = samples_to_settle(28 / 30, lower, upper, 30, 0.85, interval_at=_wilson_at(28, 30))
    by_sqrt_law = samples_to_settle(28 / 30, lower, upper, 30, 0.85)
    assert with_method is not None and by_sqrt_law is not None
    assert with_method != by_sqrt_law


def test_the_sqrt_law_shrinks_each_side_by_root_growth():
    at = sqrt_law(0.5, 0.4, 0.7)
    lo, hi = at(4.0)
    assert (lo, hi) == pytest.approx((0.45, 0.6))


def test_power_out_of_range_is_an_error():
    with pytest.raises(ValueError, match=r"power must be in \(0, 1\), got 1\.0"):
        growth_to_settle(_wilson_at(9, 10), 0.9, 0.8, power=1.0)


@pytest.mark.slow
def test_suggested_rows_settle_about_eighty_percent_of_the_time_at_current_rates():
    # 93/100 against a 0.90 target: add the suggested rows drawn at the current rate
    # and count how often the Wilson interval then excludes the target.
    rng = np.random.default_rng(11)
    more = samples_to_settle(0.93, *wilson(93, 100), 100, 0.90, interval_at=_wilson_at(93, 100))
    assert more is not None
    reps = 4000
    extra = rng.binomial(more, 0.93, size=reps)
    settled = 0
    for k in extra:
        lo, hi = wilson(93 + k, 100 + more)
        settled += not (lo <= 0.90 <= hi)
    rate = settled / reps
    assert abs(rate - 0.8) < 0.04 + 3 * math.sqrt(0.16 / reps)
