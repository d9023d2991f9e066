"""Three server processes on one PostgreSQL database with one alert rule: one replica
evaluates at a time, every notification reaches the webhook once, and when the
evaluating replica is killed another takes over."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.monitor.receiver import Receiver
from tests.store.scenario import postgres_location

from .conftest import ServerProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RULES = """
interval_seconds = 0.5
profile_rules = false

[[rules]]
name = "coverage"
metric = "label_coverage"
model = "cov"
condition = "< 0.5"
window = "1h"
min_samples = 10
channels = ["hook"]

[channels.hook]
type = "webhook"
url = "{url}"
states = ["pending", "firing", "resolved"]
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver().start()
    try:
        yield hook
    finally:
        hook.stop()


@pytest.fixture
def alerting_replicas(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver
) -> Iterator[list[ServerProcess]]:
    location = postgres_location(request)
    os.environ.pop("LIVEEVAL_WRITE_TOKEN", None)
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES.format(url=receiver.url))
    group = [
        ServerProcess(
            None,
            location,
            free_port(),
            tmp_path / f"replica{i}.log",
            args=("--alerts", str(rules)),
        )
        for i in range(3)
    ]
    starters = [threading.Thread(target=r.start) for r in group]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    try:
        yield group
    finally:
        for r in group:
            r.stop()


def _holder(location: str) -> int | None:
    """The process id of the replica holding the alert lease (None: nobody)."""
    import psycopg

    with psycopg.connect(location) as conn:
        row = conn.execute(
            "SELECT owner FROM leases WHERE name = 'alerts' AND expires > now()"
        ).fetchone()
    return None if row is None else int(str(row[0]).split(":")[1])


def _wait(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_replica_evaluates_and_each_notification_arrives_once_across_a_kill(
    alerting_replicas: list[ServerProcess], receiver: Receiver
) -> None:
    replicas = alerting_replicas
    location = str(replicas[0].store)
    by_pid = {r.process.pid: r for r in replicas if r.process is not None}
    # Predictions in the last closed hour with no outcome: coverage 0, the rule fires.
    now = datetime.now(UTC).replace(tzinfo=None)
    ts = now.replace(minute=(now.minute // 15) * 15, second=0, microsecond=0)
    ts -= timedelta(minutes=20)
    ids = [f"c{i}" for i in range(20)]
    for i, pid in enumerate(ids):
        event = {"id": pid, "model": "cov", "label": i % 2, "score": 0.5, "ts": ts.isoformat()}
        code, body = replicas[i % 3].post("/v1/predictions", event)
        assert code == 200, body

    def states() -> list[str]:
        return [r["body"]["notice"]["state"] for r in receiver.received]

    _wait(lambda: "firing" in states(), 60, "the firing notification")
    holder = _wait(lambda: _holder(location), 10, "a lease holder")
    assert holder in by_pid
    # Evaluating on demand is the holder's job too: another replica refuses, by name.
    bystander = next(r for pid, r in by_pid.items() if pid != holder)
    code, body = bystander.post("/v1/alerts/evaluate", {})
    assert code == 409, body
    assert "'alerts' lease" in json.dumps(body)
    code, body = by_pid[holder].post("/v1/alerts/evaluate", {})
    assert code == 200, body
    # Every replica answers with the one history: one row per transition.
    history = replicas[2].get("/v1/alerts")["alerts"]
    assert [a["state"] for a in history] == ["firing"]
    alert = replicas[1].get(f"/v1/alerts/{history[0]['alert_id']}")
    assert [h["state"] for h in alert["history"]] == ["pending", "firing"]

    # Kill the evaluator; label everything through a survivor: the rule resolves,
    # evaluated by another replica once the dead one's lease ran out.
    evaluator = by_pid[holder]
    evaluator.kill()
    survivor = next(r for r in replicas if r is not evaluator)
    for i, pid in enumerate(ids):
        code, body = survivor.post("/v1/outcomes", {"prediction_id": pid, "label": i % 2})
        assert code == 200, body
    _wait(lambda: "resolved" in states(), 60, "the resolved notification")
    taken = _holder(location)
    assert taken in by_pid and taken != holder
    time.sleep(3.0)  # time enough for a duplicate to arrive, if any were sent
    assert states() == ["pending", "firing", "resolved"]
    keys = Counter(r["key"] for r in receiver.received)
    assert set(keys.values()) == {1}
    alert = survivor.get(f"/v1/alerts/{history[0]['alert_id']}")
    assert [h["state"] for h in alert["history"]] == ["pending", "firing", "resolved"]
    delivered = survivor.get("/v1/notifications?status=delivered")["notifications"]
    assert sorted(n["key"] for n in delivered) == sorted(keys)
