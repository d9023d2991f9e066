"""Group commit: many concurrent requests, one transaction.

Request handlers submit their events and wait on a future; a single writer thread
takes everything that has queued up (up to ``max_batch`` events), writes each kind
in one transaction, and only then resolves the futures. So a 2xx answer always
means the event is committed, and under load one commit serves many requests.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .duck import DuckStore, WriteOutcome
from .events import events_table

__all__ = ["BatchWriter"]


@dataclass
class _Job:
    kind: str
    events: list[dict[str, Any]] | pa.Table
    future: Future[list[WriteOutcome]] = field(default_factory=Future)

    @property
    def size(self) -> int:
        return self.events.num_rows if isinstance(self.events, pa.Table) else len(self.events)


class BatchWriter:
    """A background thread that writes queued events to ``store`` in group commits."""

    def __init__(self, store: DuckStore, max_batch: int = 50_000) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="liveeval-writer", daemon=True)
        self._closed = False
        self._thread.start()

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

    def close(self) -> None:
        """Write everything still queued, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            job = self._queue.get()
            if job is None:
                break
            jobs = [job]
            size = job.size
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

    def _commit(self, jobs: list[_Job]) -> None:
        by_kind: dict[str, list[_Job]] = defaultdict(list)
        for job in jobs:
            by_kind[job.kind].append(job)
        for kind, group in by_kind.items():
            try:
                tables = [
                    j.events if isinstance(j.events, pa.Table) else events_table(kind, j.events)
                    for j in group
                ]
                outcomes = self.store.write_table(kind, pa.concat_tables(tables))
            except Exception as exc:
                for j in group:
                    j.future.set_exception(exc)
                continue
            start = 0
            for j in group:
                j.future.set_result(outcomes[start : start + j.size])
                start += j.size
