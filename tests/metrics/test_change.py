from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- update_many: the whole run at once equals the recursion look by look -------------

# A run of looks: segments of (looks, trials per look, rate), counts drawn per segment.
_SEGMENTS = st.lists(
    st.tuples(
        st.integers(1, 120),
        st.sampled_from([0, 1, 7, 40, 100, 150]),  # 0: looks without trials
        st.floats(0.0, 1.0),
    ),
    min_size=1,
    max_size=6,
)


def _counts(segments: list[tuple[int, int, float]], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.binomial(n, rate, size) for size, n, rate in segments])
    n = np.concatenate([np.full(size, n) for size, n, _ in segments])
    return x.astype(float), n.astype(float)


def _close(scalar: ShiryaevRoberts, batched: ShiryaevRoberts) -> None:
    """The tolerance of update_many against update: 1e-9 on log R (1e-9 relative on R),
    the same on each CUSUM, the same change start."""
    for a, b in zip(scalar.log_r, batched.log_r, strict=True):
        assert a == b or abs(a - b) <= 1e-9, (a, b)
    for a, b in zip(scalar.cusum, batched.cusum, strict=True):
        assert abs(a - b) <= 1e-9 * max(1.0, abs(a)), (a, b)
    sx, sn, slooks, salt = scalar.since_change()
    bx, bn, blooks, balt = batched.since_change()
    assert (slooks, salt) == (blooks, balt)
    assert abs(sx - bx) <= 1e-9 * max(1.0, sx) and abs(sn - bn) <= 1e-9 * max(1.0, sn)
    assert scalar.looks == batched.looks


@settings(max_examples=40, deadline=None)
@given(
    segments=_SEGMENTS,
    seed=st.integers(0, 2**32 - 1),
    baseline=st.floats(0.05, 0.95),
    direction=st.sampled_from(["drop", "rise"]),
    alpha=st.sampled_from([0.001, 0.05, 0.3]),
    cuts=st.lists(st.integers(1, 60), max_size=8),
)
def test_a_run_taken_at_once_equals_the_recursion_look_by_look(
    segments, seed, baseline, direction, alpha, cuts
):
    # Counts with drops and rises, looks without trials, and long changes that take
    # the statistic to its cap (then one look at a time, then unrolled again).
    x, n = _counts(segments, seed)
    scalar = ShiryaevRoberts(baseline, direction, alpha=alpha)
    batched = ShiryaevRoberts(baseline, direction, alpha=alpha)
    alarms = [scalar.update(xi, ni) for xi, ni in zip(x.tolist(), n.tolist(), strict=True)]
    at = 0
    for cut in [*cuts, x.size]:
        assert batched.update_many(x[at : at + cut], n[at : at + cut]) == len(x[at : at + cut])
        at += cut
        if at >= x.size:
            break
    _close(scalar, batched)
    # The same alarms, look by look (renewal runs: reset after each alarm). An alarm
    # decision could only differ at a statistic within rounding of the threshold.
    expected = []
    reference = ShiryaevRoberts(baseline, direction, alpha=alpha)
    for i, (xi, ni) in enumerate(zip(x.tolist(), n.tolist(), strict=True)):
        if reference.update(xi, ni):
            expected.append(i)
            reference.reset()
    assert ShiryaevRoberts(baseline, direction, alpha=alpha).run(x, n) == expected
    assert alarms[-1] == scalar.alarmed


@settings(max_examples=40, deadline=None)
@given(segments=_SEGMENTS, seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, 80)))
def test_a_run_fed_in_any_batches_gives_bitwise_the_same_state(segments, seed, cuts):
    x, n = _counts(segments, seed)
    whole = ShiryaevRoberts(0.8, "drop", alpha=0.01)
    whole.update_many(x, n)
    parts = ShiryaevRoberts(0.8, "drop", alpha=0.01)
    at = 0
    for cut in [*cuts, *[x.size] * x.size]:  # stopping at alarms on even cuts
        at += parts.update_many(x[at : at + cut], n[at : at + cut], until_alarm=cut % 2 == 0)
        if at >= x.size:
            break
    assert at == x.size
    assert (parts.log_r, parts.cusum, parts._since) == (whole.log_r, whole.cusum, whole._since)


def test_a_long_drop_binds_the_cap_and_still_equals_the_recursion():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.binomial(100, 0.9, 600), rng.binomial(100, 0.6, 1500)]).astype(float)
    n = np.full(x.size, 100.0)
    scalar, batched = ShiryaevRoberts(0.88, "drop"), ShiryaevRoberts(0.88, "drop")
    at_cap = 0
    for xi, ni in zip(x.tolist(), n.tolist(), strict=True):
        scalar.update(xi, ni)
        at_cap += max(scalar.log_r) == scalar._cap
    assert at_cap > 1000  # the cap binds on most looks of the drop
    batched.update_many(x, n)
    _close(scalar, batched)
    assert batched.alarmed


def test_update_many_stops_after_the_first_alarm_when_asked():
    x = np.array([90.0] * 20 + [60.0] * 20)
    n = np.full(40, 100.0)
    one = ShiryaevRoberts(0.9, "drop", alpha=0.001)
    first = next(i for i, (a, b) in enumerate(zip(x, n, strict=True)) if one.update(a, b))
    detector = ShiryaevRoberts(0.9, "drop", alpha=0.001)
    assert detector.update_many(x, n, until_alarm=True) == first + 1
    assert detector.alarmed and detector.looks == first + 1


def test_update_many_refuses_bad_counts_and_says_which_look():
    with pytest.raises(ValueError, match=r"successes=5.0, trials=3.0 at look 1"):
        ShiryaevRoberts(0.9).update_many([1.0, 5.0], [2.0, 3.0])
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        ShiryaevRoberts(0.9).update_many([1.0, 5.0], [2.0])
