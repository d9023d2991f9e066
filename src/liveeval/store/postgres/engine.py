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
from ..bins_export import BINS_QUERY, write_feature_bins
from ..events import KINDS, SCHEMAS, Kind, id_field
from ..interface import (
    ActionRun,
    AlertRow,
    BatchOutcome,
    ClassScoreHistograms,
    DeploymentEvent,
    FailureCount,
    FeatureHistogram,
    FeatureWindows,
    GroupedArrays,
    LabelDelays,
    Notification,
    PairStats,
    ResourceUsage,
    ResourceWindow,
    Scope,
    ScoreHistogram,
    Store,
    StoredReference,
    StoreStats,
    WriteOutcome,
)
from . import ledger, reads
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

    def grouped_statistic_arrays(
        self,
        scope: Scope,
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
        latency: bool = True,
        score_histograms: bool = False,
    ) -> GroupedArrays:
        # The grouped read converted to columns: correct, not faster (docs/architecture.md).
        return GroupedArrays.of(
            self.grouped_statistics(scope, by, every=every, classes=classes, pos_label=pos_label)
        )

    def models_grouped_statistics(
        self,
        labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        since: datetime | None = None,
        until: datetime | None = None,
        scores: bool = True,
    ) -> dict[str, dict[tuple[Any, ...], StoreStats]]:
        return self._read(
            lambda cur: reads.models_grouped_statistics(
                self._mirror, cur, labels, by, every, since, until, scores
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
            lambda cur: reads.score_histograms(self._mirror, cur, scope, every, classes, pos_label),
            settle=True,
        )

    def class_score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
    ) -> dict[datetime, ClassScoreHistograms]:
        return self._read(
            lambda cur: reads.class_score_histograms(self._mirror, cur, scope, every, classes),
            settle=True,
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

    def feature_window_arrays(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> FeatureWindows:
        return self._read(
            lambda cur: reads.feature_window_arrays(
                self._mirror, cur, scope, every, names, max_categories
            ),
            settle=True,
        )

    def feature_bins(self, model: str) -> dict[str, tuple[float, ...]]:
        return self._read(lambda cur: reads.feature_bins(self._mirror, cur, model), settle=True)

    def label_delays(self, scope: Scope) -> LabelDelays:
        return self._read(lambda cur: reads.label_delays(self._mirror, cur, scope), settle=True)

    def failures(self, scope: Scope, every: timedelta) -> list[FailureCount]:
        return self._read(lambda cur: reads.failures(self._mirror, cur, scope, every))

    def resource_windows(
        self, since: datetime | None, until: datetime | None, every: timedelta
    ) -> list[ResourceWindow]:
        return self._read(
            lambda cur: reads.resource_windows(self._mirror, cur, since, until, every)
        )

    def deployment_events(self, model: str) -> list[DeploymentEvent]:
        return self._read(lambda cur: reads.deployment_events(cur, model))

    def prediction_pairs(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> PairStats:
        # Features are exploded by the roll: wait for it.
        return self._read(
            lambda cur: reads.prediction_pairs(
                self._mirror, cur, model, version_a, version_b, since, until
            ),
            settle=True,
        )

    def prediction_pair_windows(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime,
        until: datetime,
        every: timedelta,
    ) -> dict[int, PairStats]:
        return self._read(
            lambda cur: reads.prediction_pair_windows(
                self._mirror, cur, model, version_a, version_b, since, until, every
            ),
            settle=True,
        )

    # -- references, the ledger and the alert history (small tables, plain SQL) ----------

    def _transaction(self, work: Callable[[Any], T], *, settle: bool = False) -> T:
        """``work`` in one committed transaction on a writer's connection (its staging
        tables are there)."""
        if settle:
            self._writer.settle()
        with self._writer.connections.connection() as conn:
            with conn.cursor() as cur:
                result = work(cur)
            conn.commit()
        return result

    def fix_feature_bins(
        self, model: str, proposed: Mapping[str, Sequence[float]]
    ) -> dict[str, tuple[float, ...]]:
        # The roll bins the numbers it explodes on whatever edges are fixed when it
        # runs (under the same lock); settling first keeps the answer's timing simple.
        return self._transaction(lambda cur: ledger.fix_bins(cur, model, proposed), settle=True)

    def save_reference(self, reference: StoredReference, *, replace: bool = False) -> datetime:
        return self._transaction(lambda cur: ledger.save_reference(cur, reference, replace=replace))

    def reference(self, model: str, name: str) -> StoredReference | None:
        return self._read(lambda cur: ledger.load_reference(cur, model, name))

    def references(self, model: str) -> list[StoredReference]:
        return self._read(lambda cur: ledger.list_references(cur, model))

    def delete_reference(self, model: str, name: str) -> bool:
        return self._transaction(lambda cur: ledger.delete_reference(cur, model, name))

    def outbox_add(self, items: Sequence[Notification]) -> int:
        return self._transaction(lambda cur: ledger.outbox_add(cur, items))

    def outbox_due(
        self, at: datetime, limit: int = 100, channel: str | None = None
    ) -> list[Notification]:
        return self._read(lambda cur: ledger.outbox_due(cur, at, limit, channel))

    def outbox_claim(
        self,
        at: datetime,
        owner: str,
        *,
        limit: int = 1,
        channel: str | None = None,
        lease_seconds: float = 300.0,
    ) -> list[Notification]:
        return self._transaction(
            lambda cur: ledger.outbox_claim(cur, at, owner, limit, channel, lease_seconds)
        )

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        return self._transaction(lambda cur: ledger.renew_lease(cur, name, owner, seconds))

    def release_lease(self, name: str, owner: str) -> None:
        self._transaction(lambda cur: ledger.release_lease(cur, name, owner))

    def outbox_update(
        self,
        key: str,
        *,
        attempts: int,
        next_attempt_at: datetime | None,
        error: str | None,
        delivered_at: datetime | None = None,
    ) -> None:
        self._transaction(
            lambda cur: ledger.outbox_update(
                cur,
                key,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                error=error,
                delivered_at=delivered_at,
            )
        )

    def notifications(
        self,
        status: str | None = None,
        channel: str | None = None,
        model: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        return self._read(lambda cur: ledger.read_notifications(cur, status, channel, model, limit))

    def outbox_backlog(self) -> dict[str, tuple[int, datetime]]:
        return self._read(ledger.outbox_backlog)

    def record_action_run(self, run: ActionRun) -> None:
        self._transaction(lambda cur: ledger.record_action_run(cur, run))

    def action_runs(
        self, action: str | None = None, model: str | None = None, limit: int = 100
    ) -> list[ActionRun]:
        return self._read(lambda cur: ledger.action_runs(cur, action, model, limit))

    def export_labelled(
        self, model: str, out: Path, *, since: datetime | None = None, limit: int = 100_000
    ) -> int:
        return self._read(
            lambda cur: reads.export_labelled(self._mirror, cur, model, out, since, limit),
            settle=True,
        )

    def record_alert(self, row: AlertRow) -> None:
        self._transaction(lambda cur: ledger.record_alert(cur, row))

    def alert_history(
        self, alert_id: str | None = None, *, model: str | None = None, limit: int = 10_000
    ) -> list[AlertRow]:
        return self._read(lambda cur: ledger.alert_history(cur, alert_id, model, limit))

    def resource_usage(self, since: datetime | None, until: datetime | None) -> ResourceUsage:
        return self._read(lambda cur: ledger.resource_usage(cur, since, until))

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
        # The features' frozen bins travel with the events (see TableSource).
        rows = self._read(lambda cur: cur.execute(BINS_QUERY).fetchall(), settle=True)
        write_feature_bins(
            pa.table(
                {
                    "model": [r[0] for r in rows],
                    "name": [r[1] for r in rows],
                    "edges": pa.array([list(r[2]) for r in rows], pa.list_(pa.float64())),
                }
            ),
            out,
        )
        return written

    def close(self) -> None:
        self._writer.close()
        self._reads.close()
        self._mirror.close()


def _copy_all(cur: Any, *, query: str, schema: pa.Schema) -> pa.Table:
    from .transfer import copy_out

    return copy_out(cur, query, [], schema)


# The engine is a Store (checked by mypy).
_ENGINE: type[Store] = PostgresEngine


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
