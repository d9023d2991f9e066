"""``liveeval notifications``, ``actions`` and ``deployments`` over a store file, and
the configuration that wires channels and actions into a server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liveeval.cli.app import app
from liveeval.config import load_config
from liveeval.errors import ConfigError
from liveeval.store import ActionRun, Notification, open_store

T0 = datetime(2026, 11, 2)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    store = open_store(path)
    store.outbox_add(
        [
            Notification("k1", "oncall", "a1", "firing", "fraud", {"x": 1}, T0),
            Notification("k2", "slack", "a1", "firing", "fraud", {"x": 1}, T0),
        ]
    )
    store.outbox_update("k1", attempts=1, next_attempt_at=None, error=None, delivered_at=T0)
    store.outbox_update("k2", attempts=3, next_attempt_at=T0, error="channel 'slack': HTTP 503")
    store.record_action_run(
        ActionRun(
            "r1",
            "retrain",
            "failed",
            T0,
            model="fraud",
            exit_code=3,
            duration_s=2.5,
            log_tail="loading\nout of memory\n",
            rows_exported=1200,
        )
    )
    store.commit(
        "deployments",
        [
            {"id": "d1", "model": "fraud", "version": "v1", "ts": T0, "status": "succeeded"},
            {
                "id": "d2",
                "model": "fraud",
                "version": "v2",
                "ts": T0 + timedelta(hours=2),
                "status": "failed",
            },
        ],
    )
    store.close()
    return path


def test_notifications_show_what_is_pending_and_why(store_file):
    result = CliRunner().invoke(
        app, ["notifications", "--store", str(store_file)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "HTTP 503" in result.output and "slack: 1 pending" in result.output
    result = CliRunner().invoke(
        app, ["notifications", "--store", str(store_file), "--status", "pending", "--json"]
    )
    body = json.loads(result.output)
    assert [n["key"] for n in body["notifications"]] == ["k2"]


def test_action_runs_show_status_exit_code_and_output(store_file):
    result = CliRunner().invoke(
        app, ["actions", "--store", str(store_file)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "retrain" in result.output and "out of memory" in result.output
    assert "1200" in result.output


def test_deployments_show_the_success_rate(store_file):
    result = CliRunner().invoke(
        app, ["deployments", "fraud", "--store", str(store_file)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "live v1" in result.output and "success 50%" in result.output
    missing = CliRunner().invoke(app, ["deployments", "nope", "--store", str(store_file)])
    assert missing.exit_code == 2 and "no deployment events for model 'nope'" in missing.output


def test_a_bad_status_or_an_unreachable_server_is_exit_code_2():
    bad = CliRunner().invoke(app, ["notifications", "--status", "sent"])
    assert bad.exit_code == 2 and "'sent' is not 'pending' or 'delivered'" in bad.output
    down = CliRunner().invoke(app, ["actions", "--url", "http://127.0.0.1:9"])
    assert down.exit_code == 2 and "cannot reach the server" in down.output


def test_the_config_file_declares_channels_and_actions(tmp_path, monkeypatch):
    from liveeval.service import Service

    monkeypatch.setenv("HOOK_SECRET", "x")
    config = tmp_path / "liveeval.toml"
    config.write_text(
        f"""
[server]
store = "{tmp_path / "s.duckdb"}"

[alerts]
workdir = "runs"

[[alerts.rules]]
name = "recall"
metric = "recall"
condition = "drop"
channels = ["oncall"]
actions = ["retrain"]

[alerts.channels.oncall]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret_env = "HOOK_SECRET"

[alerts.actions.retrain]
type = "command"
command = ["python", "retrain.py"]
cooldown = "6h"
"""
    )
    service = Service(load_config(config))
    assert set(service.channels) == {"log", "oncall"}
    assert service.action_specs["retrain"].cwd == tmp_path
    service.start()
    try:
        assert service.actions is not None and service.actions.workdir == tmp_path / "runs"
    finally:
        service.stop()
    config.write_text("[alerts.channels.x]\ntype = 'lgo'\n")
    with pytest.raises(ConfigError, match=r"'lgo' is not one of .*did you mean 'log'"):
        Service(load_config(config))
