"""The hot routes served straight from ASGI.

FastAPI's routing, dependency injection and response serialisation measured more
than half of a small request's time (a prediction, a single ingested event). The
routes that see a request per event (predict, ingest predictions, ingest outcomes)
are therefore served here, by :class:`~liveeval.api.middleware.RequestGuard`, with
the same pydantic request models (validated by pydantic-core directly), the same
token check and the same handler functions as their FastAPI declarations, which
stay for the OpenAPI spec. Errors have the same shapes: 401/403 from the token
check, 413 over the body limit, 422 with one entry per offending field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from fastapi import HTTPException
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from starlette.types import Receive, Send

from ..errors import LiveevalError, StoreUnavailable
from .ingest import ingest_outcomes, ingest_predictions
from .predict import predict
from .schemas import OutcomeBatch, OutcomeIn, PredictionBatch, PredictionIn, PredictRequest

if TYPE_CHECKING:
    from .app import Server

__all__ = ["ROUTES", "FastRoute", "match", "send_json", "serve", "validation_errors"]

Handler = Callable[["Server", list[str], dict[str, list[str]], Any], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class FastRoute:
    path: str  # as declared, for the request counter's label
    pattern: re.Pattern[str]
    body: TypeAdapter[Any]
    run: Handler


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


ROUTES = (
    FastRoute(
        "/v1/models/{model}/predict",
        re.compile(r"^/v1/models/([^/]+)/predict$"),
        TypeAdapter(PredictRequest),
        lambda server, params, query, body: predict(
            server, params[0], _last(query, "version"), body
        ),
    ),
    FastRoute(
        "/v1/predictions",
        re.compile(r"^/v1/predictions$"),
        TypeAdapter(PredictionIn | PredictionBatch),
        lambda server, params, query, body: ingest_predictions(server, body),
    ),
    FastRoute(
        "/v1/outcomes",
        re.compile(r"^/v1/outcomes$"),
        TypeAdapter(OutcomeIn | OutcomeBatch),
        lambda server, params, query, body: ingest_outcomes(server, body),
    ),
)


def match(scope: Any) -> tuple[FastRoute, list[str]] | None:
    if scope["method"] != "POST":
        return None
    path = scope["path"]
    for route in ROUTES:
        found = route.pattern.match(path)
        if found:
            return route, [unquote(g) for g in found.groups()]
    return None


def validation_errors(exc: PydanticValidationError) -> dict[str, Any]:
    """FastAPI's 422 shape: one entry per offending field, located in the body."""
    return {
        "detail": [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
    }


async def serve(
    server: Server, route: FastRoute, params: list[str], scope: Any, receive: Receive, send: Send
) -> int:
    """Answer one request on a fast route; returns the status."""
    headers = dict(scope["headers"])
    try:
        server.tokens.check_write(headers.get(b"authorization", b"").decode("latin-1"))
    except HTTPException as exc:
        status, body = exc.status_code, {"detail": exc.detail}
    else:
        status, body = await _answer(server, route, params, scope, receive, headers)
    await send_json(send, status, body)
    return status


async def send_json(send: Send, status: int, body: Any) -> None:
    """A JSON response over raw ASGI, encoded as Starlette's JSONResponse encodes it."""
    payload = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _answer(
    server: Server,
    route: FastRoute,
    params: list[str],
    scope: Any,
    receive: Receive,
    headers: dict[bytes, bytes],
) -> tuple[int, Any]:
    content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
    if "json" not in content_type.lower():
        return 422, {"detail": f"send the request body as application/json, not {content_type!r}"}
    limit = server.config.max_body_bytes
    raw = await _read_body(receive, limit)
    if raw is None:
        return 413, {"detail": f"request body exceeds the {limit}-byte limit"}
    try:
        body = route.body.validate_json(raw)
    except PydanticValidationError as exc:
        return 422, validation_errors(exc)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        return await route.run(server, params, query, body)
    except HTTPException as exc:
        return exc.status_code, {"detail": exc.detail}
    except StoreUnavailable as exc:
        return 503, {"detail": str(exc)}
    except LiveevalError as exc:
        return 422, {"detail": str(exc)}


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
