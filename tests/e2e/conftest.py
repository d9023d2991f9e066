"""Real server processes on 127.0.0.1, always stopped at the end of the test."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """One holder at a time across processes (pytest-xdist workers, another run of the
    suite): for what is machine-wide, such as installing Debian packages (two apt-get at
    once fail on dpkg's lock)."""
    path = Path(tempfile.gettempdir()) / f"liveeval-tests-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """``liveeval serve`` on ``port``: with a config file or none (a replica on a shared
    store), a store path or URL (``postgresql://…``); stderr goes to ``log`` (next to a
    store file by default)."""

    config: Path | None
    store: Path | str
    port: int
    log: Path | None = None
    args: tuple[str, ...] = ()  # more `liveeval serve` options, e.g. ("--alerts", path)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        if self.log is None:
            if not isinstance(self.store, Path):
                raise ValueError(f"a server on {self.store!r} needs a log path")
            self.log = self.store.with_suffix(".log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        # Generous: under pytest-xdist another worker loads the same CPUs while the
        # server imports its stack; a healthy start returns as soon as /healthz answers.
        log = self.log
        assert log is not None
        config = [] if self.config is None else ["--config", str(self.config)]
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "liveeval", "serve", *config),
                    *("--store", str(self.store), "--port", str(self.port)),
                    *self.args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start in {timeout:g} s: {log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=60) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            f"{self.url}{path}",
            json.dumps(body).encode(),
            {"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {"amount": rng.gamma(2.0, 50.0, 2000), "distance_km": rng.exponential(10.0, 2000)}
    )
    y = ((x["amount"] > 150) & (x["distance_km"] > 8)).astype(int)
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), tmp_path / "fraud.joblib")
    config = tmp_path / "liveeval.toml"
    config.write_text(
        '[server]\nwindow = "1h"\n\n[[models]]\nname = "fraud"\npath = "fraud.joblib"\nversion = "v3"\n'
        'profile = "fraud"\n'
    )
    proc = ServerProcess(config, tmp_path / "store.duckdb", free_port())
    os.environ.pop("LIVEEVAL_WRITE_TOKEN", None)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
