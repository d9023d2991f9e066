"""``liveeval notifications``, ``liveeval actions`` and ``liveeval deployments``: the
outbox, the runs of alert actions and a model's deployment history, from a running
server (``--url``; the read token from ``--token`` or ``LIVEEVAL_READ_TOKEN``) or a
store file that no server holds (``--store``)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, LiveevalError
from .monitor import _get_json

__all__ = ["actions", "deployments", "notifications"]

UrlOpt = Annotated[
    str | None, typer.Option("--url", help="A running server (default http://127.0.0.1:8000).")
]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="A store file no server holds.")]
TokenOpt = Annotated[
    str | None, typer.Option("--token", help="Read token (or LIVEEVAL_READ_TOKEN).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")]


def _read(
    url: str | None,
    store: Path | None,
    token: str | None,
    path: str,
    params: dict[str, Any],
    local: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    err = Console(stderr=True, highlight=False)
    if url is not None and store is not None:
        err.print("Error: give --url or --store, not both", markup=False)
        raise typer.Exit(2)
    try:
        if store is not None:
            from ..store import open_store

            if not store.is_file():
                raise ConfigError(f"--store {store}: no such store file")
            opened = open_store(store)
            try:
                return local(opened)
            finally:
                opened.close()
        return _get(
            url or "http://127.0.0.1:8000",
            token or os.environ.get("LIVEEVAL_READ_TOKEN"),
            path,
            {k: v for k, v in params.items() if v is not None},
        )
    except LiveevalError as exc:
        err.print(f"Error: {exc}", markup=False)
        raise typer.Exit(2) from None


def _get(base: str, token: str | None, path: str, params: dict[str, Any]) -> dict[str, Any]:
    query = urllib.parse.urlencode(params)
    return _get_json(base, path + (f"?{query}" if query else ""), token)


def _show(body: dict[str, Any], as_json: bool, table: Callable[[dict[str, Any]], Table]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        Console(highlight=False).print(table(body))


def notifications(
    status: Annotated[
        str | None, typer.Option("--status", help="pending or delivered (default: both).")
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="One channel.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="One model.")] = None,
    limit: LimitOpt = 50,
    url: UrlOpt = None,
    store: StoreOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Notifications in the outbox: delivered, or pending with their attempts and error."""
    if status not in (None, "pending", "delivered"):
        Console(stderr=True).print(
            f"Error: --status {status!r} is not 'pending' or 'delivered'", markup=False
        )
        raise typer.Exit(2)
    from ..service.ledger import notifications_listing

    body = _read(
        url,
        store,
        token,
        "/v1/notifications",
        {"status": status, "channel": channel, "model": model, "limit": limit},
        lambda s: notifications_listing(
            s, None, status=status, channel=channel, model=model, limit=limit
        ),
    )
    _show(body, as_json, _notifications_table)


def _notifications_table(body: dict[str, Any]) -> Table:
    backlog = body.get("backlog", {})
    caption = "; ".join(
        f"{name}: {b['pending']} pending, oldest {b['oldest_age_seconds']:.0f} s"
        for name, b in backlog.items()
    )
    table = Table(box=box.SIMPLE, caption=caption or "nothing pending")
    for column in ("created", "channel", "alert", "state", "status", "attempts", "last error"):
        table.add_column(column)
    for n in body["notifications"]:
        table.add_row(
            (n["created_at"] or "")[:19],
            n["channel"],
            n["alert_id"],
            n["state"],
            n["status"],
            str(n["attempts"]),
            (n["last_error"] or "")[:60],
            style="yellow" if n["status"] == "pending" else None,
        )
    return table


def actions(
    action: Annotated[str | None, typer.Option("--action", help="One action.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="One model.")] = None,
    limit: LimitOpt = 50,
    url: UrlOpt = None,
    store: StoreOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Runs of alert actions (retraining): status, exit code, duration, output tail."""
    from ..service.ledger import runs_listing

    body = _read(
        url,
        store,
        token,
        "/v1/actions/runs",
        {"action": action, "model": model, "limit": limit},
        lambda s: runs_listing(s, None, action=action, model=model, limit=limit),
    )
    _show(body, as_json, _runs_table)


_RUN_STYLE = {"succeeded": "green", "failed": "red", "timed_out": "red", "skipped": "dim"}


def _runs_table(body: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE)
    for column in ("started", "action", "model", "status", "exit", "seconds", "rows", "note"):
        table.add_column(column)
    for r in body["runs"]:
        tail = (r.get("log_tail") or "").strip().splitlines()
        note = r.get("reason") or (tail[-1] if tail else "")
        table.add_row(
            (r["started_at"] or "")[:19],
            r["action"],
            r["model"] or "",
            r["status"],
            "" if r["exit_code"] is None else str(r["exit_code"]),
            "" if r["duration_s"] is None else f"{r['duration_s']:.1f}",
            "" if r["rows_exported"] is None else str(r["rows_exported"]),
            note[:70],
            style=_RUN_STYLE.get(r["status"]),
        )
    return table


def deployments(
    model: Annotated[str, typer.Argument(help="The model.")],
    url: UrlOpt = None,
    store: StoreOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A model's deployments: success rate, live version, time live per version, rollbacks."""
    from ..errors import NotFoundError
    from ..service._clock import now
    from ..service.deployments import summarise_deployments

    def local(s: Any) -> dict[str, Any]:
        events = s.deployment_events(model)
        if not events:
            raise NotFoundError(f"no deployment events for model {model!r}")
        return {"model": model, **summarise_deployments(events, now())}

    body = _read(
        url,
        store,
        token,
        f"/v1/models/{urllib.parse.quote(model, safe='')}/deployments",
        {},
        local,
    )
    _show(body, as_json, _deployments_table)


def _deployments_table(body: dict[str, Any]) -> Table:
    rate = body["success_rate"]
    shown = (
        "n/a"
        if rate["value"] is None
        else f"{rate['value']:.0%} [{rate['lower']:.0%}, {rate['upper']:.0%}] of {rate['n']}"
    )
    table = Table(
        box=box.SIMPLE,
        title=f"{body['model']}: live {body['live_version'] or '-'}; success {shown}; "
        f"{body['rollbacks']} rollback(s)",
    )
    for column in ("version", "started", "succeeded", "failed", "rolled back", "live (h)"):
        table.add_column(column)
    for v in body["versions"]:
        table.add_row(
            v["version"],
            str(v["started"]),
            str(v["succeeded"]),
            str(v["failed"]),
            str(v["rolled_back"]),
            f"{v['live_seconds'] / 3600:.1f}",
        )
    return table
