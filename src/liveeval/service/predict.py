"""Predict with a served model and log every prediction before answering."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ._clock import new_id, now, to_json
from .answer import Answer
from .ingest import results_answer

if TYPE_CHECKING:
    from .core import Service

__all__ = ["predict"]


async def predict(
    service: Service,
    model: str,
    version: str | None,
    inputs: dict[str, Any] | list[dict[str, Any]],
    *,
    id: str | None = None,
    segment: str | None = None,
) -> Answer:
    """Predict ``inputs`` (one row or several) and commit each prediction first.

    Raises
    ------
    NotFoundError
        for a model or version that is not served.
    ValidationError
        for inputs that do not fit the model's input schema.
    """
    started = time.perf_counter()
    loaded = service.served(model, version)
    v = loaded.version
    rows = inputs if isinstance(inputs, list) else [inputs]
    if id is not None and len(rows) != 1:
        raise ValidationError("'id' is for a single row; omit it for a batch", column="id")
    x = loaded.inputs(rows)
    observer = service.observer
    try:
        out = loaded.infer(x)
    except Exception as exc:  # the model's own failure: logged as failed predictions
        failed = [
            {
                "id": id or new_id(),
                "model": model,
                "version": v,
                "ts": now(),
                "segment": segment,
                "features": to_json(row),
                "status": "error",
                "error_type": type(exc).__name__,
                "latency_total_s": time.perf_counter() - started,
            }
            for row in rows
        ]
        await service.write("predictions", failed)
        observer.predictions(model, v, "error", len(rows))
        return Answer(
            "bad_input" if isinstance(exc, ValueError) else "model_failed",
            {
                "detail": f"model {model!r} failed: {type(exc).__name__}: {exc}",
                "ids": [f["id"] for f in failed],
            },
        )
    labels, scores, probas, model_seconds = out.labels, out.scores, out.probas, out.model_seconds
    stamp = now()
    total = time.perf_counter() - started
    per_row = model_seconds / len(rows)
    encode = service.classes.encode
    events = [
        {
            "id": id or new_id(),
            "model": model,
            "version": v,
            "ts": stamp,
            "segment": segment,
            "features": to_json(row),
            "label": encode(model, labels[i]),
            "score": None if scores is None else scores[i],
            "probas": None if probas is None else probas[i],
            "latency_model_s": per_row,
            "latency_total_s": total,
            "status": "ok",
        }
        for i, row in enumerate(rows)
    ]
    outcomes = await service.write("predictions", events, fresh=id is None)
    for e in events:
        service.recent.remember(str(e["id"]), model)
    observer.predictions(model, v, "ok", len(rows))
    observer.latency(model, v, total, model_seconds)
    if any(o.status == "conflict" for o in outcomes):
        return results_answer("predictions", len(events), list(enumerate(outcomes)), [])
    names = [str(c) for c in loaded.classes]
    results: list[dict[str, Any]] = []
    for i, e in enumerate(events):
        result: dict[str, Any] = {"id": e["id"], "label": labels[i]}
        if scores is not None:
            result["score"] = scores[i]
        elif probas is not None:
            result["probas"] = dict(zip(names, probas[i], strict=True))
        results.append(result)
    body: dict[str, Any] = {"model": model, "version": v}
    if isinstance(inputs, list):
        body["predictions"] = results
    else:
        body.update(results[0])
    return Answer("ok", body)
