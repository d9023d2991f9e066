"""The PostgreSQL engine behind the store interface: several replicas, one database.

:class:`PostgresEngine` joins the group-commit writer (:mod:`.writer`, the write
transaction of :mod:`.load`) with the reads of :mod:`.reads`. There is no journal, id
index or loader: an acknowledged write is a committed transaction, idempotency is the
database's unique indexes, and a committed write is visible to every replica's next
read, so reads need no ``settle`` beyond this replica's own pending latency updates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import pyarrow as pa

from ...errors import StoreError, StoreUnavailable, ValidationError
from ...metrics.labels import Label
from ..events import KINDS, SCHEMAS, Kind, id_field
from ..interface import (
    BatchOutcome,
    FeatureHistogram,
    LabelDelays,
    Scope,
    ScoreHistogram,
    StoreStats,
    WriteOutcome,
)
from . import reads
from .location import masked
from .schema import migrate
from .writer import Connections, GroupWriter

__all__ = ["PostgresEngine"]

T = TypeVar("T")


class PostgresEngine:
    """A PostgreSQL database as an event sink and a statistics source, shared by every
    replica that opens the same location.

    Opening applies the migrations this database lacks (once, under an advisory lock,
    whichever replica comes first).

    Raises
    ------
    StoreUnavailable
        when the server cannot be reached or refuses the credentials.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.path = masked(location)
        self._reads = Connections(location)
        with self._reads.connection() as conn:
            self.schema_version = migrate(conn)
            conn.autocommit = False
        self._writer = GroupWriter(location)
        self._mirror = reads.Mirror()

    def __repr__(self) -> str:
        return f"PostgresEngine({self.path!r})"

    # -- writing ------------------------------------------------------------------------

    async def write(
        self, kind: Kind, events: list[dict[str, Any]], *, fresh: bool = False
    ) -> list[WriteOutcome]:
        return await self._writer.write(kind, events)

    async def write_table(self, kind: Kind, table: pa.Table) -> BatchOutcome:
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(
            None, self._writer.commit_table, kind, table
        )

    def commit(self, kind: Kind, events: list[dict[str, Any]]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = self._writer.commit(kind, events)
        return outcomes

    def known_ids(self, kind: Kind, ids: Sequence[str]) -> list[bool]:
        key = id_field(kind)
        if key is None:
            raise ValidationError(f"{kind} have no ids")
        found = self._read(
            lambda cur: {
                r[0]
                for r in cur.execute(
                    f"SELECT {key} FROM {kind} WHERE {key} = ANY(%s)", [list(ids)]
                ).fetchall()
            }
        )
        return [i in found for i in ids]

    def amend_latency(self, amendments: Sequence[tuple[str, datetime, float]]) -> None:
        self._writer.amend_latency(amendments)

    # -- reading ------------------------------------------------------------------------

    def _read(self, work: Callable[[Any], T], *, settle: bool = False) -> T:
        """``work`` on a read connection; once more on a new connection when the first
        was lost (reads are safe to repeat; an idle connection dies with a server
        restart), then :class:`StoreUnavailable`."""
        for attempt in (1, 2):
            try:
                if settle:
                    self._writer.settle()
                with self._reads.connection() as conn, conn.cursor() as cur:
                    return work(cur)
            except StoreUnavailable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def statistics(
        self,
        scope: Scope,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> StoreStats:
        return self._read(
            lambda cur: reads.statistics(self._mirror, cur, scope, classes, pos_label),
            settle=True,
        )

    def grouped_statistics(
        self,
        scope: Scope,
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta | None = None,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[tuple[Any, ...], StoreStats]:
        return self._read(
            lambda cur: reads.grouped_statistics(
                self._mirror, cur, scope, by, every, classes, pos_label
            ),
            settle=True,
        )

    def feature_histograms(
        self,
        scope: Scope,
        names: Sequence[str] | None = None,
        *,
        bins: int = 10,
        edges: Mapping[str, Sequence[float]] | None = None,
        max_categories: int = 50,
    ) -> dict[str, FeatureHistogram]:
        return self._read(
            lambda cur: reads.features_of(
                self._mirror, cur, scope, names, bins, edges, max_categories
            ),
            settle=True,
        )

    def score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[datetime, ScoreHistogram]:
        return self._read(
            lambda cur: reads.score_histograms(self._mirror, cur, scope, every, classes, pos_label)
        )

    def feature_windows(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> dict[datetime, dict[str, FeatureHistogram]]:
        return self._read(
            lambda cur: reads.feature_windows(
                self._mirror, cur, scope, every, names, max_categories
            ),
            settle=True,
        )

    def feature_bins(self, model: str) -> dict[str, tuple[float, ...]]:
        return self._read(lambda cur: reads.feature_bins(self._mirror, cur, model), settle=True)

    def label_delays(self, scope: Scope) -> LabelDelays:
        return self._read(lambda cur: reads.label_delays(self._mirror, cur, scope), settle=True)

    def has_model(self, model: str) -> bool:
        return self._read(
            lambda cur: (
                cur.execute(
                    "SELECT 1 FROM predictions WHERE model = %s LIMIT 1", [model]
                ).fetchone()
                is not None
            )
        )

    def models(self) -> set[str]:
        # The rollups hold a row per model that has predictions: no scan of events.
        return self._read(
            lambda cur: {
                str(r[0])
                for r in cur.execute(
                    "SELECT DISTINCT model FROM rollup_counts WHERE predictions > 0"
                ).fetchall()
            },
            settle=True,
        )

    def versions_since(self, since: datetime | None) -> list[tuple[str, str]]:
        return self._read(lambda cur: reads.versions_since(cur, since), settle=True)

    def count(self, kind: Kind) -> int:
        if kind not in KINDS:
            raise ValidationError(f"unknown event kind {kind!r}; expected one of {list(KINDS)!r}")
        return self._read(lambda cur: reads.store_counts(cur).get(kind, 0))

    # -- lifecycle ----------------------------------------------------------------------

    def export(self, out: Path) -> dict[str, int]:
        """Parquet in the DuckDB engine's layout: predictions by model and date, the
        other kinds by date."""
        import duckdb

        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, int] = {}
        con = duckdb.connect(":memory:")
        try:
            for kind, partition in (
                ("predictions", "model, date"),
                ("outcomes", "date"),
                ("deployments", "date"),
                ("resource_samples", "date"),
            ):
                schema = SCHEMAS[kind]
                select = ", ".join(
                    f"array_to_string({f.name}, ',')" if pa.types.is_list(f.type) else f.name
                    for f in schema
                )
                query = f"SELECT {select} FROM {kind}"
                table: pa.Table = self._read(partial(_copy_all, query=query, schema=schema))
                written[kind] = table.num_rows
                if not table.num_rows:
                    continue
                target = str(out / kind).replace("'", "''")
                con.register("rows", table)
                con.execute(
                    f"COPY (SELECT *, CAST(ts AS DATE) AS date FROM rows) TO '{target}' "
                    f"(FORMAT parquet, PARTITION_BY ({partition}), OVERWRITE_OR_IGNORE)"
                ).fetchall()
                con.unregister("rows")
        finally:
            con.close()
        return written

    def close(self) -> None:
        self._writer.close()
        self._reads.close()
        self._mirror.close()


def _copy_all(cur: Any, *, query: str, schema: pa.Schema) -> pa.Table:
    from .transfer import copy_out

    return copy_out(cur, query, [], schema)


def open_postgres(location: str) -> PostgresEngine:
    """:class:`PostgresEngine` at ``location``, or a :class:`StoreError` naming the
    missing extra."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            f"{masked(location)}: a PostgreSQL store needs psycopg; "
            "pip install 'liveeval[postgres]'"
        ) from None
    return PostgresEngine(location)
