"""Timestamps, ids and canonical JSON for events the service creates.

The service's clock is the wall clock, unless a process runs on simulated time
(:func:`use_clock`; ``liveeval demo`` does, so that hours of traffic pass in minutes):
every timestamp the service stamps and every "last hour" it reads then come from it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["SimulatedClock", "clock_description", "new_id", "now", "to_json", "use_clock"]

_ID_POOL: list[str] = []


def new_id() -> str:
    """128 random bits as 32 hex digits, like uuid4. Drawn from the OS's random source
    4,096 ids at a time: one system call per prediction measured in the profile."""
    if not _ID_POOL:
        raw = os.urandom(16 * 4096).hex()
        _ID_POOL.extend(raw[i : i + 32] for i in range(0, len(raw), 32))
    return _ID_POOL.pop()


class SimulatedClock:
    """Time that starts at ``start`` (default: now) and runs ``speed`` times as fast as
    the wall clock (UTC, naive)."""

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"a clock's speed must be positive, got {speed}")
        self.speed = float(speed)
        self.start = start or _wall()
        self._origin = time.monotonic()
        self._stopped: float | None = None

    def __call__(self) -> datetime:
        elapsed = (time.monotonic() if self._stopped is None else self._stopped) - self._origin
        return self.start + timedelta(seconds=elapsed * self.speed)

    def pause(self) -> None:
        """Stop the clock where it is (the demo's traffic has ended: its data stays in
        the dashboard's range; or it has not started yet)."""
        if self._stopped is None:
            self._stopped = time.monotonic()

    def resume(self) -> None:
        """Run on from where :meth:`pause` stopped it (no time passes while paused)."""
        if self._stopped is not None:
            self._origin += time.monotonic() - self._stopped
            self._stopped = None


_clock: Callable[[], datetime] | None = None


def use_clock(clock: Callable[[], datetime] | None) -> None:
    """Stamp and read with ``clock`` from now on in this process (None: the wall clock)."""
    global _clock
    _clock = clock


def clock_description() -> str:
    """``"wall"``, or ``"simulated, N× the wall clock"``."""
    if _clock is None:
        return "wall"
    speed = getattr(_clock, "speed", None)
    return "simulated" if speed is None else f"simulated, {speed:g}× the wall clock"


def _wall() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def now() -> datetime:
    """UTC, naive: the store's timestamps carry no zone."""
    return _wall() if _clock is None else _clock()


def to_json(value: Any) -> str:
    """Features as canonical JSON text (sorted keys), as the store keeps them; values
    JSON cannot hold (NaN, infinities) become null rather than invalid JSON."""
    try:
        return json.dumps(value, sort_keys=True, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), sort_keys=True, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
