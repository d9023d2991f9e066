"""A real Alertmanager (Debian's prometheus-alertmanager, installed when missing)
receives liveeval's notices through its v2 API."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from liveeval.monitor.channels import AlertmanagerChannel
from liveeval.monitor.outbox import Dispatcher
from liveeval.store import open_store

from ..e2e.conftest import free_port
from ..e2e.test_prometheus import ensure_installed, get_json, wait_for
from .test_channels import notice

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    ensure_installed("prometheus-alertmanager")
    port = free_port()
    (tmp_path / "am.yml").write_text(
        "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n"
    )
    process = subprocess.Popen(
        [
            "prometheus-alertmanager",
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/-/ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _ours(url: str, active: bool = True) -> list[dict]:
    query = "" if active else "?active=false&silenced=false&inhibited=false&unprocessed=false"
    return [
        a for a in get_json(f"{url}/api/v2/alerts{query}") if a["labels"].get("model") == "fraud"
    ]


def test_alertmanager_shows_the_firing_alert_and_ends_it_when_resolved(alertmanager, tmp_path):
    store = open_store(tmp_path / "store.duckdb")
    dispatcher = Dispatcher(
        store, {"am": AlertmanagerChannel("am", alertmanager, link="http://liveeval.test/{model}")}
    )
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        dispatcher(notice(starts_at=now - timedelta(minutes=5), changed_at=now, channels=("am",)))
        assert dispatcher.send_due() == 1
        alerts: list[dict] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not alerts:
            alerts = _ours(alertmanager)
            time.sleep(0.2)
        [alert] = alerts
        assert alert["labels"]["alertname"] == "fraud-recall"
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["team"] == "risk"
        assert alert["labels"]["version"] == "v3" and alert["labels"]["metric"] == "recall"
        assert "0.91 [0.89, 0.93] → 0.72 [0.65, 0.79]" in alert["annotations"]["description"]
        assert alert["generatorURL"] == "http://liveeval.test/fraud"
        assert alert["status"]["state"] == "active"

        resolved_at = datetime.now(UTC)
        dispatcher(
            notice(
                "resolved",
                starts_at=now - timedelta(minutes=5),
                changed_at=resolved_at,
                ends_at=resolved_at,
                channels=("am",),
            )
        )
        assert dispatcher.send_due() == 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _ours(alertmanager):
            time.sleep(0.2)
        assert _ours(alertmanager) == []  # no longer active
        assert [r.status for r in store.notifications()] == ["delivered", "delivered"]
    finally:
        dispatcher.stop()
        store.close()


def test_a_firing_alert_stays_active_past_its_hold_while_it_is_re_sent(alertmanager, tmp_path):
    store = open_store(tmp_path / "store.duckdb")
    hold, resend = timedelta(seconds=4), timedelta(seconds=1)
    dispatcher = Dispatcher(
        store, {"am": AlertmanagerChannel("am", alertmanager, hold=hold, resend=resend)}, poll=0.2
    )
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        dispatcher(notice(starts_at=now, changed_at=now, channels=("am",)))
        dispatcher.start()
        assert wait_for_alerts(alertmanager, lambda alerts: len(alerts) == 1)
        time.sleep(3 * hold.total_seconds())  # three holds: without re-sending, resolved
        [alert] = _ours(alertmanager)
        assert alert["status"]["state"] == "active"
        ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
        assert ends > datetime.now(UTC)
        sent = [n for n in store.notifications() if n.status == "delivered"]
        assert len(sent) >= 6  # the first sending and a re-sending about every second

        resolved_at = datetime.now(UTC)
        dispatcher(
            notice("resolved", starts_at=now, changed_at=resolved_at, ends_at=resolved_at,
                   channels=("am",))
        )  # fmt: skip
        assert wait_for_alerts(alertmanager, lambda alerts: alerts == [])
        settled = len(store.notifications())
        time.sleep(3 * resend.total_seconds())
        assert len(store.notifications()) == settled  # no re-sending once resolved
        assert _ours(alertmanager) == []
    finally:
        dispatcher.stop()
        store.close()


def wait_for_alerts(url: str, condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition(_ours(url)):
            return True
        time.sleep(0.2)
    return False
