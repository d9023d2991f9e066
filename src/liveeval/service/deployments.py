"""Deployments: the server's own model loads as deployment events, and a model's
deployment history read back as success rate, time live per version and rollbacks.

Definitions (docs/notifications.md, "Deployments"):

- a *deployment* is an attempt that ended: ``succeeded`` or ``failed`` (``started``
  alone is one under way, or one whose end was never reported);
- success rate = succeeded / (succeeded + failed), with a Wilson interval;
- the *live* version is the one whose ``succeeded`` came last, until another version
  succeeds or it is ``rolled_back`` (the version live before it is live again); a
  ``failed`` deployment leaves the live version as it was;
- a version's *live time* is the sum of its live periods, the open one counted to now.
  It is deployment time, not process uptime: a stopped server reports no event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LiveevalError
from ..metrics.interval import wilson
from ..store import DeploymentEvent, open_store
from ._clock import new_id, now

if TYPE_CHECKING:
    from ..config import ServerConfig
    from .core import Service

__all__ = ["LoadRecord", "deployment_summary", "record_failed_loads", "summarise_deployments"]

LOG = logging.getLogger("liveeval")


@dataclass(frozen=True)
class LoadRecord:
    """A model load by this server: when it started and ended, and how."""

    model: str
    version: str
    started: datetime
    ended: datetime
    ok: bool

    def events(self) -> list[dict[str, Any]]:
        status = "succeeded" if self.ok else "failed"
        return [
            {
                "id": new_id(),
                "model": self.model,
                "version": self.version,
                "ts": self.started,
                "status": "started",
            },
            {
                "id": new_id(),
                "model": self.model,
                "version": self.version,
                "ts": self.ended,
                "status": status,
            },
        ]


def record_failed_loads(config: ServerConfig, loads: list[LoadRecord]) -> None:
    """Write the loads of a server that cannot start (a model failed to load) to its
    store, so that the failure is in the deployment history. Only a store that exists:
    a first start with a bad model leaves no store behind. A store that cannot be
    opened (held by another process) is logged and left alone: the load error that
    stops the server matters more."""
    if config.store == ":memory:" or not Path(config.store).is_file():
        return
    try:
        store = open_store(config.store)
    except LiveevalError as exc:
        LOG.warning("could not record the failed model load in the store: %s", exc)
        return
    try:
        store.commit("deployments", [e for load in loads for e in load.events()])
    finally:
        store.close()


def summarise_deployments(events: list[DeploymentEvent], at: datetime) -> dict[str, Any]:
    """The history of one model's deployment events (oldest first); see the module's
    definitions."""
    versions: dict[str, dict[str, Any]] = {}
    live_seconds: dict[str, float] = {}
    stack: list[str] = []  # live versions, the current last
    since: datetime | None = None
    rollbacks: list[dict[str, Any]] = []

    def close(ts: datetime) -> None:
        if stack and since is not None:
            live_seconds[stack[-1]] = live_seconds.get(stack[-1], 0.0) + max(
                0.0, (ts - since).total_seconds()
            )

    for e in events:
        entry = versions.setdefault(
            e.version,
            {"started": 0, "succeeded": 0, "failed": 0, "rolled_back": 0, "first": e.ts},
        )
        if e.status in entry:
            entry[e.status] += 1
        entry["last"] = e.ts
        if e.status == "succeeded":
            if not stack or stack[-1] != e.version:
                close(e.ts)
                if e.version in stack:
                    stack.remove(e.version)
                stack.append(e.version)
                since = e.ts
        elif e.status == "rolled_back" and stack and stack[-1] == e.version:
            close(e.ts)
            stack.pop()
            rollbacks.append(
                {"ts": e.ts.isoformat(), "version": e.version, "to": stack[-1] if stack else None}
            )
            since = e.ts
        elif e.status == "rolled_back":
            rollbacks.append({"ts": e.ts.isoformat(), "version": e.version, "to": None})
    close(at)

    def rate(succeeded: int, failed: int) -> dict[str, Any]:
        n = succeeded + failed
        if n == 0:
            return {"value": None, "lower": None, "upper": None, "n": 0, "method": "wilson"}
        lower, upper = wilson(succeeded, n, 0.95)
        return {"value": succeeded / n, "lower": lower, "upper": upper, "n": n, "method": "wilson"}

    total_ok = sum(v["succeeded"] for v in versions.values())
    total_failed = sum(v["failed"] for v in versions.values())
    return {
        "events": len(events),
        "deployments": total_ok + total_failed,
        "success_rate": rate(total_ok, total_failed),
        "live_version": stack[-1] if stack else None,
        "rollbacks": len(rollbacks),
        "rollback_events": rollbacks,
        "versions": [
            {
                "version": version,
                "started": v["started"],
                "succeeded": v["succeeded"],
                "failed": v["failed"],
                "rolled_back": v["rolled_back"],
                "success_rate": rate(v["succeeded"], v["failed"]),
                "live_seconds": round(live_seconds.get(version, 0.0), 3),
                "first_event": v["first"].isoformat(),
                "last_event": v["last"].isoformat(),
            }
            for version, v in versions.items()
        ],
    }


def deployment_summary(service: Service, model: str, *, history: int = 100) -> dict[str, Any]:
    """``GET /v1/models/{model}/deployments``: the summary and the last ``history``
    events (newest first).

    Raises
    ------
    NotFoundError
        for a model neither served, declared, seen in predictions nor deployed.
    """
    events = service.store.deployment_events(model)
    if not events:
        service.require_model(model)
    body = {"model": model, **summarise_deployments(events, now())}
    body["history"] = [
        {"id": e.id, "version": e.version, "ts": e.ts.isoformat(), "status": e.status}
        for e in reversed(events[-history:])
    ]
    return body
