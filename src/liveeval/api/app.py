"""The liveeval HTTP server: serve models, ingest predictions and outcomes from any
server, and read live metrics. Routes are thin: validation lives in ``schemas``,
storage in ``liveeval.store``, metrics in ``liveeval.metrics``."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pyarrow as pa
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError as PydanticValidationError

from .. import __version__
from ..errors import LiveevalError, StoreUnavailable
from ..readiness import load_profile, verdict
from ..report.model import metric_dict
from ..serving import LoadedModel, load_model
from ..store import BatchOutcome, Kind, Scope, Store, WriteOutcome, content_schema, open_store
from . import ingest
from ._common import new_id, now, write_results
from .auth import Tokens
from .config import WINDOW_PATTERN, ServerConfig, parse_window
from .fastpath import validation_errors
from .middleware import RequestGuard
from .predict import predict as predict_rows
from .prometheus import QUALITY, Telemetry
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


class Server:
    """Everything one running app holds: config, models, store, writer, telemetry."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.tokens = Tokens.from_env(config.tokens)
        self.models: dict[str, dict[str, LoadedModel]] = {}
        self.default_version: dict[str, str] = {}
        for spec in config.models:
            loaded = load_model(spec)
            self.models.setdefault(spec.name, {})[spec.version] = loaded
            self.default_version.setdefault(spec.name, spec.version)
        self.store: Store | None = None
        self.telemetry = Telemetry(self.quality_rows, config.metrics_cache_seconds)
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Open the store and start the background threads (once; a second call, e.g.
        from a test harness and the app's lifespan, does nothing)."""
        if self.store is not None:
            return
        self.store = open_store(self.config.store)
        self._sampler = threading.Thread(target=self._sample_resources, daemon=True)
        self._sampler.start()
        # Models, libraries and the id index are long-lived: move them out of the
        # garbage collector's generations so that its periodic full passes, triggered
        # by the many small objects each request allocates, stop re-scanning them.
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        self._stop.set()
        if self.store is not None:
            self.store.close()  # flushes everything queued
        self.store = None

    def _sample_resources(self) -> None:
        import psutil

        process = psutil.Process()
        process.cpu_percent(None)
        while not self._stop.wait(self.config.resource_interval_seconds):
            sample = {
                "ts": now(),
                "process": f"liveeval-{process.pid}",
                "cpu_percent": process.cpu_percent(None),
                "rss_bytes": process.memory_info().rss,
            }
            if self.store is not None and not self._stop.is_set():
                self.store.commit("resource_samples", [sample])

    # -- helpers -----------------------------------------------------------------

    async def write(
        self, kind: Kind, events: list[dict[str, Any]], *, fresh: bool = False
    ) -> list[WriteOutcome]:
        assert self.store is not None
        outcomes = await self.store.write(kind, events, fresh=fresh)
        for o in outcomes:
            self.telemetry.events.labels(kind, o.status).inc()
        return outcomes

    async def write_table(self, kind: Kind, table: pa.Table) -> BatchOutcome:
        assert self.store is not None
        outcome = await self.store.write_table(kind, table)
        for status in ("stored", "duplicate", "conflict"):
            if count := outcome.count(status):
                self.telemetry.events.labels(kind, status).inc(count)
        return outcome

    def known_models(self) -> set[str]:
        assert self.store is not None
        return set(self.models) | self.store.models()

    def is_known(self, model: str) -> bool:
        """Served, or seen in the logs; one indexed probe instead of listing every model."""
        if model in self.models:
            return True
        assert self.store is not None
        return self.store.has_model(model)

    def model_meta(
        self, model: str, version: str | None
    ) -> tuple[tuple[Any, ...] | None, Any, str | None]:
        versions = self.models.get(model)
        if not versions:
            return None, None, None
        loaded = versions.get(version or self.default_version[model]) or next(
            iter(versions.values())
        )
        return loaded.classes, loaded.pos_label, loaded.spec.profile

    def quality_rows(self) -> list[dict[str, Any]]:
        """Live quality per model and version over the configured window, for Prometheus."""
        if self.store is None:
            return []
        since = now() - parse_window(self.config.window)
        pairs = self.store.versions_since(since)
        rows = []
        for model, version in pairs:
            classes, pos_label, _ = self.model_meta(model, version)
            stats = self.store.statistics(
                Scope(model, since, None, version), classes=classes, pos_label=pos_label
            )
            row: dict[str, Any] = {
                "model": model,
                "version": version,
                "labelled": stats.labelled,
                "label_coverage": stats.label_coverage,
            }
            if stats.evaluation is not None and stats.labelled:
                metrics = stats.evaluation.result().metrics
                for name in QUALITY:
                    m = metrics.get(name)
                    if m is not None and m.is_defined:
                        row[name] = m.value
            rows.append(row)
        return rows


def _conflict_response(
    kind: str, outcomes: list[Any], matched: set[str] | None = None
) -> JSONResponse:
    status, body = write_results(kind, outcomes, matched)
    return JSONResponse(body, status_code=status)


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app; the store opens when the app starts and is flushed when it stops."""
    config.check()
    server = Server(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        server.start()
        try:
            yield
        finally:
            server.stop()

    app = FastAPI(
        title="liveeval",
        version=__version__,
        description="Serve models, log every prediction, join delayed ground truth, and "
        "measure live model quality with confidence intervals.",
        lifespan=lifespan,
    )
    app.state.server = server
    tokens = server.tokens

    app.add_middleware(RequestGuard, server=server)

    @app.exception_handler(PydanticValidationError)
    async def invalid_body(_: Request, exc: PydanticValidationError) -> JSONResponse:
        return JSONResponse(validation_errors(exc), status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def store_behind(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

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
    write_guard = Depends(tokens.require_write)
    read_guard = Depends(tokens.require_read)

    @app.get("/healthz", tags=["server"])
    async def healthz() -> dict[str, Any]:
        """Liveness: the store is open."""
        return {
            "status": "ok",
            "version": __version__,
            "schema": server.store.schema_version if server.store else None,
        }

    @app.get("/metrics", tags=["server"], response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition."""
        body = await run_in_threadpool(generate_latest, server.telemetry.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/predictions",
        tags=["ingest"],
        dependencies=[write_guard],
        response_model=WriteResponse,
        responses=write_responses,
    )
    async def ingest_predictions(body: PredictionIn | PredictionBatch) -> JSONResponse:
        """Log predictions made elsewhere: one object, or ``{"predictions": [...]}`` (up to
        10,000). Answers after the events are committed; 409 names conflicting ids."""
        status, result = await ingest.ingest_predictions(server, body)
        return JSONResponse(result, status_code=status)

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
        (id, model, version, ts and status required; labels as JSON text)."""
        if not request.headers.get("content-type", "").startswith(ARROW_STREAM):
            raise HTTPException(415, f"send the batch as {ARROW_STREAM}")
        table = _read_arrow(await request.body())
        outcome = await server.write_table("predictions", table)
        conflicts = [{"id": key, "detail": detail} for key, detail in outcome.conflicts()]
        body: dict[str, Any] = {
            "stored": outcome.count("stored"),
            "duplicates": outcome.keys_with("duplicate"),
            "conflicts": conflicts,
        }
        if conflicts:
            body["detail"] = (
                f"{len(conflicts)} predictions conflict with events already stored under the "
                "same id and were not written; the others were committed"
            )
        return JSONResponse(body, status_code=409 if conflicts else 200)

    @app.post(
        "/v1/outcomes",
        tags=["ingest"],
        dependencies=[write_guard],
        response_model=WriteResponse,
        responses=write_responses,
    )
    async def ingest_outcomes(body: OutcomeIn | OutcomeBatch) -> JSONResponse:
        """Ground truth by prediction id, in any order relative to the prediction: an outcome
        for an id not seen (yet) is kept and reported as unmatched."""
        status, result = await ingest.ingest_outcomes(server, body)
        return JSONResponse(result, status_code=status)

    @app.post(
        "/v1/deployments",
        tags=["ingest"],
        dependencies=[write_guard],
        response_model=WriteResponse,
        responses=write_responses,
    )
    async def ingest_deployment(event: DeploymentIn) -> JSONResponse:
        """A deployment event: started, succeeded, failed or rolled back."""
        row = event.model_dump()
        row["id"] = row["id"] or new_id()
        row["ts"] = row["ts"] or now()
        return _conflict_response("deployments", await server.write("deployments", [row]))

    @app.get("/v1/models", tags=["read"], dependencies=[read_guard], responses=errors)
    async def list_models() -> dict[str, Any]:
        """Served models and models seen in the logs."""
        served = {
            name: [
                {
                    "version": v,
                    "classes": list(m.classes),
                    "pos_label": m.pos_label,
                    "features": list(m.features),
                }
                for v, m in versions.items()
            ]
            for name, versions in server.models.items()
        }
        return {"served": served, "known": sorted(await run_in_threadpool(server.known_models))}

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
        profile: str | None = Query(None, description="judge against a use-case profile"),
    ) -> dict[str, Any]:
        """Live metrics with intervals for one model (optionally a version, segment, time range)."""
        if not await run_in_threadpool(server.is_known, model):
            raise HTTPException(404, f"unknown model {model!r}")
        if window is not None:
            try:
                since = now() - parse_window(window)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            except OverflowError:
                raise HTTPException(422, f"window {window!r} reaches before year 1") from None
        return await run_in_threadpool(
            _metrics_body, server, model, since, until, version, segment, profile, window
        )

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

        (Served by the ASGI fast path in ``liveeval.api.predict``, which runs the same
        function; this declaration gives the OpenAPI spec its request and responses.)"""
        status, body = await predict_rows(server, model, version, request)
        return JSONResponse(body, status_code=status)

    return app


def _read_arrow(raw: bytes) -> pa.Table:
    try:
        table = pa.ipc.open_stream(raw).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise HTTPException(422, f"request body is not an Arrow IPC stream: {exc}") from None
    if table.num_rows > 50 * MAX_BATCH:
        raise HTTPException(
            413, f"{table.num_rows} rows exceed the {50 * MAX_BATCH}-row batch limit"
        )
    schema = content_schema("predictions")
    missing = [
        f.name
        for f in schema
        if f.name not in table.column_names and f.name in ("id", "model", "version", "ts", "status")
    ]
    if missing:
        raise HTTPException(422, f"Arrow batch lacks required column(s) {missing}")
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    try:
        table = table.select([f.name for f in schema]).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise HTTPException(422, f"Arrow batch has a column of the wrong type: {exc}") from None
    for name in ("id", "model", "version", "ts", "status"):
        if table.column(name).null_count:
            raise HTTPException(422, f"Arrow batch column '{name}' has missing values")
    return table


def _metrics_body(
    server: Server,
    model: str,
    since: datetime | None,
    until: datetime | None,
    version: str | None,
    segment: str | None,
    profile: str | None,
    window: str | None,
) -> dict[str, Any]:
    assert server.store is not None
    classes, pos_label, default_profile = server.model_meta(model, version)
    scope = Scope(model, since, until, version, segment)
    stats = server.store.statistics(scope, classes=classes, pos_label=pos_label)
    body: dict[str, Any] = {
        "model": model,
        "scope": {
            "window": window,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "version": version,
            "segment": segment,
        },
        "predictions": stats.predictions,
        "failed_predictions": stats.failed,
        "labelled": stats.labelled,
        "label_coverage": stats.label_coverage,
        "unmatched_outcomes": stats.unmatched_outcomes,
        "labels": list(stats.labels),
        "metrics": {},
        "confusion_matrix": None,
        "verdict": None,
    }
    body["metrics"] = {k: metric_dict(m) for k, m in stats.business_metrics().items()}
    if stats.evaluation is None:
        return body
    result = stats.evaluation.result()
    body["metrics"].update({k: metric_dict(m) for k, m in result.metrics.items()})
    body["confusion_matrix"] = {
        "labels": list(result.labels),
        "layout": "rows are actual classes, columns predicted classes",
        "matrix": result.confusion_matrix,
    }
    body["pos_label"] = result.pos_label
    chosen = profile or default_profile
    if chosen:
        try:
            body["verdict"] = verdict(load_profile(chosen), result, []).to_dict()
        except LiveevalError as exc:
            raise HTTPException(422, str(exc)) from None
    return body
