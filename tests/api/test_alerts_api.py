"""Alerts end to end: rules evaluated against a store, states through the API, history
kept across a restart, and `liveeval alerts` reading the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liveeval.api import ServerConfig, create_app
from liveeval.cli.app import app as cli
from liveeval.config import LoggedModel
from liveeval.monitor.rules import parse_alerts
from liveeval.store import encode_label

RULES = {
    "rules": [
        {"name": "accuracy-drop", "metric": "accuracy", "model": "m", "window": "1h",
         "reference": "first:1000", "severity": "critical"},
        {"name": "recall-low", "metric": "recall", "model": "m", "condition": "< 0.95",
         "window": "6h", "min_samples": 50},
        {"name": "coverage", "metric": "label_coverage", "model": "m", "condition": "< 0.5"},
    ],
    "interval_seconds": 3600,
}  # fmt: skip


def _events(
    now: datetime, hours: int = 48, change: int = 30, per_hour: int = 100
) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(0)
    start = now.replace(minute=0, second=0, microsecond=0, tzinfo=None) - timedelta(hours=hours)
    predictions, outcomes = [], []
    for hour in range(hours - 1):
        accuracy = 0.9 if hour < change else 0.7
        for i in range(per_hour):
            y = int(rng.random() < 0.3)
            predicted = y if rng.random() < accuracy else 1 - y
            ts = start + timedelta(hours=hour, seconds=30 * i)
            pid = f"p{hour}-{i}"
            predictions.append({"id": pid, "model": "m", "version": "v1", "ts": ts,
                                "label": encode_label(predicted), "status": "ok"})  # fmt: skip
            outcomes.append({"prediction_id": pid, "label": encode_label(y), "ts": ts})
    return predictions, outcomes


@pytest.fixture
def config(tmp_path):
    return ServerConfig(
        store=str(tmp_path / "alerts.duckdb"),
        logged=[LoggedModel("m", (0, 1), 1, "fraud")],
        alerts=parse_alerts(RULES, "test"),
    )


@pytest.mark.slow
def test_alerts_fire_with_evidence_survive_a_restart_and_are_listed(config, tmp_path):
    now = datetime.now(UTC)
    with TestClient(create_app(config)) as client:
        service = client.app.state.service
        predictions, outcomes = _events(now)
        service.store.commit("predictions", predictions)
        service.store.commit("outcomes", outcomes)
        changes = client.post("/v1/alerts/evaluate").json()["changes"]
        states = {(c["rule"], c["state"]) for c in changes}
        assert ("accuracy-drop", "firing") in states
        assert ("recall-low", "firing") in states
        # The profile's default rule waits for its reference (the first 5,000 labels).
        assert not [s for s in states if s[0] == "m:fraud:recall-drop"]

        firing = client.get("/v1/alerts", params={"state": "firing", "model": "m"}).json()
        drop = next(a for a in firing["alerts"] if a["rule"] == "accuracy-drop")
        evidence = drop["evidence"]
        assert evidence["before"]["n"] >= 1000 and evidence["after"]["value"] < 0.8
        assert evidence["statistic"] >= evidence["threshold"]
        assert evidence["first_alarm"]["samples_since_change"] > 0
        assert drop["severity"] == "critical" and drop["channels"] == ["log"]

        one = client.get(f"/v1/alerts/{drop['alert_id']}").json()
        assert [h["state"] for h in one["history"]] == ["pending", "firing"]
        assert client.get("/v1/alerts/nope").status_code == 404
        assert client.get("/v1/alerts", params={"state": "gone"}).status_code == 422
        scrape = client.get("/metrics").text
        assert f'alert_id="{drop["alert_id"]}"' in scrape and 'state="firing"' in scrape
        rules = client.get("/v1/alert-rules").json()["rules"]
        assert {r["name"] for r in rules} >= {"accuracy-drop", "m:fraud:recall-drop"}

    # A restart: the open alerts come back; evaluating again opens nothing new.
    with TestClient(create_app(config)) as client:
        again = client.post("/v1/alerts/evaluate").json()["changes"]
        assert not [c for c in again if c["rule"] == "accuracy-drop"]
        assert client.get(f"/v1/alerts/{drop['alert_id']}").json()["state"] == "firing"

    result = CliRunner().invoke(
        cli, ["alerts", "--store", config.store, "--state", "firing", "--json"]
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["alerts"]
    assert drop["alert_id"] in {a["alert_id"] for a in listed}
    table = CliRunner().invoke(cli, ["alerts", "--store", config.store, "--id", drop["alert_id"]])
    assert table.exit_code == 0 and "firing" in table.output
    bad = CliRunner().invoke(cli, ["alerts", "--store", config.store, "--state", "fire"])
    assert bad.exit_code == 2 and "--state 'fire' is not one of" in bad.output


def test_a_subscriber_gets_every_state_change_of_a_drop():
    from liveeval.service import Service

    rules = {"rules": [{"name": "drop", "metric": "accuracy", "model": "m", "window": "1h",
                        "reference": "first:400", "min_samples": 50}]}  # fmt: skip
    config = ServerConfig(
        store=":memory:",
        logged=[LoggedModel("m", (0, 1), 1)],
        alerts=parse_alerts(rules, "test"),
    )
    service = Service(config)
    service.run_alerts = False
    got = []
    service.subscribe(got.append)
    service.start()
    try:
        predictions, outcomes = _events(datetime.now(UTC), hours=20, change=12, per_hour=60)
        service.store.commit("predictions", predictions)
        service.store.commit("outcomes", outcomes)
        service.alert_engine().evaluate()
    finally:
        service.stop()
    assert [n.state for n in got] == ["pending", "firing"]
    assert got[0].alert_id == got[1].alert_id and got[1].evidence["alarmed"]


def test_the_service_evaluates_its_rules_in_the_background():
    import time

    from liveeval.service import Service

    rules = {"rules": [{"name": "r", "metric": "accuracy", "model": "m"}], "interval_seconds": 0.05}
    service = Service(
        ServerConfig(
            store=":memory:", logged=[LoggedModel("m", (0, 1), 1)], alerts=parse_alerts(rules, "t")
        )
    )
    service.start()
    try:
        deadline = time.monotonic() + 5.0
        while service.alert_engine().evaluated_at is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert service.alert_engine().evaluated_at is not None
    finally:
        service.stop()


def test_window_rules_on_resources_coverage_delay_and_drift_are_evaluated():
    from liveeval.service import Service

    rules = {"rules": [
        {"name": "cpu", "metric": "cpu_percent", "condition": "> 50", "window": "1d", "min_samples": 1},
        {"name": "rss", "metric": "rss_bytes", "condition": "> 1000", "window": "1d", "min_samples": 1},
        {"name": "coverage", "metric": "label_coverage", "model": "m", "condition": "< 0.5",
         "window": "1d", "min_samples": 10},
        {"name": "delay", "metric": "label_delay_seconds", "model": "m", "condition": "> 60",
         "window": "1d", "min_samples": 10},
        {"name": "amount", "metric": "drift:amount", "model": "m", "condition": "drifted",
         "window": "1d", "reference": "previous:1d", "min_samples": 10},
        {"name": "log-loss", "metric": "log_loss", "model": "m", "condition": "> 5",
         "window": "1d", "min_samples": 10},
    ]}  # fmt: skip
    service = Service(
        ServerConfig(
            store=":memory:", logged=[LoggedModel("m", (0, 1), 1)], alerts=parse_alerts(rules, "t")
        )
    )
    service.run_alerts = False
    service.start()
    try:
        now = datetime.now(UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        rng = np.random.default_rng(0)
        predictions, outcomes = [], []
        for d, shift in ((2, 0.0), (1, 3.0)):  # the day before yesterday, then yesterday
            for i in range(240):
                ts = day - timedelta(days=d) + timedelta(seconds=350 * i)
                pid = f"p{d}-{i}"
                predictions.append({"id": pid, "model": "m", "version": "v1", "ts": ts,
                                    "label": encode_label(i % 2), "score": 0.3 + 0.4 * (i % 2),
                                    "features": json.dumps({"amount": float(rng.normal(shift))}),
                                    "status": "ok"})  # fmt: skip
                if d == 2 or i % 4 == 0:  # yesterday: a quarter labelled, two hours late
                    outcomes.append({"prediction_id": pid, "label": encode_label(i % 2),
                                     "ts": ts + timedelta(hours=2)})  # fmt: skip
        service.store.commit("predictions", predictions)
        service.store.commit("outcomes", outcomes)
        service.store.commit(
            "resource_samples",
            [
                {
                    "ts": day - timedelta(hours=1),
                    "process": "p",
                    "cpu_percent": 90.0,
                    "rss_bytes": 5000,
                }
            ],
        )
        changes = service.alert_engine().evaluate(now=day + timedelta(minutes=1))
        engine = service.alert_engine()
    finally:
        service.stop()
    assert engine.errors == {}
    firing = {c.rule: c for c in changes if c.state == "firing"}
    assert set(firing) == {"cpu", "rss", "coverage", "delay", "amount"}
    assert firing["coverage"].evidence["value"] == 0.25
    assert firing["delay"].evidence["value"] > 3600
    assert firing["amount"].evidence["column"]["drifted"] is True
    assert firing["cpu"].model == "server"
