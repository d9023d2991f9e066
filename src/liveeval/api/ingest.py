"""Ingesting predictions and outcomes made elsewhere: the work behind the routes.

Each function returns a status and a JSON body, so the FastAPI routes (which declare
the OpenAPI spec) and the ASGI fast path (:mod:`liveeval.api.fastpath`) run the same
code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..store import encode_label
from ._common import new_id, now, to_json, write_results
from .schemas import OutcomeBatch, OutcomeIn, PredictionBatch, PredictionIn

if TYPE_CHECKING:
    from .app import Server

__all__ = ["ingest_outcomes", "ingest_predictions", "prediction_row"]


def prediction_row(p: PredictionIn) -> dict[str, Any]:
    """A validated prediction as the store's event dict."""
    return {
        "id": p.id or new_id(),
        "model": p.model,
        "version": p.version,
        "ts": p.ts or now(),
        "segment": p.segment,
        "features": None if p.features is None else to_json(p.features),
        "label": None if p.label is None else encode_label(p.label),
        "score": p.score,
        "probas": p.probas,
        "latency_model_s": p.latency_model_s,
        "latency_total_s": p.latency_total_s,
        "status": p.status,
        "error_type": p.error_type,
    }


async def ingest_predictions(
    server: Server, body: PredictionIn | PredictionBatch
) -> tuple[int, dict[str, Any]]:
    events = body.predictions if isinstance(body, PredictionBatch) else [body]
    rows = [prediction_row(p) for p in events]
    outcomes = await server.write("predictions", rows, fresh=all(p.id is None for p in events))
    telemetry = server.telemetry
    for p in events:
        telemetry.predictions.labels(p.model, p.version, p.status).inc()
        if p.latency_total_s is not None:
            telemetry.latency.labels(p.model, p.version).observe(p.latency_total_s)
    return write_results("predictions", outcomes)


async def ingest_outcomes(
    server: Server, body: OutcomeIn | OutcomeBatch
) -> tuple[int, dict[str, Any]]:
    events = body.outcomes if isinstance(body, OutcomeBatch) else [body]
    stamp = now()
    rows = [
        {
            "prediction_id": o.prediction_id,
            "label": None if o.label is None else encode_label(o.label),
            "value": o.value,
            "ts": o.ts or stamp,
        }
        for o in events
    ]
    outcomes = await server.write("outcomes", rows)
    assert server.store is not None
    ids = [o.prediction_id for o in events]
    # The id index holds every accepted prediction, loaded into DuckDB or not yet.
    known = server.store.known_ids("predictions", ids)
    seen = {i for i, hit in zip(ids, known, strict=True) if hit}
    for i in ids:
        server.telemetry.outcomes.labels("true" if i in seen else "false").inc()
    return write_results("outcomes", outcomes, matched=seen)
