"""Request and response bodies. Unknown fields are rejected so that a typo in a
field name is a 422 that names it, never a silently ignored value."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_BATCH",
    "BulkWriteResponse",
    "DeploymentIn",
    "ErrorResponse",
    "EventResult",
    "ModelFailure",
    "OutcomeBatch",
    "OutcomeIn",
    "PredictRequest",
    "PredictionBatch",
    "PredictionIn",
    "WriteResponse",
]

from ..service.events import (
    MAX_BATCH,
    DeploymentIn,
    Identifier,
    OutcomeIn,
    PredictionIn,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PredictionBatch(_Strict):
    """Up to 10,000 predictions; each is validated on its own (a bad one is rejected
    with its reason, the others are stored)."""

    predictions: Annotated[list[PredictionIn], Field(min_length=1, max_length=MAX_BATCH)]


class OutcomeBatch(_Strict):
    """Up to 10,000 outcomes; each is validated on its own."""

    outcomes: Annotated[list[OutcomeIn], Field(min_length=1, max_length=MAX_BATCH)]


class RawPredictionBatch(_Strict):
    """What the server parses a batch into before validating each event."""

    predictions: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]


class RawOutcomeBatch(_Strict):
    outcomes: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]


class PredictRequest(_Strict):
    """Inputs for a served model: one row (an object) or several (a list of objects)."""

    inputs: (
        dict[str, Any] | Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_BATCH)]
    )
    id: Identifier | None = Field(None, description="prediction id for a single row")
    segment: Annotated[str, Field(max_length=200)] | None = None


class EventResult(BaseModel):
    index: int = Field(description="the event's position in the request")
    id: str | None = None
    status: Literal["stored", "duplicate", "conflict", "rejected"]
    detail: str | None = Field(None, description="why it was rejected or what conflicted")
    matched: bool | None = Field(None, description="outcomes only: whether the prediction is known")


class WriteResponse(BaseModel):
    """One result per event, in order. 200 when any event was stored (or already
    was); 409 when some conflicted with stored events; 422 when every one was rejected."""

    results: list[EventResult]
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    detail: str | None = None


class Conflict(BaseModel):
    id: str | None = None
    detail: str | None = None


class Rejection(BaseModel):
    index: int
    id: str | None = None
    detail: str


class BulkWriteResponse(BaseModel):
    """A large batch's outcome in summary: how many rows were stored, which ids
    repeated an event already stored (stored once), which conflicted (not written),
    and which rows were rejected and why (not written; the others were)."""

    stored: int
    duplicates: list[str]
    conflicts: list[Conflict]
    rejected: int = 0
    rejections: list[Rejection] = Field(default_factory=list)
    detail: str | None = None


class ErrorResponse(BaseModel):
    """A client error: ``detail`` names the field or value and what was expected."""

    detail: str | list[dict[str, Any]]


class ModelFailure(BaseModel):
    """The served model failed: it raised, or answered with something that is not a
    prediction (a non-finite or out-of-range score, a probability row of the wrong
    length, a label outside its classes). Each prediction was logged as failed with
    ``error_type``; ``detail`` is one line, never a traceback."""

    model: str
    version: str
    error_type: str = Field(description="the exception's class name, as stored")
    detail: str
    ids: list[str] = Field(description="the failed predictions' ids, one per input row")
    id: str | None = Field(None, description="the id, when one row (an object) was sent")
