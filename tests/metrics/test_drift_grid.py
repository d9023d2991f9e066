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
