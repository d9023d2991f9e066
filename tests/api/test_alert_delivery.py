"""The alert engine's notices reach the channels and start the actions, end to end."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.config import LoggedModel
from liveeval.monitor.rules import parse_alerts

from ..monitor.receiver import Receiver
from .test_alerts_api import _events


def test_a_firing_rule_is_delivered_signed_and_starts_its_action(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    (tmp_path / "retrain.py").write_text(
        "import os; print('retraining', os.environ['LIVEEVAL_MODEL'])\n"
    )
    receiver = Receiver(secret=b"s3cret").start()
    alerts = {
        "rules": [
            {"name": "recall-low", "metric": "recall", "model": "m", "condition": "< 0.95",
             "window": "6h", "min_samples": 50, "channels": ["hook"], "actions": ["retrain"]},
        ],
        "channels": {"hook": {"type": "webhook", "url": receiver.url, "secret_env": "HOOK_SECRET"}},
        "actions": {"retrain": {"type": "command", "command": [sys.executable, "retrain.py"]}},
        "interval_seconds": 3600,
        "profile_rules": False,
    }  # fmt: skip
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        logged=[LoggedModel("m", (0, 1), 1)],
        alerts=parse_alerts(alerts, "test"),
        config_dir=tmp_path,
    )
    try:
        with TestClient(create_app(config)) as client:
            service = client.app.state.service
            predictions, outcomes = _events(datetime.now(UTC), hours=12, change=6)
            service.store.commit("predictions", predictions)
            service.store.commit("outcomes", outcomes)
            changes = client.post("/v1/alerts/evaluate").json()["changes"]
            assert ("recall-low", "firing") in {(c["rule"], c["state"]) for c in changes}
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not receiver.received:
                time.sleep(0.05)
            service.actions.wait()
            runs = client.get("/v1/actions/runs").json()["runs"]
            delivered = client.get("/v1/notifications", params={"status": "delivered"}).json()
    finally:
        receiver.stop()
    [got] = receiver.received
    notice = got["body"]["notice"]
    assert notice["rule"] == "recall-low" and notice["state"] == "firing"
    assert notice["evidence"] and receiver.bad_signatures == 0
    assert [n["channel"] for n in delivered["notifications"]] == ["hook"]
    [run] = runs
    assert run["status"] == "succeeded" and "retraining m" in run["log_tail"]
    assert run["rows_exported"] > 0
