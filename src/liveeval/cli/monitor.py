"""``liveeval monitor``: a model's windows over time, from a running server or a store.

Reads ``GET /v1/models/{model}/windows`` of a server (``--url``; the read token from
``--token`` or ``LIVEEVAL_READ_TOKEN``), or opens a store file that no server holds,
or a folder written by ``liveeval export`` (``--store``).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, LiveevalError

__all__ = ["monitor"]

_STATE_STYLE = {"realized": "green", "estimating": "yellow", "empty": "dim"}
# The terminal shows these unless --metrics names others (the JSON has all defaults).
_TERMINAL_METRICS = ("recall", "precision", "f1")
# The windows' business figures shown as columns when present, with their headers.
_BUSINESS_COLUMNS = {"false_alarms_per_day": "false alarms/day", "expected_cost": "cost/label"}
# Piped output (not a terminal) is as wide as the table: rich would cut it at 80.
_PIPE_WIDTH = 1000


def monitor(
    model: Annotated[
        str | None, typer.Argument(help="The model to watch (not with --evaluate).")
    ] = None,
    size: Annotated[
        str,
        typer.Option(
            "--size", help="Window: a duration (15m, 1h, 1d) or N labelled predictions (500)."
        ),
    ] = "1h",
    url: Annotated[
        str | None,
        typer.Option("--url", help="A running server (default http://127.0.0.1:8000)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="A store file no server holds, or an export folder; with --evaluate, "
            "also postgresql://….",
        ),
    ] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="First prediction time (UTC).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--until", help="End of the range (UTC).")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", help="One version.")] = None,
    segment: Annotated[str | None, typer.Option("--segment", help="One segment.")] = None,
    maturity: Annotated[
        float | None,
        typer.Option("--maturity", help="Label coverage from which a window is realized."),
    ] = None,
    metrics: Annotated[
        str | None, typer.Option("--metrics", help="Comma-separated metrics to show.")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="With --store: a profile (name or .toml) whose [costs] price the errors "
            "(a server uses the model's own).",
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Read token (or LIVEEVAL_READ_TOKEN).")
    ] = None,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write the windows as JSON to PATH ('-': stdout).")
    ] = None,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate",
            help="Run the alert evaluation loop against --store (or the config's store) "
            "until Ctrl-C or SIGTERM, instead of showing windows.",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="With --evaluate: liveeval.toml (models, \\[alerts])."),
    ] = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            "--alerts", help="With --evaluate: a TOML file of rules, replacing \\[alerts]."
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option("--interval", help="With --evaluate: seconds between cycles."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="With --evaluate: one cycle, then exit.")
    ] = False,
) -> None:
    """Windows over time: predictions, label coverage, maturity and metrics with intervals.

    With --evaluate: the alert evaluation loop on its own (the rules, channels and
    actions of --config), against a store no server evaluates.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if evaluate:
        _evaluate(err, model, url, config, store, alerts, interval, once)
        return
    if config is not None or alerts is not None or interval is not None or once:
        err.print("Error: --config, --alerts, --interval and --once go with --evaluate",
                  markup=False)  # fmt: skip
        raise typer.Exit(2)
    if model is None:
        err.print("Error: name the MODEL to show (or give --evaluate)", markup=False)
        raise typer.Exit(2)
    if url is not None and store is not None:
        err.print("Error: give --url or --store, not both", markup=False)
        raise typer.Exit(2)
    if profile is not None and store is None:
        err.print("Error: --profile goes with --store (a server prices errors by the "
                  "model's own profile or costs)", markup=False)  # fmt: skip
        raise typer.Exit(2)
    try:
        if store is not None:
            body = _from_store(
                Path(store), model, size, since, until, version, segment, maturity, metrics,
                profile,
            )  # fmt: skip
        else:
            body = _from_server(
                url or "http://127.0.0.1:8000",
                token or os.environ.get("LIVEEVAL_READ_TOKEN"),
                model,
                {
                    "size": size,
                    "since": since.isoformat() if since else None,
                    "until": until.isoformat() if until else None,
                    "version": version,
                    "segment": segment,
                    "maturity": maturity,
                    "metrics": _metric_names(metrics),
                },
            )
    except LiveevalError as exc:
        err.print(f"Error: {exc}", markup=False)
        raise typer.Exit(2) from None
    if json_path == "-":
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return
    if json_path is not None:
        try:
            Path(json_path).write_text(json.dumps(body, indent=2))
        except OSError as exc:
            err.print(f"Error: {json_path}: cannot write: {exc.strerror}", markup=False)
            raise typer.Exit(2) from None
    shown = tuple(n.strip() for n in metrics.split(",") if n.strip()) if metrics else None
    out = Console(highlight=False)
    if not out.is_terminal:  # piped: never cut the last columns at 80
        out = Console(highlight=False, width=_PIPE_WIDTH)
    out.print(_table(body, shown or _TERMINAL_METRICS))
    if json_path is not None:
        err.print(f"JSON written to {Path(json_path).resolve()}", markup=False)


