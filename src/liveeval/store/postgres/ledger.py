"""What the monitor keeps besides events, in PostgreSQL: the alert history, named
references, the notifications outbox and the action runs (schema v5–v7).

Small tables written and updated in place with plain SQL, each call one transaction
on the caller's connection (the caller commits). Timestamps are stored naive UTC, as
every timestamp of the store; rows decode to the same objects as the DuckDB engine's
(its decoders are reused).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import astuple, fields
from datetime import UTC, datetime
from typing import Any

from ...errors import ConflictError
from ..duck import rollup_features
from ..duck.ledger import _notification
from ..duck.references import _decode, _encode
from ..interface import ActionRun, AlertRow, Notification, ResourceUsage, StoredReference
from .load import FEATURE_LOCK, Scratch, _insert, _select_for, _ship
from .transfer import copy_out

__all__ = [
    "action_runs",
    "alert_history",
    "delete_reference",
    "fix_bins",
    "list_references",
    "load_reference",
    "outbox_add",
    "outbox_backlog",
    "outbox_claim",
    "outbox_due",
    "outbox_update",
    "read_notifications",
    "record_action_run",
    "record_alert",
    "release_lease",
    "renew_lease",
    "resource_usage",
    "save_reference",
]

_NOTIFICATION_COLUMNS = (
    "key, channel, alert_id, state, model, notice, created_at, status, attempts, "
    "next_attempt_at, last_error, delivered_at"
)
_ALERT_COLUMNS = "alert_id, rule, model, version, segment, metric, state, severity, ts, body"
_RUN_COLUMNS = ", ".join(f.name for f in fields(ActionRun))


def _naive(ts: datetime | None) -> datetime | None:
    """UTC without a zone (a zone-aware time is converted, a naive one is UTC already)."""
    if ts is None or ts.tzinfo is None:
        return ts
    return ts.astimezone(UTC).replace(tzinfo=None)


def _filters(values: dict[str, str | None]) -> tuple[str, list[Any]]:
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return " WHERE TRUE", []
    return " WHERE " + " AND ".join(f"{k} = %s" for k in given), list(given.values())


# -- alert history and resources ---------------------------------------------------------


def record_alert(cur: Any, row: AlertRow) -> None:
    values = list(astuple(row))
    values[8] = _naive(row.ts)
    cur.execute(
        f"INSERT INTO alert_events ({_ALERT_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})", values
    )


def alert_history(cur: Any, alert_id: str | None, model: str | None, limit: int) -> list[AlertRow]:
    """The last ``limit`` changes in the order they were recorded, oldest first."""
    where, params = _filters({"alert_id": alert_id, "model": model})
    rows = cur.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alert_events{where} ORDER BY seq DESC LIMIT %s",
        [*params, int(limit)],
    ).fetchall()
    return [AlertRow(*r) for r in reversed(rows)]


def resource_usage(cur: Any, since: datetime | None, until: datetime | None) -> ResourceUsage:
    clauses, params = ["TRUE"], []
    if since is not None:
        clauses.append("ts >= %s")
        params.append(_naive(since))
    if until is not None:
        clauses.append("ts < %s")
        params.append(_naive(until))
    row = cur.execute(
        "SELECT count(*), avg(cpu_percent), max(cpu_percent), max(rss_bytes) "
        f"FROM resource_samples WHERE {' AND '.join(clauses)}",
        params,
    ).fetchone()
    n, mean, top, rss = row if row else (0, None, None, None)
    return ResourceUsage(
        int(n),
        None if mean is None else float(mean),
        None if top is None else float(top),
        None if rss is None else int(rss),
    )


# -- references ---------------------------------------------------------------------------


def fix_bins(
    cur: Any, model: str, proposed: Mapping[str, Sequence[float]]
) -> dict[str, tuple[float, ...]]:
    """Inside the caller's transaction, under the model's feature lock (the roll's): keep
    the fixed edges a feature has, give the proposed ones to features without, and add
    their stored numbers to the rollups' bins, as a freeze does. The bins are computed
    by the DuckDB engine's code in a scratch database holding those numbers."""
    names = sorted(proposed)
    if not names:
        return {}
    cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [FEATURE_LOCK, model])
    held = {
        str(n): tuple(float(x) for x in e)
        for n, e in cur.execute(
            "SELECT name, edges FROM feature_bins WHERE model = %s AND name = ANY(%s)",
            [model, names],
        ).fetchall()
    }
    new = [n for n in names if n not in held]
    out = dict(held)
    if not new:
        return out
    edges = [[float(x) for x in proposed[n]] for n in new]
    # One row each: features' edges differ in length (no rectangular array).
    for name, e in zip(new, edges, strict=True):
        cur.execute("INSERT INTO feature_bins VALUES (%s, %s, %s)", [model, name, e])
        out[name] = tuple(e)
    scratch = Scratch()
    try:
        con = scratch.con
        con.execute("BEGIN TRANSACTION").fetchall()
        try:
            con.execute(
                "INSERT INTO feature_bins SELECT ?, unnest(?::VARCHAR[]), unnest(?::DOUBLE[][])",
                [model, new, edges],
            ).fetchall()
            schema = scratch.schemas["features"]
            stored = copy_out(
                cur,
                f"SELECT {_select_for(schema)} FROM features WHERE model = %s "
                "AND name = ANY(%s) AND num_value NOT IN ('NaN', 'Infinity', '-Infinity')",
                [model, new],
                schema,
            )
            _insert(con, "features", stored)
            rollup_features._add_bins(
                con, "features", rollup_features._NAMED, [[model] * len(new), new]
            )
            _ship(cur, scratch, None)
        finally:
            con.execute("ROLLBACK").fetchall()
    finally:
        scratch.close()
    return out


