"""The notifications outbox and the action runs in DuckDB (schema v5).

Plain transactions on their own cursors, beside the event loader: these rows are
updated (attempts, delivery, a run's end), so they are not journalled events.
Timestamps are naive UTC, as every timestamp of the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import datetime
from typing import Any

import duckdb

from ..interface import ActionRun, Notification

__all__ = [
    "action_runs",
    "outbox_add",
    "outbox_backlog",
    "outbox_due",
    "outbox_update",
    "read_notifications",
    "record_action_run",
]

_NOTIFICATION_COLUMNS = (
    "key, channel, alert_id, state, model, notice, created_at, status, attempts, "
    "next_attempt_at, last_error, delivered_at"
)
_RUN_COLUMNS = ", ".join(f.name for f in fields(ActionRun))


def _notification(row: tuple[Any, ...]) -> Notification:
    key, channel, alert_id, state, model, notice, created, status, attempts, due, err, done = row
    return Notification(
        key=key,
        channel=channel,
        alert_id=alert_id,
        state=state,
        model=model,
        notice=json.loads(notice),
        created_at=created,
        status=status,
        attempts=int(attempts),
        next_attempt_at=due,
        last_error=err,
        delivered_at=done,
    )


def outbox_add(con: duckdb.DuckDBPyConnection, items: Sequence[Notification]) -> int:
    """Insert the notifications whose key is new (the caller serialises calls; the
    primary key stops a race anyway). ``ON CONFLICT`` measured 3x slower than asking
    first."""
    fresh = {n.key: n for n in items}
    if not fresh:
        return 0
    stored = con.execute(
        "SELECT key FROM notifications WHERE key IN (SELECT unnest(?::VARCHAR[]))",
        [list(fresh)],
    ).fetchall()
    for (key,) in stored:
        fresh.pop(key, None)
    if not fresh:
        return 0
    rows = [
        (
            n.key,
            n.channel,
            n.alert_id,
            n.state,
            n.model,
            json.dumps(dict(n.notice), sort_keys=True, default=str),
            n.created_at,
            n.status,
            n.attempts,
            n.next_attempt_at or n.created_at,
            n.last_error,
            n.delivered_at,
        )
        for n in fresh.values()
    ]
    marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
    con.execute(
        f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS}) VALUES {marks}",
        [value for row in rows for value in row],
    ).fetchall()
    return len(rows)


def outbox_due(
    con: duckdb.DuckDBPyConnection, at: datetime, limit: int, channel: str | None = None
) -> list[Notification]:
    where, params = _filters({"status": "pending", "channel": channel})
    rows = con.execute(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications{where} AND next_attempt_at <= ? "
        "ORDER BY created_at, key LIMIT ?",
        [*params, at, limit],
    ).fetchall()
    return [_notification(r) for r in rows]


def outbox_update(
    con: duckdb.DuckDBPyConnection,
    key: str,
    *,
    attempts: int,
    next_attempt_at: datetime | None,
    error: str | None,
    delivered_at: datetime | None,
) -> None:
    con.execute(
        "UPDATE notifications SET attempts = ?, next_attempt_at = ?, last_error = ?, "
        "delivered_at = ?, status = ? WHERE key = ?",
        [
            attempts,
            next_attempt_at,
            error,
            delivered_at,
            "delivered" if delivered_at is not None else "pending",
            key,
        ],
    ).fetchall()


def read_notifications(
    con: duckdb.DuckDBPyConnection,
    status: str | None,
    channel: str | None,
    model: str | None,
    limit: int,
) -> list[Notification]:
    where, params = _filters({"status": status, "channel": channel, "model": model})
    rows = con.execute(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications{where} "
        "ORDER BY created_at DESC, key LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_notification(r) for r in rows]


def outbox_backlog(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, datetime]]:
    rows = con.execute(
        "SELECT channel, count(*), min(created_at) FROM notifications "
        "WHERE status = 'pending' GROUP BY channel"
    ).fetchall()
    return {str(c): (int(n), oldest) for c, n, oldest in rows}


def record_action_run(con: duckdb.DuckDBPyConnection, run: ActionRun) -> None:
    marks = ", ".join("?" for _ in fields(ActionRun))
    updates = ", ".join(f"{f.name} = EXCLUDED.{f.name}" for f in fields(ActionRun)[1:])
    con.execute(
        f"INSERT INTO action_runs ({_RUN_COLUMNS}) VALUES ({marks}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        list(astuple(run)),
    ).fetchall()


def action_runs(
    con: duckdb.DuckDBPyConnection, action: str | None, model: str | None, limit: int
) -> list[ActionRun]:
    where, params = _filters({"action": action, "model": model})
    rows = con.execute(
        f"SELECT {_RUN_COLUMNS} FROM action_runs{where} ORDER BY started_at DESC, id LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [ActionRun(*r) for r in rows]


def _filters(values: dict[str, str | None]) -> tuple[str, list[Any]]:
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{k} = ?" for k in given), list(given.values())
