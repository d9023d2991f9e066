"""``liveeval monitor --evaluate``: the alert loop as a process of its own against a
DuckDB file, notifying a local webhook receiver; and piped ``liveeval monitor``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from liveeval.cli.app import app
from liveeval.config import LoggedModel, ServerConfig
from liveeval.service import Service
from liveeval.store import encode_label, open_store

from ..monitor.receiver import Receiver

NOW = datetime.now().replace(minute=0, second=0, microsecond=0)


def _store_with_a_drop(path: Path) -> None:
    """48 hours of a logged model whose accuracy falls from 0.9 to 0.6 after 30 hours."""
    service = Service(ServerConfig(store=str(path), logged=[LoggedModel("m", (0, 1), 1)]))
    service.run_alerts = False
    service.start()
    rng = np.random.default_rng(3)
    predictions, outcomes = [], []
    start = NOW - timedelta(hours=48)
    for hour in range(48):
        for i in range(40):
            y = int(rng.random() < 0.4)
            pred = y if rng.random() < (0.9 if hour < 30 else 0.6) else 1 - y
            pid = f"{hour}-{i}"
            ts = start + timedelta(hours=hour, seconds=60 * i)
            predictions.append({"id": pid, "model": "m", "version": "v1", "ts": ts,
                                "label": encode_label(pred), "status": "ok"})  # fmt: skip
            outcomes.append({"prediction_id": pid, "label": encode_label(y), "ts": ts})
    service.store.commit("predictions", predictions)
    service.store.commit("outcomes", outcomes)
    service.stop()


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "liveeval.toml"
    config.write_text(
        f"""
[[models]]
name = "m"
classes = [0, 1]
pos_label = 1

[alerts]
interval_seconds = 3600
profile_rules = false

[alerts.channels.hook]
type = "webhook"
url = "{url}"

[[alerts.rules]]
name = "accuracy-drop"
metric = "accuracy"
model = "m"
window = "1h"
reference = "first:800"
channels = ["hook"]
"""
    )
    return config


def _monitor(*args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "liveeval.cli", "monitor", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_the_standalone_loop_notifies_the_webhook_and_stops_cleanly_on_sigterm(tmp_path):
    store = tmp_path / "store.duckdb"
    _store_with_a_drop(store)
    receiver = Receiver().start()
    try:
        process = _monitor(
            "--evaluate", "--config", _config(tmp_path, receiver.url), "--store", store,
            "--interval", 0.5,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not receiver.received:
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        time.sleep(1.5)  # a few more cycles: the firing alert is not sent again
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        receiver.stop()
    assert process.returncode == 0, err
    [sent] = receiver.received
    notice = sent["body"]["notice"]
    assert (notice["rule"], notice["state"], notice["model"]) == ("accuracy-drop", "firing", "m")
    assert notice["evidence"]["before"]["value"] > notice["evidence"]["after"]["value"]
    assert "firing: accuracy-drop (m)" in err and "stopped after" in err
    held = open_store(store)  # released, with the alert's history kept
    try:
        states = [row.state for row in held.alert_history()]
        delivered = [n.status for n in held.notifications()]
    finally:
        held.close()
    assert states == ["pending", "firing"] and delivered == ["delivered"]


@pytest.mark.slow
def test_the_loop_refuses_a_store_a_server_holds(tmp_path):
    store = tmp_path / "store.duckdb"
    _store_with_a_drop(store)
    held = open_store(store)  # as a running server holds it
    try:
        process = _monitor(
            "--evaluate", "--config", _config(tmp_path, "http://127.0.0.1:9/"), "--store", store,
            "--once",
        )  # fmt: skip
        _, err = process.communicate(timeout=60)
    finally:
        held.close()
    assert process.returncode == 2
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1
    assert "in use by another process" in err


def test_evaluate_options_are_checked_as_one_line_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["monitor", "--evaluate", "m"])
    assert result.exit_code == 2 and "drop MODEL and --url" in result.output
    result = runner.invoke(app, ["monitor", "m", "--once"])
    assert result.exit_code == 2 and "go with --evaluate" in result.output
    result = runner.invoke(app, ["monitor", "--evaluate", "--once"])
    assert result.exit_code == 2 and "--evaluate needs a store" in result.output
    typo = tmp_path / "stroe.duckdb"
    result = runner.invoke(app, ["monitor", "--evaluate", "--store", str(typo), "--once"])
    assert result.exit_code == 2 and "no such file (the store to watch must exist)" in result.output
    assert not typo.exists()
    store = tmp_path / "store.duckdb"
    store.touch()
    for bad in ("inf", "1e10", "1e-300", "0"):
        result = runner.invoke(
            app, ["monitor", "--evaluate", "--store", str(store), "--interval", bad]
        )
        assert result.exit_code == 2, bad
        assert "is not a number of seconds from 0.01 to 86400 (one day)" in result.output, bad


def test_an_alert_rule_window_longer_than_any_time_range_is_refused_at_load(tmp_path):
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        '[[rules]]\nname = "x"\nmetric = "false_alarms_per_day"\ncondition = "> 1"\n'
        'window = "1000000d"\n'
    )
    store = tmp_path / "store.duckdb"
    store.touch()
    result = CliRunner().invoke(
        app, ["monitor", "--evaluate", "--alerts", str(rules), "--store", str(store), "--once"]
    )
    assert result.exit_code == 2
    assert "'1000000d' is longer than the longest window accepted, 36500d" in result.output


def test_piped_monitor_output_keeps_every_column(tmp_path):
    store = tmp_path / "store.duckdb"
    _store_with_a_drop(store)
    metrics = "recall,precision,f1,accuracy,specificity,balanced_accuracy"
    result = CliRunner().invoke(
        app, ["monitor", "m", "--store", str(store), "--metrics", metrics, "--size", "1d"]
    )
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "recall" in line)
    assert "balanced_accuracy" in header  # the last column, whole, on the header line
    assert max(len(line) for line in result.stdout.splitlines()) > 80


@pytest.mark.parametrize("url", ["notaurl", "localhost:8000", "http://[::1"])
@pytest.mark.parametrize(
    "command", [["monitor", "m"], ["alerts"], ["notifications"], ["actions"], ["deployments", "m"]]
)
def test_a_url_without_a_scheme_is_a_one_line_error(command, url):
    result = CliRunner().invoke(app, [*command, "--url", url])
    assert result.exit_code == 2, result.output
    assert f"--url {url!r} is not an http:// or https:// URL" in result.output
