"""Predict with a served model and log every prediction before answering."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ValidationError
from ..metrics.labels import normalise_label
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
    x = loaded.matrix(rows)
    observer = service.observer
    try:
        proba, model_seconds = loaded.predict(x)
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
            "probas": None if scores is not None else proba[i].tolist(),
            "latency_model_s": per_row,
            "latency_total_s": total,
            "status": "ok",
        }
        for i, row in enumerate(rows)
    ]
    outcomes = await service.write("predictions", events, fresh=id is None)
    service.recent.add((str(e["id"]), model) for e in events)
    observer.predictions(model, v, "ok", len(rows))
    observer.latency(model, v, total, model_seconds)
    if any(o.status == "conflict" for o in outcomes):
        return results_answer("predictions", len(events), list(enumerate(outcomes)), [])
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
    if isinstance(inputs, list):
        body["predictions"] = results
    else:
        body.update(results[0])
    return Answer("ok", body)
