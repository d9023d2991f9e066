"""Intervals over arrays give the scalar functions' limits: the same floats where the
arithmetic is the same, within 1e-9 relative where a root is found another way, and so
the same coverage."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from liveeval.metrics.interval import (
    modified_wilson,
    poisson_interval,
    poisson_lower,
    t_mean,
    t_quantile,
    wilson,
)
from liveeval.metrics.interval_array import (
    modified_wilson_array,
    normal_quantile,
    poisson_interval_array,
    poisson_lower_array,
    t_mean_array,
    t_quantile_array,
    wilson_array,
)


def _counts() -> tuple[np.ndarray, np.ndarray]:
    """Proportions from empty to full, small and large n, whole and weighted counts."""
    rng = np.random.default_rng(7)
    n = np.concatenate([np.arange(1, 60), rng.integers(51, 100_000, 200), [0, 0.4, 2.5, 77.7]])
    n = n.astype(np.float64)
    shares = rng.random(n.size)
    x = np.floor(n * shares)
    x[:20] = np.minimum(n[:20], [0, 1, 2, 3] * 5)
    x[20:40] = np.maximum(n[20:40] - [0, 1, 2, 3] * 5, 0)
    x[-3:] = [0.1, 1.25, 70.0]
    return x, n


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_array_gives_the_scalar_limits_exactly(confidence):
    x, n = _counts()
    lower, upper = wilson_array(x, n, confidence)
    for i in range(n.size):
        expected = wilson(float(x[i]), float(n[i]), confidence)
        if n[i] <= 0:
            assert math.isnan(lower[i]) and math.isnan(upper[i])
        else:
            assert (float(lower[i]), float(upper[i])) == expected


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_modified_wilson_array_gives_the_scalar_limits_exactly(confidence):
    x, n = _counts()
    lower, upper = modified_wilson_array(x, n, confidence)
    for i in range(n.size):
        expected = modified_wilson(float(x[i]), float(n[i]), confidence)
        if n[i] <= 0:
            assert math.isnan(lower[i]) and math.isnan(upper[i])
        else:
            assert (float(lower[i]), float(upper[i])) == expected


def test_poisson_lower_array_solves_each_distinct_count_as_the_scalar_function():
    counts = np.array([0.0, 1.0, 2.0, 3.0, 1.0, 0.3, 2.5, 3.0, -1.0])
    got = poisson_lower_array(counts, 0.025)
    assert got.tolist() == [poisson_lower(float(c), 0.025) for c in counts]


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_poisson_interval_array_agrees_with_the_scalar_bisection(confidence):
    counts = np.array([*range(60), 100, 248, 300, 744, 745, 746, 1000, 5000, 20000, 3, 0])
    lower, upper = poisson_interval_array(counts, confidence)
    for k, lo, up in zip(counts.tolist(), lower.tolist(), upper.tolist(), strict=True):
        expected_lo, expected_up = poisson_interval(k, confidence)
        assert lo == pytest.approx(expected_lo, rel=1e-11, abs=0.0)
        assert up == pytest.approx(expected_up, rel=1e-11, abs=0.0)


def test_poisson_interval_array_equals_garwoods_chi_square_limits():
    counts = np.array([0, 1, 7, 250, 12_345])
    lower, upper = poisson_interval_array(counts, 0.95)
    assert lower[0] == 0.0
    assert lower[1:] == pytest.approx(stats.chi2.ppf(0.025, 2 * counts[1:]) / 2, rel=1e-12)
    assert upper == pytest.approx(stats.chi2.ppf(0.975, 2 * counts + 2) / 2, rel=1e-12)


@pytest.mark.parametrize("bad", [-1, 1.5, np.nan])
def test_poisson_interval_array_refuses_a_count_that_is_not_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        poisson_interval_array([3, bad])


def test_poisson_interval_array_covers_as_often_as_the_scalar_interval():
    rng = np.random.default_rng(5)
    for mean in (0.5, 4.0, 250.0):
        draws = rng.poisson(mean, 2000)
        lower, upper = poisson_interval_array(draws)
        scalar = {k: poisson_interval(k) for k in set(draws.tolist())}
        hits = int(((lower <= mean) & (mean <= upper)).sum())
        assert hits == sum(scalar[k][0] <= mean <= scalar[k][1] for k in draws.tolist())
        assert hits >= 0.95 * draws.size - 3 * math.sqrt(draws.size * 0.05)


def test_normal_quantile_is_wichuras_as241_as_statistics_computes_it():
    p = np.concatenate([np.linspace(1e-12, 1 - 1e-12, 4001), [1e-300, 1e-20, 0.5, 0.025]])
    got = normal_quantile(p)
    expected = np.array([NormalDist().inv_cdf(float(v)) for v in p])
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_normal_quantile_is_undefined_outside_the_unit_interval():
    assert np.isnan(normal_quantile([0.0, 1.0, -0.5, 1.5, np.nan])).all()


DFS = np.concatenate(
    [np.arange(1, 200), np.arange(200, 30_000, 97), [0.5, 1.5, 2.3, 999_999, 1e6, 1e6 + 1, 5e6]]
).astype(np.float64)


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.95, 0.99, 0.999999])
def test_t_quantile_array_agrees_with_the_scalar_bisection(confidence):
    got = t_quantile_array(confidence, DFS)
    expected = np.array([t_quantile.__wrapped__(confidence, float(df)) for df in DFS])
    # The scalar bisection itself is off by up to ~1e-9 at df near 10^6 (its log-gamma
    # differences cancel); below df = 1000 the two agree to 1e-12.
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)
    small = DFS < 1000
    np.testing.assert_allclose(got[small], expected[small], rtol=1e-12, atol=0)


@pytest.mark.parametrize("confidence", [0.5, 0.95, 0.999999])
def test_t_quantile_array_equals_scipy(confidence):
    finite = DFS[DFS <= 1e6]
    # The tail as both sides compute it (1 - 0.999999 is not 1e-6 in floating point).
    expected = stats.t.isf((1.0 - confidence) / 2, finite)
    np.testing.assert_allclose(t_quantile_array(confidence, finite), expected, rtol=1e-13)


def test_t_quantile_array_is_undefined_without_degrees_of_freedom():
    got = t_quantile_array(0.95, [0.0, -3.0, 4.0])
    assert np.isnan(got[:2]).all() and got[2] == pytest.approx(2.7764451, rel=1e-7)


def _sums(rng: np.random.Generator, count: int) -> tuple[np.ndarray, ...]:
    totals, squares, cubes, sizes = [], [], [], []
    for i in range(count):
        n = [0, 1, 2, 3, 5, 29, 30, 400, 5000][i % 9]
        x = rng.lognormal(-2.0, 1.0 + (i % 3), n)
        if i % 11 == 0:
            x = np.full(n, 0.25)  # no spread: the plain interval of width 0
        totals.append(x.sum())
        squares.append(np.dot(x, x))
        cubes.append(np.dot(x * x, x))
        sizes.append(float(n))
    return tuple(np.array(v, dtype=np.float64) for v in (totals, squares, cubes, sizes))


@pytest.mark.parametrize("skewed", [True, False])
def test_t_mean_array_agrees_with_the_scalar_interval(skewed):
    totals, squares, cubes, sizes = _sums(np.random.default_rng(3), 200)
    lower, upper = t_mean_array(totals, squares, sizes, 0.95, total_cu=cubes if skewed else None)
    for i in range(sizes.size):
        lo, up = t_mean(
            float(totals[i]),
            float(squares[i]),
            float(sizes[i]),
            0.95,
            total_cu=float(cubes[i]) if skewed else None,
        )
        if math.isnan(lo):
            assert math.isnan(lower[i]) and math.isnan(upper[i])
        else:
            assert lower[i] == pytest.approx(lo, rel=1e-9, abs=1e-15)
            assert upper[i] == pytest.approx(up, rel=1e-9, abs=1e-15)


def test_t_mean_array_skips_the_skew_correction_where_the_cubes_are_unknown():
    totals, squares, cubes, sizes = _sums(np.random.default_rng(4), 18)
    cubes[::2] = np.nan
    lower, _ = t_mean_array(totals, squares, sizes, 0.95, total_cu=cubes)
    plain, _ = t_mean_array(totals, squares, sizes, 0.95)
    np.testing.assert_array_equal(lower[::2], plain[::2])


def test_array_proportion_intervals_miss_on_each_side_exactly_as_often_as_the_scalar_ones():
    # Same limits, same coverage: counted on draws where modified Wilson matters most
    # (rates near 0 and 1, small n).
    rng = np.random.default_rng(11)
    for p, n in ((0.995, 30), (0.02, 80), (0.5, 12)):
        x = rng.binomial(n, p, 400).astype(np.float64)
        lower, upper = modified_wilson_array(x, np.full(x.size, float(n)))
        scalar = np.array([modified_wilson(float(v), float(n)) for v in x])
        # misses below the lower limit and above the upper one, counted apart
        array_misses = (int((p < lower).sum()), int((p > upper).sum()))
        scalar_misses = (int((p < scalar[:, 0]).sum()), int((p > scalar[:, 1]).sum()))
        assert array_misses == scalar_misses


def test_array_mean_intervals_cover_as_often_as_the_scalar_ones():
    rng = np.random.default_rng(12)
    reps, n = 300, 40
    x = rng.lognormal(-2.0, 1.5, (reps, n))
    truth = math.exp(-2.0 + 1.5**2 / 2)
    totals, squares, cubes = x.sum(1), (x * x).sum(1), (x * x * x).sum(1)
    lower, upper = t_mean_array(totals, squares, np.full(reps, float(n)), total_cu=cubes)
    scalar = [
        t_mean(float(a), float(b), float(n), total_cu=float(c))
        for a, b, c in zip(totals, squares, cubes, strict=True)
    ]
    assert int(((lower <= truth) & (truth <= upper)).sum()) == sum(
        lo <= truth <= up for lo, up in scalar
    )
