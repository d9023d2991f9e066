"""Overfitting and data-leakage checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import liveeval


def _log(
    n: int, seed: int, separation: float, *, leak: bool = False, start: str = "2026-10-01"
) -> pa.Table:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    s = 1 / (1 + np.exp(-rng.normal(-1 + separation * y, 1.0)))
    cols = {
        "y": y,
        "s": s,
        "x1": rng.normal(0, 1, n) + 0.3 * y,
        "x2": rng.normal(0, 1, n),
        "ts": pa.array(
            np.datetime64(start) + rng.uniform(0, 10 * 86400, n).astype("timedelta64[s]"),
            type=pa.timestamp("s"),
        ),
    }
    if leak:
        cols["chargeback_flag"] = y * 2 + rng.integers(0, 2, n) * 0  # filled in after the outcome
    return pa.table(cols)


def test_overfitting_is_flagged_per_metric_with_significance():
    train = _log(4000, 1, 4.0)
    live = _log(4000, 2, 1.5)
    report = liveeval.evaluate(live, label="y", score="s", train=train)
    finding = next(f for f in report.findings if f.name == "overfitting")
    assert finding.severity == "fail"
    metrics = {d["metric"] for d in finding.details["drops"]}
    assert {"roc_auc", "recall"} <= metrics
    assert "from train to live" in finding.message
    assert all(d["p_value"] < 0.05 for d in finding.details["drops"])


def test_no_overfitting_when_the_same_model_generates_both():
    report = liveeval.evaluate(_log(4000, 2, 2.0), label="y", score="s", train=_log(4000, 3, 2.0))
    assert not [f for f in report.findings if f.name == "overfitting"]


def test_duplicate_rows_between_train_and_evaluation_are_leakage():
    train = _log(2000, 1, 2.0, start="2026-09-01")
    live = pa.concat_tables([_log(1800, 2, 2.0), train.slice(0, 200)])
    report = liveeval.evaluate(live, label="y", score="s", train=train, features=["x1", "x2"])
    dup = [f for f in report.findings if f.details.get("check") == "duplicate_rows"]
    assert dup and dup[0].details["rows"] == 200
    assert "200 evaluation rows (10.0%) also appear in the training data" in dup[0].message


def test_a_feature_that_encodes_the_label_is_leakage():
    report = liveeval.evaluate(_log(3000, 4, 2.0, leak=True), label="y", score="s")
    leak = [f for f in report.findings if f.details.get("check") == "single_feature"]
    assert [f.details["feature"] for f in leak] == ["chargeback_flag"]
    assert "alone predicts the label with ROC-AUC 1.0000" in leak[0].message


def test_training_rows_later_than_evaluation_rows_are_leakage():
    train = _log(1000, 1, 2.0, start="2026-10-05")
    live = _log(1000, 2, 2.0, start="2026-10-01")
    report = liveeval.evaluate(live, label="y", score="s", train=train, time="ts")
    later = [f for f in report.findings if f.details.get("check") == "timestamps"]
    assert later and later[0].severity == "fail"
    assert (
        "training rows" in later[0].message
        and "later than the earliest evaluation row" in later[0].message
    )


def test_clean_data_has_no_leakage():
    train = _log(2000, 1, 2.0, start="2026-09-01")
    report = liveeval.evaluate(_log(2000, 2, 2.0), label="y", score="s", train=train, time="ts")
    assert not [f for f in report.findings if f.name == "data_leakage"]


@pytest.mark.parametrize("accuracy_only_majority", [True])
def test_majority_class_predictor_is_a_paradox(accuracy_only_majority):
    table = pa.table({"y": [0] * 950 + [1] * 50, "p": [0] * 1000})
    report = liveeval.evaluate(table, label="y", pred="p")
    paradox = next(f for f in report.findings if f.name == "accuracy_paradox")
    assert paradox.severity == "fail"


def _result(tp, fn, fp, tn):
    from liveeval.metrics import Evaluation

    y = [1] * (tp + fn) + [0] * (fp + tn)
    p = [1] * tp + [0] * fn + [1] * fp + [0] * tn
    return Evaluation.create([0, 1], pos_label=1, with_scores=False).update(y, p).result()


def test_a_minority_recall_whose_interval_straddles_the_target_is_only_a_warning():
    # recall 88/100 against 0.90: the interval (about 0.80-0.93) straddles the target.
    findings = liveeval.readiness.accuracy_paradox(_result(88, 12, 10, 1890), 0.90)
    assert [f.severity for f in findings] == ["warn"]
    assert "straddles the 90% target" in findings[0].message


def test_a_minority_recall_wholly_below_the_target_fails():
    findings = liveeval.readiness.accuracy_paradox(_result(60, 40, 10, 1890), 0.90)
    assert [f.severity for f in findings] == ["fail"]
    assert "below the 90% target even at its upper end" in findings[0].message


def test_one_class_labels_are_a_single_class_warning_not_a_paradox():
    result = _result(38, 2, 0, 0)
    assert liveeval.readiness.accuracy_paradox(result, 0.9) == []
    (finding,) = liveeval.readiness.single_class(result)
    assert finding.severity == "warn"
    assert "Only class 1 occurs in the labels of all 40 rows" in finding.message


def test_holm_rejects_step_down():
    assert liveeval.readiness.holm([0.001, 0.02, 0.04, 0.5], 0.05) == [True, False, False, False]
    assert liveeval.readiness.holm([0.01, 0.012, 0.013], 0.05) == [True, True, True]


def test_overfitting_tests_the_drop_against_the_allowed_gap():
    # A drop of exactly the allowed 0.02, measured very precisely, is not overfitting.
    big = 200_000
    train = _result(int(0.92 * big), int(0.08 * big), 1000, big)
    live = _result(int(0.90 * big), int(0.10 * big), 1000, big)
    assert liveeval.readiness.overfitting({"train": train, "live": live}, ("recall",)) == []
    worse = _result(int(0.85 * big), int(0.15 * big), 1000, big)
    (finding,) = liveeval.readiness.overfitting({"train": train, "live": worse}, ("recall",))
    assert finding.severity == "fail"
    assert "Holm-corrected over 1 tests" in finding.message


def test_overfitting_treats_lower_is_better_metrics_the_right_way_round():
    big = 100_000
    train = _result(big, 0, 1000, big)  # false-positive rate ~1%
    live = _result(big, 0, 10_000, big)  # ~9%: worse
    (finding,) = liveeval.readiness.overfitting(
        {"train": train, "live": live}, ("false_positive_rate",)
    )
    assert finding.details["drops"][0]["gap"] > 0.05


def test_overfitting_rejects_unknown_metric_names():
    with pytest.raises(liveeval.errors.UnknownMetricError, match=r"did you mean 'recall'"):
        liveeval.readiness.overfitting({}, ("recal",))
