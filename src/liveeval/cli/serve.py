"""``liveeval serve`` and ``liveeval export``: the server's command group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import LiveevalError

__all__ = ["export", "serve"]


def _parse_model(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise LiveevalError(f"--model {text!r}: expected NAME=PATH, e.g. fraud=models/fraud.joblib")
    return name, Path(path)


def serve(
    config: Annotated[
        Path | None, typer.Option("--config", help="liveeval.toml with models and settings.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", help="NAME=PATH of a model file (.joblib, .pkl, .onnx); repeatable."
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="DuckDB file for the event log.")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Window of the live gauges, e.g. 1h.")
    ] = None,
) -> None:
    """Serve models and ingest predictions and outcomes; live metrics and Prometheus on /metrics."""
    import uvicorn

    from ..api import ServerConfig, create_app, load_config
    from ..serving import ModelSpec
    from .app import _bad_input

    with _bad_input():
        cfg = load_config(config) if config is not None else ServerConfig()
        for text in model or []:
            name, path = _parse_model(text)
            cfg.models.append(ModelSpec(name, path))
        if store is not None:
            cfg.store = store
        if host is not None:
            cfg.host = host
        if port is not None:
            cfg.port = port
        if window is not None:
            cfg.window = window
        from ..api.auth import Tokens

        cfg.tokens = Tokens.from_env(cfg.tokens)
        app = create_app(cfg)
    Console(stderr=True, highlight=False).print(
        f"liveeval serving {sorted({m.name for m in cfg.models}) or 'no models (ingest only)'} on "
        f"http://{cfg.host}:{cfg.port} — store {cfg.store}",
        markup=False,
    )
    # The journal's syncer and the DuckDB loader are threads: a shorter GIL switch
    # interval (CPython's default is 5 ms) bounds how long a request waits behind them.
    sys.setswitchinterval(0.001)
    uvicorn.run(
        app,
        host=cfg.host,
        port=cfg.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def export(
    store: Annotated[Path, typer.Option("--store", help="DuckDB file to export.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    fmt: Annotated[str, typer.Option("--format", help="Only parquet for now.")] = "parquet",
) -> None:
    """Write the event log as Parquet, partitioned by model and date (predictions) and date (others)."""
    import duckdb

    from .app import _bad_input, _fail

    with _bad_input():
        if fmt != "parquet":
            _fail(f"--format {fmt!r}: only 'parquet' is supported")
        if not store.is_file():
            _fail(f"{store}: no such store file")
        from ..store import DuckStore
        from ..store.journal import StoreLocked

        try:
            # Opening the store loads whatever the journal holds beyond the database
            # (events acknowledged before a crash), so the export has every one.
            opened = DuckStore(store)
        except (StoreLocked, duckdb.IOException) as exc:
            _fail(f"{store} is in use, by a running liveeval server or tool; stop it first ({exc})")
        con = opened.cursor()
        out.mkdir(parents=True, exist_ok=True)
        queries = {
            "predictions": ("SELECT *, CAST(ts AS DATE) AS date FROM predictions", "model, date"),
            "outcomes": ("SELECT *, CAST(ts AS DATE) AS date FROM outcomes", "date"),
            "deployments": ("SELECT *, CAST(ts AS DATE) AS date FROM deployments", "date"),
            "resource_samples": (
                "SELECT *, CAST(ts AS DATE) AS date FROM resource_samples",
                "date",
            ),
        }
        console = Console(highlight=False)
        for table, (query, partition) in queries.items():
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            count = int(rows[0]) if rows else 0
            if count == 0:
                continue
            target = out / table
            con.execute(
                f"COPY ({query}) TO '{target}' (FORMAT parquet, PARTITION_BY ({partition}), OVERWRITE_OR_IGNORE)"
            )
            console.print(f"{table}: {count:,} rows → {target}/", markup=False)
        con.close()
        opened.close()