def _evaluate(
    err: Console,
    model: str | None,
    url: str | None,
    config: Path | None,
    store: str | None,
    alerts: Path | None,
    interval: float | None,
    once: bool,
) -> None:
    from .evaluate import run_evaluation

    if model is not None or url is not None:
        err.print("Error: --evaluate runs every rule against a store: drop MODEL and --url",
                  markup=False)  # fmt: skip
        raise typer.Exit(2)
    try:
        run_evaluation(config, store, alerts, interval, once)
    except LiveevalError as exc:
        err.print(f"Error: {exc}", markup=False)
        raise typer.Exit(2) from None


def _from_server(
    base: str, token: str | None, model: str, params: dict[str, Any]
) -> dict[str, Any]:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    return _get_json(
        base, f"/v1/models/{urllib.parse.quote(model, safe='')}/windows?{query}", token
    )


def check_server_url(base: str) -> None:
    """Refuse a ``--url`` that is no http(s) URL (``localhost:8000`` without a scheme)."""
    try:
        parts = urllib.parse.urlsplit(base)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a broken IPv6 literal
        ok = False
    if not ok:
        raise ConfigError(
            f"--url {base!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8000)"
        )


def _get_json(base: str, path: str, token: str | None) -> dict[str, Any]:
    """GET ``path`` of the server at ``base`` as JSON; errors as :class:`ConfigError`."""
    check_server_url(base)
    target = f"{base.rstrip('/')}{path}"
    request = urllib.request.Request(target, headers={"accept": "application/json"})
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except (ValueError, AttributeError):
            detail = exc.reason
        raise ConfigError(f"{base}: {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"cannot reach the server at {base} ({reason}); start it with 'liveeval serve' "
            "or read a store with --store"
        ) from None


def _from_store(
    path: Path,
    model: str,
    size: str,
    since: datetime | None,
    until: datetime | None,
    version: str | None,
    segment: str | None,
    maturity: float | None,
    metrics: str | None,
    profile: str | None = None,
) -> dict[str, Any]:
    from ..errors import NotFoundError
    from ..readiness import load_profile
    from ..service.events import naive_utc
    from ..service.monitoring import windows_of
    from ..store import open_store
    from ..store.table import TableSource

    if not path.exists():
        raise ConfigError(f"--store {path}: no such file or folder")
    costs = load_profile(profile).costs if profile is not None else None
    source: Any = TableSource.from_parquet(path) if path.is_dir() else open_store(path)
    try:
        if not source.has_model(model):
            known = ", ".join(sorted(source.models())) or "none"
            raise NotFoundError(f"unknown model {model!r} in {path} (models: {known})")
        names = tuple(n.strip() for n in metrics.split(",") if n.strip()) if metrics else None
        # A store file does not say which class is positive: {0, 1}, {-1, 1} and
        # booleans take scikit-learn's convention, as the report does.
        from ..data.columns import _default_positive
        from ..store import Scope

        labels = source.statistics(Scope(model)).labels
        pos_label = _default_positive(labels) if len(labels) == 2 else None
        return windows_of(
            source,
            model,
            size,
            classes=labels if pos_label is not None else None,
            pos_label=pos_label,
            since=naive_utc(since) if since else None,
            until=naive_utc(until) if until else None,
            version=version,
            segment=segment,
            maturity=maturity,
            metrics=names,
            costs=costs,
        )
    finally:
        source.close()


