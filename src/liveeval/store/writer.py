"""Group commit through the journal: many concurrent requests, one fsync.

Request handlers submit their events and wait on a future. The writer thread takes
everything that has queued up, decides per event stored / duplicate / conflict
(:meth:`DuckStore.accept`), appends the accepted rows to the journal and syncs it,
and only then resolves the futures: a 2xx answer always means the event is on disk.
A loader thread then moves journal records into DuckDB in as few transactions as
it can; :meth:`BatchWriter.settle` waits until everything acknowledged so far is
loaded, which reads call first so that they see every acknowledged event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..errors import LiveevalError
from .duck import DuckStore, WriteOutcome
from .events import content_schema, events_table
from .journal import Position

__all__ = ["BatchWriter", "StoreUnavailable"]

log = logging.getLogger(__name__)

# Rows per loader transaction; more waiting rows are loaded in the next one.
LOAD_ROWS = 1_000_000
# How long the loader lets commits gather before a transaction, unless a reader is
# waiting: a DuckDB transaction costs over a millisecond of CPU however few rows it
# holds, and under load that CPU is better spent answering requests.
LINGER_SECONDS = 0.25


class StoreUnavailable(LiveevalError, RuntimeError):
    """The database has not caught up with the journal in time (it keeps trying)."""


@dataclass
class _Job:
    kind: str
    events: list[dict[str, Any]] | pa.Table
    future: Future[list[WriteOutcome]] = field(default_factory=Future)

    @property
    def size(self) -> int:
        return self.events.num_rows if isinstance(self.events, pa.Table) else len(self.events)


class BatchWriter:
    """Writes queued events to ``store``: journal first, DuckDB in the background."""

    def __init__(self, store: DuckStore, max_batch: int = 200_000) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._loads: queue.Queue[tuple[list[tuple[str, pa.Table]], Position, int] | None] = (
            queue.Queue()
        )
        self._progress = threading.Condition()
        self._appended = 0  # commits acknowledged
        self._loaded = 0  # commits in DuckDB
        self._closed = False
        self._hurry = threading.Event()
        self._writer = threading.Thread(
            target=self._write_loop, name="liveeval-writer", daemon=True
        )
        self._loader = threading.Thread(target=self._load_loop, name="liveeval-loader", daemon=True)
        self._writer.start()
        self._loader.start()

    def submit(
        self, kind: str, events: list[dict[str, Any]] | pa.Table
    ) -> Future[list[WriteOutcome]]:
        if self._closed:
            raise RuntimeError("the writer is closed")
        job = _Job(kind, events)
        self._queue.put(job)
        return job.future

    def write(self, kind: str, events: list[dict[str, Any]] | pa.Table) -> list[WriteOutcome]:
        """Submit and wait for the commit."""
        return self.submit(kind, events).result()

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until every event acknowledged so far is in DuckDB."""
        with self._progress:
            target = self._appended
            if self._loaded >= target:
                return
            self._hurry.set()
            if not self._progress.wait_for(lambda: self._loaded >= target, timeout):
                raise StoreUnavailable(
                    f"the database is {target - self._loaded} commit(s) behind the journal "
                    f"after {timeout:g} s; acknowledged events are safe in the journal"
                )

    def close(self) -> None:
        """Write and load everything still queued, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self._hurry.set()
        self._loads.put(None)
        self._loader.join()

    # -- writer thread ------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            size = job.size
            stop = False
            while size < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
                size += more.size
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        by_kind: dict[str, list[_Job]] = defaultdict(list)
        for job in jobs:
            by_kind[job.kind].append(job)
        records: list[tuple[str, pa.Table]] = []
        answers: list[tuple[list[_Job], list[WriteOutcome]]] = []
        for kind, group in by_kind.items():
            try:
                table = _concat(kind, group)
                outcomes, accepted = self.store.accept(kind, table, settle=self.settle)
            except Exception as exc:
                for j in group:
                    j.future.set_exception(exc)
                continue
            records.append((kind, accepted))
            answers.append((group, outcomes))
        try:
            if self.store.journal is not None:
                position = self.store.journal.append(records)
            else:
                self.store.load(records, None)
                position = Position(0, 0)
        except Exception as exc:
            for group, _ in answers:
                for j in group:
                    j.future.set_exception(exc)
            return
        if self.store.journal is not None:
            with self._progress:
                self._appended += 1
                sequence = self._appended
            self._loads.put((records, position, sequence))
        for group, outcomes in answers:
            start = 0
            for j in group:
                j.future.set_result(outcomes[start : start + j.size])
                start += j.size

    # -- loader thread ------------------------------------------------------------------

    def _load_loop(self) -> None:
        stop = False
        while not stop:
            item = self._loads.get()
            if item is None:
                return
            records, position, sequence = item
            self._hurry.wait(LINGER_SECONDS)
            self._hurry.clear()
            rows = sum(t.num_rows for _, t in records)
            while rows < LOAD_ROWS:
                try:
                    more = self._loads.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                records = records + more[0]
                position, sequence = more[1], more[2]
                rows += sum(t.num_rows for _, t in more[0])
            self._load(records, position)
            with self._progress:
                self._loaded = sequence
                self._progress.notify_all()

    def _load(self, records: list[tuple[str, pa.Table]], position: Position) -> None:
        delay = 0.1
        while True:
            try:
                self.store.load(records, position)
                break
            except Exception:
                # The events are safe in the journal; keep trying (a full disk, a lock).
                log.exception("loading journalled events into DuckDB failed; retrying")
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self.store.journal is not None:
            self.store.journal.discard_before(position)


def _concat(kind: str, jobs: list[_Job]) -> pa.Table:
    """One table for a kind, rows in submission order (outcomes go back by position)."""
    if not any(isinstance(j.events, pa.Table) for j in jobs):
        return events_table(kind, [e for j in jobs for e in j.events])
    schema = content_schema(kind)
    return pa.concat_tables(
        [
            (j.events if isinstance(j.events, pa.Table) else events_table(kind, j.events))
            .select(schema.names)
            .cast(schema)
            for j in jobs
        ]
    )
