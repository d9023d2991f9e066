"""The event store: schema, migrations, batched writes, aggregation queries (DuckDB)."""

from __future__ import annotations

from .aggregate import Scope, StoreStats, aggregate, decode_label, encode_label
from .duck import DuckStore, WriteOutcome
from .schema import SCHEMA_VERSION, migrate

__all__ = [
    "SCHEMA_VERSION",
    "DuckStore",
    "Scope",
    "StoreStats",
    "WriteOutcome",
    "aggregate",
    "decode_label",
    "encode_label",
    "migrate",
]
