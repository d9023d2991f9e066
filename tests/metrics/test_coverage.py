"""Each 95% interval covers the true value 94–96% of the time on average, never below 92%."""

from __future__ import annotations

import numpy as np
import pytest

from .coverage_sim import table


@pytest.mark.slow
def test_interval_coverage_is_close_to_nominal():
    rows = table(reps=2000)
    coverages = [cov for *_, cov in rows]
    worst = min(rows, key=lambda r: r[3])
    assert 0.94 <= float(np.mean(coverages)) <= 0.96, rows
    assert worst[3] >= 0.92, worst
