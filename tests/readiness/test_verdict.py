"""Verdicts: pass, warn, fail and inconclusive, with reasons, and the seeds' self-check."""

from __future__ import annotations

import pyarrow as pa
import pytest

import liveeval
from liveeval.errors import ProfileError
from liveeval.metrics import MetricResult
from liveeval.readiness import Check, builtin_profiles, judge, load_profile


def test_seed_self_check_98_accuracy_12_recall_on_fraud_fails_and_says_why(paradox_table):
    report = liveeval.evaluate(paradox_table, label="y_true", pred="y_pred", profile="fraud")
    assert report.metric("accuracy").value == pytest.approx(0.98)
    assert report.metric("recall").value == pytest.approx(0.12)
    v = report.verdict
    assert v is not None and v.status == "fail" and report.exit_code == 1
    recall = next(c for c in v.checks if c.check.metric == "recall")
    assert recall.status == "fail"
    assert "misses 88% of actual positives" in recall.reason
    paradox = next(f for f in report.findings if f.name == "accuracy_paradox")
    assert paradox.severity == "fail"
    assert "accuracy is 98.0% but recall on the minority class 1 is only 12.0%" in paradox.message
    assert "misses 88% of those cases" in paradox.message
    assert "accuracy paradox" in v.summary
    # Failing checks come first.
    assert v.checks[0].status == "fail"


def test_seed_worked_example_passes_balanced_profile_or_is_honest(seeds_table):
    report = liveeval.evaluate(seeds_table, label="y_true", pred="y_pred", profile="balanced")
    statuses = {c.check.metric: c.status for c in report.verdict.checks}
    # 200 rows cannot show precision 0.894 is above 0.80 for sure: its interval is 0.817–0.942.
    assert statuses["precision"] == "pass"
    assert statuses["accuracy"] == "inconclusive"
    acc = next(c for c in report.verdict.checks if c.check.metric == "accuracy")
    assert "straddles the 0.850 target" in acc.reason
    assert acc.more_rows_to_settle is not None and acc.more_rows_to_settle > 0
    assert report.exit_code == 3


def _m(value, lower, upper, n=1000, name="recall"):
    return MetricResult(name, value, lower, upper, n, 0.95, "wilson")


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (_m(0.95, 0.93, 0.97), "pass"),
        (_m(0.915, 0.905, 0.925), "warn"),
        (_m(0.5, 0.45, 0.55), "fail"),
        (_m(0.9, 0.85, 0.94), "inconclusive"),
        (_m(0.95, 0.93, 0.97, n=10), "inconclusive"),
        (MetricResult.undefined("recall", "undefined: no actual positives"), "inconclusive"),
        (None, "inconclusive"),
    ],
)
def test_judge_statuses(metric, expected):
    check = Check("recall", ">=", 0.9, warn=0.02, min_n=30)
    assert judge(check, metric, 1000).status == expected


def test_lower_is_better_checks_for_latency():
    check = Check("latency_p95_seconds", "<", 0.1, warn=0.01, min_n=0)
    ok = judge(check, _m(0.05, 0.045, 0.055, name="latency_p95_seconds"), 100)
    slow = judge(check, _m(0.3, 0.25, 0.35, name="latency_p95_seconds"), 100)
    assert ok.status == "pass" and "50 ms" in ok.reason
    assert slow.status == "fail"


def test_builtin_profiles_are_the_seeds():
    assert set(builtin_profiles()) == {
        "balanced",
        "critical",
        "fraud",
        "genai",
        "medical",
        "realtime",
        "spam",
    }
    critical = {c.metric: c.target for c in load_profile("critical").checks}
    assert critical == {"precision": 0.85, "recall": 0.85, "accuracy": 0.90}
    assert load_profile("spam").checks[0].metric == "precision"
    assert load_profile("fraud").checks[0].metric == "recall"
    assert load_profile("realtime").checks[0].target == 0.1
    assert load_profile("genai").checks[0].target == 1.0


def test_unknown_profile_suggests_a_name():
    with pytest.raises(ProfileError, match=r"unknown profile 'fruad'\. Did you mean 'fraud'"):
        load_profile("fruad")


def test_user_profile_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[[check]]\nmetric = "f1"\nop = ">="\ntarget = 0.5\n')
    assert load_profile(path).checks[0].metric == "f1"
    path.write_text('name = "mine"\n[[check]]\nmetric = "f1"\nop = "=>"\ntarget = 0.5\n')
    with pytest.raises(ProfileError, match=r"check 1: 'op' is '=>', expected one of"):
        load_profile(path)


def test_realtime_profile_without_latency_is_inconclusive(seeds_table):
    report = liveeval.evaluate(seeds_table, label="y_true", pred="y_pred", profile="realtime")
    assert report.verdict.status == "inconclusive"
    assert "was not measured" in report.verdict.checks[0].reason


def test_realtime_profile_with_latency(scored_file):
    report = liveeval.evaluate(scored_file, label="y_true", score="y_score", profile="realtime")
    assert report.verdict.checks[0].status == "pass"
    assert report.metric("latency_p95_seconds").value == pytest.approx(0.063, rel=0.15)


def test_too_few_labels_says_how_many_more():
    table = pa.table({"y": [1, 0] * 15, "p": [1, 0, 0, 0] * 7 + [1, 0]})
    report = liveeval.evaluate(table, label="y", pred="p")
    few = [f for f in report.findings if f.name == "too_few_labels"]
    assert few and "more labelled rows would narrow it" in few[0].message
