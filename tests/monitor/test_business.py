"""Business figures per window: false alarms per day and expected cost, from counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from liveeval.metrics.interval import modified_wilson, poisson_interval
from liveeval.monitor.business import (
    COST_METHOD,
    POISSON_METHOD,
    ErrorCounts,
    error_counts,
    expected_cost,
    expected_cost_array,
    false_alarms_per_day,
    false_alarms_per_day_array,
)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 7, 30, 250, 5000])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_poisson_interval_equals_garwoods_chi_square_limits(k, confidence):
    alpha = 1 - confidence
    lower, upper = poisson_interval(k, confidence)
    expected_lower = 0.0 if k == 0 else stats.chi2.ppf(alpha / 2, 2 * k) / 2
    expected_upper = stats.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    assert lower == pytest.approx(expected_lower, rel=1e-9, abs=1e-12)
    assert upper == pytest.approx(expected_upper, rel=1e-9)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_poisson_interval_refuses_a_count_that_is_not_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        poisson_interval(bad)


def test_error_counts_read_the_cells_by_the_positive_label():
    # rows actual, columns predicted, in labels order
    matrix = [[50, 4], [3, 10]]  # actual ham: 50 ham, 4 spam; actual spam: 3 ham, 10 spam
    assert error_counts(matrix, ("ham", "spam"), "spam") == ErrorCounts(tp=10, fp=4, fn=3, tn=50)
    assert error_counts(matrix, ("ham", "spam"), "ham") == ErrorCounts(tp=50, fp=3, fn=4, tn=10)
    with pytest.raises(ValueError, match="2 x 2"):
        error_counts([[1, 2, 3]] * 3, (0, 1, 2), 1)


def test_false_alarms_per_day_scale_the_count_and_its_exact_interval_by_the_days():
    # 6 false alarms in a 12-hour window: 12 a day, limits of the count times 2
    result = false_alarms_per_day(6, 12 * 3600)
    assert result.value == 12.0
    assert result.lower == pytest.approx(stats.chi2.ppf(0.025, 12) / 2 * 2, rel=1e-9)
    assert result.upper == pytest.approx(stats.chi2.ppf(0.975, 14) / 2 * 2, rel=1e-9)
    assert result.n == 6
    assert result.method == POISSON_METHOD
    assert not result.higher_is_better


def test_no_false_alarm_still_bounds_the_rate_from_above():
    result = false_alarms_per_day(0, 86400.0)
    assert (result.value, result.lower) == (0.0, 0.0)
    assert result.upper == pytest.approx(-math.log(0.025), rel=1e-9)  # 3.689 a day


def test_a_window_without_length_has_no_false_alarm_rate():
    result = false_alarms_per_day(0, 0.0)
    assert result.value is None
    assert result.reason == "the window has no length"


def test_expected_cost_is_the_hand_computed_cost_per_labelled_prediction():
    counts = ErrorCounts(tp=20, fp=3, fn=2, tn=75)  # n = 100
    result = expected_cost(counts, cost_fp=1.0, cost_fn=50.0)
    # (3·1 + 2·50) / 100
    assert result.value == pytest.approx(1.03)
    assert result.n == 100
    assert result.method == COST_METHOD
    # MOVER by hand from the two modified Wilson intervals
    lo_fp, hi_fp = modified_wilson(3, 100)
    lo_fn, hi_fn = modified_wilson(2, 100)
    below = math.hypot(1.0 * (0.03 - lo_fp), 50.0 * (0.02 - lo_fn))
    above = math.hypot(1.0 * (hi_fp - 0.03), 50.0 * (hi_fn - 0.02))
    assert result.lower == pytest.approx(1.03 - below)
    assert result.upper == pytest.approx(1.03 + above)
    # the per-row costs agree with the formula
    rows = np.array([0.0] * 95 + [1.0] * 3 + [50.0] * 2)
    assert result.value == pytest.approx(rows.mean())


def test_expected_cost_without_errors_is_zero_with_an_upper_limit_above_zero():
    result = expected_cost(ErrorCounts(tp=10, fp=0, fn=0, tn=90), 1.0, 50.0)
    assert (result.value, result.lower) == (0.0, 0.0)
    assert result.upper is not None and result.upper > 0.0


def test_expected_cost_is_undefined_without_labelled_predictions():
    result = expected_cost(ErrorCounts(0, 0, 0, 0), 1.0, 50.0)
    assert result.value is None
    assert result.reason == "no labelled predictions"


def _coverage(p_fp, p_fn, c_fp, c_fn, n, reps, seed):
    rng = np.random.default_rng(seed)
    truth = p_fp * c_fp + p_fn * c_fn
    below = above = 0
    for fp, fn, _ in rng.multinomial(n, [p_fp, p_fn, 1 - p_fp - p_fn], size=reps):
        r = expected_cost(ErrorCounts(0, int(fp), int(fn), n - int(fp) - int(fn)), c_fp, c_fn)
        below += truth < r.lower
        above += truth > r.upper
    return below / reps, above / reps


@pytest.mark.parametrize(
    ("p_fp", "p_fn", "c_fp", "c_fn", "n"),
    [
        (0.02, 0.002, 1.0, 50.0, 500),  # fraud-like: rare, expensive misses
        (0.05, 0.01, 1.0, 50.0, 200),
        (0.1, 0.05, 5.0, 1.0, 100),  # spam-like: false positives dearer
        (0.3, 0.2, 1.0, 1.0, 30),
    ],
)
def test_expected_cost_interval_covers_in_simulation(p_fp, p_fn, c_fp, c_fn, n):
    # Measured with 2000 reps (seed 1): coverage 0.985, 0.956, 0.960, 0.985; the truth
    # above the upper limit (the side that understates the cost) at most 1.6%.
    below, above = _coverage(p_fp, p_fn, c_fp, c_fn, n, reps=600, seed=3)
    assert 1 - below - above >= 0.92
    assert above <= 0.035


def test_false_alarms_per_day_of_many_windows_agree_with_one_window_at_a_time():
    counts = [0, 1, 3, 3, 17, 250, 251, 0]
    got = false_alarms_per_day_array(counts, 3600.0)
    for k, result in zip(counts, got, strict=True):
        one = false_alarms_per_day(k, 3600.0)
        assert (result.value, result.n, result.method) == (one.value, one.n, one.method)
        assert result.lower == pytest.approx(one.lower, rel=1e-11, abs=0.0)
        assert result.upper == pytest.approx(one.upper, rel=1e-11)
        assert not result.higher_is_better
    assert false_alarms_per_day_array([2], 0.0)[0].reason == "the window has no length"


def test_expected_cost_of_many_windows_is_the_one_window_result_exactly():
    rng = np.random.default_rng(3)
    counts = [ErrorCounts(*(int(v) for v in rng.integers(0, 40, 4))) for _ in range(50)]
    counts += [ErrorCounts(0, 0, 0, 0), ErrorCounts(0, 1, 2, 0), ErrorCounts(5, 0, 0, 95)]
    got = expected_cost_array(counts, 1.0, 50.0)
    assert got == [expected_cost(c, 1.0, 50.0) for c in counts]
