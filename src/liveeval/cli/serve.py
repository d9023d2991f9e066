"""``liveeval serve`` and ``liveeval export``: the server's command group."""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import ConfigError

__all__ = ["export", "serve"]


def _parse_model(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ConfigError(f"--model {text!r}: expected NAME=PATH, e.g. fraud=models/fraud.joblib")
    return name, Path(path)


def _parse_features(text: str) -> tuple[str, ...]:
    from ..serving import parse_features

    names = tuple(part.strip() for part in text.split(","))
    try:
        parse_features(names)
    except ValueError as exc:
        raise ConfigError(f"--features {text!r}: {exc}") from None
    return names


def _listen(host: str, port: int) -> socket.socket:
    """Bind the server's socket now, so that a port in use is one line, not uvicorn's
    log; uvicorn then serves on this very socket (no window for another process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use by another process; choose another with --port"
        elif exc.errno == errno.EACCES:
            reason = (
                "permission denied (ports below 1024 need privileges); choose another with --port"
            )
        else:
            reason = f"{exc.strerror or exc}; check --host"
        raise ConfigError(f"cannot listen on {where}: {reason}") from None
    return sock


def serve(
    config: Annotated[
        Path | None, typer.Option("--config", help="liveeval.toml with models and settings.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="NAME=PATH of a model file (.joblib, .pkl, .onnx, .pt, .pt2); repeatable.",
        ),
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            help="Input names of the --model(s), in order, for models that do not record "
            "them: a,b,c; NAME:string for text inputs.",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="DuckDB file for the event log, or postgresql://USER@HOST:PORT/DB shared "
            "by several replicas (password from PGPASSWORD or a password file).",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Window of the live gauges, e.g. 1h.")
    ] = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            "--alerts", help="A TOML file of alert rules (\\[\\[rules]]), replacing \\[alerts]."
        ),
    ] = None,
) -> None:
    """Serve models and ingest predictions and outcomes; live metrics and Prometheus on /metrics.

    Everything that can fail at start (config, models, port, store) is checked before
    the server starts: one line on stderr and exit code 2.
    """
    import uvicorn

    from ..api import create_app
    from ..api.arrival import HTTP_PROTOCOL
    from ..config import ServerConfig, Tokens, load_alerts_file, load_config
    from ..service import Service
    from ..serving import ModelSpec
    from ..store.postgres import masked
    from .app import _bad_input

    with _bad_input():
        cfg = load_config(config) if config is not None else ServerConfig()
        declared = None
        if features is not None:
            if not model:
                raise ConfigError(
                    "--features applies to the --model(s) given on the command line; for "
                    "models in liveeval.toml, set 'features' in their [[models]] entry"
                )
            declared = _parse_features(features)
        for text in model or []:
            name, path = _parse_model(text)
            cfg.models.append(ModelSpec(name, path, features=declared))
        if store is not None:
            cfg.store = store
        if host is not None:
            cfg.host = host
        if port is not None:
            cfg.port = port
        if window is not None:
            cfg.window = window
        if alerts is not None:
            cfg.alerts = load_alerts_file(alerts)
        cfg.tokens = Tokens.from_env(cfg.tokens)
        cfg.check()
        # Models load (and pass their load check) before the port is bound: a model
        # that cannot serve is one line, and no port was ever open.
        service = Service(cfg)
        sock = _listen(cfg.host, cfg.port)
        try:
            service.start()  # opens the store: StoreLocked when another process holds it
        except BaseException:
            sock.close()
            raise
    try:
        app = create_app(cfg, service)
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"liveeval serving {sorted({m.name for m in cfg.models}) or 'no models (ingest only)'} "
            f"on http://{cfg.host}:{cfg.port} — store {masked(cfg.store)}",
            markup=False,
        )
        # The journal's syncer and the DuckDB loader are threads: a shorter GIL switch
        # interval (CPython's default is 5 ms) bounds how long a request waits behind them.
        sys.setswitchinterval(0.001)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=cfg.host,
                port=cfg.port,
                log_level="warning",
                access_log=False,
                # Stamps each request's arrival as the server reads it, so that the
                # latency measured is the client's (see liveeval.api.arrival).
                http=HTTP_PROTOCOL,
                timeout_graceful_shutdown=10,
            )
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        service.stop()
        sock.close()


def export(
    store: Annotated[
        str, typer.Option("--store", help="DuckDB file (or postgresql:// database) to export.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    fmt: Annotated[str, typer.Option("--format", help="Only parquet for now.")] = "parquet",
) -> None:
    """Write the event log as Parquet, partitioned by model and date (predictions) and date (others)."""
    from ..store import open_store
    from ..store.postgres import is_postgres
    from .app import _bad_input, _fail

    with _bad_input():
        if fmt != "parquet":
            _fail(f"--format {fmt!r}: only 'parquet' is supported")
        if not is_postgres(store) and not Path(store).is_file():
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
