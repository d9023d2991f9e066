"""Monitoring routes: windows over time (and, as they land, drift and estimates).

HTTP only: parse the query, call :mod:`liveeval.service.monitoring`, return JSON.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic_core
from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends

from ..config import WINDOW_PATTERN, parse_window
from ..metrics.registry import METRICS
from ..service import Service
from ..service.drift import drift as read_drift
from ..service.monitoring import windows as read_windows
from ..service.operations import failures as read_failures
from ..service.operations import resources as read_resources
from .query import SegmentQuery, VersionQuery, time_range
from .schemas import ErrorResponse

__all__ = ["monitoring_router"]

# The catalogue's names as an enum, so the OpenAPI spec lists what a query may ask for.
MetricName = enum.Enum("MetricName", {name: name for name in METRICS}, type=str)  # type: ignore[misc]

_SIZE_PATTERN = r"^\s*(0*[1-9][0-9]{0,6}|0*[1-9][0-9]*[smhdw])\s*$"


def monitoring_router(
    service: Service, read_guard: Depends, errors: dict[int | str, dict[str, Any]]
) -> APIRouter:
    """Routes reading a model over time."""
    router = APIRouter(tags=["monitor"], dependencies=[read_guard])
    not_found = {**errors, 404: {"model": ErrorResponse, "description": "unknown model"}}

    @router.get("/v1/models/{model}/windows", responses=not_found, response_model=dict[str, Any])
    async def model_windows(
        model: str,
        size: str = Query(
            "1h",
            pattern=_SIZE_PATTERN,
            description="a duration (15m, 1h, 1d) for tumbling time windows, or a number N "
            "for windows of N labelled predictions",
        ),
        since: datetime | None = None,
        until: datetime | None = None,
        version: VersionQuery = None,
        segment: SegmentQuery = None,
        by: Annotated[
            list[Literal["version", "segment"]] | None,
            Query(description="one series of windows per version and/or segment"),
        ] = None,
        maturity: float | None = Query(
            None,
            gt=0.0,
            le=1.0,
            description="label coverage from which a window is 'realized' (default 0.9)",
        ),
        metrics: Annotated[
            list[MetricName] | None,
            Query(description="metrics to show, repeated (default: the live gauges' metrics)"),
        ] = None,
    ) -> Response:
        """Per window, by prediction time: predictions, failed, labelled, label coverage,
        maturity state (estimating / realized), and metrics with intervals of the
        labelled predictions."""
        start, end = time_range(since, until)
        names = tuple(dict.fromkeys(m.value for m in metrics)) if metrics else None
        return await run_in_threadpool(
            lambda: _json(
                read_windows(
                    service,
                    model,
                    size,
                    since=start,
                    until=end,
                    version=version,
                    segment=segment,
                    by=tuple(dict.fromkeys(by or ())),
                    maturity=maturity,
                    metrics=names,
                )
            )
        )

    @router.get("/v1/models/{model}/drift", responses=not_found, response_model=dict[str, Any])
    async def model_drift(
        model: str,
        reference: str = Query(
            ...,
            max_length=200,
            description="what to compare with: 'version:NAME', 'START/END' (ISO 8601 "
            "times) or 'previous:7d' (that long before the first window)",
        ),
        window: str = Query(
            "1h", pattern=r"^0*[1-9][0-9]*[mhdw]$", description="window size, a multiple of 15m"
        ),
        since: datetime | None = None,
        until: datetime | None = None,
        version: VersionQuery = None,
        features: Annotated[
            list[str] | None, Query(description="features to compare (default: all)")
        ] = None,
        intervals: bool = Query(
            False, description="effect intervals for every window (the latest always has them)"
        ),
    ) -> Response:
        """Per window, every feature's drift against the reference, and the score,
        predicted label and label (prevalence) of a binary model; ranked, each with its
        method, effect size, raw and adjusted p-value, and the call with the rule that
        decided it."""
        start, end = time_range(since, until)
        return await run_in_threadpool(
            lambda: _json(
                read_drift(
                    service,
                    model,
                    reference=reference,
                    window=window,
                    since=start,
                    until=end,
                    version=version,
                    features=tuple(dict.fromkeys(features)) if features else None,
                    intervals=intervals,
                )
            )
        )

    @router.get("/v1/models/{model}/failures", responses=not_found)
    async def model_failures(
        model: str,
        size: str = Query("1h", pattern=WINDOW_PATTERN, description="window size: 1m, 1h, 1d"),
        since: datetime | None = None,
        until: datetime | None = None,
        version: VersionQuery = None,
    ) -> dict[str, Any]:
        """Failed predictions (the model raised, or answered something unusable) per
        window, version and error type, and each error type's total, most frequent
        first. The rate per window is the windows route's ``failed_prediction_rate``."""
        start, end = time_range(since, until)
        every = parse_window(size)
        return await run_in_threadpool(
            lambda: read_failures(service, model, every, since=start, until=end, version=version)
        )

    @router.get("/v1/resources", tags=["server"], responses=errors)
    async def server_resources(
        size: str = Query("1m", pattern=WINDOW_PATTERN, description="window size: 1m, 1h, 1d"),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """CPU and resident memory of every server process writing to this store, per
        window: the mean and maximum of the samples each server takes every
        ``resource_interval_seconds`` (15 s by default)."""
        start, end = time_range(since, until)
        every = parse_window(size)
        return await run_in_threadpool(
            lambda: read_resources(service, every, since=start, until=end)
        )

    return router


def _json(body: dict[str, Any]) -> Response:
    """A large answer as JSON, encoded by pydantic-core (what FastAPI's own
    serialisation uses, as for NaN: null) without FastAPI's validation pass over it:
    on 720 windows × 23 drift columns that pass and ``json.dumps`` took several times
    longer than computing the answer's tail (bench/README.md)."""
    return Response(pydantic_core.to_json(body), media_type="application/json")
