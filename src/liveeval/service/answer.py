"""The value a write or a predict comes to, for an adapter to render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Answer"]


@dataclass(frozen=True)
class Answer:
    """What a write or a predict came to, for an adapter to render.

    ``outcome`` is ``ok`` (everything accepted, or some rejected in a batch), ``conflict``
    (some events conflict with stored ones), ``rejected`` (nothing accepted), or
    ``model_failed`` (the served model raised or answered with something that is not
    a prediction; the failure was logged). ``served`` is the (model, version) a
    prediction was made with, for the adapter to time the whole request.
    """

    outcome: Literal["ok", "conflict", "rejected", "model_failed"]
    body: dict[str, Any]
    served: tuple[str, str] | None = None
