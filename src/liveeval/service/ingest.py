"""Ingesting predictions, outcomes and deployments made elsewhere.

Every path — one JSON event, a JSON batch, an Arrow batch — runs the same rules
(:mod:`.events`, :mod:`.table`) and maps labels onto the model's classes
(:mod:`.classes`). A batch answers per event: the bad ones are rejected with their
reason and the others are stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..errors import ValidationError
from ..store import WriteOutcome
from ._clock import new_id, now, to_json
from .answer import Answer
from .events import DeploymentIn, OutcomeIn, PredictionIn, validate_each
from .table import validate_prediction_table

if TYPE_CHECKING:
    from .core import Service

__all__ = [
    "ingest_deployment",
    "ingest_outcomes",
    "ingest_prediction_table",
    "ingest_predictions",
    "results_answer",
]


def _prediction_row(service: Service, p: PredictionIn) -> dict[str, Any]:
    service.classes.check_outputs(p.model, p.score, p.probas)
    return {
        "id": p.id or new_id(),
        "model": p.model,
        "version": p.version,
        "ts": p.ts or now(),
        "segment": p.segment,
        "features": None if p.features is None else to_json(p.features),
        "label": None if p.label is None else service.classes.encode(p.model, p.label),
        "score": p.score,
        "probas": p.probas,
        "latency_model_s": p.latency_model_s,
        "latency_total_s": p.latency_total_s,
        "status": p.status,
        "error_type": p.error_type,
    }


def results_answer(
    kind: str,
    size: int,
    outcomes: list[tuple[int, WriteOutcome]],
    rejected: list[tuple[int, str | None, str]],
    matched: set[str] | None = None,
) -> Answer:
    """One result per event in request order, with counts; see :class:`Answer`."""
    results: list[dict[str, Any]] = [{} for _ in range(size)]
    for i, o in outcomes:
        r: dict[str, Any] = {"index": i, "id": o.key, "status": o.status}
        if o.detail:
            r["detail"] = o.detail
        if matched is not None and o.status != "conflict":
            r["matched"] = o.key in matched
        results[i] = r
    for i, key, reason in rejected:
        results[i] = {"index": i, "id": key, "status": "rejected", "detail": reason}
    counts = {s: 0 for s in ("stored", "duplicate", "conflict", "rejected")}
    for r in results:
        counts[r["status"]] += 1
    body: dict[str, Any] = {
        "results": results,
        "stored": counts["stored"],
        "duplicates": counts["duplicate"],
        "conflicts": counts["conflict"],
        "rejected": counts["rejected"],
    }
    if counts["conflict"]:
        body["detail"] = (
            str(results[0]["detail"])
            if size == 1
            else f"{counts['conflict']} {kind} conflict with events already stored under the "
            "same id and were not written; the others were committed"
        )
        return Answer("conflict", body)
    if counts["rejected"] == size:
        body["detail"] = (
            str(results[0]["detail"])
            if size == 1
            else f"every one of the {size} {kind} was rejected; nothing was stored"
        )
        return Answer("rejected", body)
    if counts["rejected"]:
        body["detail"] = (
            f"{counts['rejected']} of {size} {kind} were rejected (see 'results'); the others "
            "were committed"
        )
    return Answer("ok", body)


def _checked(
    model: type[PredictionIn] | type[OutcomeIn],
    items: list[Any],
    validated: bool,
    encode: Callable[[Any], dict[str, Any]],
) -> tuple[list[tuple[int, Any, dict[str, Any]]], list[tuple[int, str | None, str]]]:
    """Each event validated (unless it already is) and encoded as a store row:
    ``(index, event, row)`` for the good ones, ``(index, id, reason)`` for the rest."""
    rejected: list[tuple[int, str | None, str]] = []
    if validated:
        valid = list(enumerate(items))
    else:
        valid, rejected = validate_each(model, items)
    rows = []
    for i, event in valid:
        try:
            rows.append((i, event, encode(event)))
        except ValidationError as exc:
            key = getattr(event, "id", None) or getattr(event, "prediction_id", None)
            rejected.append((i, key, exc.detail))
    return rows, rejected


async def ingest_predictions(
    service: Service, items: list[Any], *, validated: bool = False
) -> Answer:
    """Store predictions made elsewhere; ``items`` are raw JSON objects (or already
    validated :class:`PredictionIn` when ``validated``)."""
    rows, rejected = _checked(PredictionIn, items, validated, lambda p: _prediction_row(service, p))
    outcomes: list[WriteOutcome] = []
    if rows:
        fresh = all(p.id is None for _, p, _ in rows)
        outcomes = await service.write("predictions", [r for _, _, r in rows], fresh=fresh)
        observer = service.observer
        remember = service.recent.remember
        for _, p, row in rows:
            remember(row["id"], p.model)
            observer.predictions(p.model, p.version, p.status, 1)
            if p.latency_total_s is not None:
                observer.latency(p.model, p.version, p.latency_total_s, p.latency_model_s)
    return results_answer(
        "predictions",
        len(items),
        [(i, o) for (i, _, _), o in zip(rows, outcomes, strict=True)],
        rejected,
    )


async def ingest_outcomes(service: Service, items: list[Any], *, validated: bool = False) -> Answer:
    """Store ground truth by prediction id, in any order relative to the prediction."""
    stamp = now()

    def encode(o: OutcomeIn) -> dict[str, Any]:
        model = service.recent.model_of(o.prediction_id)
        return {
            "prediction_id": o.prediction_id,
            "label": None if o.label is None else service.classes.encode(model, o.label),
            "value": o.value,
            "ts": o.ts or stamp,
        }

    rows, rejected = _checked(OutcomeIn, items, validated, encode)
    outcomes: list[WriteOutcome] = []
    matched: set[str] = set()
    if rows:
        outcomes = [_explained(o) for o in await service.write("outcomes", [r for _, _, r in rows])]
        ids = [r["prediction_id"] for _, _, r in rows]
        known = service.store.known_ids("predictions", ids)
        matched = {i for i, hit in zip(ids, known, strict=True) if hit}
        # Stored outcomes only: a retry is counted apart, a conflict not at all.
        hits = misses = duplicates = 0
        for o, hit in zip(outcomes, known, strict=True):
            if o.status == "stored":
                if hit:
                    hits += 1
                else:
                    misses += 1
            elif o.status == "duplicate":
                duplicates += 1
        if hits:
            service.observer.outcomes(True, hits)
        if misses:
            service.observer.outcomes(False, misses)
        if duplicates:
            service.observer.duplicate_outcomes(duplicates)
    return results_answer(
        "outcomes",
        len(items),
        [(i, o) for (i, _, _), o in zip(rows, outcomes, strict=True)],
        rejected,
        matched,
    )


# Outcomes are written once per prediction and never amended (a 2xx means the event is
# committed as sent, and its pair is counted then): a label and a business value that
# arrive apart cannot both be kept, so the conflict says how to send them.
ONE_OUTCOME = (
    "; a prediction has one outcome, never amended: a label and a value for the same "
    'prediction go together in one outcome, {"prediction_id": …, "label": …, "value": …} '
    "(an outcome already stored with only one of them cannot take the other)"
)


def _explained(outcome: WriteOutcome) -> WriteOutcome:
    if outcome.status != "conflict":
        return outcome
    return WriteOutcome("conflict", outcome.key, f"{outcome.detail or 'conflict'}{ONE_OUTCOME}")


async def ingest_deployment(service: Service, event: DeploymentIn) -> Answer:
    row = event.model_dump()
    row["id"] = row["id"] or new_id()
    row["ts"] = row["ts"] or now()
    outcomes = await service.write("deployments", [row])
    return results_answer("deployments", 1, list(enumerate(outcomes)), [])


async def ingest_prediction_table(service: Service, table: pa.Table) -> Answer:
    """Store a large Arrow batch; every row is checked by the JSON route's rules."""
    from ..store import BatchOutcome

    # Tens of milliseconds per 100,000 rows: off the event loop.
    valid, rejections = await asyncio.get_running_loop().run_in_executor(
        None, validate_prediction_table, table, service.classes
    )
    outcome = (
        await service.store.write_table("predictions", valid)
        if valid.num_rows
        else BatchOutcome.all_stored([], 0)
    )
    for status in ("stored", "duplicate", "conflict"):
        if count := outcome.count(status):
            service.observer.events("predictions", status, count)
    conflicts = [{"id": key, "detail": detail} for key, detail in outcome.conflicts()]
    body: dict[str, Any] = {
        "stored": outcome.count("stored"),
        "duplicates": outcome.keys_with("duplicate"),
        "conflicts": conflicts,
        "rejected": len(rejections),
        "rejections": [
            {"index": r.index, "id": r.id, "detail": r.detail} for r in rejections[:1000]
        ],
    }
    notes = []
    if conflicts:
        notes.append(
            f"{len(conflicts)} predictions conflict with events already stored under the "
            "same id and were not written"
        )
    if rejections:
        shown = "" if len(rejections) <= 1000 else " (the first 1,000 are listed)"
        notes.append(f"{len(rejections)} rows were rejected{shown}")
    if notes:
        body["detail"] = "; ".join(notes) + "; the others were committed"
    if conflicts:
        return Answer("conflict", body)
    if rejections and not valid.num_rows:
        return Answer("rejected", body)
    return Answer("ok", body)
