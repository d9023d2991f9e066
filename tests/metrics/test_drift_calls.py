"""The drift call does not cry wolf: pairs of windows from one distribution, 100 to 1M rows.

Each pair is one report of five columns (a normal, a skewed and a discrete numeric
feature, a categorical feature with a rare category, a binary label at 5%) called
together, as ``liveeval drift`` does. The stated share: with nothing changed, at most
``alpha`` = 5% of reports call any column drifted (Benjamini–Hochberg controls the
chance of any false call at ``alpha`` when nothing changed).

Numeric windows are drawn as multinomial counts over a fine grid of 20,001 values
(the distribution discretised to 0.0006 SD), then expanded in sorted order: exactly
what the binned statistics would see from raw draws of that discrete distribution,
and fast enough for 100 pairs of 1M rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from liveeval.metrics.drift import (
    DriftRule,
    Histogram,
    call_drift,
    measure_categorical,
    measure_numeric,
    quantile_edges,
)

PAIRS = 100
RULE = DriftRule()
GRID = np.linspace(-6.0, 6.0, 20001)


def _grid_probs(cdf: np.ndarray) -> np.ndarray:
    p = np.diff(np.concatenate([[0.0], cdf, [1.0]]))[:-1]
    p[-1] += 1.0 - p.sum()
    return np.clip(p, 0.0, None) / np.clip(p, 0.0, None).sum()


NORMAL = _grid_probs(stats.norm.cdf(GRID + 0.0003))
SKEWED = _grid_probs(stats.lognorm.cdf(np.exp(GRID / 3), 0.8))  # truncated to [e^-2, e^2]
POISSON = stats.poisson.pmf(np.arange(30), 3.0)
POISSON /= POISSON.sum()
CATEGORIES = np.array([0.4, 0.3, 0.15, 0.1, 0.04, 0.01])
LABEL = np.array([0.95, 0.05])


def _numeric_window(
    rng: np.random.Generator, values: np.ndarray, probs: np.ndarray, n: int
) -> np.ndarray:
    return np.repeat(values, rng.multinomial(n, probs))  # sorted


def _numeric(rng: np.random.Generator, values: np.ndarray, probs: np.ndarray, n: int, shift: float):
    ref = _numeric_window(rng, values, probs, n)
    cur = _numeric_window(rng, values, probs, n) + shift
    edges = quantile_edges(ref, is_sorted=True)
    return measure_numeric(
        Histogram.from_values(ref, edges, is_sorted=True),
        Histogram.from_values(cur, edges, is_sorted=True),
        RULE,
    )


def _categorical(rng: np.random.Generator, probs: np.ndarray, n: int):
    names = [f"c{i}" for i in range(probs.size)]
    ref = dict(zip(names, rng.multinomial(n, probs).tolist(), strict=True))
    cur = dict(zip(names, rng.multinomial(n, probs).tolist(), strict=True))
    return measure_categorical(Histogram.from_categories(ref), Histogram.from_categories(cur), RULE)


def _report(rng: np.random.Generator, n: int, shift: float = 0.0) -> list[bool]:
    measurements = [
        _numeric(rng, GRID, NORMAL, n, shift),
        _numeric(rng, np.exp(GRID / 3), SKEWED, n, 0.0),
        _numeric(rng, np.arange(30.0), POISSON, n, 0.0),
        _categorical(rng, CATEGORIES, n),
        _categorical(rng, LABEL, n),
    ]
    return [c.drifted for c in call_drift(measurements, RULE)]


@pytest.mark.parametrize(
    "n",
    [
        100,
        1_000,
        10_000,
        100_000,
        pytest.param(1_000_000, marks=pytest.mark.slow),
    ],
)
def test_same_distribution_is_called_drifted_in_at_most_alpha_of_reports(n: int) -> None:
    rng = np.random.default_rng(1000 + n)
    reports = [_report(rng, n) for _ in range(PAIRS)]
    with_call = sum(any(r) for r in reports)
    assert with_call <= RULE.alpha * PAIRS, f"{with_call} of {PAIRS} reports called drift at n={n}"
    if n >= 100_000:
        # The effect-size threshold binds: noise at this size is far below it.
        assert with_call == 0


def test_a_tenth_of_an_sd_shift_in_a_million_row_window_is_found_in_every_report() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        calls = _report(rng, 1_000_000, shift=0.1)
        assert calls[0], "the shifted feature was not called drifted"
        assert not any(calls[1:])
