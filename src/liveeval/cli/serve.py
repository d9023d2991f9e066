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
    from ..store import open_store
    from .app import _bad_input, _fail

    with _bad_input():
        if fmt != "parquet":
            _fail(f"--format {fmt!r}: only 'parquet' is supported")
        if not store.is_file():
            _fail(f"{store}: no such store file")
        # Opening the store loads whatever the journal holds beyond the database
        # (events acknowledged before a crash), so the export has every one. A store
        # held by a running server raises StoreLocked, which _bad_input reports.
        opened = open_store(store)
        try:
            written = opened.export(out)
        finally:
            opened.close()
        console = Console(highlight=False)
        for table, count in written.items():
            if count:
                console.print(f"{table}: {count:,} rows → {out / table}/", markup=False)
