"""A numeric feature near the float64 limit (±1e308, accepted values) gets a drift
effect computed on scaled values, or an undefined call with a reason: never a null
effect read as "not drifted", and no overflow warning escapes."""

from __future__ import annotations

import math

import numpy as np

from liveeval.metrics._drift_stats import Histogram
from liveeval.metrics.drift import DriftMeasurement, call_drift, measure_numeric, quantile_edges
from liveeval.store.duck.rollup_features import fixed_edges


def test_a_feature_near_the_float_limit_gets_a_finite_effect_and_a_call():
    rng = np.random.default_rng(0)
    reference = rng.choice([-1e308, 0.0, 5e307, 1e308], size=500)
    current = rng.choice([-1e308, 1e308], size=500)
    edges = quantile_edges(reference)
    m = measure_numeric(
        Histogram.from_values(reference, edges), Histogram.from_values(current, edges)
    )
    assert m.effect is not None and math.isfinite(m.effect) and m.effect > 0
    assert call_drift([m])[0].status == "drifted"


def test_fixed_edges_near_the_float_limit_end_above_the_largest_without_overflow():
    edges = fixed_edges([-1e308, 0.0, 1e308])
    assert edges[:3] == [-1e308, 0.0, 1e308]
    assert edges[3] > 1e308 and math.isfinite(edges[3])


def test_an_effect_that_cannot_be_computed_is_undefined_never_not_drifted():
    rng = np.random.default_rng(1)
    values = rng.normal(size=300)
    edges = quantile_edges(values)
    m = measure_numeric(Histogram.from_values(values, edges), Histogram.from_values(values, edges))
    nan = DriftMeasurement(**{**m.__dict__, "effect": math.nan})
    assert call_drift([nan])[0].status == "undefined"
