"""The service's answers as HTTP statuses."""

from __future__ import annotations

from ..service import Answer

__all__ = ["STATUS", "status_of"]

# A served model's failure is 502 (Bad Gateway): the model, behind the server, gave no
# valid answer. 500 stays what it always is, a bug in liveeval, and 503 means "try
# later", which a model that fails on these inputs would not honour.
STATUS = {"ok": 200, "conflict": 409, "rejected": 422, "model_failed": 502}


def status_of(answer: Answer) -> int:
    return STATUS[answer.outcome]
