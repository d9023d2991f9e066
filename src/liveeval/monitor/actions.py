"""Actions an alert starts: run a command (retraining, typically) or call a webhook,
with the alert's context and a Parquet export of the model's recent labelled data.

```toml
[alerts.actions.retrain]
type = "command"
command = ["python", "retrain.py", "--model", "fraud"]   # argv: no shell
cooldown = "6h"          # per model: a later firing within it is recorded as skipped ("0s": none)
max_concurrent = 1       # runs of this action at once; more are skipped
timeout = "2h"           # then the process group is killed (status timed_out)
export_rows = 100000     # the most recent labelled predictions, at most this many …
export_window = "30d"    # … and not older than this

[alerts.actions.pipeline]
type = "webhook"
url = "https://ci.example.org/hooks/retrain"             # or url_env
secret_env = "PIPELINE_SECRET"                           # signs the body as channels do
```

A command runs in the config file's folder with, in its environment,
``LIVEEVAL_CONTEXT`` (the context as JSON), ``LIVEEVAL_CONTEXT_FILE``,
``LIVEEVAL_DATA`` (the Parquet file), ``LIVEEVAL_MODEL``, ``LIVEEVAL_VERSION``,
``LIVEEVAL_METRIC`` and ``LIVEEVAL_RUN_ID``; its output goes to ``output.log`` in the
run's folder (``<workdir>/<action>/<run id>/``), whose last 4,000 characters are
stored with the run. A webhook action POSTs the context (the data's path and row
count in it; the file stays on the server). Only a *firing* notice that names the
action starts it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import NotificationError
from ..store.interface import ActionRun, Ledger
from .actionspec import ACTION_TYPES, ActionSpec, parse_actions
from .channels._base import HttpRequest, canonical_json, post
from .channels.kinds import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from .notice import AlertNotice

__all__ = ["ACTION_TYPES", "ActionRunner", "ActionSpec", "parse_actions"]

LOG = logging.getLogger("liveeval.alerts")
LOG_TAIL = 4000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(ts: datetime) -> str:
    return ts.replace(tzinfo=UTC).isoformat() if ts.tzinfo is None else ts.isoformat()


class ActionRunner:
    """A subscriber of the alert engine that starts actions, each run in its own
    thread, and records every run (and every refusal) in the store.

    Parameters
    ----------
    ledger
        The store: action runs and the labelled-data export.
    actions
        By name, as :func:`parse_actions` returns them.
    workdir
        Where each run's folder (context, data, output) is made.
    """

    def __init__(
        self,
        ledger: Ledger,
        actions: Mapping[str, ActionSpec],
        workdir: Path,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.ledger = ledger
        self.actions = dict(actions)
        self.workdir = workdir
        self.clock = clock
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._last: dict[tuple[str, str], datetime] = {}
        self._threads: set[threading.Thread] = set()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()

    def start(self) -> None:
        """Runs the store holds as running were cut short by a stop or a crash."""
        for run in self.ledger.action_runs(limit=10_000):
            if run.status == "running":
                self.ledger.record_action_run(
                    replace(run, status="interrupted", reason="the server stopped during the run")
                )

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate running commands (recorded as interrupted) and wait for the threads."""
        self._stopping.set()
        with self._lock:
            processes = list(self._processes.values())
            threads = list(self._threads)
        for process in processes:
            _kill(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __call__(self, notice: AlertNotice) -> None:
        """Start each action a firing notice names (or record why not); never waits for
        a run."""
        if notice.state != "firing":
            return
        for name in dict.fromkeys(notice.actions):
            spec = self.actions.get(name)
            if spec is None:
                LOG.error("alert %s names unknown action %r", notice.alert_id, name)
                continue
            self._maybe_start(spec, notice)

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for the runs under way (tests, the CLI)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads or time.monotonic() > deadline:
                return
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))

    # -- deciding -----------------------------------------------------------------------

    def _last_start(self, spec: ActionSpec, model: str) -> datetime | None:
        key = (spec.name, model)
        if key not in self._last:
            started = [
                r.started_at
                for r in self.ledger.action_runs(spec.name, model, limit=50)
                if r.status != "skipped"
            ]
            if started:
                self._last[key] = max(started)
        return self._last.get(key)

    def _maybe_start(self, spec: ActionSpec, notice: AlertNotice) -> None:
        at = self.clock()
        run = ActionRun(
            id=uuid.uuid4().hex,
            action=spec.name,
            status="running",
            started_at=at,
            alert_id=notice.alert_id,
            model=notice.model,
            version=notice.version,
            metric=notice.metric,
        )
        with self._lock:
            last = self._last_start(spec, notice.model)
            reason = None
            if last is not None and at < last + spec.cooldown:
                reason = (
                    f"cooldown: the last run started at {_iso(last)}; the next may start at "
                    f"{_iso(last + spec.cooldown)}"
                )
            elif self._running.get(spec.name, 0) >= spec.max_concurrent:
                reason = f"max_concurrent: {spec.max_concurrent} run(s) already under way"
            elif self._stopping.is_set():
                reason = "the server is stopping"
            if reason is None:
                self._running[spec.name] = self._running.get(spec.name, 0) + 1
                self._last[(spec.name, notice.model)] = at
        if reason is not None:
            self.ledger.record_action_run(
                replace(run, status="skipped", reason=reason, finished_at=at, duration_s=0.0)
            )
            LOG.info("action %s for %s skipped: %s", spec.name, notice.model, reason)
            return
        self.ledger.record_action_run(run)
        thread = threading.Thread(
            target=self._run, args=(spec, notice, run), name=f"liveeval-action-{spec.name}"
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    # -- running ------------------------------------------------------------------------

    def _run(self, spec: ActionSpec, notice: AlertNotice, run: ActionRun) -> None:
        started = time.monotonic()
        folder = self.workdir / spec.name / run.id
        try:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                context, rows = self._context(spec, notice, run, folder)
                if spec.type == "command":
                    status, code, tail = self._command(spec, run, context, folder)
                else:
                    status, code, tail = self._webhook(spec, run, context)
                reason = None
            except Exception as exc:
                # A run that cannot start (export, disk, the command's binary) is a
                # failed run with its reason, never a dead thread.
                LOG.exception("action %s failed to run", spec.name)
                status, code, tail, rows = "failed", None, None, None
                reason = f"{type(exc).__name__}: {exc}"
            finished = self.clock()
            self.ledger.record_action_run(
                replace(
                    run,
                    status=status,
                    reason=reason,
                    finished_at=finished,
                    exit_code=code,
                    duration_s=round(time.monotonic() - started, 3),
                    log_tail=tail,
                    rows_exported=rows,
                )
            )
        finally:
            with self._lock:
                self._running[spec.name] -= 1
                self._threads.discard(threading.current_thread())
                self._processes.pop(run.id, None)

    def _context(
        self, spec: ActionSpec, notice: AlertNotice, run: ActionRun, folder: Path
    ) -> tuple[dict[str, Any], int]:
        until = self.clock()
        since = until - spec.export_window
        data = folder / "data.parquet"
        rows = self.ledger.export_labelled(notice.model, data, since=since, limit=spec.export_rows)
        context = {
            "run_id": run.id,
            "action": spec.name,
            "model": notice.model,
            "version": notice.version,
            "segment": notice.segment,
            "metric": notice.metric,
            "rule": notice.rule,
            "severity": notice.severity,
            "window": {"since": _iso(since), "until": _iso(until)},
            "evidence": dict(notice.evidence),
            "notice": notice.to_json(),
            "data": {"path": str(data), "format": "parquet", "rows": rows},
        }
        (folder / "context.json").write_text(
            json.dumps(context, indent=2, sort_keys=True, default=str), encoding="utf-8"
        )
        return context, rows

    def _command(
        self, spec: ActionSpec, run: ActionRun, context: dict[str, Any], folder: Path
    ) -> tuple[str, int | None, str]:
        env = {
            **os.environ,
            "LIVEEVAL_CONTEXT": json.dumps(context, sort_keys=True, default=str),
            "LIVEEVAL_CONTEXT_FILE": str(folder / "context.json"),
            "LIVEEVAL_DATA": context["data"]["path"],
            "LIVEEVAL_MODEL": str(context["model"]),
            "LIVEEVAL_VERSION": str(context["version"] or ""),
            "LIVEEVAL_METRIC": str(context["metric"]),
            "LIVEEVAL_RUN_ID": run.id,
        }
        output = folder / "output.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                list(spec.command),
                cwd=spec.cwd or folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
            with self._lock:
                self._processes[run.id] = process
                if self._stopping.is_set():  # stop() came before the process existed
                    _kill(process, signal.SIGTERM)
            try:
                code = process.wait(spec.timeout)
                status = "succeeded" if code == 0 else "failed"
            except subprocess.TimeoutExpired:
                _kill(process, signal.SIGKILL)
                code = process.wait()
                status = "timed_out"
        if self._stopping.is_set() and status != "succeeded":
            status = "interrupted"
        return status, code, _tail(output)

    def _webhook(
        self, spec: ActionSpec, run: ActionRun, context: dict[str, Any]
    ) -> tuple[str, int | None, str]:
        assert spec.url is not None
        body = canonical_json({"id": run.id, "type": "liveeval.action", "context": context})
        headers = {**spec.headers, "content-type": "application/json", DELIVERY_HEADER: run.id}
        if spec.secret is not None:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = sign(spec.secret, stamp, body)
        try:
            post(HttpRequest(spec.url, body, headers), min(spec.timeout, 300.0), spec.name)
        except NotificationError as exc:
            return "failed", None, str(exc)[-LOG_TAIL:]
        return "succeeded", None, "delivered"


def _kill(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL * 4))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text[-LOG_TAIL:]
