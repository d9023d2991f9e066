"""Routes for notifications, action runs, deployments and version comparison."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.monitor.actions import parse_actions
from liveeval.monitor.channels import WebhookChannel
from liveeval.monitor.notice import AlertNotice
from liveeval.serving import ModelSpec

from ..monitor.receiver import Receiver


def _notice(**kw: object) -> AlertNotice:
    t = datetime.now(UTC)
    fields: dict = {
        "alert_id": "recall/fraud",
        "rule": "fraud-recall",
        "state": "firing",
        "severity": "critical",
        "model": "fraud",
        "version": "v3",
        "metric": "recall",
        "summary": "recall dropped",
        "starts_at": t,
        "changed_at": t,
        "evidence": {"samples": 300},
        "channels": ("hook", "down"),
    }
    fields.update(kw)
    return AlertNotice(**fields)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def client(tmp_path: Path, fraud_model: Path, receiver: Receiver):
    (tmp_path / "retrain.py").write_text("print('retrained')\n")
    config = ServerConfig(
        store=str(tmp_path / "store.duckdb"),
        models=[ModelSpec("fraud", fraud_model, version="v3", profile="fraud")],
        metrics_cache_seconds=0.0,
        channels={
            "hook": WebhookChannel("hook", receiver.url, b"s3cret-value"),
            "down": WebhookChannel("down", "http://127.0.0.1:9/", timeout=1),
        },
        actions=parse_actions(
            {"retrain": {"type": "command", "command": [sys.executable, "retrain.py"]}},
            base=tmp_path,
        ),
    )
    with TestClient(create_app(config)) as c:
        yield c


def test_the_server_records_its_own_model_load(client):
    body = client.get("/v1/models/fraud/deployments").json()
    assert body["live_version"] == "v3" and body["deployments"] == 1
    assert body["success_rate"]["value"] == 1.0
    assert [e["status"] for e in body["history"]] == ["succeeded", "started"]


def test_deployments_made_elsewhere_are_summarised(client):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    for hours, version, status in [
        (0, "v1", "succeeded"),
        (5, "v2", "failed"),
        (6, "v2", "succeeded"),
        (8, "v2", "rolled_back"),
    ]:
        answer = client.post(
            "/v1/deployments",
            json={
                "model": "spam",
                "version": version,
                "status": status,
                "ts": (t0 + timedelta(hours=hours)).isoformat(),
            },
        )
        assert answer.status_code == 200, answer.text
    body = client.get("/v1/models/spam/deployments").json()
    assert body["live_version"] == "v1" and body["rollbacks"] == 1
    assert body["success_rate"]["value"] == pytest.approx(2 / 3)
    v2 = next(v for v in body["versions"] if v["version"] == "v2")
    assert v2["live_seconds"] == 2 * 3600


def test_deployments_of_an_unknown_model_are_a_404(client):
    assert client.get("/v1/models/nope/deployments").status_code == 404


def test_notifications_show_delivered_and_pending_with_the_backlog(client, receiver):
    service = client.app.state.service
    service.notify(_notice())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not receiver.received:
        time.sleep(0.05)
    assert len(receiver.received) == 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and service.notifications.stats["down"].failed == 0:
        time.sleep(0.05)
    pending = client.get("/v1/notifications", params={"status": "pending"}).json()
    assert [n["channel"] for n in pending["notifications"]] == ["down"]
    assert pending["notifications"][0]["last_error"].startswith("channel 'down'")
    assert pending["backlog"]["down"]["pending"] == 1
    assert "s3cret-value" not in str(pending)  # the channel's secret is never shown
    assert pending["channels"]["hook"]["signed"] is True
    deadline = time.monotonic() + 10
    delivered = []
    while time.monotonic() < deadline and not delivered:
        delivered = client.get("/v1/notifications?status=delivered").json()["notifications"]
    assert [n["channel"] for n in delivered] == ["hook"]
    metrics = client.get("/metrics").text
    assert 'liveeval_notifications_pending{channel="down"} 1.0' in metrics
    assert 'liveeval_notification_channel_up{channel="down"} 0.0' in metrics
    assert 'liveeval_notifications_delivered_total{channel="hook"} 1.0' in metrics
    assert 'liveeval_notification_failures_total{channel="down"}' in metrics


def test_action_runs_are_shown(client):
    service = client.app.state.service
    service.notify(_notice(channels=(), actions=("retrain",)))
    service.actions.wait()
    body = client.get("/v1/actions/runs").json()
    [run] = body["runs"]
    assert run["status"] == "succeeded" and run["exit_code"] == 0
    assert "retrained" in run["log_tail"]
    assert body["actions"]["retrain"]["max_concurrent"] == 1


def test_versions_compare_metric_by_metric_with_the_flip_rate(client):
    predictions, outcomes = [], []
    for i in range(60):
        features = {"amount": float(i), "distance_km": float(i % 7)}
        truth = i % 2
        a = truth if i % 5 else 1 - truth  # v1 is right 80% of the time
        b = truth if i % 10 else 1 - truth  # v2 90%: a flip on every 5th input but 10th
        predictions.append(
            {"id": f"a{i}", "model": "spam", "version": "v1", "label": a, "features": features}
        )
        predictions.append(
            {"id": f"b{i}", "model": "spam", "version": "v2", "label": b, "features": features}
        )
        outcomes += [
            {"prediction_id": f"a{i}", "label": truth},
            {"prediction_id": f"b{i}", "label": truth},
        ]
    assert client.post("/v1/predictions", json={"predictions": predictions}).status_code == 200
    assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    body = client.get("/v1/models/spam/compare", params={"a": "v1", "b": "v2"}).json()
    assert body["stability"]["pairs"] == 60 and body["stability"]["flips"] == 6
    assert body["stability"]["flip_rate"]["value"] == pytest.approx(0.1)
    accuracy = body["metrics"]["accuracy"]
    assert accuracy["a"]["value"] == pytest.approx(0.8) and accuracy["b"]["value"] == pytest.approx(
        0.9
    )
    diff = accuracy["difference"]
    assert diff["value"] == pytest.approx(0.1) and diff["lower"] < 0.1 < diff["upper"]
    assert body["notes"] == []


def test_flip_rate_over_time_is_given_per_window(client):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    predictions = []
    for i in range(40):
        hour = i // 20  # twenty inputs in each of two hours
        ts = (t0 + timedelta(hours=hour, minutes=i % 20)).isoformat()
        features = {"amount": float(i)}
        flip = hour == 1 and i % 4 == 0  # no flips in the first hour, 5 of 20 in the second
        predictions.append(
            {
                "id": f"a{i}",
                "model": "spam",
                "version": "v1",
                "label": 0,
                "ts": ts,
                "features": features,
            }
        )
        predictions.append(
            {
                "id": f"b{i}",
                "model": "spam",
                "version": "v2",
                "label": int(flip),
                "ts": ts,
                "features": features,
            }
        )
    assert client.post("/v1/predictions", json={"predictions": predictions}).status_code == 200
    body = client.get(
        "/v1/models/spam/compare",
        params={
            "a": "v1",
            "b": "v2",
            "every": "1h",
            "since": t0.isoformat(),
            "until": (t0 + timedelta(hours=2)).isoformat(),
        },
    ).json()
    windows = body["stability"]["windows"]
    assert [(w["pairs"], w["flips"]) for w in windows] == [(20, 0), (20, 5)]
    assert windows[1]["flip_rate"] == 0.25
    many = client.get(
        "/v1/models/spam/compare",
        params={
            "a": "v1",
            "b": "v2",
            "every": "1s",
            "since": t0.isoformat(),
            "until": (t0 + timedelta(hours=2)).isoformat(),
        },
    ).json()["stability"]["windows"]
    assert (
        len(many) == 500
        and many[-1]["end"] == (t0 + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    )


def test_versions_without_shared_inputs_say_how_to_record_shadow_predictions(client):
    body = client.get("/v1/models/fraud/compare", params={"a": "v3", "b": "v4"}).json()
    assert body["stability"]["flip_rate"] is None
    assert any("shadow traffic" in note for note in body["notes"])


def test_a_shadow_version_predicts_the_same_inputs_and_the_flip_rate_is_measured(
    tmp_path, fraud_model
):
    config = ServerConfig(
        store=str(tmp_path / "shadow.duckdb"),
        models=[
            ModelSpec("fraud", fraud_model, version="v3"),
            # The same model with a lower threshold: flips where 0.2 <= score < 0.5.
            ModelSpec("fraud", fraud_model, version="v4", threshold=0.2, shadow=True),
        ],
        metrics_cache_seconds=0.0,
    )
    rows = [{"amount": 20.0 + 15 * i, "distance_km": float(i % 20)} for i in range(40)]
    with TestClient(create_app(config)) as c:
        answer = c.post("/v1/models/fraud/predict", json={"inputs": rows}).json()
        assert answer["version"] == "v3"  # the champion answers
        scores = [p["score"] for p in answer["predictions"]]
        deadline = time.monotonic() + 10
        body: dict = {}
        while time.monotonic() < deadline:
            body = c.get("/v1/models/fraud/compare", params={"a": "v3", "b": "v4"}).json()
            if body["stability"]["pairs"] == 40:
                break
            time.sleep(0.05)
    expected = sum(0.2 <= s < 0.5 for s in scores)
    assert body["stability"]["pairs"] == 40 and body["stability"]["flips"] == expected > 0
    assert body["stability"]["score"]["mean_abs_difference"] == 0.0  # same model, same scores
    assert body["predictions"] == {"v3": 40, "v4": 40}


def test_a_model_whose_every_version_is_a_shadow_is_refused(tmp_path, fraud_model):
    from liveeval.errors import ConfigError
    from liveeval.service import Service

    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        models=[ModelSpec("fraud", fraud_model, version="v4", shadow=True)],
    )
    with pytest.raises(ConfigError, match=r"every version is a shadow"):
        Service(config)


def test_the_default_version_is_live_after_the_server_loads_a_shadow(tmp_path, fraud_model):
    config = ServerConfig(
        store=str(tmp_path / "live.duckdb"),
        models=[
            ModelSpec("fraud", fraud_model, version="v3"),
            ModelSpec("fraud", fraud_model, version="v4", shadow=True),
        ],
    )
    with TestClient(create_app(config)) as c:
        body = c.get("/v1/models/fraud/deployments").json()
    assert body["live_version"] == "v3" and body["deployments"] == 2


def test_notify_on_the_event_loop_hands_the_write_to_a_thread(client, monkeypatch):
    import threading

    service = client.app.state.service
    calls: list[str] = []

    def slow_store(notice: AlertNotice) -> None:  # a store as slow as a busy disk
        time.sleep(0.5)
        calls.append(threading.current_thread().name)

    monkeypatch.setattr(service, "notifications", slow_store)

    async def on_the_loop() -> tuple[float, str]:
        started = time.perf_counter()
        service.notify(_notice(alert_id="loop", channels=("hook",)))
        return time.perf_counter() - started, threading.current_thread().name

    took, loop_thread = asyncio.run(on_the_loop())  # run() waits for the worker at exit
    assert took < 0.25
    assert len(calls) == 1 and calls[0] != loop_thread
