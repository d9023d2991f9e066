"""Group commit into PostgreSQL, and the connections a replica holds.

Request handlers ``await writer.write(kind, events)``; the requests of one turn of the
event loop are queued together and one of
:data:`WRITERS` writer threads takes everything queued at once and writes it as one
statement in autocommit (:func:`.load.store_small`; a batch of 1,000 rows or more is
its own transaction, :func:`.load.store`). While a write runs the next group gathers
(and starts on another writer), so under load one round trip and one WAL flush serve
many requests, and the event loop never waits for the database. A future is resolved only after the database answered
the commit: a 2xx answer means the database committed the event.

A lost connection fails the group's requests with
:class:`~liveeval.errors.StoreUnavailable` (HTTP 503: nothing acknowledged); the next
group connects again. A commit whose answer was lost may have committed: the client's
retry is then a ``duplicate``, never a second copy. Deadlocks and serialisation
failures are retried (the transaction is rolled back, nothing was acknowledged).

A roller thread adds committed loads to the rollups (:func:`.load.roll`): its own
replica's a quarter of a second after they commit (sooner when a read waits), and any
replica's that stayed queued for :data:`TAKEOVER_SECONDS` (their replica stopped).
The latency a served prediction's answer measured after its commit
(:meth:`GroupWriter.amend_latency`) is applied by the next roll.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import StoreUnavailable
from ..events import events_table, id_field
from ..interface import BatchOutcome
from .load import FAST_ROWS, ROLL_ROWS, Events, Scratch, roll, store, store_small
from .location import connect, masked, unavailable

__all__ = ["Connections", "GroupWriter"]

log = logging.getLogger(__name__)

# Temporary tables a writing session stages rows in (created once per connection).
_STAGING = [
    *(
        f"in_{k} (LIKE {k}) ON COMMIT DELETE ROWS"
        for k in ("predictions", "outcomes", "deployments")
    ),
    *(
        f"stage_{t} (LIKE {t}) ON COMMIT DELETE ROWS"
        for t in (
            "rollup_counts",
            "rollup_latency",
            "rollup_latency_hourly",
            "rollup_cells",
            "rollup_scores",
            "rollup_scores_hourly",
            "rollup_delays",
            "rollup_features",
            "rollup_feature_categories",
            "rollup_probas",
            "rollup_probas_hourly",
        )
    ),
]
RETRIES = 5
# Writer threads (connections) taking groups: a request arriving while one group's
# commit waits for its WAL flush starts at once on another, instead of waiting for it
# (four: 1.13-1.20x the predict throughput of two at 8 connections, bench/README.md).
WRITERS = 4
# The roller lets commits gather this long before a roll, unless a reader waits.
LINGER_SECONDS = 0.25
# Under load it waits this many times its last roll's duration (up to MAX_LINGER_SECONDS)
# instead, so rolling takes at most about a fifth of the time and each roll carries more
# loads (a roll's cost is mostly its dozen statements, not its rows); a read still
# hurries it.
ROLL_SPACING = 4.0
MAX_LINGER_SECONDS = 2.0
# A batch of this many distinct ids or more is written as PARALLEL_PARTS parts by id on
# as many connections at once (two server cores), each its own transaction (four parts
# against two: bench/README.md, sixth PostgreSQL pass).
PARALLEL_ROWS = 20_000
PARALLEL_PARTS = 2
# Queue rows of another replica older than this are rolled by anyone (it stopped).
TAKEOVER_SECONDS = 5.0
# A large batch's stored predictions are held in memory for this replica's roll, up
# to this many bytes (Arrow buffers) and this long; beyond, the roll reads them back
# from PostgreSQL, as it does another replica's.
LOADED_BYTES = 256 << 20
LOADED_SECONDS = 60.0


def _errors() -> Any:
    import psycopg

    return psycopg


class Connections:
    """Idle connections of one replica to ``location``, handed out one per use; a
    connection that failed is dropped and the next use connects anew."""

    def __init__(self, location: str, *, staging: bool = False) -> None:
        self.location = location
        self._staging = staging
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> Any:
        conn = connect(self.location)
        if self._staging:
            conn.autocommit = True
            for table in _STAGING:
                conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}")
        conn.autocommit = False
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection (in a transaction the caller commits); a lost connection is
        dropped, with every idle one (a server restart broke them all), and raised as
        :class:`StoreUnavailable`."""
        psycopg = _errors()
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = self._open()
        healthy = False
        try:
            yield conn
            healthy = True
        except psycopg.OperationalError as exc:
            self._drop_idle()
            raise unavailable(self.location, exc) from None
        finally:
            if healthy and not conn.closed and not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()  # end a read's transaction
                with self._lock:
                    if not self._closed:
                        self._idle.append(conn)
                        conn = None
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()

    def _drop_idle(self) -> None:
        psycopg = _errors()
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def write_batches(
    connections: Connections,
    batches: Sequence[tuple[str, pa.Table | Events]],
    owner: str,
    loaded: list[tuple[int, pa.Table]] | None = None,
) -> tuple[list[BatchOutcome], bool]:
    """One write transaction for ``batches``, retried on a deadlock; the outcomes once
    committed, and whether loads were queued for the rollups. A large batch adds its
    queue row and the predictions it stored to ``loaded`` once committed (for the
    replica's own roll, :func:`.load.roll`)."""
    psycopg = _errors()
    retryable = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
    small = sum(t.num_rows for _, t in batches) < FAST_ROWS
    for attempt in range(RETRIES):
        committing = False
        try:
            with connections.connection() as conn:
                if small:
                    # One statement in autocommit: its answer is the commit. Lost on
                    # the way, it is sent once more on a new connection (below): rows
                    # the lost one stored are then answered "duplicate", never doubled.
                    conn.autocommit = True
                    try:
                        with conn.cursor() as cur:
                            return store_small(cur, batches, owner)
                    finally:
                        if not conn.closed:
                            conn.autocommit = False
                attempt_loaded: list[tuple[int, pa.Table]] = []
                with conn.cursor() as cur:
                    tables = [
                        (k, b if isinstance(b, pa.Table) else events_table(k, b.rows))
                        for k, b in batches
                    ]
                    done = store(cur, tables, owner, attempt_loaded)
                committing = True
                conn.commit()
                if loaded is not None:
                    loaded.extend(attempt_loaded)
                return done
        except retryable:
            if attempt == RETRIES - 1:
                raise
            log.info("a write transaction met a concurrent one (deadlock); retrying")
        except StoreUnavailable:
            # Lost before COMMIT was sent (an idle connection a server restart broke):
            # nothing was written, so once more on a new connection. Lost during the
            # COMMIT, it may have committed: the client's retry will tell (a duplicate).
            if committing or attempt > 0:
                raise
    raise AssertionError("unreachable")


