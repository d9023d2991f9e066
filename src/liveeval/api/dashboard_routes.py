"""The dashboard's routes: its pages and assets (:mod:`liveeval.dashboard`) and the
one read they need beyond the other routes, the live threshold curve.

HTTP only: parse the query, call the service, return JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends

from ..config import WINDOW_PATTERN, parse_window
from ..dashboard import pages_router
from ..service import Service
from ..service.overview import VERSION_METRICS, overview, version_cards
from ..service.threshold import threshold_curve
from .monitoring import MetricName, _json
from .query import SegmentQuery, VersionQuery, time_range
from .schemas import ErrorResponse

__all__ = ["dashboard_routes"]


def dashboard_routes(
    service: Service, read_guard: Depends, errors: dict[int | str, dict[str, Any]]
) -> APIRouter:
    """The dashboard's pages (public shells: every number comes from the guarded JSON
    API, read with the token the browser holds), ``GET /v1/overview``, ``GET
    /v1/models/{m}/versions`` and ``GET /v1/models/{m}/threshold``."""
    router = APIRouter()
    router.include_router(pages_router())
    not_found = {**errors, 404: {"model": ErrorResponse, "description": "unknown model"}}

    @router.get(
        "/v1/overview",
        tags=["read"],
        dependencies=[read_guard],
        responses=errors,
        response_model=dict[str, Any],
    )
    async def models_overview(
        window: str = Query("1h", pattern=WINDOW_PATTERN, description="e.g. 1h, 24h, 30d"),
        size: str = Query(
            "2m",
            pattern=WINDOW_PATTERN,
            description="sparkline window size, e.g. 2m, 1h, 1d (at most 200 points)",
        ),
    ) -> Response:
        """Every model and version with predictions in the last ``window``: counts,
        label coverage, the key metric (the first one its profile judges), p95 latency
        and the failed-prediction rate with intervals, the verdict's status and summary,
        and the key metric per window of ``size`` (a sparkline). One request for the
        dashboard's overview; the numbers equal those of the metrics and windows
        routes over the same range."""
        every = parse_window(size)
        return await run_in_threadpool(lambda: _json(overview(service, window=window, size=every)))

    @router.get(
        "/v1/models/{model}/versions",
        tags=["read"],
        dependencies=[read_guard],
        responses=not_found,
        response_model=dict[str, Any],
    )
    async def model_versions(
        model: str,
        window: str | None = Query(
            None, pattern=WINDOW_PATTERN, description="e.g. 30m, 1h, 7d; default: all time"
        ),
        since: datetime | None = None,
        until: datetime | None = None,
        profile: str | None = Query(
            None,
            max_length=100,
            description="judge every version against this profile (default: each version's own)",
        ),
        metrics: Annotated[
            list[MetricName] | None,
            Query(
                description="metrics to show, repeated (default: precision, recall, F1, "
                "ROC AUC, accuracy, p95 latency, failed-prediction rate)"
            ),
        ] = None,
    ) -> Response:
        """Each version's headline over the range, in one read: counts, label coverage,
        the metrics named (with the key metric and what the verdict reads) with
        intervals, and the verdict's status and summary. A version's numbers equal those
        of ``/v1/models/{model}/metrics?version=…`` over the same range; the model
        page's "versions side by side"."""
        start, end = time_range(since, until)
        names = tuple(dict.fromkeys(m.value for m in metrics)) if metrics else VERSION_METRICS
        return await run_in_threadpool(
            lambda: _json(
                version_cards(
                    service,
                    model,
                    window=window,
                    since=start,
                    until=end,
                    profile=profile,
                    metrics=names,
                )
            )
        )

    @router.get(
        "/v1/models/{model}/threshold",
        tags=["read"],
        dependencies=[read_guard],
        responses=not_found,
        response_model=dict[str, Any],
    )
    async def model_threshold(
        model: str,
        window: str | None = Query(
            None, pattern=WINDOW_PATTERN, description="e.g. 30m, 1h, 7d; default: all time"
        ),
        since: datetime | None = None,
        until: datetime | None = None,
        version: VersionQuery = None,
        segment: SegmentQuery = None,
        min_recall: float | None = Query(
            None, ge=0.0, le=1.0, description="default: the profile's recall target"
        ),
        min_precision: float | None = Query(
            None, ge=0.0, le=1.0, description="default: the profile's precision target"
        ),
        cost_fp: float | None = Query(
            None, ge=0.0, le=1e12, allow_inf_nan=False, description="cost of a false positive"
        ),
        cost_fn: float | None = Query(
            None, ge=0.0, le=1e12, allow_inf_nan=False, description="cost of a false negative"
        ),
    ) -> Response:
        """The live threshold curve of a binary model (precision, recall, F1, false-positive
        rate, confusion counts and, with a cost, the expected cost per row at about 200
        thresholds) and the recommended operating points with intervals."""
        start, end = time_range(since, until)
        return await run_in_threadpool(
            lambda: _json(
                threshold_curve(
                    service,
                    model,
                    window=window,
                    since=start,
                    until=end,
                    version=version,
                    segment=segment,
                    min_recall=min_recall,
                    min_precision=min_precision,
                    cost_fp=cost_fp,
                    cost_fn=cost_fn,
                )
            )
        )

    return router
