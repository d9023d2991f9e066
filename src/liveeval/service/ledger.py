"""The outbox and the action runs as JSON, for the API and the CLI alike."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..store import ActionRun, Ledger, Notification

if TYPE_CHECKING:
    from ..monitor.actions import ActionRunner
    from ..monitor.outbox import Dispatcher

__all__ = ["notification_dict", "notifications_listing", "run_dict", "runs_listing"]


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def notification_dict(n: Notification) -> dict[str, Any]:
    return {
        "key": n.key,
        "channel": n.channel,
        "alert_id": n.alert_id,
        "state": n.state,
        "model": n.model,
        "status": n.status,
        "attempts": n.attempts,
        "created_at": _iso(n.created_at),
        "next_attempt_at": _iso(n.next_attempt_at) if n.status == "pending" else None,
        "delivered_at": _iso(n.delivered_at),
        "last_error": n.last_error,
        "notice": dict(n.notice),
    }


def run_dict(run: ActionRun) -> dict[str, Any]:
    body = asdict(run)
    for key in ("started_at", "finished_at"):
        body[key] = _iso(body[key])
    return body


def notifications_listing(
    ledger: Ledger,
    dispatcher: Dispatcher | None,
    *,
    status: str | None = None,
    channel: str | None = None,
    model: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Notifications newest first, each channel's backlog and settings (no secret).
    Without a running dispatcher (a store read by the CLI), the backlog comes from
    the store alone."""
    rows = ledger.notifications(status, channel, model, limit)
    if dispatcher is not None:
        backlog = dispatcher.backlog()
        channels = {name: c.describe() for name, c in dispatcher.channels.items()}
    else:
        from ..service._clock import now

        at = now()
        backlog = {
            name: (count, max(0.0, (at - oldest).total_seconds()))
            for name, (count, oldest) in ledger.outbox_backlog().items()
        }
        channels = {}
    return {
        "notifications": [notification_dict(n) for n in rows],
        "backlog": {
            name: {"pending": count, "oldest_age_seconds": age}
            for name, (count, age) in backlog.items()
        },
        "channels": channels,
    }


def runs_listing(
    ledger: Ledger,
    runner: ActionRunner | None,
    *,
    action: str | None = None,
    model: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    return {
        "runs": [run_dict(r) for r in ledger.action_runs(action, model, limit)],
        "actions": {n: a.describe() for n, a in runner.actions.items()} if runner else {},
    }
