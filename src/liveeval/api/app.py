"""The liveeval HTTP server: serve models, ingest predictions and outcomes from any
server, and read live metrics.

Routes are HTTP only: they parse requests, call the :class:`~liveeval.service.Service`
and render its answers; validation, labels, storage and metrics live below.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum
from typing import Any

import pyarrow as pa
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from .. import __version__
from ..config import WINDOW_PATTERN, ServerConfig, Tokens
from ..errors import ConflictError, LiveevalError, NotFoundError, StoreUnavailable
from ..service import Service
from ..service._clock import clock_description, now
from ..service.ingest import ingest_deployment, ingest_prediction_table, ingest_predictions
from ..service.ingest import ingest_outcomes as ingest_outcome_events
from ..service.predict import predict as predict_rows
from ..service.reads import metrics as read_metrics
from ..service.reads import models_listing, quality_rows
from . import v2
from .alerts import alerts_router
from .answers import status_of
from .auth import Guard
from .dashboard_routes import dashboard_routes
from .docs import mount_offline_docs
from .fastpath import INTERNAL, validation_errors
from .lifecycle import NotificationCollector, lifecycle_router
from .middleware import RequestGuard
from .monitoring import monitoring_router
from .prometheus import Telemetry, TelemetryObserver
from .query import SegmentQuery, VersionQuery, known_query, time_range
from .references import references_router
from .schemas import (
    MAX_BATCH,
    BulkWriteResponse,
    DeploymentIn,
    ErrorResponse,
    ModelFailure,
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
    telemetry = Telemetry(
        lambda: quality_rows(service),
        config.metrics_cache_seconds,
        alerts=lambda: service.alerts.open_alerts() if service.alerts is not None else [],
    )
    telemetry.registry.register(NotificationCollector(service))
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
        # A typo in a query parameter is a 422 naming it, as a typo in a body field is.
        dependencies=[Depends(known_query)],
    )
    mount_offline_docs(app)
    app.state.service = service
    app.state.telemetry = telemetry
    app.state.guard = guard
    # Inside the guard: the fast path's answers (predict, ingestion; small, and a client
    # waiting on each) are never compressed; every other answer of 1 kB or more is,
    # when the client accepts gzip (a 30-day windows read shrinks ~10×).
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    app.add_middleware(
        RequestGuard, service=service, telemetry=telemetry, guard=guard, config=config
    )

    # The Open Inference Protocol's routes answer errors as {"error": "..."}, and a
    # request they cannot serve as sent as a 400.
    def error(request: Request, status: int, detail: Any) -> JSONResponse:
        if request.url.path.startswith("/v2"):
            return JSONResponse(v2.v2_error(detail), status_code=400 if status == 422 else status)
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(PydanticValidationError)
    async def invalid_body(request: Request, exc: PydanticValidationError) -> JSONResponse:
        if request.url.path.startswith("/v2"):
            return error(request, 400, v2.validation_message(exc))
        return JSONResponse(validation_errors(exc), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input: megabytes back for a large body,
        # and a 500 when it holds NaN, which JSON cannot carry.
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error(request, 422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        response = error(request, exc.status_code, exc.detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(StoreUnavailable)
    async def store_behind(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return error(request, 503, str(exc))

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return error(request, 409, str(exc))

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return error(request, 404, str(exc))

    @app.exception_handler(LiveevalError)
    async def bad_input(request: Request, exc: LiveevalError) -> JSONResponse:
        return error(request, 422, str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback; the client gets JSON, never a plain-text 500.
        return error(request, 500, INTERNAL.format(type(exc).__name__))

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
        """Liveness: the store is open. ``now`` is the server's clock (UTC), where ranges
        such as "the last hour" end; ``clock`` says whether it is simulated (the demo)."""
        return {
            "status": "ok",
            "version": __version__,
            "schema": service.store.schema_version if service.started else None,
            "now": now().isoformat(),
            "clock": clock_description(),
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
        """A deployment made elsewhere: started, succeeded, failed or rolled_back (the
        server records its own model loads). Read back, summarised, by
        `GET /v1/models/{model}/deployments`."""
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
        version: VersionQuery = None,
        segment: SegmentQuery = None,
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
        since, until = time_range(since, until)
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
    app.include_router(alerts_router(service, read_guard, write_guard, errors))
    app.include_router(references_router(service, read_guard, write_guard, errors))
    app.include_router(lifecycle_router(service, read_guard, errors))
    app.include_router(dashboard_routes(service, read_guard, errors))

    @app.post(
        "/v1/models/{model}/predict",
        tags=["serve"],
        dependencies=[write_guard],
        responses={
            **write_responses,
            404: {"model": ErrorResponse, "description": "model or version not served"},
            502: {
                "model": ModelFailure,
                "description": "the model raised or gave an invalid output; the predictions "
                "are logged as failed under `ids`",
            },
        },
    )
    async def predict(
        model: str, request: PredictRequest, version: VersionQuery = None
    ) -> JSONResponse:
        """Predict with a served model; every prediction is logged before the answer.

        A 422 is the request's fault (inputs that do not fit the model: nothing is
        logged). A 502 is the model's: it raised, or answered with a non-finite or
        out-of-range score, a probability row of the wrong length, or a label outside
        its classes; the predictions are logged as failed (`error_type`) and their
        `ids` returned, and no score is stored.

        (Served by the ASGI fast path, which runs the same service call.)"""
        return answer(
            await predict_rows(
                service, model, version, request.inputs, id=request.id, segment=request.segment
            )
        )

    _open_inference_protocol(app, service, guard, errors)
    return app


def _open_inference_protocol(
    app: FastAPI, service: Service, guard: Guard, errors: dict[int | str, dict[str, Any]]
) -> None:
    """The Open Inference Protocol's REST routes (see :mod:`liveeval.api.v2`)."""
    v2_errors: dict[int | str, dict[str, Any]] = {
        code: {"model": v2.V2Error, "description": spec["description"]}
        for code, spec in errors.items()
        if code != 422
    }
    not_served: dict[int | str, dict[str, Any]] = {
        404: {"model": v2.V2Error, "description": "model or version not served"}
    }
    infer_responses: dict[int | str, dict[str, Any]] = {
        **v2_errors,
        **not_served,
        400: {"model": v2.V2Error, "description": "tensors that do not fit the model"},
        502: {
            "model": v2.V2ModelFailure,
            "description": "the model raised or gave an invalid output; the predictions are "
            "logged as failed under `prediction_ids`",
        },
        503: {"model": v2.V2Error, "description": "the store cannot answer in time"},
    }
    tags: list[str | Enum] = ["open inference protocol (v2)"]
    read_guard = Depends(guard.require_read)
    write_guard = Depends(guard.require_write)

    @app.get("/v2", tags=tags, response_model=v2.ServerMetadata)
    async def v2_server_metadata() -> dict[str, Any]:
        """Server metadata."""
        return {"name": "liveeval", "version": __version__, "extensions": []}

    @app.get("/v2/health/live", tags=tags, response_model=v2.ServerLive)
    async def v2_live() -> dict[str, Any]:
        """Liveness: the server answers."""
        return {"live": True}

    @app.get(
        "/v2/health/ready",
        tags=tags,
        response_model=v2.ServerReady,
        responses={503: {"model": v2.ServerReady, "description": "the store is not open"}},
    )
    async def v2_ready() -> JSONResponse:
        """Readiness: every model is loaded (they are before the server starts) and the
        store is open."""
        ready = service.started
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    metadata_doc = (
        "Model metadata: versions, platform, inputs (one tensor per feature) and outputs "
        "(label, score or probabilities, prediction_id), and `classes`, the order of the "
        "probabilities' columns."
    )
    infer_doc = (
        "Inference: one tensor per feature (shape [N] or [N, 1]) or one [N, F] tensor in "
        "the metadata's feature order; every prediction is logged and committed before "
        "the answer, exactly as by `/v1/models/{model}/predict`. `id` and `parameters` "
        "are echoed; a string `parameters.segment` is stored with the predictions. "
        "Triton's binary tensor extension is read in requests; answers are JSON.\n\n"
        "(Served by the ASGI fast path, which runs the same call.)"
    )
    model_routes: dict[str, Any] = {
        "tags": tags,
        "dependencies": [read_guard],
        "responses": {**v2_errors, **not_served},
    }
    infer_route: dict[str, Any] = {
        "tags": tags,
        "dependencies": [write_guard],
        "responses": infer_responses,
    }

    async def inferred(model: str, version: str | None, request: v2.InferRequest) -> JSONResponse:
        result = await v2.infer(service, model, version, request, time.perf_counter())
        return JSONResponse(result.body, status_code=status_of(result))

    @app.get(
        "/v2/models/{model}",
        response_model=v2.ModelMetadata,
        description=metadata_doc,
        **model_routes,
    )
    async def v2_model_metadata(model: str) -> dict[str, Any]:
        return v2.model_metadata(service, model, None)

    @app.get(
        "/v2/models/{model}/versions/{version}",
        response_model=v2.ModelMetadata,
        description=metadata_doc,
        **model_routes,
    )
    async def v2_version_metadata(model: str, version: str) -> dict[str, Any]:
        return v2.model_metadata(service, model, version)

    @app.get("/v2/models/{model}/ready", response_model=v2.ModelReady, **model_routes)
    async def v2_model_ready(model: str) -> dict[str, Any]:
        """Model readiness: served models are loaded before the server starts."""
        service.served(model, None)
        return {"name": model, "ready": service.started}

    @app.get(
        "/v2/models/{model}/versions/{version}/ready", response_model=v2.ModelReady, **model_routes
    )
    async def v2_version_ready(model: str, version: str) -> dict[str, Any]:
        """Readiness of one version of a model."""
        service.served(model, version)
        return {"name": model, "ready": service.started}

    @app.post(
        "/v2/models/{model}/infer",
        response_model=v2.InferResponse,
        description=infer_doc,
        **infer_route,
    )
    async def v2_infer(model: str, request: v2.InferRequest) -> JSONResponse:
        return await inferred(model, None, request)

    @app.post(
        "/v2/models/{model}/versions/{version}/infer",
        response_model=v2.InferResponse,
        description=infer_doc,
        **infer_route,
    )
    async def v2_version_infer(model: str, version: str, request: v2.InferRequest) -> JSONResponse:
        return await inferred(model, version, request)


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