def _metric_names(metrics: str | None) -> list[str] | None:
    """Names from --metrics, checked here so a typo gets "did you mean"."""
    from ..metrics.registry import metric_spec

    if not metrics:
        return None
    names = [n.strip() for n in metrics.split(",") if n.strip()]
    for name in names:
        metric_spec(name)
    return names


def _shown(window: dict[str, Any], name: str) -> str:
    """The realized value; in an estimating window with an estimate, the estimate
    (marked ≈; ? when its assumption check failed)."""
    estimate = window.get("estimate")
    if window["state"] == "estimating" and estimate and name in estimate["metrics"]:
        mark = "≈" if estimate["trusted"] else "?"
        return mark + _cell(estimate["metrics"][name])
    return _cell(window["metrics"].get(name))


def _cell(metric: dict[str, Any] | None) -> str:
    if not metric or metric.get("value") is None:
        return "–"
    value, lower, upper = metric["value"], metric.get("lower"), metric.get("upper")
    if lower is None or upper is None:
        return f"{value:.3f}"
    return f"{value:.2f}\n({_short(lower)}–{_short(upper)})"


def _plain(cell: str) -> str:
    """A cell's text without its rich markup."""
    from rich.text import Text

    return Text.from_markup(cell).plain


def _short(x: float) -> str:
    """0.58 as .58 (metrics in [0, 1]); anything else as it is."""
    text = f"{x:.2f}"
    return text[1:] if text.startswith("0.") else text


def _table(body: dict[str, Any], names: tuple[str, ...]) -> Table:
    windows = body["windows"]
    versions = any(w["version"] for w in windows)
    years = {w["start"][:4] for w in windows}
    # One year: its number goes to the title and each start is MM-DD HH:MM.
    cut = 5 if len(years) == 1 else 0
    table = Table(
        title=f"{body['model']}: {body['size']} windows by prediction time"
        + (f", {next(iter(years))}" if cut else "")
        + f" UTC; realized at {body['maturity']:.0%} labelled",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=0,
    )
    # Business columns: false alarms per day for a binary model with labels, the
    # expected cost per labelled prediction when the costs are known.
    extra = [
        key for key in _BUSINESS_COLUMNS if any((w.get("business") or {}).get(key) for w in windows)
    ]
    rows = []
    for w in windows:
        coverage = w["label_coverage"]
        state = w["state"]
        rows.append(
            (
                w["start"].replace("T", " ")[cut:16],
                w["version"] or "all",
                f"{w['predictions']:,}",
                f"{w['failed_predictions']:,}",
                f"{w['labelled']:,}" + ("" if coverage is None else f" ({coverage:.0%})"),
                f"[{_STATE_STYLE.get(state, '')}]{state}[/]",
                *(_shown(w, n) for n in names),
                *(_cell((w.get("business") or {}).get(k)) for k in extra),
            )
        )
    columns = ("start", "version", "predicted", "failed", "labelled", "state")
    failures = any(w["failed_predictions"] for w in windows)
    keep = [(versions or c != "version") and (failures or c != "failed") for c in columns]
    keep += [True] * (len(names) + len(extra))
    rows = [tuple(v for v, k in zip(row, keep, strict=True) if k) for row in rows]
    headers = [c for c, k in zip(columns, keep, strict=False) if k] + list(names)
    headers += [_BUSINESS_COLUMNS[k] for k in extra]
    for i, header in enumerate(headers):
        # Wide enough for every cell: rich would otherwise squeeze numbers into folds.
        longest = max(
            [len(header)]
            + [len(line) for row in rows for line in _plain(row[i]).splitlines() or [""]]
        )
        table.add_column(
            header,
            justify="left" if header in ("start", "state") else "right",
            min_width=longest,
            no_wrap=True,
        )
    for row in rows:
        table.add_row(*row)
    if not windows:
        table.caption = "no predictions in this range"
    elif any(w.get("estimate") for w in windows):
        table.caption = (
            "≈ estimated before labels (the labels so far counted, the rest estimated from "
            "scores or class probabilities); ? estimate whose calibration check failed"
        )
    return table
