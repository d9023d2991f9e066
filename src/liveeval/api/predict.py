"""Predict with a served model and log every prediction before answering.

:func:`predict` is the whole of the work. It is reached through a lean ASGI path
(:func:`handle`, called by :class:`~liveeval.api.middleware.RequestGuard`) rather
than through FastAPI's routing, dependency and serialisation machinery, which
measured more than half of a small prediction's time on its own; the FastAPI route
of the same path declares the request and responses for the OpenAPI spec and runs
the same function. Validation is the same pydantic model either way, and errors
have the same shape.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import numpy as np
from fastapi import HTTPException
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from starlette.types import Receive, Send

from ..errors import LiveevalError
from ..metrics.labels import normalise_label
from ..store import encode_label
from ..store.writer import StoreUnavailable
from ._common import new_id, now, to_json, write_results
from .schemas import PredictRequest

if TYPE_CHECKING:
    from .app import Server

__all__ = ["PREDICT_PATH", "handle", "predict", "validation_errors"]

PREDICT_PATH = re.compile(r"^/v1/models/([^/]+)/predict$")
ROUTE = "/v1/models/{model}/predict"
_REQUEST: TypeAdapter[PredictRequest] = TypeAdapter(PredictRequest)


def validation_errors(exc: PydanticValidationError) -> dict[str, Any]:
    """FastAPI's 422 shape: one entry per offending field, located in the body."""
    return {
        "detail": [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
    }


async def predict(
    server: Server, model: str, version: str | None, request: PredictRequest
) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a predict request; raises HTTPException for 404/422."""
    started = time.perf_counter()
    versions = server.models.get(model)
    if not versions:
        raise HTTPException(
            404, f"model {model!r} is not served here; served: {sorted(server.models)}"
        )
    v = version or server.default_version[model]
    loaded = versions.get(v)
    if loaded is None:
        raise HTTPException(
            404, f"model {model!r} has no version {v!r}; versions: {sorted(versions)}"
        )
    rows = request.inputs if isinstance(request.inputs, list) else [request.inputs]
    if request.id is not None and len(rows) != 1:
        raise HTTPException(422, "'id' is for a single row; omit it for a batch")
    x = loaded.matrix(rows)
    telemetry = server.telemetry
    try:
        proba, model_seconds = loaded.predict(x)
    except Exception as exc:
        failed = [
            {
                "id": request.id or new_id(),
                "model": model,
                "version": v,
                "ts": now(),
                "segment": request.segment,
                "features": to_json(row),
                "status": "error",
                "error_type": type(exc).__name__,
                "latency_total_s": time.perf_counter() - started,
            }
            for row in rows
        ]
        await server.write("predictions", failed)
        telemetry.predictions.labels(model, v, "error").inc(len(rows))
        return 500 if not isinstance(exc, ValueError) else 422, {
            "detail": f"model {model!r} failed: {type(exc).__name__}: {exc}",
            "ids": [f["id"] for f in failed],
        }
    if loaded.is_binary:
        pos = loaded.classes.index(loaded.pos_label)
        scores: list[float] | None = proba[:, pos].tolist()
        neg = normalise_label(loaded.classes[1 - pos])
        positive = normalise_label(loaded.pos_label)
        threshold = loaded.spec.threshold
        labels = [positive if s >= threshold else neg for s in scores or ()]
    else:
        scores = None
        labels = [normalise_label(loaded.classes[i]) for i in np.argmax(proba, axis=1)]
    stamp = now()
    total = time.perf_counter() - started
    per_row = model_seconds / len(rows)
    events = [
        {
            "id": request.id or new_id(),
            "model": model,
            "version": v,
            "ts": stamp,
            "segment": request.segment,
            "features": to_json(row),
            "label": encode_label(labels[i]),
            "score": None if scores is None else scores[i],
            "probas": None if scores is not None else proba[i].tolist(),
            "latency_model_s": per_row,
            "latency_total_s": total,
            "status": "ok",
        }
        for i, row in enumerate(rows)
    ]
    outcomes = await server.write("predictions", events, fresh=request.id is None)
    telemetry.predictions.labels(model, v, "ok").inc(len(rows))
    telemetry.latency.labels(model, v).observe(total)
    telemetry.model_latency.labels(model, v).observe(model_seconds)
    if any(o.status == "conflict" for o in outcomes):
        return write_results("predictions", outcomes)
    names = [str(c) for c in loaded.classes]
    results = [
        {"id": e["id"], "label": labels[i], "score": e["score"]}
        if scores is not None
        else {
            "id": e["id"],
            "label": labels[i],
            "probas": dict(zip(names, proba[i].tolist(), strict=True)),
        }
        for i, e in enumerate(events)
    ]
    body: dict[str, Any] = {"model": model, "version": v}
    if isinstance(request.inputs, list):
        body["predictions"] = results
    else:
        body.update(results[0])
    return 200, body


async def handle(server: Server, scope: Any, receive: Receive, send: Send) -> int:
    """Serve ``POST /v1/models/{model}/predict`` straight from ASGI; returns the status."""
    match = PREDICT_PATH.match(scope["path"])
    assert match is not None
    headers = dict(scope["headers"])
    status, body = _authorise(server, headers)
    if status == 200:
        status, body = await _answer(server, scope, receive, headers, unquote(match.group(1)))
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
    return status


def _authorise(server: Server, headers: dict[bytes, bytes]) -> tuple[int, dict[str, Any]]:
    try:
        server.tokens.check_write(headers.get(b"authorization", b"").decode("latin-1"))
    except HTTPException as exc:
        return exc.status_code, {"detail": exc.detail}
    return 200, {}


async def _answer(
    server: Server, scope: Any, receive: Receive, headers: dict[bytes, bytes], model: str
) -> tuple[int, dict[str, Any]]:
    content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
    if "json" not in content_type.lower():
        return 422, {"detail": f"send the request as application/json, not {content_type!r}"}
    body = await _read_body(receive, server.config.max_body_bytes)
    if body is None:
        return 413, {
            "detail": f"request body exceeds the {server.config.max_body_bytes}-byte limit"
        }
    try:
        request = _REQUEST.validate_json(body)
    except PydanticValidationError as exc:
        return 422, validation_errors(exc)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    version = query["version"][-1] if "version" in query else None
    try:
        return await predict(server, model, version, request)
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
