"""Alert routes: the alerts and their history, the rules, an evaluation on demand.

HTTP only: parse the query, call the service's alert engine, return JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends

from ..errors import NotFoundError
from ..service import Service
from .schemas import ErrorResponse

__all__ = ["alerts_router"]


def alerts_router(
    service: Service,
    read_guard: Depends,
    write_guard: Depends,
    errors: dict[int | str, dict[str, Any]],
) -> APIRouter:
    """Routes reading alerts (read token) and evaluating the rules now (write token)."""
    router = APIRouter(tags=["alerts"])

    @router.get("/v1/alerts", dependencies=[read_guard], responses=errors)
    async def list_alerts(
        state: Literal["pending", "firing", "resolved"] | None = Query(
            None, description="only alerts whose latest state is this"
        ),
        model: str | None = Query(None, max_length=200, description="only this model's"),
        rule: str | None = Query(None, max_length=200, description="only this rule's"),
    ) -> dict[str, Any]:
        """Every alert's latest state (newest change first) with its evidence: the
        baseline and where it came from, the values before and after, intervals, the
        statistic and its threshold, the samples it took."""
        engine = service.alert_engine()
        found = await run_in_threadpool(lambda: engine.alerts(state=state, model=model, rule=rule))
        return {
            "evaluated_at": engine.evaluated_at.isoformat() if engine.evaluated_at else None,
            "alerts": found,
        }

    @router.get("/v1/alerts/{alert_id}", dependencies=[read_guard], responses={
        **errors, 404: {"model": ErrorResponse, "description": "unknown alert"}
    })  # fmt: skip
    async def one_alert(alert_id: str) -> dict[str, Any]:
        """One alert's latest state and every state change it went through."""
        engine = service.alert_engine()
        found = await run_in_threadpool(lambda: engine.alert(alert_id))
        if found is None:
            raise NotFoundError(f"no alert {alert_id[:80]!r}")
        return found

    @router.get("/v1/alert-rules", dependencies=[read_guard], responses=errors)
    async def alert_rules() -> dict[str, Any]:
        """The rules evaluated (from the config, the --alerts file and the models'
        profiles), each with the last error that stopped its evaluation, if any."""
        engine = service.alert_engine()
        return {
            "interval_seconds": service.config.alerts.interval_seconds,
            "rules": engine.rules_json(),
        }

    @router.post("/v1/alerts/evaluate", dependencies=[write_guard], responses=errors)
    async def evaluate() -> dict[str, Any]:
        """Evaluate every rule now; answers the state changes this made."""
        changes = await run_in_threadpool(service.evaluate_alerts_now)
        return {"changes": [n.to_json() for n in changes]}

    return router
