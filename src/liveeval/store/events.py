"""Event records as the store receives them, and their Arrow layouts.

The API validates requests into these plain dicts; the store turns a batch of them
into one Arrow table, journals it, and loads it in one statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa

from ..metrics.labels import Label

__all__ = [
    "KINDS",
    "SCHEMAS",
    "Kind",
    "content_schema",
    "decode_label",
    "encode_label",
    "events_table",
    "id_field",
]

Kind = Literal["predictions", "outcomes", "deployments", "resource_samples"]
KINDS: tuple[Kind, ...] = ("predictions", "outcomes", "deployments", "resource_samples")

SCHEMAS: dict[str, pa.Schema] = {
    "predictions": pa.schema(
        [
            ("id", pa.string()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("ts", pa.timestamp("us")),
            ("segment", pa.string()),
            ("features", pa.string()),
            ("label", pa.string()),
            ("score", pa.float64()),
            ("probas", pa.list_(pa.float64())),
            ("latency_model_s", pa.float64()),
            ("latency_total_s", pa.float64()),
            ("status", pa.string()),
            ("error_type", pa.string()),
        ]
    ),
    "outcomes": pa.schema(
        [
            ("prediction_id", pa.string()),
            ("label", pa.string()),
            ("value", pa.float64()),
            ("ts", pa.timestamp("us")),
        ]
    ),
    "deployments": pa.schema(
        [
            ("id", pa.string()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("ts", pa.timestamp("us")),
            ("status", pa.string()),
        ]
    ),
    "resource_samples": pa.schema(
        [
            ("ts", pa.timestamp("us")),
            ("process", pa.string()),
            ("cpu_percent", pa.float64()),
            ("rss_bytes", pa.int64()),
        ]
    ),
}


def id_field(kind: str) -> str | None:
    """The idempotency key of an event kind (resource samples have none)."""
    return {"predictions": "id", "outcomes": "prediction_id", "deployments": "id"}.get(kind)


def content_schema(kind: str) -> pa.Schema:
    """The columns an event of ``kind`` carries, in the store's order."""
    return SCHEMAS[kind]


def events_table(kind: str, events: Sequence[dict[str, Any]]) -> pa.Table:
    """A batch of event dicts as one Arrow table in the store's column order
    (missing fields are null)."""
    if kind not in SCHEMAS:
        raise ValueError(f"unknown event kind {kind!r}")
    return pa.Table.from_pylist(list(events), schema=content_schema(kind))


def encode_label(label: Any) -> str:
    """Labels are stored as JSON text (the service has already mapped them onto the
    model's classes, so one class has one text)."""
    return json.dumps(label)


def decode_label(text: str) -> Label:
    value: Label = json.loads(text)
    return value