class GroupWriter:
    """Queues small writes from the event loop and commits them in groups on a thread;
    a second thread rolls committed loads into the rollups."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.owner = uuid.uuid4().hex
        self.connections = Connections(location, staging=True)
        self.scratch = Scratch()
        self._queue: collections.deque[tuple[str, list[dict[str, Any]], Any]] = collections.deque()
        self._pending: list[tuple[str, list[dict[str, Any]], Any]] = []
        self._amends: collections.deque[tuple[str, datetime, float]] = collections.deque()
        self._wake = threading.Condition()
        self._closed = False
        self._rolled = threading.Condition()
        self._applied = 0
        self._appended = 0
        self._committed = 0  # own queue rows committed (written by the writer thread)
        self._hurry = threading.Event()
        # Predictions large batches stored, by queue row, until this replica rolls them
        # (:func:`.load.roll` then reads nothing back); bounded by LOADED_BYTES.
        self._loaded: dict[int, tuple[float, pa.Table]] = {}
        self._loaded_lock = threading.Lock()
        self._threads = [
            *(
                threading.Thread(target=self._run, name=f"liveeval-pg-writer-{i}", daemon=True)
                for i in range(WRITERS)
            ),
            threading.Thread(target=self._roll_loop, name="liveeval-pg-roller", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- entry points -------------------------------------------------------------------

    async def write(self, kind: str, events: list[dict[str, Any]]) -> list[Any]:
        if self._closed:
            raise RuntimeError("the writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        # Requests of one turn of the event loop are handed over together (one lock,
        # one wake-up of a writer thread), as the DuckDB engine's writer gathers them.
        if not self._pending:
            loop.call_soon(self._hand_over)
        self._pending.append((kind, events, (loop, future)))
        return await future

    def _hand_over(self) -> None:
        pending, self._pending = self._pending, []
        with self._wake:
            if not self._closed:
                self._queue.extend(pending)
                self._wake.notify()
                return
        _resolve_all([(f, None, RuntimeError("the writer is closed")) for _, _, f in pending])

    def commit(self, kind: str, events: list[dict[str, Any]]) -> list[Any]:
        """From a plain thread: queued like the loop's writes; waits for the commit."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        future: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        with self._wake:
            self._queue.append((kind, events, future))
            self._wake.notify()
        return future.result()

    def commit_table(self, kind: str, table: pa.Table) -> BatchOutcome:
        """A large batch in its own transaction, on the calling thread; a batch of
        :data:`PARALLEL_ROWS` distinct ids or more in :data:`PARALLEL_PARTS` parts, at once
        (:func:`_halves`)."""
        halves = _halves(kind, table)
        if halves is None:
            loaded: list[tuple[int, pa.Table]] = []
            outcomes, _ = write_batches(self.connections, [(kind, table)], self.owner, loaded)
            self._keep(loaded)
            self._hurry.set()
            return outcomes[0]
        parts: list[BatchOutcome | None] = [None] * len(halves)
        errors: list[BaseException] = []

        def write(i: int) -> None:
            try:
                mine: list[tuple[int, pa.Table]] = []
                done, _ = write_batches(
                    self.connections, [(kind, table.take(halves[i]))], self.owner, mine
                )
                self._keep(mine)
                parts[i] = done[0]
            except BaseException as exc:  # raised below, on the calling thread
                errors.append(exc)

        others = [
            threading.Thread(target=write, args=(i,), name="liveeval-pg-copy", daemon=True)
            for i in range(1, len(halves))
        ]
        for other in others:
            other.start()
        write(0)
        for other in others:
            other.join()
        self._hurry.set()
        if errors:
            # Nothing is acknowledged; a half that committed answers "duplicate" to
            # the client's retry, as a commit whose answer was lost.
            raise errors[0]
        return _joined(table, halves, [p for p in parts if p is not None])

    def _keep(self, loaded: list[tuple[int, pa.Table]]) -> None:
        """Hold committed batches' predictions for this replica's roll: the oldest are
        dropped past :data:`LOADED_BYTES` or :data:`LOADED_SECONDS` (the roll then
        reads them back, as it does another replica's)."""
        if not loaded:
            return
        now = time.monotonic()
        with self._loaded_lock:
            for seq, rows in loaded:
                self._loaded[seq] = (now, rows)
            held = sum(rows.nbytes for _, rows in self._loaded.values())
            for seq in sorted(self._loaded):
                since, rows = self._loaded[seq]
                if held <= LOADED_BYTES and now - since <= LOADED_SECONDS:
                    continue
                del self._loaded[seq]
                held -= rows.nbytes

    def _loaded_rows(self) -> dict[int, pa.Table]:
        with self._loaded_lock:
            return {seq: rows for seq, (_, rows) in self._loaded.items()}

    def _forget(self, seqs: Sequence[int]) -> None:
        with self._loaded_lock:
            for seq in seqs:
                self._loaded.pop(seq, None)

    def amend_latency(self, amendments: Sequence[tuple[str, datetime, float]]) -> None:
        if self._closed or not amendments:
            return
        with self._rolled:
            self._amends.extend(amendments)
            self._appended += len(amendments)

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until every load committed before this call is rolled (by any replica)
        and the latency amendments handed over so far are applied."""
        deadline = time.monotonic() + timeout
        with self._rolled:
            target_amends = self._appended
        with self.connections.connection() as conn:
            row = conn.execute("SELECT max(seq) FROM rollup_queue").fetchone()
            target = None if row is None else row[0]
            delay = 0.002
            while target is not None:
                self._hurry.set()
                left = conn.execute(
                    "SELECT 1 FROM rollup_queue WHERE seq <= %s LIMIT 1", [target]
                ).fetchone()
                conn.rollback()
                if left is None:
                    break
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        f"the PostgreSQL store {masked(self.location)} has loads not rolled "
                        f"into its statistics after {timeout:g} s; they are safe, retry later"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        with self._rolled:
            if self._applied < target_amends:
                self._hurry.set()
                self._rolled.wait_for(
                    lambda: self._applied >= target_amends or self._closed,
                    max(deadline - time.monotonic(), 0.0),
                )

    def close(self) -> None:
        with self._wake:
            pending, self._pending = self._pending, []
            self._queue.extend(pending)  # written before the threads stop
            self._closed = True
            self._wake.notify_all()
        self._hurry.set()
        for thread in self._threads:
            thread.join()
        self.connections.close()
        self.scratch.close()

    # -- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return  # closed, everything written
                group = list(self._queue)
                self._queue.clear()
            self._commit_group(group)

    def _commit_group(self, group: list[tuple[str, list[dict[str, Any]], Any]]) -> None:
        # One Arrow table per kind for the whole group (not one per request, then
        # concatenated): the per-call cost of Arrow is most of a small group's CPU.
        # A small group travels as JSON text (:class:`.load.Events`: PostgreSQL types the
        # rows), so the writer thread, which shares the interpreter lock with the event
        # loop, does almost nothing per event.
        kinds = sorted({kind for kind, _, _ in group})
        rows = {kind: [e for k, events, _ in group if k == kind for e in events] for kind in kinds}
        batches: list[tuple[str, pa.Table | Events]] = []
        small = sum(len(r) for r in rows.values()) < FAST_ROWS
        for kind in kinds:
            as_json = Events.of(kind, rows[kind]) if small else None
            batches.append((kind, as_json or events_table(kind, rows[kind])))
        try:
            merged, queued = write_batches(self.connections, batches, self.owner)
        except StoreUnavailable as exc:
            _resolve_all([(future, None, exc) for _, _, future in group])
            return
        except Exception as exc:
            log.exception("a group commit into PostgreSQL failed")
            _resolve_all([(future, None, exc) for _, _, future in group])
            return
        if queued:
            with self._rolled:
                self._committed += 1
        answers = {
            kind: outcome.outcomes() for (kind, _), outcome in zip(batches, merged, strict=True)
        }
        taken = dict.fromkeys(kinds, 0)
        done: list[tuple[Any, Any, BaseException | None]] = []
        for kind, events, future in group:
            start = taken[kind]
            taken[kind] = start + len(events)
            done.append((future, answers[kind][start : start + len(events)], None))
        _resolve_all(done)

    # -- the roller thread --------------------------------------------------------------

    def _roll_loop(self) -> None:
        seen = 0
        last_takeover = time.monotonic()
        delay = 0.1
        linger = LINGER_SECONDS
        while True:
            hurried = self._hurry.wait(linger)
            self._hurry.clear()
            closing = self._closed
            now = time.monotonic()
            due = now - last_takeover >= TAKEOVER_SECONDS / 2
            if not (hurried or closing or due or self._committed != seen or self._amends):
                continue
            committed = self._committed
            with self._rolled:
                amends = list(self._amends)
                self._amends.clear()
            started = time.monotonic()
            try:
                held = self._loaded_rows()
                offered = set(held)
                with self.connections.connection() as conn:
                    with conn.cursor() as cur:
                        done, kept = roll(
                            cur,
                            self.scratch,
                            self.owner,
                            amends,
                            takeover_seconds=TAKEOVER_SECONDS,
                            loaded=held,
                        )
                    conn.commit()
                self._forget(sorted(offered - set(held)))
                delay = 0.1
                took = time.monotonic() - started
                linger = min(max(LINGER_SECONDS, ROLL_SPACING * took), MAX_LINGER_SECONDS)
            except Exception as exc:
                # Nothing is lost: the queue rows stay until a roll commits.
                if not isinstance(exc, StoreUnavailable):
                    log.exception("rolling loads into the rollups failed; retrying")
                with self._rolled:
                    self._amends.extendleft(reversed(amends))
                if closing:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if due:
                last_takeover = now
            seen = committed
            with self._rolled:
                self._amends.extendleft(reversed(kept))
                self._applied += len(amends) - len(kept)
                self._rolled.notify_all()
            if done >= ROLL_ROWS or kept:
                self._hurry.set()  # more waiting
            elif closing:
                return


def _halves(kind: str, table: pa.Table) -> list[np.ndarray[Any, np.dtype[np.int64]]] | None:
    """The rows of a batch of :data:`PARALLEL_ROWS` distinct ids or more as
    :data:`PARALLEL_PARTS` parts by id (row positions, each part sorted by id: the
    lower ids, the upper ids), each written in its own transaction on its own
    connection at the same time; None for any other batch.

    PostgreSQL runs one ``COPY`` on one core, and most of a large batch's time is the
    server's (the heap, the unique index, the ``(model, ts)`` index): two connections
    use two cores. The halves hold disjoint ids, in disjoint ranges of the unique
    index, so neither waits for the other's rows."""
    key = id_field(kind)
    if key is None or table.num_rows < PARALLEL_ROWS:
        return None
    column = table.column(key)
    if column.null_count or len(pc.unique(column)) != table.num_rows:
        return None
    order = pc.sort_indices(column).to_numpy().astype(np.int64)
    return list(np.array_split(order, PARALLEL_PARTS))


