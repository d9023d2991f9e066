"""Reference routes: register a file as a named reference of a model, list, delete.

HTTP only: check the media type, read the body (the size limit is the middleware's
``max_reference_bytes``), call :mod:`liveeval.service.reference`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends
from fastapi.responses import JSONResponse, Response

from ..service import Service
from ..service.reference import (
    ARROW_STREAM,
    MEDIA_TYPES,
    NAME_PATTERN,
    PARQUET,
    delete_reference,
    list_references,
    upload_reference,
)
from .schemas import ErrorResponse

__all__ = ["references_router"]

_NAME = Path(
    ...,
    pattern=NAME_PATTERN,
    description="1–64 letters, digits, '.', '_' or '-', starting with a letter or digit",
)


def references_router(
    service: Service,
    read_guard: Depends,
    write_guard: Depends,
    errors: dict[int | str, dict[str, Any]],
) -> APIRouter:
    """Routes registering references for drift (``reference=upload:NAME``)."""
    router = APIRouter(tags=["monitor"])
    not_found = {**errors, 404: {"model": ErrorResponse, "description": "unknown model"}}

    @router.put(
        "/v1/models/{model}/references/{name}",
        dependencies=[write_guard],
        status_code=201,
        responses={
            **not_found,
            200: {"description": "replaced (replace=true)"},
            409: {"model": ErrorResponse, "description": "the name is taken (add replace=true)"},
            413: {"model": ErrorResponse, "description": "larger than max_reference_bytes"},
            415: {"model": ErrorResponse, "description": "neither Parquet nor Arrow"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in MEDIA_TYPES
                },
            }
        },
    )
    async def put_reference(
        model: str,
        request: Request,
        name: str = _NAME,
        replace: bool = Query(False, description="overwrite a reference of that name"),
        score: str | None = Query(
            None, max_length=200, description="column holding a binary model's score"
        ),
        label: str | None = Query(
            None, max_length=200, description="column holding the actual label"
        ),
        prediction: str | None = Query(
            None, max_length=200, description="column holding the predicted label"
        ),
        extra: Literal["error", "ignore"] = Query(
            "error",
            description="columns that are not features of the model: an error, or left out",
        ),
    ) -> JSONResponse:
        """Register a Parquet file or an Arrow IPC stream of features (and optionally the
        score and labels) as reference ``name`` of ``model``; compare live windows with
        it by ``GET /v1/models/{model}/drift?reference=upload:{name}``. Kept in the
        store (survives restarts) as histograms on the model's fixed feature bins."""
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in MEDIA_TYPES:
            raise HTTPException(
                415,
                f"content-type {media[:80]!r} is not accepted: send the reference as "
                f"{PARQUET} (a Parquet file) or {ARROW_STREAM} (an Arrow IPC stream)",
            )
        raw = await request.body()
        existed = replace and service.store.reference(model, name) is not None
        summary = await run_in_threadpool(
            lambda: upload_reference(
                service,
                model,
                name,
                raw,
                media,
                score=score,
                label=label,
                prediction=prediction,
                replace=replace,
                extra=extra,
            )
        )
        return JSONResponse({"model": model, **summary}, status_code=200 if existed else 201)

    @router.get("/v1/models/{model}/references", dependencies=[read_guard], responses=not_found)
    async def get_references(model: str) -> dict[str, Any]:
        """The references registered for ``model``: name, rows, columns and what each
        became, and when each was registered."""
        return await run_in_threadpool(lambda: list_references(service, model))

    @router.delete(
        "/v1/models/{model}/references/{name}",
        dependencies=[write_guard],
        status_code=204,
        responses={**not_found, 404: {"model": ErrorResponse, "description": "unknown"}},
    )
    async def remove_reference(model: str, name: str = _NAME) -> Response:
        """Forget reference ``name`` of ``model``."""
        await run_in_threadpool(lambda: delete_reference(service, model, name))
        return Response(status_code=204)

    return router
