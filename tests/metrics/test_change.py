from __future__ import annotations

import math

import numpy as np
import pytest

from liveeval.metrics.change import ShiryaevRoberts, change_alternatives
from liveeval.metrics.interval import wilson

LOOK = 100
REFERENCE_LOOKS = 50  # the first 5,000 labels


def _baseline(successes: np.ndarray, trials: np.ndarray, alpha: float = 0.01) -> float:
    lower, _ = wilson(
        successes[:REFERENCE_LOOKS].sum(), trials[:REFERENCE_LOOKS].sum(), 1 - 2 * alpha
    )
    return lower


def test_a_stable_stream_of_200k_labels_stays_within_the_false_alarm_budget():
    # Budget: alpha = 0.001 per look of 100 labels -> at most 1 false alarm per 100,000
    # labels on average, so at most 2 over 200,000 (bench/alerts.py runs many seeds).
    rng = np.random.default_rng(0)
    x = rng.binomial(LOOK, 0.8, 2_000).astype(float)
    n = np.full(2_000, float(LOOK))
    detector = ShiryaevRoberts(_baseline(x, n), "drop", alpha=0.001)
    alarms = detector.run(x[REFERENCE_LOOKS:].tolist(), n[REFERENCE_LOOKS:].tolist())
    assert len(alarms) <= 2


def test_a_drop_half_way_is_flagged_within_a_bounded_number_of_labels():
    rng = np.random.default_rng(1)
    rate = np.where(np.arange(2_000) < 1_000, 0.80, 0.75)
    x = rng.binomial(LOOK, rate).astype(float)
    n = np.full(2_000, float(LOOK))
    detector = ShiryaevRoberts(_baseline(x, n), "drop", alpha=0.001)
    alarms = detector.run(x[REFERENCE_LOOKS:].tolist(), n[REFERENCE_LOOKS:].tolist())
    after = [(REFERENCE_LOOKS + i + 1) * LOOK - 100_000 for i in alarms]
    first = next(d for d in after if d > 0)
    assert first <= 10_000  # labels after the change; bench/README gives the distribution
    assert all(d > 0 for d in after)


def test_the_mean_run_length_before_any_change_is_at_least_one_over_alpha():
    # alpha = 0.02: ARL >= 50 looks. 100 streams of 300 looks at the null boundary.
    rng = np.random.default_rng(2)
    runs = []
    for _ in range(100):
        detector = ShiryaevRoberts(0.5, "drop", alpha=0.02)
        x = rng.binomial(20, 0.5, 300)
        hit = next((i + 1 for i, v in enumerate(x) if detector.update(float(v), 20.0)), 300)
        runs.append(hit)
    assert np.mean(runs) >= 50


def test_a_rise_is_detected_and_a_fall_is_not_when_watching_for_rises():
    rng = np.random.default_rng(3)
    rising = ShiryaevRoberts(0.05, "rise", alpha=0.001)
    assert any(rising.update(float(v), 100.0) for v in rng.binomial(100, 0.15, 50))
    falling = ShiryaevRoberts(0.05, "rise", alpha=0.001)
    assert not any(falling.update(float(v), 100.0) for v in rng.binomial(100, 0.01, 500))


def test_the_change_start_points_at_the_data_since_the_drop():
    detector = ShiryaevRoberts(0.9, "drop", alpha=0.001)
    for _ in range(30):
        detector.update(90.0, 100.0)
    for _ in range(10):
        detector.update(70.0, 100.0)
    x, n, looks, alternative = detector.since_change()
    assert looks == 10 and n == 1000.0 and x == 700.0
    assert alternative < 0.9
    assert detector.alarmed and detector.statistic >= detector.threshold == math.log(1000)


def test_a_look_without_trials_brings_no_evidence():
    detector = ShiryaevRoberts(0.9, "drop", alpha=0.001)
    for _ in range(100):
        detector.update(0.0, 0.0)
    assert not detector.alarmed


def test_bad_counts_and_settings_are_refused():
    with pytest.raises(ValueError, match="successes <= trials"):
        ShiryaevRoberts(0.9).update(5.0, 3.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        ShiryaevRoberts(0.9, alpha=0.0)
    with pytest.raises(ValueError, match="no drop of at least"):
        change_alternatives(0.0011, "drop", 0.01)
    with pytest.raises(ValueError, match="baseline must be in"):
        change_alternatives(1.0, "drop", 0.01)
