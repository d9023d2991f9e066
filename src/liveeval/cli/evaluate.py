"""``liveeval monitor --evaluate``: the alert evaluation loop on its own, against a store.

The server runs the same loop in a thread (``liveeval serve``); this runs it in a
process of its own: the rules, channels and actions of ``liveeval.toml`` (or an
``--alerts`` file), every ``[alerts] interval_seconds``, notifications delivered by
the outbox, until SIGINT or SIGTERM (the cycle under way finishes; notifications not
yet delivered stay in the store's outbox for the next start).

It never evaluates alongside a server on the same store: a DuckDB file is held by
one process (the store refuses a second one), and on a PostgreSQL store shared with
servers, ``[alerts] evaluate = false`` turns their loop off.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

from rich.console import Console

from ..errors import ConfigError, LiveevalError

__all__ = ["MAX_INTERVAL", "MIN_INTERVAL", "run_evaluation"]

# Below a hundredth of a second the loop only spins; above a day, the wait overflows.
MIN_INTERVAL = 0.01
MAX_INTERVAL = 86_400.0


def run_evaluation(
    config: Path | None,
    store: str | None,
    alerts: Path | None,
    interval: float | None,
    once: bool,
) -> int:
    """Evaluate the rules every interval until a signal (or once); returns the number of
    cycles run. Raises LiveevalError subclasses for bad input (the caller exits 2)."""
    from ..config import ServerConfig, load_alerts_file, load_config
    from ..service import Service
    from ..store.postgres import masked

    if config is None and store is None:
        raise ConfigError(
            "--evaluate needs a store: --store FILE (a DuckDB file no server holds, or "
            "postgresql://…) or --config liveeval.toml naming it"
        )
    cfg = load_config(config) if config is not None else ServerConfig()
    if store is not None:
        cfg.store = store
    if alerts is not None:
        cfg.alerts = load_alerts_file(alerts)
    if interval is not None and not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise ConfigError(
            f"--interval: {interval!r} is not a number of seconds from {MIN_INTERVAL:g} "
            f"to {MAX_INTERVAL:g} (one day)"
        )
    every = interval if interval is not None else cfg.alerts.interval_seconds
    if cfg.store == ":memory:":
        raise ConfigError("--evaluate needs a store that lasts: not ':memory:'")
    if "://" not in cfg.store and not Path(cfg.store).exists():
        # A typo would otherwise create an empty store whose alerts never fire.
        raise ConfigError(f"--store {cfg.store}: no such file (the store to watch must exist)")
    service = Service(cfg)
    service.run_alerts = False  # the loop is this function's
    service.sample_resources = False  # this process is not the server
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    service.start()  # StoreLocked when a server holds the DuckDB file
    cycles = failed = 0
    try:
        engine = service.alert_engine()
        err.print(
            f"liveeval monitor: {len(engine.rules)} alert rules against {masked(cfg.store)}, "
            f"every {every:g} s" + (" (once)" if once else "") + "; Ctrl-C to stop",
            markup=False,
        )
        while not stop.is_set():
            try:
                changes = engine.evaluate()
            except Exception as exc:  # the loop outlives one bad cycle, as the server's
                err.print(f"alert evaluation failed: {type(exc).__name__}: {exc}", markup=False)
                changes = []
                failed += 1
            cycles += 1
            for notice in changes:
                err.print(
                    f"{notice.state}: {notice.rule} ({notice.model}) — {notice.summary}",
                    markup=False,
                )
            if once:
                _drain(service, stop, timeout=10.0)
                break
            stop.wait(every)
    finally:
        service.stop()  # waits for the outbox's attempts under way, closes the store
        for s, handler in previous.items():
            signal.signal(s, handler)
    err.print(
        f"liveeval monitor: stopped after {cycles} cycles"
        + (f", {failed} of them failed" if failed else ""),
        markup=False,
    )
    if once and failed:
        raise EvaluationFailed("the evaluation cycle failed (see the message above)")
    return cycles


class EvaluationFailed(LiveevalError):
    """A ``--once`` cycle raised: the caller exits non-zero, without a traceback."""


def _drain(service: object, stop: threading.Event, timeout: float) -> None:
    """Give the outbox's senders up to ``timeout`` seconds to deliver what is due (what
    they cannot stays stored for the next run)."""
    from ..service import Service

    assert isinstance(service, Service)
    dispatcher = service.notifications
    deadline = time.monotonic() + timeout
    while dispatcher is not None and time.monotonic() < deadline and not stop.is_set():
        if not dispatcher.backlog():
            return
        stop.wait(0.1)