def save_reference(cur: Any, ref: StoredReference, *, replace: bool) -> datetime:
    """Inside the caller's transaction: insert (or, with ``replace``, overwrite) the row;
    the (model, name) row lock decides between replicas saving the same name."""
    created = datetime.now(UTC).replace(tzinfo=None)
    stored = cur.execute(
        "INSERT INTO model_references VALUES (%s, %s, %s, %s, %s::jsonb) "
        "ON CONFLICT (model, name) DO NOTHING RETURNING created",
        [ref.model, ref.name, created, ref.rows, _encode(ref)],
    ).fetchone()
    if stored is None:
        if not replace:
            taken = cur.execute(
                "SELECT created FROM model_references WHERE model = %s AND name = %s",
                [ref.model, ref.name],
            ).fetchone()
            when = taken[0].isoformat() + "Z" if taken else "just now"
            raise ConflictError(
                f"model {ref.model!r} already has a reference named {ref.name!r} (registered "
                f"{when}); upload again with replace=true to overwrite it, or choose another name"
            )
        cur.execute(
            "UPDATE model_references SET created = %s, rows = %s, body = %s::jsonb "
            "WHERE model = %s AND name = %s",
            [created, ref.rows, _encode(ref), ref.model, ref.name],
        )
    return created.replace(tzinfo=UTC)


def load_reference(cur: Any, model: str, name: str) -> StoredReference | None:
    row = cur.execute(
        "SELECT created, rows, body::text FROM model_references WHERE model = %s AND name = %s",
        [model, name],
    ).fetchone()
    if row is None:
        return None
    created, n, body = row
    return _decode(model, name, created, int(n), body)


def list_references(cur: Any, model: str) -> list[StoredReference]:
    rows = cur.execute(
        "SELECT name, created, rows, body::text FROM model_references WHERE model = %s "
        'ORDER BY name COLLATE "C"',
        [model],
    ).fetchall()
    return [_decode(model, str(name), created, int(n), body) for name, created, n, body in rows]


def delete_reference(cur: Any, model: str, name: str) -> bool:
    found = cur.execute(
        "DELETE FROM model_references WHERE model = %s AND name = %s RETURNING name",
        [model, name],
    ).fetchall()
    return bool(found)


# -- the outbox and action runs -----------------------------------------------------------


def outbox_add(cur: Any, items: Sequence[Notification]) -> int:
    """Insert the notifications whose key is new; the primary key decides between
    replicas adding the same key."""
    fresh = {n.key: n for n in items}
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
            _naive(n.created_at),
            n.status,
            n.attempts,
            _naive(n.next_attempt_at or n.created_at),
            n.last_error,
            _naive(n.delivered_at),
        )
        for n in fresh.values()
    ]
    marks = ", ".join(["(" + ", ".join(["%s"] * 12) + ")"] * len(rows))
    stored = cur.execute(
        f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS}) VALUES {marks} "
        "ON CONFLICT (key) DO NOTHING RETURNING key",
        [value for row in rows for value in row],
    ).fetchall()
    return len(stored)


