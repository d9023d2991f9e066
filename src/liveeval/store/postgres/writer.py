"""Group commit into PostgreSQL, and the connections a replica holds.

Request handlers ``await writer.write(kind, events)``; the event is queued and a
writer thread takes everything queued at once and writes it in one transaction
(:func:`.load.load`). While one transaction runs the next group gathers, so under load
one commit (one WAL flush) serves many requests, and the event loop never waits for
the database. A future is resolved only after ``COMMIT`` returned: a 2xx answer means
the database committed the event.

A lost connection fails the group's requests with
:class:`~liveeval.errors.StoreUnavailable` (HTTP 503: nothing acknowledged); the next
group connects again. A commit whose answer was lost may have committed: the client's
retry is then a ``duplicate``, never a second copy. Deadlocks and serialisation
failures are retried (the transaction is rolled back, nothing was acknowledged).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from ...errors import StoreUnavailable
from ..events import events_table
from ..interface import BatchOutcome
from .load import Scratch, load
from .location import connect, masked, unavailable

__all__ = ["Connections", "GroupWriter"]

log = logging.getLogger(__name__)

# Temporary tables a writing session stages rows in (created once per connection).
_STAGING = [
    *(f"in_{k} (LIKE {k})" for k in ("predictions", "outcomes", "deployments")),
    *(
        f"stage_{t} (LIKE {t})"
        for t in (
            "rollup_counts",
            "rollup_latency",
            "rollup_cells",
            "rollup_scores",
            "rollup_scores_hourly",
            "rollup_delays",
            "rollup_features",
            "rollup_feature_categories",
        )
    ),
]
RETRIES = 5


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
        """A connection (in a transaction the caller commits); a database error drops it
        and is raised as :class:`StoreUnavailable` when it is a lost connection."""
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

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def write_batches(
    connections: Connections,
    scratch: Scratch,
    batches: Sequence[tuple[str, pa.Table]],
    amends: Sequence[tuple[str, datetime, float]] = (),
) -> list[BatchOutcome]:
    """One transaction for ``batches``, retried on a deadlock; the outcomes once committed."""
    psycopg = _errors()
    retryable = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
    for attempt in range(RETRIES):
        try:
            with connections.connection() as conn:
                with conn.cursor() as cur:
                    outcomes = load(cur, scratch, batches, amends)
                conn.commit()
                return outcomes
        except retryable:
            if attempt == RETRIES - 1:
                raise
            log.info("a write transaction met a concurrent one (deadlock); retrying")
    raise AssertionError("unreachable")


class GroupWriter:
    """Queues small writes from the event loop and commits them in groups on a thread."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.connections = Connections(location, staging=True)
        self.scratch = Scratch()
        self._queue: collections.deque[tuple[str, list[dict[str, Any]], Any]] = collections.deque()
        self._amends: collections.deque[tuple[str, datetime, float]] = collections.deque()
        self._wake = threading.Condition()
        self._closed = False
        self._applied = 0
        self._appended = 0
        self._lock = threading.Lock()  # a scratch database serves one load at a time
        # Large batches (write_table) load on their caller's thread with their own
        # scratch database, beside the group commits.
        self._table_scratch = Scratch()
        self._table_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="liveeval-pg-writer", daemon=True)
        self._thread.start()

    # -- entry points -------------------------------------------------------------------

    async def write(self, kind: str, events: list[dict[str, Any]]) -> list[Any]:
        if self._closed:
            raise RuntimeError("the writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        with self._wake:
            self._queue.append((kind, events, (loop, future)))
            self._wake.notify()
        return await future

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
        """A large batch in its own transaction, on the calling thread."""
        with self._table_lock:
            return write_batches(self.connections, self._table_scratch, [(kind, table)])[0]

    def amend_latency(self, amendments: Sequence[tuple[str, datetime, float]]) -> None:
        if self._closed or not amendments:
            return
        with self._wake:
            self._amends.extend(amendments)
            self._appended += len(amendments)
            self._wake.notify()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the latency amendments handed over so far are applied."""
        with self._wake:
            target = self._appended
            self._wake.notify()
            if not self._wake.wait_for(lambda: self._applied >= target or self._closed, timeout):
                raise StoreUnavailable(
                    f"the PostgreSQL store {masked(self.location)} did not apply latency "
                    f"updates within {timeout:g} s"
                )

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join()
        self.connections.close()
        self.scratch.close()
        self._table_scratch.close()

    # -- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._amends or self._closed)
                if not self._queue and not self._amends:
                    if self._closed:
                        return
                    continue
                group = list(self._queue)
                self._queue.clear()
                amends = list(self._amends)
                self._amends.clear()
            self._commit_group(group, amends)
            with self._wake:
                self._applied += len(amends)
                self._wake.notify_all()

    def _commit_group(
        self, group: list[tuple[str, list[dict[str, Any]], Any]], amends: list[Any]
    ) -> None:
        batches = [(kind, events_table(kind, events)) for kind, events, _ in group]
        try:
            with self._lock:
                outcomes = write_batches(self.connections, self.scratch, batches, amends)
        except StoreUnavailable as exc:
            for _, _, future in group:
                _resolve(future, None, exc)
            return
        except Exception as exc:
            log.exception("a group commit into PostgreSQL failed")
            for _, _, future in group:
                _resolve(future, None, exc)
            return
        for (_, _, future), outcome in zip(group, outcomes, strict=True):
            _resolve(future, outcome.outcomes(), None)


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
