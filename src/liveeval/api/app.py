"""The liveeval HTTP server: serve models, ingest predictions and outcomes from any
server, and read live metrics.

Routes are HTTP only: they parse requests, call the :class:`~liveeval.service.Service`
and render its answers; validation, labels, storage and metrics live below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pyarrow as pa
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError as PydanticValidationError

from .. import __version__
from ..config import WINDOW_PATTERN, ServerConfig, Tokens
from ..errors import LiveevalError, NotFoundError, StoreUnavailable
from ..service import Service
from ..service.events import naive_utc
from ..service.ingest import ingest_deployment, ingest_prediction_table, ingest_predictions
from ..service.ingest import ingest_outcomes as ingest_outcome_events
from ..service.predict import predict as predict_rows
from ..service.reads import metrics as read_metrics
from ..service.reads import models_listing, quality_rows
from .answers import status_of
from .auth import Guard
from .dashboard_routes import dashboard_routes
from .docs import mount_offline_docs
from .fastpath import validation_errors
from .middleware import RequestGuard
from .monitoring import monitoring_router
from .prometheus import Telemetry, TelemetryObserver
from .schemas import (
    MAX_BATCH,
    BulkWriteResponse,
    DeploymentIn,
    ErrorResponse,
    OutcomeBatch,
    OutcomeIn,
    PredictionBatch,
    PredictionIn,
    PredictRequest,
    WriteResponse,
)

__all__ = ["create_app"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def create_app(config: ServerConfig, service: Service | None = None) -> FastAPI:
    """Build the app around ``service`` (built from ``config`` when not given).

    The store opens when the app starts (or already did: ``liveeval serve`` starts the
    service before uvicorn so that start-up problems are one line) and is flushed
    when it stops.
    """
    if service is None:
        service = Service(config)
    telemetry = Telemetry(lambda: quality_rows(service), config.metrics_cache_seconds)
    service.observer = TelemetryObserver(telemetry)
    guard = Guard(Tokens.from_env(config.tokens))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="liveeval",
        version=__version__,
        description="Serve models, log every prediction, join delayed ground truth, and "
        "measure live model quality with confidence intervals.",
        lifespan=lifespan,
        docs_url=None,  # /docs is served offline below; ReDoc would need a CDN
        redoc_url=None,
    )
    mount_offline_docs(app)
    app.state.service = service
    app.state.telemetry = telemetry
    app.state.guard = guard
    app.add_middleware(
        RequestGuard, service=service, telemetry=telemetry, guard=guard, config=config
    )

    @app.exception_handler(PydanticValidationError)
    async def invalid_body(_: Request, exc: PydanticValidationError) -> JSONResponse:
        return JSONResponse(validation_errors(exc), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input: megabytes back for a large body,
        # and a 500 when it holds NaN, which JSON cannot carry.
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def store_behind(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(LiveevalError)
    async def bad_input(_: Request, exc: LiveevalError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorResponse, "description": "missing bearer token"},
        403: {"model": ErrorResponse, "description": "token not allowed"},
        413: {"model": ErrorResponse, "description": "body or batch too large"},
        422: {"model": ErrorResponse, "description": "invalid input; names the field"},
    }
    write_responses: dict[int | str, dict[str, Any]] = {
        **errors,
        409: {"model": WriteResponse, "description": "an id is stored with different content"},
    }
    write_guard = Depends(guard.require_write)
    read_guard = Depends(guard.require_read)

    def answer(result: Any) -> JSONResponse:
        return JSONResponse(result.body, status_code=status_of(result))

    @app.get("/healthz", tags=["server"])
    async def healthz() -> dict[str, Any]:
        """Liveness: the store is open."""
        return {
            "status": "ok",
            "version": __version__,
            "schema": service.store.schema_version if service.started else None,
        }

    @app.get(
        "/metrics",
        tags=["server"],
        response_class=Response,
        dependencies=[read_guard],
        responses=errors,
    )
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition (guarded by the read token when one is set:
        Prometheus sends it with `authorization: {credentials: TOKEN}` in its scrape config)."""
        body = await run_in_threadpool(generate_latest, telemetry.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/predictions",
        tags=["ingest"],
        dependencies=[write_guard],
        response_model=WriteResponse,
        responses=write_responses,
    )
    async def ingest_predictions_route(body: PredictionIn | PredictionBatch) -> JSONResponse:
        """Log predictions made elsewhere: one object, or ``{"predictions": [...]}`` (up to
        10,000, each validated on its own: bad ones are rejected with their reason, the
        others stored). Answers after the events are committed.

        (Served by the ASGI fast path, which runs the same service call.)"""
        if isinstance(body, PredictionBatch):
            return answer(await ingest_predictions(service, body.predictions, validated=True))
        return answer(await ingest_predictions(service, [body], validated=True))

    @app.post(
        "/v1/predictions/arrow",
        tags=["ingest"],
        dependencies=[write_guard],
        response_model=BulkWriteResponse,
        responses={
            **errors,
            409: {"model": BulkWriteResponse, "description": "some ids conflicted"},
            415: {"model": ErrorResponse, "description": "not Arrow"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def ingest_predictions_arrow(request: Request) -> JSONResponse:
        """Log a large batch as an Arrow IPC stream with the store's prediction columns
        (id, model, version, ts and status required; labels as JSON text). Every row is
        checked by the JSON route's rules; bad rows are listed in ``rejections``."""
        if not request.headers.get("content-type", "").startswith(ARROW_STREAM):
            raise HTTPException(415, f"send the batch as {ARROW_STREAM}")
        table = _read_arrow(await request.body())
        return answer(await ingest_prediction_table(service, table))

    @app.post(
        "/v1/outcomes",
        tags=["ingest"],
        dependencies=[write_guard],
        response_model=WriteResponse,
        responses=write_responses,
    )
    async def ingest_outcomes_route(body: OutcomeIn | OutcomeBatch) -> JSONResponse:
        """Ground truth by prediction id, in any order relative to the prediction: an outcome
        for an id not seen (yet) is kept and reported as unmatched.

        (Served by the ASGI fast path, which runs the same service call.)"""
        if isinstance(body, OutcomeBatch):
            return answer(await ingest_outcome_events(service, body.outcomes, validated=True))
        return answer(await ingest_outcome_events(service, [body], validated=True))

    @app.post(
        "/v1/deployments",
        tags=["ingest"],
        dependencies=[write_guard],
        response_model=WriteResponse,
        responses=write_responses,
    )
    async def ingest_deployment_route(event: DeploymentIn) -> JSONResponse:
        """A deployment event: started, succeeded, failed or rolled back."""
        return answer(await ingest_deployment(service, event))

    @app.get("/v1/models", tags=["read"], dependencies=[read_guard], responses=errors)
    async def list_models() -> dict[str, Any]:
        """Served models and models seen in the logs."""
        return await run_in_threadpool(models_listing, service)

    @app.get(
        "/v1/models/{model}/metrics",
        tags=["read"],
        dependencies=[read_guard],
        responses={**errors, 404: {"model": ErrorResponse, "description": "unknown model"}},
    )
    async def model_metrics(
        model: str,
        window: str | None = Query(
            None, pattern=WINDOW_PATTERN, description="e.g. 30m, 1h, 7d; default: all time"
        ),
        since: datetime | None = None,
        until: datetime | None = None,
        version: str | None = None,
        segment: str | None = None,
        profile: str | None = Query(
            None,
            max_length=100,
            description="judge against a use-case profile, by name: a built-in one or one "
            "configured under [profiles]",
        ),
    ) -> dict[str, Any]:
        """Live metrics with intervals for one model (optionally a version, segment, time range).

        ``unmatched_outcomes`` is server-wide: an outcome whose prediction is unknown
        names no model."""
        since, until = _naive_utc(since, "since"), _naive_utc(until, "until")
        return await run_in_threadpool(
            lambda: read_metrics(
                service,
                model,
                window=window,
                since=since,
                until=until,
                version=version,
                segment=segment,
                profile=profile,
            )
        )

    app.include_router(monitoring_router(service, read_guard, errors))
    app.include_router(dashboard_routes(service, read_guard, errors))

    @app.post(
        "/v1/models/{model}/predict",
        tags=["serve"],
        dependencies=[write_guard],
        responses={
            **write_responses,
            404: {"model": ErrorResponse, "description": "model or version not served"},
            500: {"model": ErrorResponse, "description": "the model itself failed (logged)"},
        },
    )
    async def predict(
        model: str, request: PredictRequest, version: str | None = None
    ) -> JSONResponse:
        """Predict with a served model; every prediction is logged before the answer.

        (Served by the ASGI fast path, which runs the same service call.)"""
        return answer(
            await predict_rows(
                service, model, version, request.inputs, id=request.id, segment=request.segment
            )
        )

    return app


def _naive_utc(value: datetime | None, name: str) -> datetime | None:
    try:
        return None if value is None else naive_utc(value)
    except ValueError as exc:
        raise HTTPException(422, f"'{name}' {exc}") from None


def _read_arrow(raw: bytes) -> pa.Table:
    try:
        table = pa.ipc.open_stream(raw).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise HTTPException(422, f"request body is not an Arrow IPC stream: {exc}") from None
    if table.num_rows > 50 * MAX_BATCH:
        raise HTTPException(
            413, f"{table.num_rows} rows exceed the {50 * MAX_BATCH}-row batch limit"
        )
    return table
