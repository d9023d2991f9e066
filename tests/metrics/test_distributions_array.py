"""The Kolmogorov tail over arrays: the scalar series, entry by entry, for a drift grid's
thousands of cells."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from liveeval.metrics._distributions import (
    kolmogorov_sf,
    kolmogorov_sf_array,
    ks_2samp_pvalue,
    ks_2samp_pvalue_array,
)


def test_kolmogorov_sf_array_agrees_with_the_scalar_series():
    x = np.concatenate([np.linspace(-1.0, 30.0, 40_001), [np.nan, 0.04, 0.0399, 1.0]])
    got = kolmogorov_sf_array(x)
    expected = np.array([kolmogorov_sf(float(v)) for v in x])
    # Same terms and stopping rule; numpy's exp may round differently from math.exp in
    # the last bit (SIMD on this CPU), hence 1e-15 and not equality.
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_kolmogorov_sf_array_equals_scipy_kstwobign():
    x = np.linspace(0.05, 6.0, 500)
    np.testing.assert_allclose(
        kolmogorov_sf_array(x), stats.kstwobign.sf(x), rtol=1e-12, atol=1e-300
    )


def test_ks_2samp_pvalue_array_agrees_with_the_scalar_pvalue():
    rng = np.random.default_rng(3)
    d = rng.random(5_000) ** 3
    n = rng.integers(1, 10**7, d.size)
    m = rng.integers(1, 10**7, d.size)
    got = ks_2samp_pvalue_array(d, n, m)
    expected = [ks_2samp_pvalue(float(a), int(b), int(c)) for a, b, c in zip(d, n, m, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_ks_2samp_pvalue_array_needs_a_value_on_each_side():
    with pytest.raises(ValueError, match="both samples need at least one value, got n=0"):
        ks_2samp_pvalue_array([0.1, 0.2], [0, 5], 10)
