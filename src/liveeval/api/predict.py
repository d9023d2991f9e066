"""Predict with a served model and log every prediction before answering.

:func:`predict` is the whole of the work; it is reached through the ASGI fast path
(:mod:`liveeval.api.fastpath`), and the FastAPI route of the same path declares the
request and responses for the OpenAPI spec and runs the same function.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import HTTPException

from ..metrics.labels import normalise_label
from ..store import encode_label
from ._common import new_id, now, to_json, write_results
from .schemas import PredictRequest

if TYPE_CHECKING:
    from .app import Server

__all__ = ["predict"]


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
