"""The DuckDB store: one file (and its journal folder), nothing to start.

A write goes through three steps, which :class:`~liveeval.store.writer.BatchWriter`
runs on background threads and :meth:`DuckStore.write_table` runs in line:

1. :meth:`DuckStore.accept` decides, per event, stored / duplicate / conflict against
   the in-memory id index (a database lookup only for ids the index has seen);
2. the accepted rows are appended to the journal and synced: the commit point;
3. :meth:`DuckStore.load` inserts them into DuckDB in one transaction, with the
   journal position, and joins new predictions with their outcomes (in whichever
   order they came) into ``labelled``.

Reads use their own cursors, so aggregation queries run beside writes (DuckDB's MVCC
gives them a consistent snapshot).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import KINDS, SCHEMAS, content_schema, events_table, id_field
from ..interface import BatchOutcome, WriteOutcome
from .features import insert_features
from .idindex import IdIndex, hash_id, hash_ids
from .journal import Journal, Payload, Position, to_table
from .rollup import FEATURE_COLUMNS, PAIRS_TABLE, amend_latency, maintain
from .schema import migrate

_T = TypeVar("_T")

__all__ = ["LABELLED_INSERT", "DuckStore"]

# A prediction ``p`` joined with its outcome ``o``, as a row of ``labelled``.
LABELLED_INSERT = (
    "INSERT INTO labelled (prediction_id, model, version, ts, segment, status, predicted, "
    "score, label, value, probas) SELECT p.id, p.model, p.version, p.ts, p.segment, "
    "p.status, p.label, p.score, o.label, o.value, p.probas"
)
# The same, with the outcome's time, into the load's ``new_pairs`` (for the rollups).
_PAIRS_INSERT = (
    LABELLED_INSERT.replace("INTO labelled", "INTO new_pairs")
    .replace("value, probas)", "value, probas, outcome_ts)")
    .replace("p.probas", "p.probas, o.ts")
)

# Replayed journal records are loaded in transactions of about this many rows.
REPLAY_ROWS = 1_000_000


class DuckStore:
    """Events in a DuckDB file (or ``":memory:"``, which has no journal).

    Opening a store applies migrations, loads whatever the journal holds beyond the
    database's position (the events acknowledged before a crash), and builds the id
    indexes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        in_memory = self.path == ":memory:"
        if not in_memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path)
        # DuckDB draws a progress bar on stdout for long statements (a migration's
        # backfill, a large load): noise in a server's log.
        self._con.execute("SET enable_progress_bar = false").fetchall()
        self._load_lock = threading.Lock()
        self._accept_lock = threading.Lock()
        self.schema_version = migrate(self._con)
        self.indexes: dict[str, IdIndex] = {}
        for kind in KINDS:
            key = id_field(kind)
            if key is not None:
                index = IdIndex()
                # In batches: ten million ids at once would be ~0.5 GB of strings.
                reader = self._con.sql(f"SELECT {key} FROM {kind}").to_arrow_reader(1 << 20)
                index.add(
                    np.concatenate(
                        [np.zeros(0, np.uint64)] + [hash_ids(b.column(0)) for b in reader]
                    )
                )
                self.indexes[kind] = index
        self.journal = None if in_memory else Journal(self.path + ".journal")
        if self.journal is not None:
            self._replay(self.journal)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for reads, safe to use from another thread."""
        return self._con.cursor()

    def transaction(self, work: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """Run ``work`` in one transaction, between loads (writes that are not events:
        references, fixed bins)."""
        with self._load_lock:
            con = self._con
            con.execute("BEGIN TRANSACTION").fetchall()
            try:
                result = work(con)
                con.execute("COMMIT").fetchall()
            except BaseException:
                con.execute("ROLLBACK").fetchall()
                raise
            return result

    def close(self) -> None:
        with self._load_lock:
            if self.journal is not None:
                self.journal.close()
            self._con.close()

    # -- accept: idempotency --------------------------------------------------------

    def accept(
        self, kind: str, table: pa.Table, settle: Callable[[], None] | None = None
    ) -> tuple[BatchOutcome, pa.Table]:
        """Decide what happens to each row; returns the outcome of each row and the rows
        to store. The accepted ids join the index at once, so the next batch sees them.

        A row whose id is already stored with the same content (the timestamp aside,
        since a retry is stamped anew) is a ``duplicate``; with different content a
        ``conflict``; neither is stored again. ``settle`` is called before the database
        is asked about ids the index has seen, so that rows accepted earlier but not
        yet loaded are visible.
        """
        if kind not in SCHEMAS:
            raise ValueError(f"unknown event kind {kind!r}")
        schema = content_schema(kind)
        if table.schema != schema:
            table = table.select(schema.names).cast(schema)
        key = id_field(kind)
        n = table.num_rows
        if key is None or n == 0:
            return BatchOutcome.all_stored(None, n), table
        with self._accept_lock:
            index = self.indexes[kind]
            hashes = hash_ids(table.column(key))
            seen = index.contains(hashes)
            ordered = np.sort(hashes)
            repeated = ordered[1:][ordered[1:] == ordered[:-1]]
            if not seen.any() and repeated.size == 0:
                index.add(hashes)
                return BatchOutcome.all_stored(table.column(key).to_pylist(), n), table
            # Every row of a repeated id, its first occurrence included, is compared.
            suspect = seen | np.isin(hashes, repeated)
            outcomes, keep = self._resolve(kind, key, table, suspect, settle)
            index.add(hashes[keep])
            return BatchOutcome.of(outcomes), table.filter(pa.array(keep))

    def accept_rows(
        self,
        kind: str,
        rows: list[dict[str, Any]],
        *,
        fresh: bool = False,
        settle: Callable[[], None] | None = None,
    ) -> tuple[list[WriteOutcome], list[dict[str, Any]]] | None:
        """:meth:`accept` for a few event dicts (a server's group commit), in plain
        Python. ``fresh`` says the ids were just generated at random (128 bits), so
        they are indexed without being looked up."""
        key = id_field(kind)
        if key is None or not rows:
            return [WriteOutcome("stored")] * len(rows), rows
        ids = [row[key] for row in rows]
        hashes = np.array([hash_id(i) for i in ids], dtype=np.uint64)
        with self._accept_lock:
            index = self.indexes[kind]
            if fresh or (len(set(ids)) == len(ids) and not index.contains(hashes).any()):
                index.add(hashes)
                return [WriteOutcome("stored", i) for i in ids], rows
            if settle is None:
                return None  # the caller compares content off the event loop
        outcomes = self.accept(kind, events_table(kind, rows), settle)[0].outcomes()
        kept = {o.key for o in outcomes if o.status == "stored"}
        # Rows whose id was stored come back in order; a repeated id is stored once.
        out, done = [], set()
        for row in rows:
            if row[key] in kept and row[key] not in done:
                out.append(row)
                done.add(row[key])
        return outcomes, out

    def _resolve(
        self,
        kind: str,
        key: str,
        table: pa.Table,
        suspect: np.ndarray[Any, np.dtype[np.bool_]],
        settle: Callable[[], None] | None,
    ) -> tuple[list[WriteOutcome], np.ndarray[Any, np.dtype[np.bool_]]]:
        """The slow path, for rows whose id hash was seen before (in the store or
        earlier in this batch): compare contents exactly."""
        keys: list[str] = table.column(key).to_pylist()
        if settle is not None:
            settle()
        at = np.flatnonzero(suspect)
        stored_rows = (
            self._con.cursor()
            .sql(
                f"SELECT * FROM {kind} WHERE {key} IN (SELECT unnest(?::VARCHAR[]))",
                params=[sorted({keys[i] for i in at})],
            )
            .to_arrow_table()
            .to_pylist()
        )
        stored = {row[key]: _content(row) for row in stored_rows}
        in_batch: dict[str, dict[str, Any]] = {}
        contents = dict(zip(at.tolist(), table.take(pa.array(at)).to_pylist(), strict=True))
        outcomes: list[WriteOutcome] = []
        keep = np.zeros(len(keys), dtype=bool)
        for i, k in enumerate(keys):
            if i not in contents:
                outcomes.append(WriteOutcome("stored", k))
                keep[i] = True
                continue
            content = _content(contents[i])
            if k in stored:
                same = stored[k] == content
                detail = f"{key} {k!r} is already stored with different content"
            elif k in in_batch:
                same = in_batch[k] == content
                detail = f"{key} {k!r} appears twice in this batch with different content"
            else:
                in_batch[k] = content
                outcomes.append(WriteOutcome("stored", k))
                keep[i] = True
                continue
            outcomes.append(
                WriteOutcome("duplicate", k) if same else WriteOutcome("conflict", k, detail)
            )
        return outcomes, keep

    # -- load: into DuckDB ------------------------------------------------------------

    def load(
        self,
        batches: Sequence[tuple[str, Payload]],
        position: Position | None,
        amends: Sequence[tuple[str, datetime, float]] = (),
        *,
        update: bool = True,
    ) -> list[tuple[str, datetime, float]]:
        """Insert accepted rows in one transaction (with the journal position they end
        at), and add the prediction/outcome pairs they complete to ``labelled``.

        ``amends`` (id, ts, seconds) set ``latency_total_s`` of predictions: of rows
        in this load before they are inserted, and — with ``update`` — of rows loaded
        earlier, by an UPDATE limited to their time range. Returns the amendments
        not applied (those for rows not in this load, without ``update``)."""
        by_kind: dict[str, list[Payload]] = {}
        for kind, payload in batches:
            by_kind.setdefault(kind, []).append(payload)
        tables = {kind: to_table(kind, parts) for kind, parts in by_kind.items()}
        tables = {kind: table for kind, table in tables.items() if table.num_rows}
        earlier: pa.Table | None = None
        if amends:
            tables, earlier = _amended(tables, amends)
        rest: list[tuple[str, datetime, float]] = []
        if earlier is not None and not update:
            left = set(earlier["id"].to_pylist())
            rest = [a for a in amends if a[0] in left]
            earlier = None
        with self._load_lock:
            con = self._con
            registered = []
            try:
                for kind, table in tables.items():
                    con.register(f"new_{kind}", table)
                    registered.append(f"new_{kind}")
                # Every result is fetched: DuckDB refuses further work on a connection
                # that still holds an unfinished result.
                con.execute("BEGIN TRANSACTION").fetchall()
                try:
                    for kind in tables:
                        con.execute(f"INSERT INTO {kind} SELECT * FROM new_{kind}").fetchall()
                    new_p = tables.get("predictions")
                    features, feature_rows = None, None
                    if new_p is not None and new_p.column("features").null_count < len(new_p):
                        rows = insert_features(con, "new_predictions", FEATURE_COLUMNS)
                        if rows is not None and rows.num_rows:
                            con.register("new_features", rows)
                            registered.append("new_features")
                            features, feature_rows = "new_features", rows
                    pairs = self._label(con, tables)
                    # The rollups: one aggregate-and-upsert per table for the batch.
                    maintain(
                        con,
                        "new_predictions" if new_p is not None else None,
                        pairs,
                        features,
                        feature_rows,
                        prediction_probas=new_p is not None
                        and new_p.column("probas").null_count < len(new_p),
                    )
                    con.execute("DROP TABLE IF EXISTS new_pairs").fetchall()
                    if earlier is not None:
                        # Rows an earlier load took: the rollups move with the UPDATE.
                        con.register("amended_latency", earlier)
                        registered.append("amended_latency")
                        amend_latency(
                            con,
                            "amended_latency",
                            pc.min(earlier["ts"]).as_py(),
                            pc.max(earlier["ts"]).as_py(),
                        )
                    if position is not None:
                        con.execute(
                            'UPDATE journal_state SET segment = ?, "offset" = ?',
                            [position.segment, position.offset],
                        ).fetchall()
                    con.execute("COMMIT").fetchall()
                except Exception:
                    con.execute("ROLLBACK").fetchall()
                    raise
            finally:
                for name in registered:
                    con.unregister(name)
        return rest

    def _label(self, con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> str | None:
        """Join the pairs this load completes into ``labelled`` (through ``new_pairs``,
        which the rollups then read); the relation's name, or None when there are none."""
        new_p = tables.get("predictions")
        new_o = tables.get("outcomes")
        # The indexes say whether a join can find anything; most batches of a live
        # server are predictions whose outcomes have not come yet.
        by_prediction = (
            new_p is not None and self.indexes["outcomes"].contains(hash_ids(new_p["id"])).any()
        )
        by_outcome = (
            new_o is not None
            and self.indexes["predictions"].contains(hash_ids(new_o["prediction_id"])).any()
        )
        if not (by_prediction or by_outcome):
            return None
        con.execute(PAIRS_TABLE).fetchall()
        if by_prediction:
            con.execute(
                f"{_PAIRS_INSERT} FROM new_predictions p JOIN outcomes o ON o.prediction_id = p.id"
            ).fetchall()
        if by_outcome:
            fresh = (
                " WHERE NOT EXISTS (SELECT 1 FROM new_predictions n WHERE n.id = o.prediction_id)"
                if new_p is not None
                else ""
            )
            con.execute(
                f"{_PAIRS_INSERT} FROM new_outcomes o "
                f"JOIN predictions p ON p.id = o.prediction_id{fresh}"
            ).fetchall()
        con.execute("INSERT INTO labelled SELECT * EXCLUDE (outcome_ts) FROM new_pairs").fetchall()
        return "new_pairs"

    def position(self) -> Position:
        row = self._con.cursor().execute('SELECT segment, "offset" FROM journal_state').fetchone()
        return Position(int(row[0]), int(row[1])) if row else Position(0, 0)

    def _replay(self, journal: Journal) -> None:
        pending: list[tuple[str, Payload]] = []
        rows = 0
        end: Position | None = None
        for record in journal.read(self.position()):
            table = to_table(record.kind, record.payload)
            key = id_field(record.kind)
            if key is not None:
                self.indexes[record.kind].add(hash_ids(table.column(key)))
            pending.append((record.kind, table))
            rows += table.num_rows
            end = record.end
            if rows >= REPLAY_ROWS:
                self.load(pending, end)
                pending, rows = [], 0
        if end is not None:
            self.load(pending, end)
            journal.discard_before(end)

    # -- synchronous writes -------------------------------------------------------------

    def write(self, kind: str, events: Sequence[dict[str, Any]]) -> list[WriteOutcome]:
        """Write a batch of event dicts; see :meth:`write_table`."""
        return self.write_table(kind, events_table(kind, events)).outcomes()

    def write_table(self, kind: str, table: pa.Table) -> BatchOutcome:
        """Accept and load a batch in line (no journal: the DuckDB commit is the
        commit); one outcome per row, in order. For bulk loads and tools; the server
        uses :class:`~liveeval.store.writer.BatchWriter`."""
        outcomes, accepted = self.accept(kind, table)
        self.load([(kind, accepted)], None)
        return outcomes

    def count(self, kind: str) -> int:
        row = self.cursor().execute(f"SELECT count(*) FROM {kind}").fetchone()
        return int(row[0]) if row else 0


def _amended(
    tables: dict[str, pa.Table], amends: Sequence[tuple[str, datetime, float]]
) -> tuple[dict[str, pa.Table], pa.Table | None]:
    """The tables with the amended latencies of their own predictions applied, and the
    amendments left for rows loaded earlier (None when there are none)."""
    ids = pa.array([a[0] for a in amends], pa.string())
    seconds = pa.array([a[2] for a in amends], pa.float64())
    left = np.ones(len(amends), dtype=bool)
    new = tables.get("predictions")
    if new is not None:
        at = pc.index_in(new["id"], value_set=ids)
        hit = pc.is_valid(at)
        if pc.any(hit).as_py():
            column = new.schema.get_field_index("latency_total_s")
            patched = pc.if_else(hit, pc.take(seconds, at), new["latency_total_s"])
            tables = {**tables, "predictions": new.set_column(column, "latency_total_s", patched)}
            left[np.unique(at.drop_null().to_numpy())] = False
    if not left.any():
        return tables, None
    rest = pa.table(
        {
            "id": ids,
            "ts": pa.array([a[1] for a in amends], pa.timestamp("us")),
            "seconds": seconds,
        }
    ).filter(pa.array(left))
    return tables, rest


# Not content: the server stamps events that arrive without a time, and it measures
# latency on every call, so a client's retry (of an ingested event, or of a predict
# with its id) must not look like a conflict.
_NOT_CONTENT = frozenset({"ts", "latency_model_s", "latency_total_s"})


def _content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in _NOT_CONTENT}
