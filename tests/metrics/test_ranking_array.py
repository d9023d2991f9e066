"""ROC-AUC of many windows at once gives each window's scalar result: same methods and
notes, values and limits within 1e-9 relative (or 1e-10 absolute: the scalar bisection
resolves a limit to 2⁻³⁴ of its side, the array search to 2⁻³⁶), and so the same
coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from liveeval.metrics.interval import z_value
from liveeval.metrics.ranking import (
    ScoreDistribution,
    _binormal_variance,
    _owen_t,
    _score_interval,
    roc_auc,
)
from liveeval.metrics.ranking_array import (
    _score_interval_array,
    binormal_variance_array,
    owen_t_array,
    roc_auc_array,
    roc_auc_bins,
)


def _windows(rng: np.random.Generator, count: int) -> list[ScoreDistribution]:
    """Windows of every kind a live read meets: empty, one class only, few positives,
    ties, perfect separation, reversed scores, binned (past the exact limit), weighted."""
    out = []
    for i in range(count):
        kind = i % 10
        n = int(rng.integers(2, 500))
        y = rng.random(n) < [0.3, 0.02, 0.5, 0.0, 1.0, 0.1, 0.4, 0.2, 0.3, 0.5][kind]
        s = rng.normal(0.3 + 0.3 * y, 0.15)
        if kind == 6:
            s = np.where(y, 0.9, 0.1)  # perfect: AUC 1
        if kind == 7:
            s = np.where(y, 0.1, 0.9)  # reversed: AUC 0
        s = np.clip(s, 0, 1).round([6, 2, 6, 6, 6, 1, 6, 6, 6, 6][kind])
        weight = rng.uniform(0.5, 3.0, n) if kind == 9 and i % 20 == 9 else None
        limit = 50 if kind == 8 else 250_000
        out.append(ScoreDistribution.from_arrays(y, s, weight, exact_limit=limit))
    out.append(ScoreDistribution())  # no rows at all
    return out


def _same(got, expected):
    assert (got.name, got.n, got.method, got.note, got.reason, got.confidence) == (
        expected.name,
        expected.n,
        expected.method,
        expected.note,
        expected.reason,
        expected.confidence,
    )
    if expected.weight_total is None:
        assert got.weight_total is None
    else:
        assert got.weight_total == pytest.approx(expected.weight_total, rel=1e-12)
    if expected.value is None:
        assert got.value is None and got.lower is None and got.upper is None
        return
    assert got.value == pytest.approx(expected.value, rel=1e-9, abs=1e-12)
    assert got.lower == pytest.approx(expected.lower, rel=1e-9, abs=1e-10)
    assert got.upper == pytest.approx(expected.upper, rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_roc_auc_array_gives_every_windows_roc_auc(confidence):
    dists = _windows(np.random.default_rng(5), 200)
    got = roc_auc_array(dists, confidence)
    assert len(got) == len(dists)
    for g, dist in zip(got, dists, strict=True):
        _same(g, roc_auc(dist, confidence))


def test_roc_auc_array_of_no_windows_is_empty():
    assert roc_auc_array([]) == []


def test_owen_t_array_equals_scipy():
    h = np.linspace(-8, 8, 401)
    np.testing.assert_allclose(
        owen_t_array(h), special.owens_t(h, 1 / np.sqrt(3)), rtol=1e-13, atol=1e-16
    )
    assert owen_t_array(h) == pytest.approx([_owen_t(float(v), 1 / np.sqrt(3)) for v in h])


def test_binormal_variance_array_equals_the_scalar_floor():
    theta = np.concatenate([[0.0, 1.0, -0.1], np.linspace(0.001, 0.999, 300)])
    m = np.linspace(1, 500, theta.size)
    n = np.linspace(3000, 2, theta.size)
    got = binormal_variance_array(theta, m, n)
    expected = [
        _binormal_variance(float(t), float(a), float(b))
        for t, a, b in zip(theta, m, n, strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


def test_roc_auc_array_intervals_cover_as_often_as_the_scalar_ones():
    # Binormal scores with AUC 0.9 and few positives: count the windows whose interval
    # holds the truth, array against scalar.
    rng = np.random.default_rng(21)
    truth = 0.9
    shift = np.sqrt(2) * 1.2815515655446004  # Φ(shift/√2) = 0.9
    dists = []
    for _ in range(300):
        y = rng.random(300) < 0.1
        s = 1 / (1 + np.exp(-(rng.normal(size=300) + shift * y) / 2))
        dists.append(ScoreDistribution.from_arrays(y, s))
    array_hits = sum(r.lower <= truth <= r.upper for r in roc_auc_array(dists) if r.value)
    scalar_hits = sum(r.lower <= truth <= r.upper for r in map(roc_auc, dists) if r.value)
    assert array_hits == scalar_hits


def test_score_interval_search_finds_the_bisections_limits_at_the_edges():
    # AUCs at and next to 0 and 1 (sides as short as 1e-12), one row of a class and a
    # million, DeLong's variance below, at and far above the binormal floor.
    values = [0.0, 1e-9, 0.03, 0.5, 0.97, 1 - 1e-6, 1 - 1e-12, 1.0]
    sizes = [(1.0, 1.0), (3.0, 2000.0), (40.0, 40.0), (1e6, 5.0), (1e6, 1e6)]
    ratios = [0.0, 1.0, 30.0]
    cases = [(v, m, n, r) for v in values for m, n in sizes for r in ratios]
    value, m, n, ratio = (np.array(c, dtype=np.float64) for c in zip(*cases, strict=True))
    for confidence in (0.9, 0.99):
        z = z_value(confidence)
        lower, upper = _score_interval_array(value, ratio, m, n, z)
        for i, (v, mm, nn, r) in enumerate(cases):

            def variance(theta, mm=mm, nn=nn, r=r):
                floor = _binormal_variance(theta, mm, nn)
                return max(floor, r * floor)

            lo, hi = _score_interval(v, variance, z)
            assert lower[i] == pytest.approx(lo, rel=1e-9, abs=1e-10), cases[i]
            assert upper[i] == pytest.approx(hi, rel=1e-9, abs=1e-10), cases[i]
            assert lower[i] <= v <= upper[i]


def _bin_counts(rng: np.random.Generator, count: int, bins: int) -> np.ndarray:
    """Windows as counts per score bin: few and many rows, one class only, all in one
    bin, a single row."""
    out = np.zeros((count, 2, bins), np.int64)
    for g in range(count):
        n = [1, 5, 40, 800, 20000, 300][g % 6]
        y = rng.random(n) < [0.5, 0.3, 0.05, 0.0, 0.02, 1.0][g % 6]
        s = np.clip(rng.normal(0.3 + 0.3 * y, 0.15), 0, 1)
        if g % 7 == 3:
            s = np.full(n, 0.42)  # every row in one bin: AUC one half
        b = np.minimum((s * bins).astype(np.int64), bins - 1)
        np.add.at(out[g], (y.astype(np.int64), b), 1)
    return out


@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_roc_auc_bins_equals_roc_auc_of_the_binned_distributions(confidence):
    counts = _bin_counts(np.random.default_rng(8), 120, 1000)
    got = roc_auc_bins(counts, confidence)
    dists = [ScoreDistribution.from_bin_counts(c[1], c[0]) for c in counts]
    assert len(got) == len(dists)
    for g, dist in zip(got, dists, strict=True):
        _same(g, roc_auc(dist, confidence))
    assert roc_auc_bins(np.zeros((0, 2, 10), np.int64)) == []


def test_bin_counts_make_the_distribution_of_their_rows():
    rng = np.random.default_rng(3)
    y = rng.random(5000) < 0.1
    s = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    bins = 1000
    b = np.minimum((s * bins).astype(np.int64), bins - 1)
    pos = np.bincount(b[y], minlength=bins)
    neg = np.bincount(b[~y], minlength=bins)
    got = ScoreDistribution.from_bin_counts(pos, neg)
    want = ScoreDistribution.from_arrays(y, s, resolution=bins, exact_limit=0)
    assert (got.resolution, got.is_exact, got.rows, got.exact_limit) == (bins, False, 5000, 250_000)
    np.testing.assert_array_equal(got.keys, want.keys)
    np.testing.assert_array_equal(got.positive, want.positive)
    np.testing.assert_array_equal(got.negative, want.negative)
    assert (got.positive_sq, got.negative_sq) == (want.positive_sq, want.negative_sq)
