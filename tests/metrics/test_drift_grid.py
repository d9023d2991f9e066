"""numeric_grids: several columns' grids at once, the same floats as one numeric_grid
per column (the oracle)."""

from __future__ import annotations

import numpy as np

from liveeval.metrics.drift import DriftRule, Histogram
from liveeval.metrics.drift_grid import numeric_grid, numeric_grids


def _column(rng: np.random.Generator, bins: int, windows: int, shift: float):
    edges = np.quantile(rng.normal(size=20_000), np.linspace(0, 1, bins + 1))
    reference = Histogram.from_values(rng.normal(size=5_000), edges=edges)
    rows = []
    for w in range(windows):
        values = rng.normal(shift * w / windows, 1.0 + 0.1 * (w % 3), int(rng.integers(40, 900)))
        h = Histogram.from_values(values, edges=edges)
        rows.append([h.below, *h.counts, h.above])
    return reference, np.array(rows, dtype=np.int64)


def _same(a, b) -> bool:
    return all(
        getattr(a, f).dtype == getattr(b, f).dtype
        and getattr(a, f).tobytes() == getattr(b, f).tobytes()
        for f in ("effect", "p_value", "rows_current", "enough_rows")
    ) and (a.kind == b.kind)


def test_numeric_grids_equal_one_numeric_grid_per_column_bit_for_bit():
    rng = np.random.default_rng(11)
    columns = [
        _column(rng, 50, 300, 0.5),
        _column(rng, 50, 7, 0.0),
        _column(rng, 20, 90, 1.0),
        _column(rng, 1000, 400, 0.2),  # a score-sized column: several blocks of rows
        _column(rng, 50, 1, 2.0),
    ]
    rule = DriftRule(bootstrap=0)
    found = numeric_grids(columns, rule)
    assert len(found) == len(columns)
    for (reference, counts), grid in zip(columns, found, strict=True):
        assert _same(grid, numeric_grid(reference, counts, rule))


def test_numeric_grids_take_the_one_window_path_for_an_empty_window_or_reference():
    rng = np.random.default_rng(12)
    reference, counts = _column(rng, 30, 20, 0.3)
    emptied = counts.copy()
    emptied[4] = 0
    no_reference = Histogram(reference.edges, np.zeros_like(reference.counts))
    constant = Histogram(np.array([1.0, 1.0 + 1e-9]), np.array([500]))
    constant_rows = np.array([[0, 300, 0], [0, 200, 40]], dtype=np.int64)
    columns = [(reference, emptied), (no_reference, counts), (constant, constant_rows)]
    rule = DriftRule(bootstrap=0)
    found = numeric_grids(columns, rule)
    for (ref, rows), grid in zip(columns, found, strict=True):
        assert _same(grid, numeric_grid(ref, rows, rule))
    assert np.isnan(found[0].effect[4])
    assert found[2].effect.tolist() == [0.0, float("inf")]


def test_a_kept_reference_bootstrap_gives_the_interval_of_drawing_both_sides_afresh():
    from liveeval.metrics import drift

    rng = np.random.default_rng(13)
    edges = np.quantile(rng.normal(size=20_000), np.linspace(0, 1, 201))
    reference = Histogram.from_values(rng.normal(size=30_000), edges=edges)
    windows = [
        Histogram.from_values(rng.normal(shift, 1.0, n), edges=edges)
        for shift, n in ((0.0, 5_000), (0.2, 800), (0.05, 20_000))
    ]
    rule = DriftRule()
    drift._REFERENCE_REPLICATES.clear()
    kept = [drift.measure_numeric(reference, w, rule) for w in windows]
    assert len(drift._REFERENCE_REPLICATES) == 1  # one reference: drawn once
    for window, measured in zip(windows, kept, strict=True):
        drift._REFERENCE_REPLICATES.clear()
        fresh = drift.measure_numeric(reference, window, rule)
        assert (measured.effect_lower, measured.effect_upper) == (
            fresh.effect_lower,
            fresh.effect_upper,
        )
    # The oracle: the reference's and the window's replicates drawn in turn from one
    # generator, as before the reference's were kept.
    r = np.concatenate([[reference.below], reference.counts, [reference.above]]).astype(float)
    c = np.concatenate([[windows[1].below], windows[1].counts, [windows[1].above]]).astype(float)
    starts = drift._decile_groups(r[1:-1].astype(np.int64), drift.BOOTSTRAP_BINS)
    cr = np.concatenate([[r[0]], np.add.reduceat(r[1:-1], starts), [r[-1]]])
    cc = np.concatenate([[c[0]], np.add.reduceat(c[1:-1], starts), [c[-1]]])
    ce = np.concatenate([edges[starts], [edges[-1]]])
    one = np.random.default_rng(rule.seed)
    both = drift._wasserstein_from_counts(
        ce, drift._resample(cr, rule, one), drift._resample(cc, rule, one)
    )
    sigma = reference.std()
    w1 = float(drift._wasserstein_from_counts(reference.edges, r, c))
    coarse = float(drift._wasserstein_from_counts(ce, cr, cc)) / sigma
    expected = drift._basic_interval(w1 / sigma, both / sigma, coarse, rule)
    assert (kept[1].effect_lower, kept[1].effect_upper) == expected
