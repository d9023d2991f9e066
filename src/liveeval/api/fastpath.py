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

from ..errors import LiveevalError, NotFoundError, StoreUnavailable
from ..service.events import OutcomeIn, PredictionIn
from ..service.ingest import ingest_outcomes, ingest_predictions
from ..service.predict import predict
from .answers import status_of
from .schemas import PredictRequest, RawOutcomeBatch, RawPredictionBatch

if TYPE_CHECKING:
    from ..config import ServerConfig
    from ..service import Answer, Service
    from .auth import Guard

__all__ = [
    "ROUTES",
    "FastRoute",
    "match",
    "read_body",
    "send_json",
    "serve",
    "validation_errors",
]

Handler = Callable[["Service", list[str], dict[str, list[str]], Any], Awaitable["Answer"]]


@dataclass(frozen=True)
class FastRoute:
    path: str  # as declared, for the request counter's label
    pattern: re.Pattern[str]
    body: TypeAdapter[Any]
    run: Handler
    # When the body is not a batch: the single-event model, whose errors are the
    # ones to report (the union's errors list every branch).
    single: TypeAdapter[Any] | None = None
    batch_key: bytes | None = None


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


async def _predict(
    service: Service, params: list[str], query: dict[str, list[str]], body: PredictRequest
) -> Answer:
    return await predict(
        service, params[0], _last(query, "version"), body.inputs, id=body.id, segment=body.segment
    )


async def _predictions(
    service: Service, params: list[str], query: dict[str, list[str]], body: Any
) -> Answer:
    if isinstance(body, RawPredictionBatch):
        return await ingest_predictions(service, body.predictions)
    return await ingest_predictions(service, [body], validated=True)


async def _outcomes(
    service: Service, params: list[str], query: dict[str, list[str]], body: Any
) -> Answer:
    if isinstance(body, RawOutcomeBatch):
        return await ingest_outcomes(service, body.outcomes)
    return await ingest_outcomes(service, [body], validated=True)


ROUTES = (
    FastRoute(
        "/v1/models/{model}/predict",
        re.compile(r"^/v1/models/([^/]+)/predict$"),
        TypeAdapter(PredictRequest),
        _predict,
    ),
    FastRoute(
        "/v1/predictions",
        re.compile(r"^/v1/predictions$"),
        # A batch is parsed as a list of raw objects and validated event by event.
        TypeAdapter(PredictionIn | RawPredictionBatch),
        _predictions,
        TypeAdapter(PredictionIn),
        b'"predictions"',
    ),
    FastRoute(
        "/v1/outcomes",
        re.compile(r"^/v1/outcomes$"),
        TypeAdapter(OutcomeIn | RawOutcomeBatch),
        _outcomes,
        TypeAdapter(OutcomeIn),
        b'"outcomes"',
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
    """FastAPI's 422 shape: one entry per offending field, located in the body (the
    input itself is not echoed: it may be large, or hold NaN that JSON cannot carry)."""
    return {
        "detail": [
            {"loc": ["body", *_readable(e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
    }


def _readable(loc: tuple[int | str, ...]) -> list[int | str]:
    """Drop pydantic's validator names (``function-after[_consistent(), PredictionIn]``)."""
    return [p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "str")))]


def _clearest(
    route: FastRoute, raw: bytes, exc: PydanticValidationError
) -> PydanticValidationError:
    """For a body that is not a batch, the single-event model's errors alone."""
    if route.single is None or route.batch_key is None or route.batch_key in raw:
        return exc
    try:
        route.single.validate_json(raw)
    except PydanticValidationError as single:
        return single
    return exc


def is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type, with any parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def serve(
    service: Service,
    guard: Guard,
    config: ServerConfig,
    route: FastRoute,
    params: list[str],
    scope: Any,
    receive: Receive,
    send: Send,
) -> int:
    """Answer one request on a fast route; returns the status."""
    headers = dict(scope["headers"])
    try:
        guard.check_write(headers.get(b"authorization", b"").decode("latin-1"))
    except HTTPException as exc:
        status, body = exc.status_code, {"detail": exc.detail}
    else:
        status, body = await _answer(service, config, route, params, scope, receive, headers)
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
    service: Service,
    config: ServerConfig,
    route: FastRoute,
    params: list[str],
    scope: Any,
    receive: Receive,
    headers: dict[bytes, bytes],
) -> tuple[int, Any]:
    content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
    if not is_json(content_type):
        return 422, {"detail": f"send the request body as application/json, not {content_type!r}"}
    limit = config.max_body_bytes
    raw = await read_body(receive, limit)
    if raw is None:
        return 413, {"detail": f"request body exceeds the {limit}-byte limit"}
    try:
        body = route.body.validate_json(raw)
    except PydanticValidationError as exc:
        return 422, validation_errors(_clearest(route, raw, exc))
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        result = await route.run(service, params, query, body)
    except NotFoundError as exc:
        return 404, {"detail": str(exc)}
    except StoreUnavailable as exc:
        return 503, {"detail": str(exc)}
    except LiveevalError as exc:
        return 422, {"detail": str(exc)}
    return status_of(result), result.body


async def read_body(receive: Receive, limit: int) -> bytes | None:
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
