"""Request and response bodies. Unknown fields are rejected so that a typo in a
field name is a 422 that names it, never a silently ignored value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "MAX_BATCH",
    "BulkWriteResponse",
    "DeploymentIn",
    "ErrorResponse",
    "EventResult",
    "OutcomeBatch",
    "OutcomeIn",
    "PredictRequest",
    "PredictionBatch",
    "PredictionIn",
    "WriteResponse",
]

MAX_BATCH = 10_000
LabelValue = Annotated[int | str | bool, Field(description="a class label")]
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]


def _utc(value: datetime) -> datetime:
    """Naive UTC, the store's convention."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictionIn(_Strict):
    """One prediction made by any model server."""

    # The cross-field rules of _consistent, stated in the OpenAPI schema too.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"status": {"const": "error"}}, "required": ["status"]},
                    "then": {
                        "required": ["error_type"],
                        "properties": {"error_type": {"not": {"type": "null"}}},
                    },
                    "else": {
                        "required": ["label"],
                        "properties": {"label": {"not": {"type": "null"}}},
                    },
                }
            ]
        },
    )

    id: Identifier | None = Field(None, description="idempotency key; generated when absent")
    model: Name
    version: Name = "unversioned"
    ts: datetime | None = Field(None, description="when the prediction was made (default: now)")
    segment: Annotated[str, Field(max_length=200)] | None = None
    features: dict[str, Any] | None = None
    label: LabelValue | None = Field(None, description="the predicted label")
    score: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        None, description="binary score, P(positive class)"
    )
    probas: (
        Annotated[
            list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=2, max_length=1000)
        ]
        | None
    ) = None
    latency_model_s: Annotated[float, Field(ge=0.0, le=3600.0)] | None = None
    latency_total_s: Annotated[float, Field(ge=0.0, le=3600.0)] | None = None
    status: Literal["ok", "error"] = "ok"
    error_type: Annotated[str, Field(max_length=200)] | None = None

    @field_validator("ts")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @model_validator(mode="after")
    def _consistent(self) -> PredictionIn:
        if self.status == "ok" and self.label is None:
            raise ValueError("a successful prediction (status 'ok') needs its predicted 'label'")
        if self.status == "error" and self.error_type is None:
            raise ValueError("a failed prediction (status 'error') needs an 'error_type'")
        if self.probas is not None and abs(sum(self.probas) - 1.0) > 1e-3:
            raise ValueError(f"'probas' sum to {sum(self.probas):.6g}, not 1")
        return self


class PredictionBatch(_Strict):
    predictions: Annotated[list[PredictionIn], Field(min_length=1, max_length=MAX_BATCH)]


class OutcomeIn(_Strict):
    """The ground truth for one prediction, whenever it arrives."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["label"], "properties": {"label": {"not": {"type": "null"}}}},
                {"required": ["value"], "properties": {"value": {"not": {"type": "null"}}}},
            ]
        },
    )

    prediction_id: Identifier
    label: LabelValue | None = Field(None, description="the true label")
    value: float | None = Field(None, description="a business outcome, e.g. 1 for a click")
    ts: datetime | None = None

    @field_validator("ts")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @model_validator(mode="after")
    def _something(self) -> OutcomeIn:
        if self.label is None and self.value is None:
            raise ValueError("an outcome needs a 'label' or a 'value'")
        return self


class OutcomeBatch(_Strict):
    outcomes: Annotated[list[OutcomeIn], Field(min_length=1, max_length=MAX_BATCH)]


class DeploymentIn(_Strict):
    id: Identifier | None = None
    model: Name
    version: Name
    ts: datetime | None = None
    status: Literal["started", "succeeded", "failed", "rolled_back"]

    @field_validator("ts")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)


class PredictRequest(_Strict):
    """Inputs for a served model: one row (an object) or several (a list of objects)."""

    inputs: (
        dict[str, Any] | Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_BATCH)]
    )
    id: Identifier | None = Field(None, description="prediction id for a single row")
    segment: Annotated[str, Field(max_length=200)] | None = None


class EventResult(BaseModel):
    id: str | None = None
    status: Literal["stored", "duplicate", "conflict"]
    detail: str | None = None
    matched: bool | None = Field(None, description="outcomes only: whether the prediction is known")


class WriteResponse(BaseModel):
    """One result per event, in order; with a 409, ``detail`` says what conflicted."""

    results: list[EventResult]
    detail: str | None = None


class Conflict(BaseModel):
    id: str | None = None
    detail: str | None = None


class BulkWriteResponse(BaseModel):
    """A large batch's outcome in summary: how many rows were stored, which ids
    repeated an event already stored (stored once), which conflicted (not written)."""

    stored: int
    duplicates: list[str]
    conflicts: list[Conflict]
    detail: str | None = None


class ErrorResponse(BaseModel):
    """A client error: ``detail`` names the field or value and what was expected."""

    detail: str | list[dict[str, Any]]
