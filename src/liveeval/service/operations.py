"""Operational reads: failed predictions by error type, and the server's CPU and memory,
per window over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..store import Scope
from ._clock import now

if TYPE_CHECKING:
    from .core import Service

__all__ = ["MAX_WINDOWS", "duration_text", "failures", "resources", "this_process"]

# More windows than this over the range asked for: refused (choose a larger size).
MAX_WINDOWS = 2_000


# Windows longer than this are refused: a year is the longest a chart needs, and a
# window must end before year 9999.
MAX_SIZE = timedelta(days=366)


def _check_windows(since: datetime | None, until: datetime | None, every: timedelta) -> None:
    if every.total_seconds() < 1 or every.total_seconds() != int(every.total_seconds()):
        raise ValidationError(
            f"size {every} is not a whole number of seconds, at least 1 s", column="size"
        )
    if every > MAX_SIZE:
        raise ValidationError(f"size {every} is longer than 366 days", column="size")
    if since is not None and ((until or now()) - since) / every > MAX_WINDOWS:
        raise ValidationError(
            f"size {every} gives more than {MAX_WINDOWS} windows from {since.isoformat()}; "
            "choose a larger size or a later 'since'",
            column="size",
        )


def failures(
    service: Service,
    model: str,
    every: timedelta,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Failed predictions of ``model`` per window, version and error type.

    Raises
    ------
    NotFoundError
        for a model neither served nor seen.
    ValidationError
        for a size below 1 s or giving more than :data:`MAX_WINDOWS` windows.
    """
    service.require_model(model)
    _check_windows(since, until, every)
    found = service.store.failures(Scope(model, since, until, version), every)
    totals: dict[str, int] = {}
    windows: dict[tuple[datetime, str], dict[str, Any]] = {}
    for f in found:
        totals[f.error_type] = totals.get(f.error_type, 0) + f.count
        w = windows.setdefault(
            (f.start, f.version),
            {
                "start": f.start.isoformat(),
                "end": (f.start + every).isoformat(),
                "version": f.version,
                "failed": 0,
                "by_error_type": {},
            },
        )
        w["failed"] += f.count
        w["by_error_type"][f.error_type] = f.count
    return {
        "model": model,
        "size": duration_text(every),
        "scope": {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "version": version,
        },
        "failed": sum(totals.values()),
        # Most frequent first; "" is a failure logged without an error type.
        "error_types": [
            {"error_type": t, "failed": n}
            for t, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "windows": [windows[k] for k in sorted(windows)],
    }


def resources(
    service: Service,
    every: timedelta,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The server processes' CPU and resident memory per window, from the resource
    samples each server stores every ``resource_interval_seconds``.

    Raises
    ------
    ValidationError
        for a size below 1 s or giving more than :data:`MAX_WINDOWS` windows.
    """
    _check_windows(since, until, every)
    found = service.store.resource_windows(since, until, every)
    processes: dict[str, list[dict[str, Any]]] = {}
    for r in found:
        processes.setdefault(r.process, []).append(
            {
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "samples": r.samples,
                "cpu_percent_mean": r.cpu_percent_mean,
                "cpu_percent_max": r.cpu_percent_max,
                "rss_bytes_mean": r.rss_bytes_mean,
                "rss_bytes_max": r.rss_bytes_max,
            }
        )
    return {
        "size": duration_text(every),
        "sample_interval_seconds": service.config.resource_interval_seconds,
        "scope": {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
        "cpu": "percent of one core over the interval before each sample (psutil); "
        "above 100 when the process uses several cores",
        "processes": [
            {"process": name, "windows": rows} for name, rows in sorted(processes.items())
        ],
        "this_process": this_process(),
    }


def this_process() -> dict[str, Any]:
    """The answering server process now (psutil): its name in the samples, when it
    started (wall clock, UTC), CPU seconds used (user + system) and resident memory —
    what ``/metrics`` exposes as ``process_*``, without its gauges' reads."""
    import psutil

    process = psutil.Process()
    cpu = process.cpu_times()
    return {
        "process": f"liveeval-{process.pid}",
        "started": datetime.fromtimestamp(process.create_time(), UTC).isoformat(),
        "cpu_seconds": cpu.user + cpu.system,
        "rss_bytes": process.memory_info().rss,
    }


def duration_text(size: timedelta) -> str:
    """``1d``, ``6h``, ``5m`` or ``90s``: the largest whole unit."""
    seconds = int(size.total_seconds())
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % n == 0:
            return f"{seconds // n}{unit}"
    return f"{seconds}s"
