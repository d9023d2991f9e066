"""Drift statistics against scipy and hand-computed examples; histogram merge laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from liveeval.errors import ValidationError
from liveeval.metrics.drift import (
    DriftRule,
    Histogram,
    benjamini_hochberg,
    call_drift,
    chi2_sf,
    chi_square_test,
    jensen_shannon_distance,
    kolmogorov_sf,
    ks_2samp_pvalue,
    ks_statistic,
    measure_categorical,
    measure_numeric,
    measure_numeric_windows,
    population_stability_index,
    quantile_edges,
    wasserstein_distance,
)


def _pair(x: np.ndarray, y: np.ndarray, bins: int = 1000) -> tuple[Histogram, Histogram]:
    edges = quantile_edges(x, bins)
    return Histogram.from_values(x, edges), Histogram.from_values(y, edges)


# -- distributions --------------------------------------------------------------------


@pytest.mark.parametrize("df", [1, 2, 3, 7, 30, 200, 5000])
def test_chi2_sf_matches_scipy_to_relative_1e8_deep_in_the_tail(df: int) -> None:
    for x in [1e-6, 0.3, 1.0, df / 2, df, df + 3 * math.sqrt(2 * df), 4 * df + 40, 50 * df]:
        expected = stats.chi2.sf(x, df)
        got = chi2_sf(x, df)
        assert got == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_chi2_sf_is_one_at_zero_and_refuses_zero_degrees_of_freedom() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    with pytest.raises(ValueError, match="degrees of freedom must be >= 1, got 0"):
        chi2_sf(1.0, 0)


def test_kolmogorov_sf_matches_scipy_kstwobign() -> None:
    for x in np.concatenate([np.linspace(0.02, 3.0, 150), [4.0, 6.0, 10.0]]):
        assert kolmogorov_sf(float(x)) == pytest.approx(stats.kstwobign.sf(x), rel=1e-9, abs=1e-15)


def test_ks_pvalue_is_within_003_of_the_exact_pvalue_from_100_per_side() -> None:
    # Stephens' corrected asymptotic p-value: closer to the exact one than scipy's
    # own asymptotic method (which is off by up to 0.04 at 100 vs 100 here).
    rng = np.random.default_rng(3)
    for n, m in [(100, 100), (100, 150), (300, 200), (1000, 1000)]:
        for _ in range(15):
            x = rng.normal(size=n)
            y = rng.normal(0.15, 1.0, size=m)
            exact = stats.ks_2samp(x, y, method="exact")
            assert abs(ks_2samp_pvalue(exact.statistic, n, m) - exact.pvalue) < 0.03


def test_ks_pvalue_agrees_with_scipy_asymptotic_at_large_samples() -> None:
    rng = np.random.default_rng(4)
    for n, m in [(5000, 5000), (20000, 7000)]:
        x = rng.normal(size=n)
        y = rng.normal(0.03, 1.0, size=m)
        ref = stats.ks_2samp(x, y, method="asymp")
        assert ks_2samp_pvalue(ref.statistic, n, m) == pytest.approx(ref.pvalue, abs=0.01)


# -- Kolmogorov–Smirnov on bins ----------------------------------------------------------


def test_binned_ks_equals_scipy_exactly_when_every_distinct_value_is_an_edge() -> None:
    rng = np.random.default_rng(5)
    x = rng.poisson(4.0, size=3000).astype(float)
    y = rng.poisson(4.4, size=2000).astype(float)
    edges = quantile_edges(np.concatenate([x, y]), bins=1000)  # < 1000 distinct values
    d, upper = ks_statistic(Histogram.from_values(x, edges), Histogram.from_values(y, edges))
    assert d == pytest.approx(stats.ks_2samp(x, y).statistic, abs=1e-12)
    assert upper >= d


@pytest.mark.parametrize("bins", [100, 1000])
def test_binned_ks_is_a_lower_bound_within_the_largest_bin_mass(bins: int) -> None:
    rng = np.random.default_rng(6)
    for shift in [0.0, 0.1, 0.5]:
        x = rng.normal(size=20000)
        y = rng.normal(shift, 1.2, size=15000)
        ref, cur = _pair(x, y, bins)
        d, upper = ks_statistic(ref, cur)
        exact = stats.ks_2samp(x, y).statistic
        max_mass = max(
            (ref.counts.max() / ref.numeric_rows),
            max(cur.counts.max(), cur.below, cur.above) / cur.numeric_rows,
        )
        assert d <= exact + 1e-12
        assert exact <= upper + 1e-12
        assert exact - d <= max_mass + 1e-12


# -- Wasserstein, Jensen–Shannon, PSI, chi-square, BH ------------------------------------


def test_binned_wasserstein_is_close_to_scipy_on_reference_quantile_bins() -> None:
    rng = np.random.default_rng(7)
    for shift, scale in [(0.1, 1.0), (0.5, 1.0), (0.0, 1.5)]:
        x = rng.normal(size=50000)
        y = rng.normal(shift, scale, size=40000)
        y = np.clip(y, x.min(), x.max())  # inside the reference's range: no tail to bound
        ref, cur = _pair(x, y)
        exact = stats.wasserstein_distance(x, y)
        assert wasserstein_distance(ref, cur) == pytest.approx(exact, rel=0.02, abs=0.002)


def test_wasserstein_is_a_lower_bound_when_current_values_leave_the_reference_range() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=5000)
    y = rng.normal(3.0, 1.0, size=5000)
    ref, cur = _pair(x, y)
    assert wasserstein_distance(ref, cur) <= stats.wasserstein_distance(x, y)


def test_jensen_shannon_distance_matches_scipy_in_base_2() -> None:
    rng = np.random.default_rng(9)
    for _ in range(20):
        p = rng.integers(0, 50, size=8)
        q = rng.integers(0, 50, size=8)
        p[0] += 1
        q[1] += 1
        assert float(jensen_shannon_distance(p, q)) == pytest.approx(
            jensenshannon(p, q, base=2), abs=1e-12
        )


def test_psi_matches_hand_computed_textbook_examples() -> None:
    # Four bins, 25% each in the reference; 30/20/25/25% now:
    #   (0.30-0.25) ln(0.30/0.25) + (0.20-0.25) ln(0.20/0.25) = 0.05 * 0.182322 + 0.05 * 0.223144
    assert float(population_stability_index([25, 25, 25, 25], [30, 20, 25, 25])) == pytest.approx(
        0.0202733, abs=1e-7
    )
    # Deciles, 10% each, against 5,5,10,10,10,10,10,10,15,15 %:
    #   2 * (-0.05) ln(0.5) + 2 * (0.05) ln(1.5) = 0.0693147 + 0.0405465
    ref = [10] * 10
    cur = [5, 5, 10, 10, 10, 10, 10, 10, 15, 15]
    assert float(population_stability_index(ref, cur)) == pytest.approx(0.1098612, abs=1e-7)
    # An empty reference bin's share becomes epsilon = 1e-4:
    #   (0.1 - 0.0001) ln(0.1 / 0.0001) + (0.9 - 1.0) ln(0.9 / 1.0) = 0.6900848 + 0.0105361
    assert float(population_stability_index([0, 100], [10, 90])) == pytest.approx(
        0.7006208, abs=1e-7
    )


def test_chi_square_matches_scipy_chi2_contingency_without_correction() -> None:
    rng = np.random.default_rng(10)
    for k in [2, 3, 6, 12]:
        r = rng.integers(20, 400, size=k)
        c = rng.integers(20, 400, size=k)
        stat, df, p, pooled = chi_square_test(r, c)
        expected = stats.chi2_contingency(np.vstack([r, c]), correction=False)
        assert pooled == 0
        assert stat == pytest.approx(expected.statistic, rel=1e-10)
        assert df == expected.dof
        assert p == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)


def test_chi_square_pools_columns_with_expected_counts_below_five() -> None:
    # The two sparse columns pool into (3, 2) — still expected 2.5 < 5 — which then
    # joins the smallest remaining column: a 2 x 2 table, one degree of freedom.
    stat, df, p, pooled = chi_square_test([100, 100, 1, 1], [100, 100, 2, 0])
    assert pooled == 2
    assert df == 1
    expected = stats.chi2_contingency(np.array([[100, 102], [100, 102]]), correction=False)
    assert stat == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)


def test_benjamini_hochberg_matches_scipy_and_skips_missing_tests() -> None:
    rng = np.random.default_rng(11)
    p = rng.uniform(size=30) ** 3
    ours = benjamini_hochberg(list(p))
    assert np.allclose(np.array(ours, dtype=float), stats.false_discovery_control(p))
    mixed = benjamini_hochberg([0.01, None, 0.04])
    assert mixed[1] is None
    assert mixed[0] == pytest.approx(0.02)
    assert mixed[2] == pytest.approx(0.04)


# -- histograms: binning, merge laws, errors ---------------------------------------------


def test_quantile_edges_give_every_distinct_value_its_bin_and_open_ends() -> None:
    x = np.array([3.0, 1.0, 2.0, 2.0, 2.0, np.nan, 1.0])
    edges = quantile_edges(x, bins=10)
    assert list(edges[:-1]) == [1.0, 2.0, 3.0]
    assert edges[-1] > 3.0
    h = Histogram.from_values([0.0, 1.0, 2.0, 3.0, 4.0, np.inf], edges)
    assert (h.below, list(h.counts), h.above, h.missing) == (1, [1, 1, 1], 1, 1)


def test_quantile_edges_dedupe_ties_of_a_heavy_value() -> None:
    x = np.concatenate([np.zeros(9000), np.arange(1000.0)])
    edges = quantile_edges(x, bins=100)
    assert np.all(np.diff(edges) > 0)
    assert np.count_nonzero(edges == 0.0) == 1


def test_histogram_merge_is_associative_commutative_with_identity_and_equals_one_pass() -> None:
    rng = np.random.default_rng(12)
    values = rng.normal(size=3000)
    edges = quantile_edges(values[:1000], bins=50)
    parts = [Histogram.from_values(v, edges) for v in np.array_split(values, 3)]
    whole = Histogram.from_values(values, edges)
    a, b, c = parts
    left = a.merge(b).merge(c)
    right = a.merge(b.merge(c))
    for h in (left, right, c.merge(b).merge(a), a.empty_like().merge(left)):
        assert np.array_equal(h.counts, whole.counts)
        assert (h.below, h.above, h.missing) == (whole.below, whole.above, whole.missing)
        assert h.std() == pytest.approx(whole.std(), rel=1e-9)
    cats = Histogram.from_categories({"a": 2, "b": 1}).merge(Histogram.from_categories({"b": 3}))
    assert cats.categories == {"a": 2, "b": 4}


def test_histogram_std_from_bins_approximates_the_exact_one() -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(5.0, 2.0, size=20000)
    exact = Histogram.from_values(x, quantile_edges(x))
    binned = Histogram(edges=exact.edges, counts=exact.counts)
    assert binned.std() == pytest.approx(exact.std(), rel=0.01)
    assert exact.std() == pytest.approx(np.std(x, ddof=1), rel=1e-9)


def test_histograms_on_different_edges_do_not_merge() -> None:
    a = Histogram.from_values([1.0, 2.0], [0.0, 1.5, 3.0])
    b = Histogram.from_values([1.0, 2.0], [0.0, 1.0, 3.0])
    with pytest.raises(ValidationError, match="different edges cannot be merged"):
        a.merge(b)
    with pytest.raises(ValidationError, match="same \\(the reference's\\) edges"):
        measure_numeric(a, b)


def test_histogram_refuses_counts_that_do_not_fit_the_edges() -> None:
    with pytest.raises(ValidationError, match="3 edges and 3 counts"):
        Histogram(edges=np.array([0.0, 1.0, 2.0]), counts=np.array([1, 2, 3]))
    with pytest.raises(ValidationError, match="strictly increasing"):
        Histogram(edges=np.array([0.0, 0.0, 2.0]), counts=np.array([1, 2]))
    with pytest.raises(ValidationError, match="counts >= 0, got -1"):
        Histogram(edges=np.array([0.0, 1.0]), counts=np.array([-1]))


def test_rule_refuses_out_of_range_settings() -> None:
    with pytest.raises(ValidationError, match=r"alpha must be in \(0, 1\), got 1.5"):
        DriftRule(alpha=1.5)
    with pytest.raises(ValidationError, match="numeric_threshold must be a finite number >= 0"):
        DriftRule(numeric_threshold=-0.1)
    with pytest.raises(ValidationError, match="min_rows must be >= 2"):
        DriftRule(min_rows=1)


# -- measurements and calls ----------------------------------------------------------------


def test_numeric_effect_is_wasserstein_in_reference_sds_with_an_interval() -> None:
    rng = np.random.default_rng(14)
    ref, cur = _pair(rng.normal(size=200_000), rng.normal(0.3, 1.0, size=200_000))
    m = measure_numeric(ref, cur)
    assert m.effect == pytest.approx(0.3, abs=0.01)
    assert m.effect_lower is not None and m.effect_upper is not None
    assert m.effect_lower <= m.effect <= m.effect_upper
    assert m.effect_upper - m.effect_lower < 0.03
    assert m.statistics["ks"] == pytest.approx(2 * stats.norm.cdf(0.15) - 1, abs=0.005)


def test_effect_interval_reaches_zero_when_nothing_changed_in_a_small_sample() -> None:
    rng = np.random.default_rng(15)
    ref, cur = _pair(rng.normal(size=300), rng.normal(size=300))
    m = measure_numeric(ref, cur)
    assert m.effect_lower is not None and m.effect_lower < 0.05


def test_categorical_drift_counts_unseen_categories() -> None:
    ref = Histogram.from_categories({"a": 500, "b": 300, "c": 200})
    cur = Histogram.from_categories({"a": 400, "b": 300, "c": 200, "d": 60, "e": 40}, missing=5)
    m = measure_categorical(ref, cur)
    assert (m.unseen_categories, m.unseen_current) == (2, 100)
    assert m.statistics["unseen_share"] == pytest.approx(100 / 1005)
    assert m.missing_current == 5
    [call] = call_drift([m])
    assert call.drifted and call.status == "drifted"


def test_no_call_below_the_minimum_sample_size() -> None:
    rng = np.random.default_rng(16)
    ref, cur = _pair(rng.normal(size=5000), rng.normal(3.0, 1.0, size=60))
    calls = call_drift([measure_numeric(ref, cur)])
    assert calls[0].status == "too_few_rows"
    assert not calls[0].drifted
    assert calls[0].p_adjusted is None
    assert "needs at least 100 on each side" in (calls[0].measurement.reason or "")


def test_a_constant_reference_that_changes_has_an_infinite_effect() -> None:
    ref = Histogram.from_values(np.ones(500), quantile_edges(np.ones(500)))
    cur = Histogram.from_values(np.r_[np.ones(400), np.full(100, 2.0)], ref.edges)
    m = measure_numeric(ref, cur)
    assert m.effect == math.inf
    assert "constant" in (m.reason or "")
    assert call_drift([m])[0].drifted


def test_a_tiny_shift_at_a_million_rows_is_significant_but_not_called() -> None:
    # 0.02 SD: the p-value is tiny, the effect below the 0.05 threshold: no drift.
    rng = np.random.default_rng(17)
    ref, cur = _pair(rng.normal(size=1_000_000), rng.normal(0.02, 1.0, size=1_000_000))
    [call] = call_drift([measure_numeric(ref, cur)])
    assert call.p_adjusted is not None and call.p_adjusted < 1e-10
    assert not call.drifted
    assert call.status == "not_drifted"


def test_a_tenth_of_an_sd_shift_at_a_million_rows_is_called_drifted() -> None:
    rng = np.random.default_rng(18)
    ref, cur = _pair(rng.normal(size=1_000_000), rng.normal(0.1, 1.0, size=1_000_000))
    [call] = call_drift([measure_numeric(ref, cur)])
    assert call.drifted
    m = call.measurement
    assert m.effect_lower is not None and m.effect_lower > 0.09


def test_calls_state_the_rule_and_adjust_over_all_tests() -> None:
    rng = np.random.default_rng(19)
    ms = [measure_numeric(*_pair(rng.normal(size=2000), rng.normal(size=2000))) for _ in range(4)]
    calls = call_drift(ms, DriftRule(numeric_threshold=0.1))
    assert all("over the 4 tests made" in c.rule for c in calls)
    assert all("Wasserstein-1 / reference SD >= 0.1" in c.rule for c in calls)
    raw = [c.measurement.p_value for c in calls]
    assert [c.p_adjusted for c in calls] == benjamini_hochberg(raw)


@pytest.mark.parametrize("bootstrap", [0, 50])
def test_many_windows_at_once_equal_one_window_at_a_time(bootstrap: int) -> None:
    rng = np.random.default_rng(20)
    x = rng.normal(size=20_000)
    edges = quantile_edges(x)
    ref = Histogram.from_values(x, edges)
    windows = [
        Histogram.from_values(rng.normal(shift, 1.0, size=n), edges)
        for shift, n in [(0.0, 500), (0.3, 2000), (0.05, 50), (4.0, 300)]
    ]
    rule = DriftRule(bootstrap=bootstrap)
    together = measure_numeric_windows(ref, windows, rule)
    for a, w in zip(together, windows, strict=True):
        b = measure_numeric(ref, w, rule)
        assert a.effect == pytest.approx(b.effect, rel=1e-12)
        assert a.p_value == pytest.approx(b.p_value, rel=1e-12)
        assert (a.effect_lower, a.effect_upper) == pytest.approx((b.effect_lower, b.effect_upper))
        assert a.statistics == pytest.approx(b.statistics)
        assert (a.enough_rows, a.reason, a.notes, a.bins) == (
            b.enough_rows,
            b.reason,
            b.notes,
            b.bins,
        )
        assert a.current_shares == pytest.approx(b.current_shares)


@pytest.mark.parametrize("df", [1, 2, 3, 7, 49])
def test_chi2_sf_over_an_array_gives_the_scalar_floats(df):
    from liveeval.metrics._distributions import chi2_sf, chi2_sf_array

    rng = np.random.default_rng(df)
    xs = np.concatenate(
        [
            [0.0, -1.0, np.nan, np.inf, 1e-300, 1e-10, 0.5, 1.0, df + 2.0, 1e3, 1e5],
            rng.exponential(5.0, 500),
            rng.exponential(100.0, 200),
        ]
    )
    expected = [chi2_sf(float(x), df) for x in xs]
    assert chi2_sf_array(xs, df).tolist() == expected
    with pytest.raises(ValueError, match="degrees of freedom must be >= 1, got 0"):
        chi2_sf_array(xs, 0)
