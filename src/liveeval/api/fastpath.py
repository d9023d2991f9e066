"""The hot routes served straight from ASGI.

FastAPI's routing, dependency injection and response serialisation measured more
than half of a small request's time (a prediction, a single ingested event). The
routes that see a request per event (predict, ingest predictions, ingest outcomes)
are therefore served here, by :class:`~liveeval.api.middleware.RequestGuard`, with
the same pydantic request models (validated by pydantic-core directly), the same
token check and the same handler functions as their FastAPI declarations, which
stay for the OpenAPI spec. Errors have the same shapes: 401/403 from the token
check, 413 over the body limit or the batch's row limit, 422 with one entry per
offending field.

A served prediction is timed here, from the request's arrival (the middleware's
first look at it) to its answer handed to the server after the commit: that is what
``liveeval_prediction_latency_seconds`` observes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, unquote

from fastapi import HTTPException
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from starlette.types import Receive, Send

from ..errors import LiveevalError, NotFoundError, StoreUnavailable
from ..service.events import MAX_BATCH, OutcomeIn, PredictionIn
from ..service.ingest import ingest_outcomes, ingest_predictions
from ..service.predict import predict
from . import v2
from .answers import status_of
from .query import name_query_detail, repeated_query_detail, unknown_query_detail
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

# (service, path parameters, query, parsed body, arrival on perf_counter's clock)
INTERNAL = "internal error ({}); the server's log has the details"

Handler = Callable[["Service", list[str], dict[str, list[str]], Any, float], Awaitable["Answer"]]


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
    # When it is: the batch model, whose errors are the ones to report.
    batch: TypeAdapter[Any] | None = None
    # Where the rows of a request are, and what to suggest beyond the row limit.
    rows_at: str | None = None
    rows_hint: str = ""
    # The query parameters the route takes (/v1 routes refuse others, as FastAPI's
    # routes do: api.query).
    query: tuple[str, ...] = ()
    # The Open Inference Protocol's routes: errors are {"error": ...} and a request
    # that cannot be served as sent is a 400, as the protocol has it.
    v2: bool = False
    # Reads the body itself (v2: Triton's binary tensors follow the JSON).
    parse: Callable[[bytes, dict[bytes, bytes]], Any] | None = None

    @property
    def invalid(self) -> int:
        return 400 if self.v2 else 422

    def error_body(self, detail: Any) -> dict[str, Any]:
        return v2.v2_error(detail) if self.v2 else {"detail": detail}

    def validation_body(self, exc: PydanticValidationError) -> dict[str, Any]:
        return v2.v2_error(v2.validation_message(exc)) if self.v2 else validation_errors(exc)


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


async def _predict(
    service: Service,
    params: list[str],
    query: dict[str, list[str]],
    body: PredictRequest,
    arrived: float,
) -> Answer:
    return await predict(
        service,
        params[0],
        _last(query, "version"),
        body.inputs,
        id=body.id,
        segment=body.segment,
        arrived=arrived,
    )


async def _predictions(
    service: Service, params: list[str], query: dict[str, list[str]], body: Any, arrived: float
) -> Answer:
    if isinstance(body, RawPredictionBatch):
        return await ingest_predictions(service, body.predictions)
    return await ingest_predictions(service, [body], validated=True)


async def _outcomes(
    service: Service, params: list[str], query: dict[str, list[str]], body: Any, arrived: float
) -> Answer:
    if isinstance(body, RawOutcomeBatch):
        return await ingest_outcomes(service, body.outcomes)
    return await ingest_outcomes(service, [body], validated=True)


async def _infer(
    service: Service,
    params: list[str],
    query: dict[str, list[str]],
    body: v2.InferRequest,
    arrived: float,
) -> Answer:
    return await v2.infer(service, params[0], params[1] if len(params) > 1 else None, body, arrived)


ROUTES = (
    FastRoute(
        "/v1/models/{model}/predict",
        re.compile(r"^/v1/models/([^/]+)/predict$"),
        TypeAdapter(PredictRequest),
        _predict,
        rows_at="inputs",
        query=("version",),
    ),
    FastRoute(
        "/v1/predictions",
        re.compile(r"^/v1/predictions$"),
        # A batch is parsed as a list of raw objects and validated event by event.
        TypeAdapter(PredictionIn | RawPredictionBatch),
        _predictions,
        TypeAdapter(PredictionIn),
        b'"predictions"',
        TypeAdapter(RawPredictionBatch),
        "predictions",
        f"; or send them as one Arrow stream to POST /v1/predictions/arrow (up to "
        f"{50 * MAX_BATCH:,} rows)",
    ),
    FastRoute(
        "/v1/outcomes",
        re.compile(r"^/v1/outcomes$"),
        TypeAdapter(OutcomeIn | RawOutcomeBatch),
        _outcomes,
        TypeAdapter(OutcomeIn),
        b'"outcomes"',
        TypeAdapter(RawOutcomeBatch),
        "outcomes",
    ),
    FastRoute(
        "/v2/models/{model}/infer",
        re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/infer$"),
        TypeAdapter(v2.InferRequest),
        _infer,
        v2=True,
        parse=v2.parse_infer,
    ),
)


def match(scope: Any) -> tuple[FastRoute, list[str]] | None:
    if scope["method"] != "POST":
        return None
    path = scope["path"]
    for route in ROUTES:
        found = route.pattern.match(path)
        if found:
            return route, [unquote(g) for g in found.groups() if g is not None]
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
    """The errors of the branch the body meant: the single-event model's for a body
    that is not a batch, the batch model's for one that is (the union's errors list
    every branch: a batch of 10,001 rows led with "prediction_id: Field required")."""
    if route.single is None or route.batch_key is None:
        return exc
    meant: TypeAdapter[Any] | None = route.single
    if route.batch_key in raw:
        try:  # the error path only: parsing the body again is affordable here
            top = json.loads(raw)
        except ValueError:
            return exc
        if not isinstance(top, dict):
            return exc
        if route.batch_key.strip(b'"').decode() in top:
            meant = route.batch
    if meant is None:
        return exc
    try:
        meant.validate_json(raw)
    except PydanticValidationError as clearer:
        return clearer
    return exc


def too_many_rows(route: FastRoute, exc: PydanticValidationError) -> str | None:
    """The 413 detail when the request's rows exceed the batch limit (None otherwise):
    the limit and the number sent."""
    if route.rows_at is None:
        return None
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if error["type"] == "too_long" and loc and loc[0] == route.rows_at:
            sent = error.get("input")
            count = f"{len(sent):,}" if isinstance(sent, list) else "more"
            return (
                f"'{route.rows_at}' holds {count} rows; the limit is {MAX_BATCH:,} per "
                f"request: split it into requests of at most {MAX_BATCH:,}{route.rows_hint}"
            )
    return None


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
    arrived: float,
) -> int:
    """Answer one request on a fast route; returns the status. ``arrived`` is the
    request's arrival on :func:`time.perf_counter`'s clock."""
    headers = dict(scope["headers"])
    served = None
    try:
        guard.check_write(headers.get(b"authorization", b"").decode("latin-1"))
    except HTTPException as exc:
        status, body = exc.status_code, route.error_body(exc.detail)
    else:
        status, body, served = await _answer(
            service, config, route, params, scope, receive, headers, arrived
        )
    await send_json(send, status, body)
    if served is not None:
        service.observer.latency(served[0], served[1], time.perf_counter() - arrived, None)
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
    arrived: float,
) -> tuple[int, Any, tuple[str, str] | None]:
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query = parse_qs(raw_query)
    if raw_query and not route.v2:
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        names = list(dict.fromkeys(name for name, _ in pairs))
        unknown = unknown_query_detail(names, route.query, "POST", route.path)
        if unknown is None and len(pairs) > len(names):  # its parameters take one value
            unknown = repeated_query_detail(pairs, frozenset(route.query))
        if unknown is None:
            unknown = name_query_detail(pairs)
        if unknown is not None:
            return route.invalid, route.error_body(unknown), None
    content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
    if not is_json(content_type):
        detail = f"send the request body as application/json, not {content_type!r}"
        return route.invalid, route.error_body(detail), None
    limit = config.max_body_bytes
    raw = await read_body(receive, limit)
    if raw is None:
        return 413, route.error_body(f"request body exceeds the {limit}-byte limit"), None
    try:
        body = route.parse(raw, headers) if route.parse else route.body.validate_json(raw)
    except PydanticValidationError as exc:
        clearest = _clearest(route, raw, exc)
        too_many = too_many_rows(route, clearest)
        if too_many is not None:
            return 413, route.error_body(too_many), None
        return route.invalid, route.validation_body(clearest), None
    except LiveevalError as exc:
        return route.invalid, route.error_body(str(exc)), None
    try:
        result = await route.run(service, params, query, body, arrived)
    except NotFoundError as exc:
        return 404, route.error_body(str(exc)), None
    except StoreUnavailable as exc:
        return 503, route.error_body(str(exc)), None
    except LiveevalError as exc:
        return route.invalid, route.error_body(str(exc)), None
    except Exception as exc:  # a bug or the disk: JSON all the same, the trace in the log
        logging.getLogger("liveeval").exception("%s failed", route.path)
        return 500, route.error_body(INTERNAL.format(type(exc).__name__)), None
    return status_of(result), result.body, result.served


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
