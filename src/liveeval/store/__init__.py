"""The event store: an interface (event sink + statistics source) and its engines.

Only :func:`open_store` knows which engine serves a location; the service holds a
:class:`Store` and never sees DuckDB (or, later, PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

from .events import KINDS, Kind, content_schema, decode_label, encode_label
from .interface import (
    ROLLUP_BUCKET,
    SCORE_BINS,
    ActionRun,
    AlertRow,
    BatchOutcome,
    DeploymentEvent,
    EventSink,
    FailureCount,
    FeatureHistogram,
    FeatureWindows,
    LabelDelays,
    Ledger,
    Notification,
    PairStats,
    ReferenceStore,
    ResourceUsage,
    ResourceWindow,
    Scope,
    ScoreHistogram,
    StatisticsSource,
    Store,
    StoredReference,
    StoreStats,
    WriteOutcome,
)
from .table import TableSource

__all__ = [
    "KINDS",
    "ROLLUP_BUCKET",
    "SCORE_BINS",
    "ActionRun",
    "AlertRow",
    "BatchOutcome",
    "DeploymentEvent",
    "EventSink",
    "FailureCount",
    "FeatureHistogram",
    "FeatureWindows",
    "Kind",
    "LabelDelays",
    "Ledger",
    "Notification",
    "PairStats",
    "ReferenceStore",
    "ResourceUsage",
    "ResourceWindow",
    "Scope",
    "ScoreHistogram",
    "StatisticsSource",
    "Store",
    "StoreStats",
    "StoredReference",
    "TableSource",
    "WriteOutcome",
    "content_schema",
    "decode_label",
    "encode_label",
    "open_store",
]


def open_store(location: str | Path) -> Store:
    """Open the store at ``location``: a DuckDB file path, or ``":memory:"``.

    Raises
    ------
    StoreLocked
        when another process holds it.
    """
    from .duck.engine import DuckEngine

    return DuckEngine(location)