def _joined(
    table: pa.Table,
    halves: list[np.ndarray[Any, np.dtype[np.int64]]],
    parts: list[BatchOutcome],
) -> BatchOutcome:
    """The outcomes of the parts (:func:`_halves`) in the batch's own row order."""
    n = table.num_rows
    status = np.zeros(n, dtype=np.int8)
    details: dict[int, str] = {}
    keys = np.empty(n, dtype=object)  # placed by numpy, not a Python loop per row
    for at, part in zip(halves, parts, strict=True):
        status[at] = part.status
        for j, text in part.details.items():
            details[int(at[j])] = text
        if part.keys is not None:
            keys[at] = part.keys
    return BatchOutcome(keys.tolist(), status, details)


def _resolve_all(done: list[tuple[Any, Any, BaseException | None]]) -> None:
    """Resolve a group's futures: those of plain threads at once, those of an event
    loop in **one** callback per loop (one wake-up of the loop for the whole group,
    not one per request)."""
    loops: dict[Any, list[tuple[Any, Any, BaseException | None]]] = {}
    for future, result, error in done:
        if isinstance(future, concurrent.futures.Future):
            _resolve(future, result, error)
        else:
            loops.setdefault(future[0], []).append((future[1], result, error))
    for loop, items in loops.items():

        def settle(items: list[tuple[Any, Any, BaseException | None]] = items) -> None:
            for fut, result, error in items:
                if fut.done():  # the client went away
                    continue
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
            loop.call_soon_threadsafe(settle)


def _resolve(future: Any, result: Any, error: BaseException | None) -> None:
    if isinstance(future, concurrent.futures.Future):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        return
    loop, fut = future

    def done() -> None:
        if fut.done():  # the client went away
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
        loop.call_soon_threadsafe(done)
