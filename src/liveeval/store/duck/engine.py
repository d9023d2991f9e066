"""The DuckDB engine behind the store interface: one file and its journal.

:class:`DuckEngine` joins the store (:mod:`.store`: accept, load, replay) with the
writer (:mod:`.writer`: group commit, syncer and loader threads) and answers reads
with GROUP BYs (:mod:`.aggregate`) after the loader has caught up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from ...errors import StoreError, StoreLocked
from ...metrics.labels import Label
from ..bins_export import BINS_QUERY, write_feature_bins
from ..events import Kind
from ..interface import (
    ActionRun,
    AlertRow,
    BatchOutcome,
    BucketCounts,
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
    ScoreWindows,
    StoredReference,
    StoreStats,
    WriteOutcome,
)
from . import class_windows, ledger, lifecycle, operations, references, windows
from .aggregate import aggregate, grouped_aggregate
from .bucket_counts import bucket_counts
from .features import feature_histograms
from .idindex import hash_ids
from .models_arrays import models_grouped_arrays
from .store import DuckStore
from .window_arrays import rollup_grouped_arrays
from .writer import BatchWriter

__all__ = ["DuckEngine"]


class DuckEngine:
    """A DuckDB file (or ``":memory:"``) as an event sink and a statistics source.

    Opening applies migrations, replays the journal beyond the database's position
    (events acknowledged before a crash) and builds the id indexes.

    Raises
    ------
    StoreLocked
        when another process holds the store.
    """

    # Reads may run at once from several threads (each takes its own cursor).
    concurrent_reads = True

    def __init__(self, path: str | Path) -> None:
        location = Path(path)
        if str(path) != ":memory:" and location.is_dir():
            raise StoreError(f"{path} is a directory; give a store file such as liveeval.duckdb")
        try:
            self._store = DuckStore(path)
        except duckdb.IOException as exc:
            if "not a valid DuckDB database" in str(exc):
                raise StoreError(
                    f"{path} is not a DuckDB database (a liveeval store); give a new or "
                    "existing store file"
                ) from None
            raise StoreLocked(
                f"{path} is in use by another process (a running liveeval server or tool); "
                f"stop it or choose another --store ({_first_line(exc)})"
            ) from None
        self._writer = BatchWriter(self._store)
        self._outbox_lock = threading.Lock()
        # One process holds a DuckDB file: claims and leases live in its memory
        # (key or name -> owner, monotonic deadline).
        self._claims: dict[str, tuple[str, float]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self.path = str(path)
        self.schema_version = self._store.schema_version

    # -- writing ------------------------------------------------------------------------

    async def write(
        self, kind: Kind, events: list[dict[str, Any]], *, fresh: bool = False
    ) -> list[WriteOutcome]:
        return await self._writer.write(kind, events, fresh=fresh)

    async def write_table(self, kind: Kind, table: pa.Table) -> BatchOutcome:
        return await self._writer.write_table(kind, table)

    def commit(self, kind: Kind, events: list[dict[str, Any]]) -> list[WriteOutcome]:
        return self._writer.commit(kind, events)

    def known_ids(self, kind: Kind, ids: Sequence[str]) -> list[bool]:
        index = self._store.indexes[kind]
        hits: list[bool] = index.contains(hash_ids(pa.array(list(ids), pa.string()))).tolist()
        return hits

    def amend_latency(self, amendments: Sequence[tuple[str, datetime, float]]) -> None:
        self._writer.amend_latency(amendments)

    # -- reading ------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        self._writer.settle()
        return self._store.cursor()

    def statistics(
        self,
        scope: Scope,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> StoreStats:
        return aggregate(self._cursor(), scope, classes=classes, pos_label=pos_label)

    def grouped_statistics(
        self,
        scope: Scope,
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta | None = None,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[tuple[Any, ...], StoreStats]:
        cur = self._cursor()
        if every is not None and windows.unaligned(scope, every) is None:
            return windows.rollup_grouped(
                cur, scope, by, every, classes=classes, pos_label=pos_label
            )
        return grouped_aggregate(cur, scope, by, every=every, classes=classes, pos_label=pos_label)

    def bucket_counts(
        self, models: Sequence[str], since: datetime | None, until: datetime | None
    ) -> BucketCounts:
        return bucket_counts(self._cursor(), models, since, until)

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
        cur = self._cursor()
        if windows.unaligned(scope, every) is None:
            return rollup_grouped_arrays(
                cur,
                scope,
                by,
                every,
                classes=classes,
                pos_label=pos_label,
                latency=latency,
                histograms=score_histograms,
            )
        return GroupedArrays.of(
            grouped_aggregate(cur, scope, by, every=every, classes=classes, pos_label=pos_label)
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
        return windows.models_grouped(
            self._cursor(), labels, by, every, since, until, scores=scores
        )

    def models_grouped_statistic_arrays(
        self,
        labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        since: datetime | None = None,
        until: datetime | None = None,
        scores: bool = True,
    ) -> dict[str, GroupedArrays]:
        return models_grouped_arrays(self._cursor(), labels, by, every, since, until, scores=scores)

    def feature_histograms(
        self,
        scope: Scope,
        names: Sequence[str] | None = None,
        *,
        bins: int = 10,
        edges: Mapping[str, Sequence[float]] | None = None,
        max_categories: int = 50,
    ) -> dict[str, FeatureHistogram]:
        return feature_histograms(
            self._cursor(), scope, names, bins=bins, edges=edges, max_categories=max_categories
        )

    def score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[datetime, ScoreHistogram]:
        return windows.score_histograms(
            self._cursor(), scope, every, classes=classes, pos_label=pos_label
        )

    def score_window_arrays(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> ScoreWindows:
        return windows.score_window_arrays(
            self._cursor(), scope, every, classes=classes, pos_label=pos_label
        )

    def class_score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
    ) -> dict[datetime, ClassScoreHistograms]:
        return class_windows.class_score_histograms(self._cursor(), scope, every, classes=classes)

    def feature_windows(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> dict[datetime, dict[str, FeatureHistogram]]:
        return windows.feature_windows(
            self._cursor(), scope, every, names, max_categories=max_categories, hourly=True
        )

    def feature_window_arrays(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> FeatureWindows:
        return windows.feature_window_arrays(
            self._cursor(), scope, every, names, max_categories=max_categories, hourly=True
        )

    def feature_bins(self, model: str) -> dict[str, tuple[float, ...]]:
        return windows.feature_bins(self._cursor(), model)

    def label_delays(self, scope: Scope) -> LabelDelays:
        return windows.label_delays(self._cursor(), scope)

    def failures(self, scope: Scope, every: timedelta) -> list[FailureCount]:
        return operations.failures(self._cursor(), scope, every)

    def resource_windows(
        self, since: datetime | None, until: datetime | None, every: timedelta
    ) -> list[ResourceWindow]:
        return operations.resource_windows(self._cursor(), since, until, every)

    # -- references ---------------------------------------------------------------------

    def fix_feature_bins(
        self, model: str, proposed: Mapping[str, Sequence[float]]
    ) -> dict[str, tuple[float, ...]]:
        # Loads bin numbers on feature_bins: every acknowledged event is loaded first.
        self._writer.settle()
        return self._store.transaction(lambda con: references.fix_bins(con, model, proposed))

    def save_reference(self, reference: StoredReference, *, replace: bool = False) -> datetime:
        return self._store.transaction(
            lambda con: references.save_reference(con, reference, replace=replace)
        )

    def reference(self, model: str, name: str) -> StoredReference | None:
        return references.load_reference(self._store.cursor(), model, name)

    def references(self, model: str) -> list[StoredReference]:
        return references.list_references(self._store.cursor(), model)

    def delete_reference(self, model: str, name: str) -> bool:
        return self._store.transaction(lambda con: references.delete_reference(con, model, name))

    def deployment_events(self, model: str) -> list[DeploymentEvent]:
        return lifecycle.deployment_events(self._cursor(), model)

    def prediction_pairs(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> PairStats:
        return lifecycle.prediction_pairs(self._cursor(), model, version_a, version_b, since, until)

    def prediction_pair_windows(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime,
        until: datetime,
        every: timedelta,
    ) -> dict[int, PairStats]:
        return lifecycle.prediction_pair_windows(
            self._cursor(), model, version_a, version_b, since, until, every
        )

    def has_model(self, model: str) -> bool:
        rows = (
            self._cursor()
            .execute("SELECT 1 FROM predictions WHERE model = ? LIMIT 1", [model])
            .fetchall()
        )
        return bool(rows)

    def models(self) -> set[str]:
        rows = self._cursor().execute("SELECT DISTINCT model FROM predictions").fetchall()
        return {r[0] for r in rows}

    def versions_since(self, since: datetime | None) -> list[tuple[str, str]]:
        cur = self._cursor()
        if since is None:
            rows = cur.execute("SELECT DISTINCT model, version FROM predictions").fetchall()
        else:
            rows = cur.execute(
                "SELECT DISTINCT model, version FROM predictions WHERE ts >= ?", [since]
            ).fetchall()
        return sorted((str(m), str(v)) for m, v in rows)

    def count(self, kind: Kind) -> int:
        self._writer.settle()
        return self._store.count(kind)

    # -- ledger: the outbox and action runs (no settle: they are not events) ------------

    def _ledger(self) -> duckdb.DuckDBPyConnection:
        return self._store.cursor()

    def outbox_add(self, items: Sequence[Notification]) -> int:
        with self._outbox_lock, self._ledger() as cur:
            return ledger.outbox_add(cur, items)

    def outbox_due(
        self, at: datetime, limit: int = 100, channel: str | None = None
    ) -> list[Notification]:
        with self._ledger() as cur:
            return ledger.outbox_due(cur, at, limit, channel)

    def outbox_claim(
        self,
        at: datetime,
        owner: str,
        *,
        limit: int = 1,
        channel: str | None = None,
        lease_seconds: float = 300.0,
    ) -> list[Notification]:
        now = time.monotonic()
        with self._outbox_lock, self._ledger() as cur:
            # Enough rows to pass over those claimed by other senders of this process.
            held = sum(1 for _, until in self._claims.values() if until > now)
            due = ledger.outbox_due(cur, at, limit + held, channel)
            out = []
            for item in due:
                claim = self._claims.get(item.key)
                if claim is not None and claim[1] > now:
                    continue
                self._claims[item.key] = (owner, now + lease_seconds)
                out.append(item)
                if len(out) == limit:
                    break
            return out

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        # The only process on this file: its leases are kept in memory.
        now = time.monotonic()
        with self._outbox_lock:
            held = self._leases.get(name)
            if held is not None and held[0] != owner and held[1] > now:
                return False
            self._leases[name] = (owner, now + seconds)
            return True

    def release_lease(self, name: str, owner: str) -> None:
        with self._outbox_lock:
            held = self._leases.get(name)
            if held is not None and held[0] == owner:
                del self._leases[name]

    def outbox_update(
        self,
        key: str,
        *,
        attempts: int,
        next_attempt_at: datetime | None,
        error: str | None,
        delivered_at: datetime | None = None,
    ) -> None:
        with self._outbox_lock:
            self._claims.pop(key, None)
        with self._ledger() as cur:
            ledger.outbox_update(
                cur,
                key,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                error=error,
                delivered_at=delivered_at,
            )

    def notifications(
        self,
        status: str | None = None,
        channel: str | None = None,
        model: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        with self._ledger() as cur:
            return ledger.read_notifications(cur, status, channel, model, limit)

    def outbox_backlog(self) -> dict[str, tuple[int, datetime]]:
        with self._ledger() as cur:
            return ledger.outbox_backlog(cur)

    def record_action_run(self, run: ActionRun) -> None:
        with self._ledger() as cur:
            ledger.record_action_run(cur, run)

    def action_runs(
        self, action: str | None = None, model: str | None = None, limit: int = 100
    ) -> list[ActionRun]:
        with self._ledger() as cur:
            return ledger.action_runs(cur, action, model, limit)

    def export_labelled(
        self, model: str, out: Path, *, since: datetime | None = None, limit: int = 100_000
    ) -> int:
        cur = self._cursor()
        try:
            return lifecycle.export_labelled(cur, model, out, since, limit)
        finally:
            cur.close()

    # -- alert history and resources -------------------------------------------------

    def record_alert(self, row: AlertRow) -> None:
        cur = self._store.cursor()
        try:
            cur.execute(
                "INSERT INTO alert_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    row.alert_id,
                    row.rule,
                    row.model,
                    row.version,
                    row.segment,
                    row.metric,
                    row.state,
                    row.severity,
                    row.ts,
                    row.body,
                ],
            )
        finally:
            cur.close()

    def alert_history(
        self, alert_id: str | None = None, *, model: str | None = None, limit: int = 10_000
    ) -> list[AlertRow]:
        where, params = [], []
        if alert_id is not None:
            where.append("alert_id = ?")
            params.append(alert_id)
        if model is not None:
            where.append("model = ?")
            params.append(model)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        cur = self._store.cursor()
        try:
            rows = cur.execute(
                "SELECT * FROM (SELECT *, row_number() OVER () AS seq FROM alert_events "
                f"{clause}) ORDER BY seq DESC LIMIT ?",
                [*params, int(limit)],
            ).fetchall()
        finally:
            cur.close()
        return [AlertRow(*r[:10]) for r in reversed(rows)]

    def resource_usage(self, since: datetime | None, until: datetime | None) -> ResourceUsage:
        self._writer.settle()
        cur = self._store.cursor()
        try:
            row = cur.execute(
                "SELECT count(*), avg(cpu_percent), max(cpu_percent), max(rss_bytes) "
                "FROM resource_samples WHERE (? IS NULL OR ts >= ?) AND (? IS NULL OR ts < ?)",
                [since, since, until, until],
            ).fetchone()
        finally:
            cur.close()
        n, mean, top, rss = row if row else (0, None, None, None)
        return ResourceUsage(
            int(n),
            None if mean is None else float(mean),
            None if top is None else float(top),
            None if rss is None else int(rss),
        )

    # -- lifecycle ----------------------------------------------------------------------

    def export(self, out: Path) -> dict[str, int]:
        """Parquet, partitioned by model and date (predictions) or date (the others)."""
        cur = self._cursor()
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, int] = {}
        for table, partition in (
            ("predictions", "model, date"),
            ("outcomes", "date"),
            ("deployments", "date"),
            ("resource_samples", "date"),
        ):
            row = cur.execute(f"SELECT count(*) FROM {table}").fetchone()
            count = int(row[0]) if row else 0
            written[table] = count
            if count == 0:
                continue
            target = str(out / table).replace("'", "''")
            cur.execute(
                f"COPY (SELECT *, CAST(ts AS DATE) AS date FROM {table}) TO '{target}' "
                f"(FORMAT parquet, PARTITION_BY ({partition}), OVERWRITE_OR_IGNORE)"
            )
        # The features' frozen bins travel with the events: drift on the export then
        # bins as the store does (they were the quantiles of the first numbers in
        # arrival order, which the export does not keep).
        bins = cur.execute(BINS_QUERY).fetchall()
        write_feature_bins(
            pa.table(
                {
                    "model": [r[0] for r in bins],
                    "name": [r[1] for r in bins],
                    "edges": pa.array([list(r[2]) for r in bins], pa.list_(pa.float64())),
                }
            ),
            out,
        )
        cur.close()
        return written

    def close(self) -> None:
        self._writer.close()
        self._store.close()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
