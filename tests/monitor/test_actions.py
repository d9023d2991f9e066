"""Actions: a command or a webhook with the context and the recent labelled data;
cooldown and concurrency limits; every run stored."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from liveeval.errors import ConfigError
from liveeval.monitor.actions import ActionRunner, parse_actions
from liveeval.store import open_store

from .receiver import Receiver
from .test_channels import notice


@pytest.fixture
def store(tmp_path: Path) -> Iterator:
    s = open_store(tmp_path / "store.duckdb")
    now = datetime.now().replace(microsecond=0)
    predictions, outcomes = [], []
    for i in range(40):
        model = "fraud" if i < 30 else "spam"
        ts = now - timedelta(days=40) if i < 5 else now - timedelta(minutes=i)
        predictions.append(
            {
                "id": f"p{i}",
                "model": model,
                "version": "v3",
                "ts": ts,
                "features": json.dumps({"amount": i * 1.5, "country": "fr" if i % 2 else "de"}),
                "label": "1" if i % 3 == 0 else "0",
                "score": (i % 10) / 10,
                "status": "ok",
            }
        )
        if i % 4 != 3:
            outcomes.append({"prediction_id": f"p{i}", "label": "1" if i % 2 else "0", "ts": now})
    s.commit("predictions", predictions)
    s.commit("outcomes", outcomes)
    yield s
    s.close()


SCRIPT = """
import json, os, sys, time
context = json.loads(os.environ["LIVEEVAL_CONTEXT"])
print("retraining", os.environ["LIVEEVAL_MODEL"], context["metric"], os.environ["LIVEEVAL_DATA"])
time.sleep(float(sys.argv[1]))
sys.exit(int(sys.argv[2]))
"""


def command_actions(tmp_path: Path, sleep: float = 0.0, code: int = 0, **extra: object) -> dict:
    (tmp_path / "retrain.py").write_text(SCRIPT)
    table = {
        "retrain": {
            "type": "command",
            "command": [sys.executable, "retrain.py", str(sleep), str(code)],
            **extra,
        }
    }
    return parse_actions(table, base=tmp_path)


def firing(model: str = "fraud", **kw: object):
    return notice(model=model, actions=("retrain",), alert_id=f"r/{model}", **kw)


def test_actions_are_read_strictly():
    specs = parse_actions(
        {
            "retrain": {
                "type": "command",
                "command": ["python", "x.py"],
                "cooldown": "6h",
                "max_concurrent": 2,
                "timeout": "30m",
                "export_rows": 500,
                "export_window": "7d",
            }
        }
    )
    spec = specs["retrain"]
    assert spec.command == ("python", "x.py") and spec.cooldown == timedelta(hours=6)
    assert spec.max_concurrent == 2 and spec.timeout == 1800.0 and spec.export_rows == 500


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"a": {"type": "comand", "command": ["x"]}},
            r"'comand' is not one of .*did you mean 'command'",
        ),
        ({"a": {"type": "command", "command": "python x.py"}}, r"give the argv as a list"),
        ({"a": {"type": "command", "command": []}}, r"command: \[\] is not a non-empty list"),
        (
            {"a": {"type": "command", "command": ["x"], "cooldwn": "1h"}},
            r"unknown key 'cooldwn'; did you mean 'cooldown'",
        ),
        (
            {"a": {"type": "command", "command": ["x"], "max_concurrent": 0}},
            r"max_concurrent: 0 is not a positive integer",
        ),
        (
            {"a": {"type": "command", "command": ["x"], "cooldown": "soon"}},
            r"cooldown: 'soon' is not a positive duration",
        ),
        ({"a": {"type": "webhook"}}, r"\[alerts.actions.a\]: needs a 'url'"),
        (
            {"a": {"type": "webhook", "url": "http://x/", "secret": "s"}},
            r"never written in the config file",
        ),
    ],
)
def test_bad_action_tables_are_refused_with_the_key_and_a_hint(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_actions(table)


def test_a_command_runs_with_the_context_and_the_recent_labelled_data(store, tmp_path):
    runner = ActionRunner(store, command_actions(tmp_path), tmp_path / "runs")
    runner(firing())
    runner.wait()
    [run] = store.action_runs()
    assert run.status == "succeeded" and run.exit_code == 0 and run.model == "fraud"
    assert run.duration_s is not None and run.duration_s > 0
    assert "retraining fraud recall" in run.log_tail
    folder = tmp_path / "runs" / "retrain" / run.id
    context = json.loads((folder / "context.json").read_text())
    assert context["evidence"]["samples"] == 400 and context["rule"] == "fraud-recall"
    # fraud's labelled ok predictions of the last 30 days: 30 - 5 old, less every 4th.
    data = pq.read_table(folder / "data.parquet")
    expected = [f"p{i}" for i in range(5, 30) if i % 4 != 3]
    assert sorted(data.column("id").to_pylist()) == sorted(expected)
    assert run.rows_exported == len(expected) == context["data"]["rows"]
    assert {"feature_amount", "feature_country", "actual", "predicted"} <= set(data.column_names)


def test_export_is_bounded_by_rows(store, tmp_path):
    runner = ActionRunner(store, command_actions(tmp_path, export_rows=3), tmp_path / "runs")
    runner(firing())
    runner.wait()
    [run] = store.action_runs()
    assert run.rows_exported == 3


def test_a_second_firing_within_the_cooldown_is_recorded_as_skipped(store, tmp_path):
    runner = ActionRunner(store, command_actions(tmp_path, cooldown="1h"), tmp_path / "runs")
    runner(firing())
    runner.wait()
    runner(firing())
    runner(firing("spam"))  # another model has its own cooldown
    runner.wait()
    runs = {(r.model, r.status) for r in store.action_runs()}
    assert runs == {("fraud", "succeeded"), ("fraud", "skipped"), ("spam", "succeeded")}
    [skipped] = [r for r in store.action_runs() if r.status == "skipped"]
    assert skipped.reason.startswith("cooldown: the last run started at")
    # A new runner (a restart) reads the last start from the store.
    again = ActionRunner(store, command_actions(tmp_path, cooldown="1h"), tmp_path / "runs")
    again(firing())
    assert [r.status for r in store.action_runs(model="fraud")].count("skipped") == 2


def test_no_more_than_max_concurrent_runs_at_once(store, tmp_path):
    actions = parse_actions(
        {"retrain": {"type": "command", "command": ["sleep", "0.8"], "cooldown": "0s"}}
    )
    runner = ActionRunner(store, actions, tmp_path / "runs")
    runner(firing("fraud"))
    runner(firing("spam"))
    runner.wait()
    runner(firing("spam"))  # the first has ended: room again
    runner.wait()
    statuses = sorted((r.model, r.status) for r in store.action_runs())
    assert statuses == [("fraud", "succeeded"), ("spam", "skipped"), ("spam", "succeeded")]
    [skipped] = [r for r in store.action_runs() if r.status == "skipped"]
    assert skipped.reason == "max_concurrent: 1 run(s) already under way"


def test_a_command_that_overruns_is_killed_and_one_that_fails_is_recorded(store, tmp_path):
    runner = ActionRunner(
        store, command_actions(tmp_path, sleep=30, timeout=1, cooldown="0s"), tmp_path / "runs"
    )
    started = time.monotonic()
    runner(firing())
    runner.wait()
    assert time.monotonic() - started < 10
    [run] = store.action_runs()
    assert run.status == "timed_out" and run.exit_code is not None and run.exit_code < 0
    failing = ActionRunner(store, command_actions(tmp_path, code=3), tmp_path / "runs")
    failing(firing("spam"))
    failing.wait()
    [run] = store.action_runs(model="spam")
    assert run.status == "failed" and run.exit_code == 3


def test_a_command_that_cannot_start_is_a_failed_run_with_its_reason(store, tmp_path):
    actions = parse_actions({"retrain": {"type": "command", "command": ["/nonexistent/retrain"]}})
    runner = ActionRunner(store, actions, tmp_path / "runs")
    runner(firing())
    runner.wait()
    [run] = store.action_runs()
    assert run.status == "failed" and run.reason.startswith("FileNotFoundError")


def test_runs_cut_short_by_a_restart_are_marked_interrupted(store, tmp_path):
    runner = ActionRunner(store, command_actions(tmp_path, sleep=30), tmp_path / "runs")
    runner(firing())
    [run] = store.action_runs()
    log = tmp_path / "runs" / "retrain" / run.id / "output.log"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (log.exists() and "retraining" in log.read_text()):
        time.sleep(0.05)
    assert store.action_runs()[0].status == "running"
    # A crash leaves it running in the store; the next start says what happened.
    ActionRunner(store, {}, tmp_path / "runs").start()
    assert store.action_runs()[0].status == "interrupted"
    runner.stop()  # and a stop ends the command, recorded as interrupted too
    assert store.action_runs()[0].status == "interrupted"
    assert store.action_runs()[0].exit_code == -15


def test_only_firing_notices_start_actions(store, tmp_path):
    runner = ActionRunner(store, command_actions(tmp_path), tmp_path / "runs")
    runner(firing(state="resolved"))
    runner(firing(state="pending"))
    assert store.action_runs() == []


def test_a_webhook_action_posts_the_signed_context(store, tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_SECRET", "p")
    receiver = Receiver(secret=b"p").start()
    try:
        actions = parse_actions(
            {"retrain": {"type": "webhook", "url": receiver.url, "secret_env": "PIPELINE_SECRET"}}
        )
        runner = ActionRunner(store, actions, tmp_path / "runs")
        runner(firing())
        runner.wait()
    finally:
        receiver.stop()
    [run] = store.action_runs()
    assert run.status == "succeeded"
    [got] = receiver.received
    assert got["body"]["type"] == "liveeval.action" and got["key"] == run.id
    assert got["body"]["context"]["data"]["rows"] == run.rows_exported > 0
