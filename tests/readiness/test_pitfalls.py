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
