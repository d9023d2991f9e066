"""Reading the server's answer to a batch: what became of each event.

Two contracts are understood.

- Per-event results (the redesigned server): ``{"results": [{"index", "id", "status",
  "detail", "matched"}, ...]}`` with status ``stored``, ``duplicate``, ``conflict`` or
  ``rejected``, answered with 200 when at least one event was accepted and 422 when
  every event was rejected. 409 with ``results`` (today's answer when an id conflicts)
  is read the same way.
- A 422 without ``results`` (today's server when any event is invalid): FastAPI's field
  errors, ``{"detail": [{"loc": ["body", ..., "predictions", 3, "score"], "msg": ...}]}``.
  The events named by an index are rejected with their reason and the others are to be
  sent again; when no event is named, the whole request was refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STATUSES", "STORED", "Answer", "Fate", "read_answer", "summary_detail"]

STATUSES = ("stored", "duplicate", "conflict", "rejected")
_MAX_DETAIL = 300


@dataclass(frozen=True)
class Fate:
    """What became of one event: a status of :data:`STATUSES` (or ``failed``,
    ``undelivered``), the reason when it was not stored, and for an outcome whether
    its prediction is known."""

    status: str
    detail: str | None = None
    matched: bool | None = None


STORED = Fate("stored")


@dataclass
class Answer:
    """The fate of the events of one request, by their index in it."""

    results: dict[int, Fate] = field(default_factory=dict)
    resend: list[int] = field(default_factory=list)


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def summary_detail(code: int, text: str) -> str:
    """One line for a whole-request answer: the server's ``detail`` or its body."""
    body = _load(text)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return _clip(f"{code}: {detail if detail else text.strip() or 'no detail'}")


def read_answer(kind: str, code: int, text: str, n: int) -> Answer:
    """What became of each of the ``n`` events of a ``kind`` batch answered ``code``.

    Called for 200, 409 and 422; every index ends up in ``results`` or ``resend``.
    """
    body = _load(text)
    results = body.get("results") if isinstance(body, dict) else None
    if isinstance(results, list):
        return _per_event(code, results, n)
    if code != 422:
        # 200 without results: the whole batch was taken.
        return Answer(dict.fromkeys(range(n), STORED))
    reasons = _field_errors(kind, body, n)
    if not reasons:
        detail = summary_detail(code, text)
        refused = Fate("rejected", f"the whole request was refused: {detail}")
        return Answer(dict.fromkeys(range(n), refused))
    answer = Answer({i: Fate("rejected", reason) for i, reason in reasons.items()})
    answer.resend = [i for i in range(n) if i not in reasons]
    return answer


def _per_event(code: int, results: list[Any], n: int) -> Answer:
    answer = Answer()
    for position, result in enumerate(results):
        if not isinstance(result, dict):
            continue
        index = result.get("index", position)
        if not isinstance(index, int) or not 0 <= index < n:
            continue
        status = result.get("status")
        detail = result.get("detail")
        detail = None if detail is None else _clip(str(detail))
        if status not in STATUSES:
            status, detail = "rejected", _clip(f"unknown status {status!r}: {detail}")
        matched = result.get("matched")
        answer.results[index] = Fate(status, detail, matched if isinstance(matched, bool) else None)
    # An event the answer does not mention: taken if the batch was, refused otherwise.
    missing = Fate("rejected", "no result for this event in the server's answer")
    for i in range(n):
        if i not in answer.results:
            answer.results[i] = STORED if code < 400 or code == 409 else missing
    return answer


def _field_errors(kind: str, body: Any, n: int) -> dict[int, str]:
    """FastAPI's field errors located at an event: index -> "field: message; ..."."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list):
        return {}
    found: dict[int, dict[str, str]] = {}
    for error in detail:
        if not isinstance(error, dict) or not isinstance(error.get("loc"), list):
            continue
        loc = error["loc"]
        for at, part in enumerate(loc[:-1]):
            index = loc[at + 1]
            if part == kind and isinstance(index, int) and not isinstance(index, bool):
                break
        else:
            continue
        if not 0 <= index < n:
            continue
        names = [p for p in loc[at + 2 : at + 3] if isinstance(p, str)]
        name = names[0] if names else ""
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        # A union (a label is int, str or bool) gives one error per branch: keep the first.
        found.setdefault(index, {}).setdefault(name, message)
    return {
        index: _clip("; ".join(f"{name}: {msg}" if name else msg for name, msg in fields.items()))
        for index, fields in found.items()
    }
