"""``liveeval reference``: register, list and delete a model's named drift references on
a running server (``PUT/GET/DELETE /v1/models/{model}/references``).

A Parquet file is sent as it is; any other file the reader takes (CSV, JSON Lines,
Arrow) is read here and sent as an Arrow IPC stream. Drift then compares live windows
with it: ``GET /v1/models/{model}/drift?reference=upload:NAME``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, LiveevalError

__all__ = ["reference_app"]

reference_app = typer.Typer(
    help="Named drift references of a model on a server (upload, list, delete).",
    no_args_is_help=True,
)

_PARQUET = "application/vnd.apache.parquet"
_ARROW = "application/vnd.apache.arrow.stream"

UrlOpt = Annotated[str, typer.Option("--url", help="The server (default http://127.0.0.1:8000).")]
ModelOpt = Annotated[str, typer.Option("--model", help="The model the reference belongs to.")]


def _fail(message: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"Error: {message}", markup=False)
    raise typer.Exit(2)


def _call(
    method: str,
    base: str,
    path: str,
    token: str | None,
    *,
    body: bytes | None = None,
    media: str | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    from .monitor import check_server_url

    check_server_url(base)
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
    target = f"{base.rstrip('/')}{path}" + (f"?{query}" if query else "")
    request = urllib.request.Request(target, data=body, method=method)
    request.add_header("accept", "application/json")
    if media:
        request.add_header("content-type", media)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except (ValueError, AttributeError):
            detail = exc.reason
        raise ConfigError(f"{base}: {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"cannot reach the server at {base} ({reason}); start it with 'liveeval serve'"
        ) from None


def _body(path: Path) -> tuple[bytes, str]:
    """The file as Parquet bytes, or read and re-sent as an Arrow IPC stream."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        return path.read_bytes(), _PARQUET
    import pyarrow as pa

    from ..data.reader import read_table

    table = read_table(path)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue()), _ARROW


def _model_path(model: str, *rest: str) -> str:
    parts = [urllib.parse.quote(p, safe="") for p in (model, *rest)]
    return f"/v1/models/{parts[0]}/references" + "".join(f"/{p}" for p in parts[1:])


@reference_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="Parquet, Arrow, CSV or JSON Lines file.")],
    model: ModelOpt,
    name: Annotated[str, typer.Option("--name", help="The reference's name (no '/' or ':').")],
    url: UrlOpt = "http://127.0.0.1:8000",
    score: Annotated[str | None, typer.Option("--score", help="Score column.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Actual-label column.")] = None,
    prediction: Annotated[
        str | None, typer.Option("--prediction", help="Predicted-label column.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a reference of that name.")
    ] = False,
    ignore_extra: Annotated[
        bool,
        typer.Option("--ignore-extra", help="Leave out columns that are not model features."),
    ] = False,
    token: Annotated[
        str | None, typer.Option("--token", help="Write token (or LIVEEVAL_WRITE_TOKEN).")
    ] = None,
) -> None:
    """Register FILE as reference NAME of MODEL; drift then takes reference=upload:NAME."""
    try:
        body, media = _body(file)
        answer = _call(
            "PUT",
            url,
            _model_path(model, name),
            token or os.environ.get("LIVEEVAL_WRITE_TOKEN"),
            body=body,
            media=media,
            params={
                "score": score,
                "label": label,
                "prediction": prediction,
                "replace": "true" if replace else None,
                "extra": "ignore" if ignore_extra else None,
            },
        )
    except LiveevalError as exc:
        _fail(str(exc))
        return
    if answer is None:
        _fail(f"{url}: the server answered the upload without a body")
        return
    out = Console(highlight=False)
    out.print(
        f"Registered {answer['reference']} for model {model}: {answer['rows']:,} rows, "
        f"{answer['features']} features"
    )
    for column in answer["columns"]:
        out.print(f"  {column['name']}: {column['use']}", markup=False)
    out.print(
        f"Compare: GET {url.rstrip('/')}/v1/models/{model}/drift?reference={answer['reference']}",
        markup=False,
    )


@reference_app.command("list")
def list_(
    model: ModelOpt,
    url: UrlOpt = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option("--token", help="Read token (or LIVEEVAL_READ_TOKEN).")
    ] = None,
) -> None:
    """The references registered for MODEL."""
    try:
        answer = _call(
            "GET", url, _model_path(model), token or os.environ.get("LIVEEVAL_READ_TOKEN")
        )
    except LiveevalError as exc:
        _fail(str(exc))
        return
    table = Table("name", "rows", "features", "score / labels", "created")
    for r in (answer or {}).get("references", []):
        extra = ", ".join(k for k in ("score", "predicted_label", "label") if r[k]) or "—"
        table.add_row(r["name"], f"{r['rows']:,}", str(r["features"]), extra, r["created"])
    Console(highlight=False).print(table)


@reference_app.command("delete")
def delete(
    model: ModelOpt,
    name: Annotated[str, typer.Option("--name", help="The reference to forget.")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option("--token", help="Write token (or LIVEEVAL_WRITE_TOKEN).")
    ] = None,
) -> None:
    """Forget reference NAME of MODEL."""
    try:
        _call(
            "DELETE",
            url,
            _model_path(model, name),
            token or os.environ.get("LIVEEVAL_WRITE_TOKEN"),
        )
    except LiveevalError as exc:
        _fail(str(exc))
        return
    Console(highlight=False).print(f"Deleted reference {name} of model {model}")
