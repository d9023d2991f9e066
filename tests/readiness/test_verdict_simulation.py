"""Simulated error rates of verdicts and pitfalls (slow; figures in docs/verdicts.md)."""

from __future__ import annotations

import pytest

from .verdict_sim import (
    family_fail_rate,
    mc_error,
    overfitting_rate,
    paradox_rates,
    repeated_looks,
    settle_rate,
)

pytestmark = pytest.mark.slow


def test_a_model_exactly_at_its_recall_target_rarely_fails_the_paradox_check():
    reps = 300
    rates = paradox_rates(reps, recall=0.90)
    # Before: the paradox judged the point estimate and failed about half of these.
    assert rates["paradox_fail"] <= 0.025 + 3 * mc_error(0.025, reps)
    assert rates["verdict_fail"] <= 0.05 + 3 * mc_error(0.05, reps)


def test_overfitting_is_rarely_flagged_when_every_stage_comes_from_one_model():
    reps = 80
    assert overfitting_rate(reps) <= 0.05 + 3 * mc_error(0.05, reps)


@pytest.mark.parametrize("mode", ["fixed", "anytime"])
def test_the_suggested_rows_settle_about_eighty_percent_of_checks(mode):
    reps = 150
    result = settle_rate(reps, metric="recall", rate=0.93, target=0.90, rows=1000, mode=mode)
    assert result["asked"] == reps
    assert abs(result["settled"] - 0.8) <= 0.05 + 3 * mc_error(0.8, reps)


def test_the_family_false_fail_rate_stays_near_the_stated_bound():
    reps = 1000
    rate = family_fail_rate(reps, checks=2, n=400)
    assert rate <= 0.05 + 3 * mc_error(0.05, reps)


def test_anytime_verdicts_at_the_target_never_pass_at_any_of_forty_looks_beyond_the_level():
    reps = 1000
    rates = repeated_looks(reps, modes=("anytime",), light=True)["anytime"]
    bound = 0.025 + 3 * mc_error(0.025, reps)
    assert rates["pass_any_look"] <= bound
    assert rates["fail_any_look"] <= bound
