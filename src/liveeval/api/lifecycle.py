"""Routes about what happens around the model: notifications and their delivery,
action runs, deployments, and champion against challenger; and the Prometheus series
of the notifications outbox.

HTTP only: parse the query, call the service, return JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..config import parse_window
from ..service import Service
from ..service.compare import compare_versions
from ..service.deployments import deployment_summary
from ..service.ledger import notifications_listing, runs_listing
from .query import time_range
from .schemas import ErrorResponse

__all__ = ["NotificationCollector", "lifecycle_router"]


def lifecycle_router(
    service: Service, read_guard: Depends, errors: dict[int | str, dict[str, Any]]
) -> APIRouter:
    router = APIRouter(dependencies=[read_guard])
    not_found = {**errors, 404: {"model": ErrorResponse, "description": "unknown model"}}

    @router.get("/v1/notifications", tags=["alerts"], responses=errors)
    async def notifications(
        status: Literal["pending", "delivered"] | None = Query(
            None, description="pending: not delivered yet (retried with backoff)"
        ),
        channel: str | None = Query(None, max_length=200),
        model: str | None = Query(None, max_length=200),
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        """Notifications in the outbox, newest first, with each channel's backlog
        (pending count, oldest pending age) and its settings (never its secret)."""

        def read() -> dict[str, Any]:
            return notifications_listing(
                service.store,
                service.notifications,
                status=status,
                channel=channel,
                model=model,
                limit=limit,
            )

        return await run_in_threadpool(read)

    @router.get("/v1/actions/runs", tags=["alerts"], responses=errors)
    async def action_runs(
        action: str | None = Query(None, max_length=200),
        model: str | None = Query(None, max_length=200),
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        """Runs of alert actions, newest first: status (running, succeeded, failed,
        timed_out, skipped with the reason, interrupted), exit code, duration, rows
        exported and the tail of the output."""

        def read() -> dict[str, Any]:
            return runs_listing(
                service.store, service.actions, action=action, model=model, limit=limit
            )

        return await run_in_threadpool(read)

    @router.get("/v1/models/{model}/deployments", tags=["deployments"], responses=not_found)
    async def deployments(model: str) -> dict[str, Any]:
        """Deployment history from deployment events (the server's own model loads and
        those posted to `POST /v1/deployments`): success rate with its interval, live
        version, time live per version, rollbacks, and the last 100 events."""
        return await run_in_threadpool(lambda: deployment_summary(service, model))

    @router.get("/v1/models/{model}/compare", tags=["deployments"], responses=not_found)
    async def compare(
        model: str,
        a: str = Query(..., description="the champion's version", max_length=200),
        b: str = Query(..., description="the challenger's version", max_length=200),
        since: datetime | None = None,
        until: datetime | None = None,
        every: str | None = Query(
            None,
            # At most six digits: every such duration is a timedelta (WINDOW_PATTERN
            # also admits durations longer than any time range).
            pattern=r"^0*[1-9][0-9]{0,5}[smhdw]$",
            description="flip rate and score difference per window too (e.g. 1h, 1d); "
            "default range: the last 24 windows",
        ),
    ) -> dict[str, Any]:
        """Two versions over the same range: every metric of both with the interval of
        the difference (b − a) and whether it is significant; the flip rate (share of
        inputs predicted by both whose label differs) and score differences on the same
        inputs."""
        if a == b:
            raise HTTPException(422, f"a and b are both {a!r}: compare two different versions")
        start, end = time_range(since, until)
        step = parse_window(every) if every else None
        return await run_in_threadpool(
            lambda: compare_versions(service, model, a, b, since=start, until=end, every=step)
        )

    return router


class NotificationCollector(Collector):
    """The outbox as Prometheus series, read at scrape time."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        dispatcher = self.service.notifications
        if dispatcher is None:
            return
        delivered = CounterMetricFamily(
            "liveeval_notifications_delivered",
            "Notifications a channel took, since the server started",
            labels=["channel"],
        )
        failed = CounterMetricFamily(
            "liveeval_notification_failures",
            "Delivery attempts that failed (retried with backoff), since the server started",
            labels=["channel"],
        )
        up = GaugeMetricFamily(
            "liveeval_notification_channel_up",
            "0 while a channel's last delivery attempt failed, else 1",
            labels=["channel"],
        )
        pending = GaugeMetricFamily(
            "liveeval_notifications_pending",
            "Notifications stored and not yet delivered",
            labels=["channel"],
        )
        oldest = GaugeMetricFamily(
            "liveeval_notification_oldest_pending_age_seconds",
            "Age of the oldest notification not yet delivered (0 when none)",
            labels=["channel"],
        )
        backlog = dispatcher.backlog()
        for name, stats in dispatcher.stats.items():
            delivered.add_metric([name], stats.delivered)
            failed.add_metric([name], stats.failed)
            up.add_metric([name], 0.0 if stats.failing_in_a_row else 1.0)
            count, age = backlog.get(name, (0, 0.0))
            pending.add_metric([name], count)
            oldest.add_metric([name], age)
        yield from (delivered, failed, up, pending, oldest)
