"""Predict with a served model and log every prediction before answering.

Whose fault a failure is decides its answer. Inputs that do not fit the model's
schema are the client's (:class:`~liveeval.errors.ValidationError`, raised before the
model runs, nothing logged). Anything the model does wrong — it raises, or answers
with a non-finite or out-of-range score, a probability row of the wrong length or a
label outside its classes — is the operator's: the prediction is stored as failed
with the exception's class name as its error type, and the answer is
``model_failed`` with the prediction ids and a one-line detail (never a traceback).
No score reaches the store without passing :func:`_check_output`, whatever the
loader already checked.

Latency: ``arrived`` is when the request reached the server (the HTTP adapter's
first look at it). The event is written with the time from arrival to its write;
once the commit returns, the time from arrival to the commit replaces it
(:meth:`~liveeval.store.EventSink.amend_latency`), so that the stored total is what
the client waits for, less the answer's encoding and socket write. The adapter
observes arrival → answer sent for Prometheus.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import ModelOutputError, ValidationError
from ..serving import short_error
from ._clock import new_id, now, to_json
from .answer import Answer
from .ingest import results_answer

if TYPE_CHECKING:
    from ..serving import LoadedModel, Prediction
    from .core import Service

__all__ = ["predict"]

log = logging.getLogger("liveeval")

# Longest model-failure detail put in an answer: a model's own message can be huge.
DETAIL_CHARS = 300
# Tolerance on a probability row's sum (float32 models are off by ~1e-7); the same as
# ingestion's rule for logged probabilities.
SUM_TOLERANCE = 1e-3
# (model, version, error type) whose traceback was logged once already.
_logged: set[tuple[str, str, str]] = set()


async def predict(
    service: Service,
    model: str,
    version: str | None,
    inputs: dict[str, Any] | list[dict[str, Any]],
    *,
    id: str | None = None,
    segment: str | None = None,
    arrived: float | None = None,
) -> Answer:
    """Predict ``inputs`` (one row or several) and commit each prediction first.

    ``arrived`` is the request's arrival on :func:`time.perf_counter`'s clock
    (default: now). The answer's ``served`` names the model and version, for the
    adapter to time the whole request.

    Raises
    ------
    NotFoundError
        for a model or version that is not served.
    ValidationError
        for inputs that do not fit the model's input schema (nothing is logged).
    """
    started = time.perf_counter() if arrived is None else arrived
    loaded = service.served(model, version)
    v = loaded.version
    rows = inputs if isinstance(inputs, list) else [inputs]
    if id is not None and len(rows) != 1:
        raise ValidationError("'id' is for a single row; omit it for a batch", column="id")
    x = loaded.inputs(rows)
    out: Prediction | None = None
    try:
        # A request with its own id runs alone: its retry then gets the same bits.
        out = await service.batcher.infer(loaded, x, rows, alone=id is not None)
        events = _events(service, loaded, rows, out, id, segment, started)
    except Exception as exc:  # the model's fault, whatever it raised: a failed prediction
        return await _failed(service, loaded, inputs, rows, id, segment, started, out, exc)
    outcomes = await service.write("predictions", events, fresh=id is None)
    _amend(service, events, outcomes, started)
    remember = service.recent.remember
    for e in events:
        remember(e["id"], model)
    service.observer.predictions(model, v, "ok", len(rows))
    service.observer.latency(model, v, None, out.model_seconds)
    if version is None and model in service.shadows:
        from .shadow import schedule_shadows

        # Only rows stored now: a duplicate or a conflict was shadowed when first stored.
        stored = [row for row, o in zip(rows, outcomes, strict=True) if o.status == "stored"]
        if stored:
            schedule_shadows(service, model, stored, segment)
    if any(o.status == "conflict" for o in outcomes):
        conflict = results_answer("predictions", len(events), list(enumerate(outcomes)), [])
        return Answer(conflict.outcome, conflict.body, (model, v))
    labels, scores, probas = out.labels, out.scores, out.probas
    names = [str(c) for c in loaded.classes] if probas is not None else []
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
    return Answer("ok", body, (model, v))


def _events(
    service: Service,
    loaded: LoadedModel,
    rows: list[dict[str, Any]],
    out: Prediction,
    id: str | None,
    segment: str | None,
    started: float,
) -> list[dict[str, Any]]:
    """The prediction events, once the model's answer is checked (raises
    :class:`ModelOutputError` for an answer that cannot be stored as a prediction)."""
    model = loaded.name
    _check_output(model, len(rows), len(loaded.classes), out)
    labels, scores, probas = out.labels, out.scores, out.probas
    encode = service.classes.encode
    try:
        texts = [encode(model, label) for label in labels]
    except ValidationError as exc:
        raise ModelOutputError(model, f"a predicted {exc.detail}") from None
    stamp = now()
    per_row = out.model_seconds / len(rows)
    total = time.perf_counter() - started
    return [
        {
            "id": id or new_id(),
            "model": model,
            "version": loaded.version,
            "ts": stamp,
            "segment": segment,
            "features": to_json(row),
            "label": texts[i],
            "score": None if scores is None else scores[i],
            "probas": None if probas is None else probas[i],
            "latency_model_s": per_row,
            "latency_total_s": total,
            "status": "ok",
        }
        for i, row in enumerate(rows)
    ]


def _check_output(model: str, n: int, k: int, out: Prediction) -> None:
    """One label per row; scores in [0, 1]; probability rows of ``k`` values in [0, 1]
    summing to 1. NaN fails every comparison, so it fails these."""
    if len(out.labels) != n:
        raise ModelOutputError(model, f"{len(out.labels)} predictions for {n} input rows")
    if out.scores is not None:
        if len(out.scores) != n:
            raise ModelOutputError(model, f"{len(out.scores)} scores for {n} input rows")
        for i, s in enumerate(out.scores):
            if not 0.0 <= s <= 1.0:
                raise ModelOutputError(
                    model, f"row {i}: score {s!r} is not a probability in [0, 1]"
                )
    if out.probas is not None:
        if len(out.probas) != n:
            raise ModelOutputError(model, f"{len(out.probas)} probability rows for {n} input rows")
        for i, row in enumerate(out.probas):
            if len(row) != k:
                raise ModelOutputError(
                    model, f"row {i}: {len(row)} probabilities for the {k} declared classes"
                )
            if not all(0.0 <= p <= 1.0 for p in row):
                bad = next(p for p in row if not 0.0 <= p <= 1.0)
                raise ModelOutputError(model, f"row {i}: {bad!r} is not a probability in [0, 1]")
            if not abs(sum(row) - 1.0) <= SUM_TOLERANCE:
                raise ModelOutputError(
                    model, f"row {i}: probabilities sum to {sum(row):.6g}, not 1"
                )


async def _failed(
    service: Service,
    loaded: LoadedModel,
    inputs: dict[str, Any] | list[dict[str, Any]],
    rows: list[dict[str, Any]],
    id: str | None,
    segment: str | None,
    started: float,
    out: Prediction | None,
    exc: Exception,
) -> Answer:
    """Store the rows as failed predictions and answer ``model_failed``."""
    model, v = loaded.name, loaded.version
    error_type = type(exc).__name__
    key = (model, v, error_type)
    if key not in _logged and len(_logged) < 1000:
        _logged.add(key)
        log.warning(
            "model %r version %r failed on a request with %s (traceback shown once per "
            "model, version and error type; every failure is stored and counted)",
            model,
            v,
            error_type,
            exc_info=exc,
        )
    stamp = now()
    per_row = None if out is None else out.model_seconds / len(rows)
    total = time.perf_counter() - started
    events = [
        {
            "id": id or new_id(),
            "model": model,
            "version": v,
            "ts": stamp,
            "segment": segment,
            "features": to_json(row),
            "status": "error",
            "error_type": error_type,
            "latency_model_s": per_row,
            "latency_total_s": total,
        }
        for row in rows
    ]
    outcomes = await service.write("predictions", events, fresh=id is None)
    _amend(service, events, outcomes, started)
    ids = [str(e["id"]) for e in events]
    for pid in ids:  # their outcomes are checked against the model's classes too
        service.recent.remember(pid, model)
    service.observer.predictions(model, v, "error", len(rows))
    body: dict[str, Any] = {
        "model": model,
        "version": v,
        "error_type": error_type,
        "detail": _one_line(model, exc),
        "ids": ids,
    }
    if not isinstance(inputs, list):
        body["id"] = ids[0]
    return Answer("model_failed", body, (model, v))


def _amend(
    service: Service, events: list[dict[str, Any]], outcomes: list[Any], started: float
) -> None:
    """Replace the stored total latency of the events just stored by arrival → commit."""
    seconds = time.perf_counter() - started
    service.store.amend_latency(
        [
            (e["id"], e["ts"], seconds)
            for e, o in zip(events, outcomes, strict=True)
            if o.status == "stored"
        ]
    )


def _one_line(model: str, exc: Exception) -> str:
    """The failure on one bounded line (the model's own message: its first line, or
    TorchScript's last, after its interpreter traceback)."""
    text = (
        str(exc)
        if isinstance(exc, ModelOutputError)
        else f"model {model!r} failed: {short_error(exc)}"
    )
    text = text.splitlines()[0] if text else type(exc).__name__
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"
