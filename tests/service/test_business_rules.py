"""Window alert rules on a window's business figures: false alarms per day and the
expected cost (by the model's costs)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from liveeval.config import LoggedModel, ServerConfig
from liveeval.errors import ConfigError
from liveeval.monitor.rules import parse_alerts
from liveeval.service import Service
from liveeval.store import encode_label

START = datetime(2026, 3, 1)
RULES = [
    {"name": "alarms", "metric": "false_alarms_per_day", "window": "6h", "condition": "> 20",
     "min_samples": 50},
    {"name": "cost", "metric": "expected_cost", "window": "6h", "condition": "> 0.5",
     "min_samples": 50},
]  # fmt: skip


def _service(path: str, profile: str | None) -> Service:
    config = ServerConfig(
        store=path,
        logged=[LoggedModel("a", (0, 1), 1, profile)],
        alerts=parse_alerts({"rules": RULES, "profile_rules": False}, "test"),
    )
    service = Service(config)
    service.run_alerts = False
    service.start()
    return service


def _six_hours(service: Service) -> tuple[int, int, int]:
    rng = np.random.default_rng(5)
    predictions, outcomes = [], []
    fp = fn = 0
    for i in range(300):
        y = int(rng.random() < 0.2)
        pred = y if rng.random() < 0.9 else 1 - y
        fp += pred == 1 and y == 0
        fn += pred == 0 and y == 1
        ts = START + timedelta(seconds=72 * i)  # 300 predictions over 6 hours
        predictions.append({"id": f"p{i}", "model": "a", "version": "v1", "ts": ts,
                            "label": encode_label(pred), "status": "ok"})  # fmt: skip
        outcomes.append({"prediction_id": f"p{i}", "label": encode_label(y), "ts": ts})
    service.store.commit("predictions", predictions)
    service.store.commit("outcomes", outcomes)
    return fp, fn, 300


def test_window_rules_compare_false_alarms_per_day_and_expected_cost(tmp_path):
    service = _service(str(tmp_path / "s.duckdb"), "fraud")
    try:
        fp, fn, n = _six_hours(service)
        now = START + timedelta(hours=6, minutes=1)
        verdicts = {rule.name: v for rule, _, v in service.alert_engine().verdicts(now)}
    finally:
        service.stop()
    alarms, cost = verdicts["alarms"], verdicts["cost"]
    assert alarms.evidence["value"] == pytest.approx(fp * 4)  # per day over 6 hours
    assert alarms.evidence["false_alarms"] == fp
    assert alarms.holds is (fp * 4 > 20)
    assert cost.evidence["value"] == pytest.approx((fp * 1 + fn * 50) / n)  # fraud costs
    assert cost.evidence["method"].startswith("MOVER")
    assert cost.holds is ((fp + 50 * fn) / n > 0.5)


def test_an_expected_cost_rule_without_costs_says_so_and_never_fires(tmp_path):
    service = _service(str(tmp_path / "s.duckdb"), None)
    try:
        _six_hours(service)
        now = START + timedelta(hours=6, minutes=1)
        verdicts = {rule.name: v for rule, _, v in service.alert_engine().verdicts(now)}
    finally:
        service.stop()
    assert verdicts["cost"].holds is None
    assert "no costs" in verdicts["cost"].summary
    assert verdicts["alarms"].holds is not None


def test_business_rules_need_a_threshold_in_window_mode():
    rule = {"name": "x", "metric": "expected_cost", "condition": "rise"}
    with pytest.raises(ConfigError, match="expected_cost has no sequential test"):
        parse_alerts({"rules": [rule]}, "test")


def test_one_model_that_cannot_be_read_is_named_and_the_others_are_evaluated(tmp_path):
    # Model "zero" was wrong on every labelled prediction: an accuracy of 0 leaves no
    # room for a drop, so its sequential rule cannot run; model "a" must still be judged.
    rules = [{"name": "acc", "metric": "accuracy", "model": "*", "condition": "drop",
              "min_samples": 10}]  # fmt: skip
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        logged=[LoggedModel("a", (0, 1), 1), LoggedModel("zero", (0, 1), 1)],
        alerts=parse_alerts({"rules": rules, "profile_rules": False}, "test"),
    )
    service = Service(config)
    service.run_alerts = False
    service.start()
    try:
        _six_hours(service)
        wrong = [{"id": f"z{i}", "model": "zero", "version": "v1", "status": "ok",
                  "ts": START + timedelta(minutes=i), "label": encode_label(1)}
                 for i in range(40)]  # fmt: skip
        service.store.commit("predictions", wrong)
        service.store.commit(
            "outcomes",
            [{"prediction_id": w["id"], "label": encode_label(0), "ts": w["ts"]} for w in wrong],
        )
        engine = service.alert_engine()
        verdicts = engine.verdicts(START + timedelta(hours=6, minutes=1))
    finally:
        service.stop()
    assert {scope.model for _, scope, _ in verdicts} == {"a"}
    assert engine.errors["acc"].startswith("model 'zero': ")


def test_an_outcome_value_rule_counts_outcome_values_not_labelled_samples(tmp_path):
    from liveeval.monitor.channels._text import evidence_line
    from liveeval.monitor.notice import AlertNotice

    rules = [{"name": "revenue", "metric": "outcome_value_mean", "window": "6h",
              "condition": "> 10", "min_samples": 1}]  # fmt: skip
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        logged=[LoggedModel("a", (0, 1), 1, None)],
        alerts=parse_alerts({"rules": rules, "profile_rules": False}, "test"),
    )
    service = Service(config)
    service.run_alerts = False
    service.start()
    try:
        ts = START + timedelta(hours=1)
        service.store.commit("predictions", [
            {"id": f"v{i}", "model": "a", "version": "v1", "ts": ts, "label": encode_label(1),
             "status": "ok"} for i in range(3)
        ])  # fmt: skip
        # Business values only: the window has no labelled pair at all.
        service.store.commit(
            "outcomes", [{"prediction_id": f"v{i}", "value": 20.0, "ts": ts} for i in range(3)]
        )
        now = START + timedelta(hours=6, minutes=1)
        (verdict,) = [v for _, _, v in service.alert_engine().verdicts(now)]
    finally:
        service.stop()
    assert verdict.holds is True and verdict.evidence["samples"] == 3
    notice = AlertNotice(
        alert_id="revenue/a", rule="revenue", state="firing", severity="warning", model="a",
        version=None, metric="outcome_value_mean", summary=verdict.summary, starts_at=now,
        changed_at=now, evidence=verdict.evidence,
    )  # fmt: skip
    line = evidence_line(notice)
    assert "3 outcome values" in line and "labelled" not in line
