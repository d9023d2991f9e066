"""``liveeval alerts``: the alerts of a running server or of a store file.

Reads ``GET /v1/alerts`` (or ``/v1/alerts/{id}`` with ``--id``) of a server (``--url``;
the read token from ``--token`` or ``LIVEEVAL_READ_TOKEN``), or the alert history kept
in a store file that no server holds (``--store``).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, LiveevalError, NotFoundError

__all__ = ["alerts"]

_STATE_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green"}
_STATES = ("pending", "firing", "resolved")


def alerts(
    url: Annotated[
        str | None,
        typer.Option("--url", help="A running server (default http://127.0.0.1:8000)."),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="A store file no server holds.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only alerts in this state: pending, firing, resolved."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's alerts.")] = None,
    alert_id: Annotated[
        str | None, typer.Option("--id", help="One alert, with its whole history.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Read token (or LIVEEVAL_READ_TOKEN).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Alerts and their states (pending, firing, resolved) with the evidence that decided."""
    err = Console(stderr=True, highlight=False)
    try:
        if url is not None and store is not None:
            raise ConfigError("give --url or --store, not both")
        if state is not None and state not in _STATES:
            raise ConfigError(f"--state {state!r} is not one of {', '.join(_STATES)}")
        if store is not None:
            body = _from_store(store, state, model, alert_id)
        else:
            body = _from_server(
                url or "http://127.0.0.1:8000",
                token or os.environ.get("LIVEEVAL_READ_TOKEN"),
                state,
                model,
                alert_id,
            )
    except LiveevalError as exc:
        err.print(f"Error: {exc}", markup=False)
        raise typer.Exit(2) from None
    if json_out:
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return
    rows = body.get("history") if alert_id is not None else body.get("alerts", [])
    Console(highlight=False).print(_table(rows or [], history=alert_id is not None))


def _from_server(
    base: str, token: str | None, state: str | None, model: str | None, alert_id: str | None
) -> dict[str, Any]:
    from .monitor import _get_json

    if alert_id is not None:
        path = f"/v1/alerts/{urllib.parse.quote(alert_id, safe='')}"
    else:
        query = urllib.parse.urlencode(
            {k: v for k, v in (("state", state), ("model", model)) if v is not None}
        )
        path = f"/v1/alerts?{query}"
    return _get_json(base, path, token)


def _from_store(
    path: Path, state: str | None, model: str | None, alert_id: str | None
) -> dict[str, Any]:
    from ..service.alerting import alert_with_history, latest_alerts, read_history
    from ..store import open_store

    if not path.is_file():
        raise ConfigError(f"--store {path}: no such store file")
    source = open_store(path)
    try:
        if alert_id is not None:
            found = alert_with_history(read_history(source, alert_id))
            if found is None:
                raise NotFoundError(f"no alert {alert_id!r} in {path}")
            return found
        return {"alerts": latest_alerts(read_history(source, model=model), state=state)}
    finally:
        source.close()


def _table(rows: list[dict[str, Any]], *, history: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="alert history" if history else "alerts")
    for column in ("state", "changed", "rule", "scope", "severity", "summary"):
        table.add_column(column, overflow="fold")
    if not history:
        table.add_column("id")
    for r in rows:
        scope = r["model"] + "".join(
            f" {k}={r[k]}" for k in ("version", "segment") if r.get(k) is not None
        )
        cells = [
            f"[{_STATE_STYLE.get(r['state'], '')}]{r['state']}[/]",
            str(r.get("changed_at", ""))[:19],
            r["rule"],
            scope,
            r["severity"],
            r["summary"],
        ]
        if not history:
            cells.append(r["alert_id"])
        table.add_row(*cells)
    if not rows:
        table.caption = "no alerts"
    return table
