"""Verdicts: pass, warn, fail and inconclusive, with reasons, and the seeds' self-check."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import liveeval
from liveeval.errors import ProfileError, ValidationError
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


def _binary(tp, fn, fp, tn):
    from liveeval.metrics import Evaluation

    y = [1] * (tp + fn) + [0] * (fp + tn)
    p = [1] * tp + [0] * fn + [1] * fp + [0] * tn
    return Evaluation.create([0, 1], pos_label=1, with_scores=False).update(y, p).result()


def test_a_metric_without_an_interval_is_inconclusive_never_certain():
    check = Check("log_loss", "<=", 0.5)
    bare = MetricResult("log_loss", 0.1, None, None, 1, 0.95, "normal (CLT)")
    result = judge(check, bare, 1)
    assert result.status == "inconclusive"
    assert "has no interval (normal (CLT)), so it cannot be judged" in result.reason


def test_an_interval_of_zero_width_is_inconclusive():
    point = MetricResult("recall", 1.0, 1.0, 1.0, 40, 0.95, "bootstrap")
    result = judge(Check("recall", ">=", 0.9), point, 40)
    assert result.status == "inconclusive" and "interval of zero width" in result.reason


def test_one_class_data_never_passes_on_a_collapsed_interval():
    table = pa.table({"y": ["a"] * 40, "p": ["a"] * 40})
    report = liveeval.evaluate(table, label="y", pred="p", profile="fraud")
    assert report.verdict.status == "inconclusive"
    assert all(c.status == "inconclusive" for c in report.verdict.checks)
    assert "only class 'a' occurs and no other class is declared" in report.verdict.checks[0].reason


def test_the_verdict_states_its_mode_and_family_error_rates(seeds_table):
    report = liveeval.evaluate(seeds_table, label="y_true", pred="y_pred", profile="balanced")
    v = report.verdict
    assert v.mode == "fixed" and "fixed-sample intervals" in v.summary
    rates = v.error_rates
    assert rates.checks == 3 and rates.false_pass == pytest.approx(0.025)
    assert rates.false_fail == pytest.approx(0.075)
    assert "3 checks × 2.5%" in rates.text and "at one look" in rates.text
    doc = v.to_dict()
    assert doc["mode"] == "fixed" and doc["error_rates"]["false_fail"] == pytest.approx(0.075)
    assert {c["mode"] for c in doc["checks"]} == {"fixed"}


def test_anytime_mode_judges_rates_on_confidence_sequences():
    result = _binary(tp=930, fn=70, fp=100, tn=8900)
    fixed = liveeval.readiness.verdict(load_profile("fraud"), result, [])
    anytime = liveeval.readiness.verdict(load_profile("fraud"), result, [], mode="anytime")
    recall_fixed = next(c for c in fixed.checks if c.check.metric == "recall")
    recall_any = next(c for c in anytime.checks if c.check.metric == "recall")
    assert recall_any.mode == "anytime" and "confidence sequence" in recall_any.method
    assert recall_any.lower < recall_fixed.lower and recall_any.upper > recall_fixed.upper
    assert "anytime-valid interval" in recall_any.reason
    assert "anytime-valid confidence sequences" in anytime.summary
    assert "at any look" in anytime.error_rates.text


def test_anytime_mode_says_which_checks_it_cannot_cover(scored_file):
    report = liveeval.evaluate(scored_file, label="y_true", score="y_score")
    v = liveeval.readiness.verdict(load_profile("realtime"), report.result, [], mode="anytime")
    assert v.checks[0].mode == "fixed"
    assert v.error_rates.fixed_checks == ("latency_p95_seconds",)
    assert "Not covered over repeated looks: latency_p95_seconds" in v.error_rates.text


def test_an_unknown_mode_is_an_error():
    with pytest.raises(
        ValidationError, match=r"verdict mode 'sometimes' is not one of fixed, anyt"
    ):
        liveeval.readiness.verdict(load_profile("fraud"), _binary(9, 1, 1, 9), [], mode="sometimes")


def test_rows_to_settle_state_their_power_and_count_labelled_rows():
    result = _binary(tp=186, fn=14, fp=100, tn=1700)
    check = next(
        c
        for c in liveeval.readiness.verdict(load_profile("fraud"), result, []).checks
        if c.check.metric == "recall"
    )
    assert check.status == "inconclusive"
    assert check.settle_power == pytest.approx(0.8)
    assert "more labelled rows would settle it with 80% probability at the current rates" in (
        check.reason
    )


def _timed(latencies):
    from liveeval.metrics import Evaluation

    n = len(latencies)
    ev = Evaluation.create([0, 1], pos_label=1, with_scores=False).update(
        [1, 0] * (n // 2), [1, 0] * (n // 2)
    )
    ev.update_operational(latency_seconds=latencies)
    return ev


def test_anytime_mode_judges_latency_quantiles_when_given_the_sketch():
    rng = np.random.default_rng(5)
    fast = _timed(rng.lognormal(np.log(0.04), 0.3, 2000))
    v = liveeval.readiness.verdict(
        load_profile("realtime"), fast.result(), [], mode="anytime", latency=fast.latency
    )
    check = v.checks[0]
    assert check.mode == "anytime" and check.status == "pass"
    assert "confidence sequence for a quantile" in check.method
    assert v.error_rates.fixed_checks == ()


def test_a_latency_quantile_the_data_cannot_bound_is_inconclusive_in_anytime_mode():
    few = _timed(np.full(20, 0.05))
    v = liveeval.readiness.verdict(
        liveeval.readiness.Profile("t", "", (Check("latency_p95_seconds", "<", 0.1),)),
        few.result(),
        [],
        mode="anytime",
        latency=few.latency,
    )
    check = v.checks[0]
    assert check.status == "inconclusive" and check.upper is None
    assert "unbounded" in check.reason


def test_a_summary_never_quotes_a_zero_division_stand_in_as_a_measurement():
    from liveeval.metrics import Evaluation
    from liveeval.readiness import profile_by_name, verdict

    # No positives and nothing predicted positive: recall and precision are scikit-learn's
    # zero-division 0.0, which measures nothing.
    ev = Evaluation.create([0, 1], pos_label=1, with_scores=False).update([0] * 40, [0] * 40)
    v = verdict(profile_by_name("fraud"), ev.result(), [])
    assert v.status == "inconclusive"
    assert v.summary.startswith(
        "INCONCLUSIVE for the fraud profile: not enough evidence yet (recall undefined vs "
        ">= 0.900; precision undefined vs >= 0.200)."
    )
