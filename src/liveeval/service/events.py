"""The events the service accepts, validated once for every ingestion path.

JSON bodies (single events and batches), the predict route and Arrow batches all
end up in these rules: a batch is validated event by event, so one bad event is
rejected with its reason while the others are stored. Non-finite numbers are
refused everywhere (``allow_inf_nan=False``): a NaN score stored once would make
every later read of that model fail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from ..store.interface import EARLIEST_TS, LATEST_TS

__all__ = [
    "IDENTIFIER_PATTERN",
    "MAX_BATCH",
    "NAME_PATTERN",
    "DeploymentIn",
    "OutcomeIn",
    "PredictionIn",
    "describe_errors",
    "event_time",
    "naive_utc",
    "validate_each",
]

IDENTIFIER_PATTERN = r"^[A-Za-z0-9_.:\-]+$"
NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
MAX_BATCH = 10_000
# Strict: a score sent as "0.5" or true is a mistake to name, not a value to coerce.
Number = Annotated[float, Field(strict=True)]
LabelValue = Annotated[
    int | Annotated[float, Field(strict=True)] | str | bool, Field(description="a class label")
]
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=IDENTIFIER_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]


def naive_utc(value: datetime) -> datetime:
    """Naive UTC, the store's convention."""
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is out of range once moved to UTC") from None
    return value


# Events stamped outside the store's years are refused: windows of any accepted length
# must end before datetime's year 9999 (a "9999-12-31" no-date sentinel broke reads).
TS_RANGE = "from 1900-01-01 to 2999-12-31 (UTC)"


def event_time(value: datetime | None) -> datetime | None:
    """An event's ``ts`` as naive UTC, refused outside :data:`EARLIEST_TS` … :data:`LATEST_TS`."""
    if value is None:
        return None
    value = naive_utc(value)
    if not EARLIEST_TS <= value < LATEST_TS:
        raise ValueError(f"{value.isoformat()} is outside the accepted range, {TS_RANGE}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PredictionIn(_Strict):
    """One prediction made by any model server."""

    # The cross-field rules of _consistent, stated in the OpenAPI schema too.
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
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
    ts: datetime | None = Field(
        None, description="when the prediction was made (default: now); from 1900 to 2999, UTC"
    )
    segment: Annotated[str, Field(max_length=200)] | None = None
    features: dict[str, Any] | None = None
    label: LabelValue | None = Field(None, description="the predicted label")
    score: Annotated[Number, Field(ge=0.0, le=1.0)] | None = Field(
        None, description="binary score, P(positive class)"
    )
    probas: (
        Annotated[
            list[Annotated[Number, Field(ge=0.0, le=1.0)]], Field(min_length=2, max_length=1000)
        ]
        | None
    ) = None
    latency_model_s: Annotated[Number, Field(ge=0.0, le=3600.0)] | None = None
    latency_total_s: Annotated[Number, Field(ge=0.0, le=3600.0)] | None = None
    status: Literal["ok", "error"] = "ok"
    error_type: Annotated[str, Field(max_length=200)] | None = None

    @field_validator("ts")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        return event_time(value)

    @model_validator(mode="after")
    def _consistent(self) -> PredictionIn:
        if self.status == "ok" and self.label is None:
            raise ValueError("a successful prediction (status 'ok') needs its predicted 'label'")
        if self.status == "error" and self.error_type is None:
            raise ValueError("a failed prediction (status 'error') needs an 'error_type'")
        if self.probas is not None and abs(sum(self.probas) - 1.0) > 1e-3:
            raise ValueError(f"'probas' sum to {sum(self.probas):.6g}, not 1")
        if self.probas is not None and self.score is not None:
            raise ValueError(
                "give 'score' (P(positive) of a binary model) or 'probas' (one per class), not both"
            )
        return self


class OutcomeIn(_Strict):
    """The ground truth for one prediction, whenever it arrives."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "anyOf": [
                {"required": ["label"], "properties": {"label": {"not": {"type": "null"}}}},
                {"required": ["value"], "properties": {"value": {"not": {"type": "null"}}}},
            ]
        },
    )

    prediction_id: Identifier
    label: LabelValue | None = Field(None, description="the true label")
    value: Number | None = Field(None, description="a business outcome, e.g. 1 for a click")
    ts: datetime | None = None

    @field_validator("ts")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        return event_time(value)

    @model_validator(mode="after")
    def _something(self) -> OutcomeIn:
        if self.label is None and self.value is None:
            raise ValueError("an outcome needs a 'label' or a 'value'")
        return self


class DeploymentIn(_Strict):
    id: Identifier | None = None
    model: Name
    version: Name
    ts: datetime | None = None
    status: Literal["started", "succeeded", "failed", "rolled_back"]

    @field_validator("ts")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        return event_time(value)


def describe_errors(exc: PydanticValidationError) -> str:
    """One line naming every offending field: ``score: Input should be ≤ 1; …``."""
    parts = []
    for e in exc.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "event"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


_ADAPTERS: dict[type[BaseModel], TypeAdapter[Any]] = {}


def validate_each(
    model: type[BaseModel], items: list[Any]
) -> tuple[list[tuple[int, Any]], list[tuple[int, str | None, str]]]:
    """Validate every item on its own: ``(index, event)`` for the valid ones and
    ``(index, id, reason)`` for the rejected ones."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    valid: list[tuple[int, Any]] = []
    rejected: list[tuple[int, str | None, str]] = []
    for i, item in enumerate(items):
        try:
            valid.append((i, adapter.validate_python(item)))
        except PydanticValidationError as exc:
            key = None
            if isinstance(item, dict):
                raw = item.get("id", item.get("prediction_id"))
                key = raw if isinstance(raw, str) and len(raw) <= 200 else None
            rejected.append((i, key, describe_errors(exc)))
    return valid, rejected
