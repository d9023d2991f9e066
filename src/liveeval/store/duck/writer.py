"""Group commit through the journal: many concurrent requests, one fsync.

Request handlers ``await writer.write(kind, events)``. Small writes gather on the
event loop: the first write of a loop iteration schedules a flush, and every request
that reaches its write before the flush runs joins it. The flush decides per event
stored / duplicate / conflict (:meth:`DuckStore.accept_rows`) and writes the accepted
events to the journal as JSON lines; a syncer thread makes the journal durable
(``fdatasync``) and only then are the requests' futures resolved. So a 2xx answer
always means the event is on disk, one fsync serves every request written while the
previous one ran, and the loop never waits for the disk. The per-request work on the
loop is a few microseconds: building Arrow tables, hashing through numpy or one
thread hand-off per request each measured more than the rest of the request.

Large batches (Arrow ingestion, big JSON batches) are accepted and journalled on a
worker thread so that they do not stall the loop.

A loader thread moves durable journal records into DuckDB, in journal order, in as
few transactions as it can; :meth:`BatchWriter.settle` waits until everything
acknowledged so far is loaded, which reads call first so that they see every
acknowledged event.

A served prediction's total latency is only known once its commit returns, after the
event was written: the service hands it over with :meth:`BatchWriter.amend_latency`
(a deque append on the loop, nothing more), and the loader applies the amendments
with its next load, to the rows of that load before they are inserted. The few whose
rows an earlier load inserted (their answer was still on its way when the loader
took its batch) wait for an ``UPDATE``, run when a reader is waiting, at close, or
every ``LEFTOVER_SECONDS``: an UPDATE costs ~10 ms whatever its size. Amendments are
not journalled: a crash loses the ones not yet applied, and those rows keep the
latency written with the event (measured up to the write).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from ...errors import StoreUnavailable
from ..events import events_table
from ..interface import BatchOutcome, WriteOutcome
from .journal import Payload, Position, json_lines
from .store import DuckStore

__all__ = ["BatchWriter"]

log = logging.getLogger(__name__)

# Rows per loader transaction; more waiting rows are loaded in the next one.
LOAD_ROWS = 1_000_000
# How long the loader lets commits gather before a transaction, unless a reader is
# waiting: a DuckDB transaction costs over a millisecond of CPU however few rows it
# holds, and under load that CPU is better spent answering requests.
LINGER_SECONDS = 0.25
# Latency amendments whose rows are already loaded are applied at least this often
# (and whenever a reader waits), or once this many have gathered.
LEFTOVER_SECONDS = 5.0
LEFTOVER_ROWS = 50_000
# Writes larger than this are committed on a worker thread instead of the loop.
INLINE_ROWS = 2_000


class _Waiting:
    """Small writes journalled up to ``end``, waiting for a sync to cover them."""

    __slots__ = ("end", "futures")

    def __init__(self, end: Position, futures: list[tuple[asyncio.Future[Any], Any]]) -> None:
        self.end = end
        self.futures = futures


class BatchWriter:
    """Writes events to ``store``: journal first, DuckDB in the background."""

    def __init__(self, store: DuckStore) -> None:
        self.store = store
        self.journal = store.journal
        self._commit_lock = threading.Lock()
        self._state = threading.Condition()
        # Journalled records in journal order; the loader takes the durable prefix.
        self._journalled: collections.deque[tuple[str, Payload, Position]] = collections.deque()
        self._durable = self.journal.durable if self.journal else Position(0, 0)
        self._loaded = self._durable
        self._closed = False
        self._hurry = threading.Event()
        self._pending: list[tuple[str, list[dict[str, Any]], bool, asyncio.Future[Any]]] = []
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_needed = threading.Event()
        # Latency amendments (id, ts, seconds): appended on the loop, taken by the loader.
        self._amends: collections.deque[tuple[str, datetime, float]] = collections.deque()
        self._amended = 0  # appended so far (written on the loop only)
        self._applied = 0  # applied so far (written by the loader only)
        # The loader's own: taken from the deque, not applied yet (rows loaded earlier).
        self._drained = 0
        self._leftover: list[tuple[str, datetime, float]] = []
        self._leftover_since = 0.0
        self._threads = [
            threading.Thread(target=self._load_loop, name="liveeval-loader", daemon=True),
            threading.Thread(target=self._sync_loop, name="liveeval-syncer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- writing ------------------------------------------------------------------------

    async def write(
        self, kind: str, events: list[dict[str, Any]], *, fresh: bool = False
    ) -> list[WriteOutcome]:
        """Commit ``events``; one outcome each, after they are durable. ``fresh`` says
        the ids were just generated at random, so they need no duplicate check."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        loop = asyncio.get_running_loop()
        if len(events) > INLINE_ROWS or self.journal is None:
            return await loop.run_in_executor(None, self.commit, kind, events)
        self._loop = loop
        future: asyncio.Future[list[WriteOutcome]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((kind, events, fresh, future))
        return await future

    def amend_latency(self, amendments: Sequence[tuple[str, datetime, float]]) -> None:
        """Set the total latency of committed predictions with the next load."""
        if self._closed or not amendments:
            return
        if self.journal is None:  # an in-memory store loads in line: so do these
            self.store.load([], None, list(amendments))
            return
        self._amends.extend(amendments)
        self._amended += len(amendments)

    async def write_table(self, kind: str, table: pa.Table) -> BatchOutcome:
        """Commit a large batch on a worker thread; the outcome of each row."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        return await asyncio.get_running_loop().run_in_executor(
            None, self.commit_table, kind, table
        )

    def _flush(self) -> None:
        """Accept and journal what gathered during this loop iteration (no sync)."""
        pending, self._pending = self._pending, []
        assert self.journal is not None
        waiting: list[tuple[asyncio.Future[Any], Any]] = []
        with self._commit_lock:
            records: list[tuple[str, Payload]] = []
            for kind in dict.fromkeys(p[0] for p in pending):
                group = [p for p in pending if p[0] == kind]
                rows = [row for p in group for row in p[1]]
                try:
                    quick = self.store.accept_rows(
                        kind, rows, fresh=all(p[2] for p in group), settle=None
                    )
                except Exception as exc:
                    waiting.extend((p[3], exc) for p in group)
                    continue
                if quick is None:
                    # A seen id: its content is compared with the stored row once the
                    # loader catches up — on a worker thread, never on the event loop.
                    self._commit_elsewhere(kind, group, rows)
                    continue
                outcomes, accepted = quick
                if accepted:
                    records.append((kind, json_lines(accepted)))
                start = 0
                for p in group:
                    waiting.append((p[3], outcomes[start : start + len(p[1])]))
                    start += len(p[1])
            if records:
                try:
                    end = self._journal(records)
                except Exception as exc:
                    for future, _ in waiting:
                        future.set_exception(exc)
                    return
            else:
                # Duplicates only: answer once whatever they repeat is durable too.
                end = self.journal.end
        self._waiting.append(_Waiting(end, waiting))
        self._sync_needed.set()

    def _commit_elsewhere(
        self,
        kind: str,
        group: list[tuple[str, list[dict[str, Any]], bool, asyncio.Future[Any]]],
        rows: list[dict[str, Any]],
    ) -> None:
        assert self._loop is not None
        done = self._loop.run_in_executor(None, self.commit, kind, rows)

        def answer(task: asyncio.Future[list[WriteOutcome]]) -> None:
            error = task.exception()
            start = 0
            for p in group:
                future = p[3]
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(task.result()[start : start + len(p[1])])
                start += len(p[1])

        done.add_done_callback(answer)

    def _journal(self, records: list[tuple[str, Payload]]) -> Position:
        # Called with the commit lock held, so the queue is in journal order.
        assert self.journal is not None
        end = self.journal.write(records)
        with self._state:
            for kind, payload in records:
                self._journalled.append((kind, payload, end))
        return end

    def commit(self, kind: str, events: list[dict[str, Any]]) -> list[WriteOutcome]:
        """Accept, journal and sync ``events`` in this thread (big JSON batches, the
        resource sampler); thread-safe."""
        with self._commit_lock:
            accepted_rows = self.store.accept_rows(kind, events, settle=self.settle)
            assert accepted_rows is not None  # with ``settle`` it always decides
            outcomes, accepted = accepted_rows
            if accepted:
                self._persist(kind, accepted)
        self._sync()
        return outcomes

    def commit_table(self, kind: str, table: pa.Table) -> BatchOutcome:
        """:meth:`commit` for an Arrow table, kept columnar throughout."""
        with self._commit_lock:
            outcomes, accepted = self.store.accept(kind, table, settle=self.settle)
            if accepted.num_rows:
                self._persist(kind, accepted)
        self._sync()
        return outcomes

    def _persist(self, kind: str, rows: pa.Table | list[dict[str, Any]]) -> None:
        # Called with the commit lock held.
        if self.journal is None:  # an in-memory store: load in line
            table = rows if isinstance(rows, pa.Table) else events_table(kind, rows)
            self.store.load([(kind, table)], None)
            return
        self._journal([(kind, rows if isinstance(rows, pa.Table) else json_lines(rows))])

    def _sync(self) -> None:
        # Outside the commit lock, so that the loop's group commits go on meanwhile.
        if self.journal is not None:
            self._mark_durable(self.journal.sync())

    # -- syncer thread ------------------------------------------------------------------

    def _sync_loop(self) -> None:
        while True:
            self._sync_needed.wait()
            self._sync_needed.clear()
            if self._closed and not self._waiting:
                return
            try:
                durable = self.journal.sync() if self.journal else self._durable
            except Exception as exc:
                log.exception("syncing the journal failed")
                self._answer(None, exc)
                continue
            self._mark_durable(durable)
            self._answer(durable, None)

    def _answer(self, durable: Position | None, error: Exception | None) -> None:
        """Resolve the waiting writes a sync covered, on their loop (one hand-off per
        sync, not per request)."""
        ready: list[_Waiting] = []
        while self._waiting and (durable is None or self._waiting[0].end <= durable):
            ready.append(self._waiting.popleft())
        if not ready:
            return

        def resolve() -> None:
            for batch in ready:
                for future, result in batch.futures:
                    if future.done():  # the client went away
                        continue
                    if error is not None:
                        future.set_exception(error)
                    elif isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # the loop stopped while we synced
            pass

    def _mark_durable(self, durable: Position) -> None:
        with self._state:
            if durable > self._durable:
                self._durable = durable
                self._state.notify_all()

    # -- reads wait for the loader ------------------------------------------------------

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until every event written so far (acknowledged or about to be) is in
        DuckDB: reads call this, and so does the duplicate check before it asks the
        database about an id it has seen."""
        self._sync()
        with self._state:
            target = self._durable
            amended = self._amended
            if self._loaded >= target and self._applied >= amended:
                return
            self._hurry.set()
            self._state.notify_all()  # amendments alone do not wake the loader
            if not self._state.wait_for(
                lambda: self._loaded >= target and self._applied >= amended, timeout
            ):
                raise StoreUnavailable(
                    f"the database has not loaded the journal up to {target} after "
                    f"{timeout:g} s; acknowledged events are safe in the journal"
                )

    def close(self) -> None:
        """Journal what is pending, sync, load everything, then stop."""
        if self._closed:
            return
        if self._pending:
            self._flush()
        self._sync()
        self._answer(self._durable, None)
        self._closed = True
        self._hurry.set()
        self._sync_needed.set()
        with self._state:
            self._state.notify_all()
        for thread in self._threads:
            thread.join()

    # -- loader thread ------------------------------------------------------------------

    def _load_loop(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(
                    lambda: self._closed or self._ready_to_load(),
                )
                if not self._ready_to_load():
                    return  # closed, everything loaded
            hurried = self._closed or self._hurry.wait(LINGER_SECONDS)
            self._hurry.clear()
            # Taken before the records: an amendment follows its row's commit, so its
            # row is among the records taken below or was loaded before.
            fresh = [self._amends.popleft() for _ in range(len(self._amends))]
            with self._state:
                batch: list[tuple[str, Payload]] = []
                end = self._loaded
                rows = 0
                while self._has_records() and rows < LOAD_ROWS:
                    kind, payload, end = self._journalled.popleft()
                    batch.append((kind, payload))
                    rows += payload.num_rows if isinstance(payload, pa.Table) else 1_000
            amends = self._leftover + fresh
            update = (
                hurried
                or len(amends) >= LEFTOVER_ROWS
                or (self._leftover and time.monotonic() - self._leftover_since >= LEFTOVER_SECONDS)
            )
            rest = self._load(batch, end, amends, bool(update))
            if rest and not self._leftover:
                self._leftover_since = time.monotonic()
            self._leftover = rest
            self._drained += len(fresh)
            with self._state:
                self._loaded = end
                self._applied = self._drained - len(rest)
                self._state.notify_all()

    def _has_records(self) -> bool:
        return bool(self._journalled) and self._journalled[0][2] <= self._durable

    def _ready_to_load(self) -> bool:
        return (
            self._has_records()
            or bool(self._amends)
            or (bool(self._leftover) and self._hurry.is_set())
        )

    def _load(
        self,
        batch: list[tuple[str, Payload]],
        end: Position,
        amends: list[tuple[str, datetime, float]],
        update: bool,
    ) -> list[tuple[str, datetime, float]]:
        """Load ``batch`` with ``amends``; the amendments left unapplied (none when
        ``update``)."""
        delay = 0.1
        while True:
            try:
                rest = self.store.load(batch, end, amends, update=update)
                break
            except Exception:
                # The events are safe in the journal; keep trying (a full disk, a lock).
                log.exception("loading journalled events into DuckDB failed; retrying")
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self.journal is not None:
            self.journal.discard_before(end)
        return rest