def outbox_due(cur: Any, at: datetime, limit: int, channel: str | None) -> list[Notification]:
    where, params = _filters({"status": "pending", "channel": channel})
    rows = cur.execute(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications{where} AND next_attempt_at <= %s "
        'ORDER BY created_at, key COLLATE "C" LIMIT %s',
        [*params, _naive(at), limit],
    ).fetchall()
    return [_notification(r) for r in rows]


def outbox_claim(
    cur: Any, at: datetime, owner: str, limit: int, channel: str | None, lease_seconds: float
) -> list[Notification]:
    """Claim due notifications nobody holds (``FOR UPDATE SKIP LOCKED``: a row another
    replica is claiming is skipped; a row claimed since this statement's snapshot is
    checked again on its new version), oldest first."""
    where, params = _filters({"status": "pending", "channel": channel})
    rows = cur.execute(
        f"UPDATE notifications SET claimed_by = %s, "
        "claimed_until = now() + make_interval(secs => %s) WHERE key IN ("
        f"SELECT key FROM notifications{where} AND next_attempt_at <= %s "
        "AND (claimed_until IS NULL OR claimed_until < now()) "
        'ORDER BY created_at, key COLLATE "C" LIMIT %s FOR UPDATE SKIP LOCKED) '
        f"RETURNING {_NOTIFICATION_COLUMNS}",
        [owner, float(lease_seconds), *params, _naive(at), limit],
    ).fetchall()
    found = [_notification(r) for r in rows]
    return sorted(found, key=lambda n: (n.created_at, n.key.encode()))


def renew_lease(cur: Any, name: str, owner: str, seconds: float) -> bool:
    """Take the lease when free or run out, or extend it when ``owner`` holds it; the
    conflicting row is locked and read at its latest version, so two replicas never
    both take it."""
    row = cur.execute(
        "INSERT INTO leases (name, owner, expires) VALUES (%s, %s, "
        "now() + make_interval(secs => %s)) ON CONFLICT (name) DO UPDATE SET "
        "owner = EXCLUDED.owner, expires = EXCLUDED.expires "
        "WHERE leases.owner = EXCLUDED.owner OR leases.expires < now() RETURNING owner",
        [name, owner, float(seconds)],
    ).fetchone()
    return row is not None


def release_lease(cur: Any, name: str, owner: str) -> None:
    cur.execute("DELETE FROM leases WHERE name = %s AND owner = %s", [name, owner])


def outbox_update(
    cur: Any,
    key: str,
    *,
    attempts: int,
    next_attempt_at: datetime | None,
    error: str | None,
    delivered_at: datetime | None,
) -> None:
    cur.execute(
        "UPDATE notifications SET attempts = %s, next_attempt_at = %s, last_error = %s, "
        "delivered_at = %s, status = %s, claimed_by = NULL, claimed_until = NULL WHERE key = %s",
        [
            attempts,
            _naive(next_attempt_at),
            error,
            _naive(delivered_at),
            "delivered" if delivered_at is not None else "pending",
            key,
        ],
    )


def read_notifications(
    cur: Any, status: str | None, channel: str | None, model: str | None, limit: int
) -> list[Notification]:
    where, params = _filters({"status": status, "channel": channel, "model": model})
    rows = cur.execute(
        f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications{where} "
        'ORDER BY created_at DESC, key COLLATE "C" LIMIT %s',
        [*params, limit],
    ).fetchall()
    return [_notification(r) for r in rows]


def outbox_backlog(cur: Any) -> dict[str, tuple[int, datetime]]:
    rows = cur.execute(
        "SELECT channel, count(*), min(created_at) FROM notifications "
        "WHERE status = 'pending' GROUP BY channel"
    ).fetchall()
    return {str(c): (int(n), oldest) for c, n, oldest in rows}


def record_action_run(cur: Any, run: ActionRun) -> None:
    values = [_naive(v) if isinstance(v, datetime) else v for v in astuple(run)]
    updates = ", ".join(f"{f.name} = EXCLUDED.{f.name}" for f in fields(ActionRun)[1:])
    cur.execute(
        f"INSERT INTO action_runs ({_RUN_COLUMNS}) VALUES ({', '.join(['%s'] * len(values))}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        values,
    )


def action_runs(cur: Any, action: str | None, model: str | None, limit: int) -> list[ActionRun]:
    where, params = _filters({"action": action, "model": model})
    rows = cur.execute(
        f"SELECT {_RUN_COLUMNS} FROM action_runs{where} "
        'ORDER BY started_at DESC, id COLLATE "C" LIMIT %s',
        [*params, limit],
    ).fetchall()
    return [ActionRun(*r) for r in rows]
