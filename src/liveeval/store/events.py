"""Event records as the store receives them, and their Arrow layouts.

The API validates requests into these plain dicts; the store turns a batch of them
into one Arrow table and writes it in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa

__all__ = ["KINDS", "SCHEMAS", "Kind", "content_schema", "digest_sql", "events_table", "id_field"]

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
            ("digest", pa.string()),
        ]
    ),
    "outcomes": pa.schema(
        [
            ("prediction_id", pa.string()),
            ("label", pa.string()),
            ("value", pa.float64()),
            ("ts", pa.timestamp("us")),
            ("digest", pa.string()),
        ]
    ),
    "deployments": pa.schema(
        [
            ("id", pa.string()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("ts", pa.timestamp("us")),
            ("status", pa.string()),
            ("digest", pa.string()),
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
    """The columns an event carries, without the digest the store adds."""
    schema = SCHEMAS[kind]
    return pa.schema([f for f in schema if f.name != "digest"])


def events_table(kind: str, events: Sequence[dict[str, Any]]) -> pa.Table:
    """A batch of event dicts as one Arrow table in the store's column order
    (missing fields are null)."""
    if kind not in SCHEMAS:
        raise ValueError(f"unknown event kind {kind!r}")
    schema = content_schema(kind)
    rows = [{f.name: event.get(f.name) for f in schema} for event in events]
    return pa.Table.from_pylist(rows, schema=schema)


def digest_sql(kind: str, prefix: str = "") -> str:
    """SQL for a stable hash of an event's content (md5 over every field, nulls marked),
    to tell a repeated event from a conflicting one under the same id.

    The timestamp is left out: the server stamps events that arrive without one, so
    a client's retry of the same event must not look like a conflict.
    """
    parts = [
        f"coalesce(CAST({prefix}{f.name} AS VARCHAR), chr(0))"
        for f in content_schema(kind)
        if f.name != "ts"
    ]
    return f"md5(concat_ws(chr(31), {', '.join(parts)}))"
