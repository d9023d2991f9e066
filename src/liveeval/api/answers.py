"""The service's answers as HTTP statuses."""

from __future__ import annotations

from ..service import Answer

__all__ = ["STATUS", "status_of"]

STATUS = {"ok": 200, "conflict": 409, "rejected": 422, "bad_input": 422, "model_failed": 500}


def status_of(answer: Answer) -> int:
    return STATUS[answer.outcome]
