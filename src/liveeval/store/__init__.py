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
    ScoreWindows,
    ScoreWindowSource,
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
    "ScoreWindowSource",
    "ScoreWindows",
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
    """Open the store at ``location``: a DuckDB file path, ``":memory:"``, or a
    PostgreSQL database (``postgresql://user@host:port/db``; the password from
    ``PGPASSWORD``, a password file or the URL, never printed).

    Raises
    ------
    StoreLocked
        when another process holds a DuckDB file.
    StoreUnavailable
        when a PostgreSQL server cannot be reached or refuses the credentials.
    """
    from .postgres.location import is_postgres

    if is_postgres(location):
        from .postgres.engine import open_postgres

        return open_postgres(str(location))
    from .duck.engine import DuckEngine

    return DuckEngine(location)
