"""The client: events converted at the call, queued, and sent in batches by one
background thread that survives anything and that ``close()`` never waits on longer
than its timeout."""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..errors import (
    ClientClosedError,
    EventValueError,
    InvalidEventError,
    QueueFullError,
    ValidationError,
)
from . import _encode
from ._answer import Fate, read_answer, summary_detail
from ._http import Transport, Undelivered
from ._ledger import ClientStats, Ledger, Rejected
from ._table import TableSummary, upload_table
from ._track import track

__all__ = ["Client"]

log = logging.getLogger("liveeval.client")
F = TypeVar("F", bound=Callable[..., Any])
_Item = tuple[str, dict[str, Any]]
MAX_BATCH = 10_000  # the server's limit per request (api.schemas.MAX_BATCH)


class Client:
    """Batches predictions and outcomes to a liveeval server from a background thread.

    Parameters
    ----------
    url:
        The server, e.g. ``"http://127.0.0.1:8000"``.
    token:
        The write token (``LIVEEVAL_WRITE_TOKEN`` on the server), if one is set.
    batch_size:
        Most events per request (at most 10,000, the server's limit).
    flush_interval:
        How long the sender waits for a first event before checking for ``close()``.
    max_queue:
        Most events waiting to be sent.
    block_seconds:
        How long ``log_*`` waits for room in a full queue before raising
        :class:`QueueFullError` (counted as ``dropped``).
    retries, backoff:
        A request failing with a network error, 5xx or 429 is retried ``retries``
        times, waiting ``backoff`` seconds, doubled each time (at most 30 s).
    timeout:
        Seconds per HTTP request.
    close_timeout:
        Most seconds ``close()`` (and ``with``'s exit) waits for the queue to be sent;
        what is still unsent then is counted as ``undelivered`` and logged.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        block_seconds: float = 5.0,
        retries: int = 6,
        backoff: float = 0.2,
        timeout: float = 10.0,
        close_timeout: float = 10.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValidationError(f"url {url!r} is not an http:// or https:// address")
        for name, number in (("batch_size", batch_size), ("max_queue", max_queue)):
            if number < 1:
                raise ValidationError(f"{name} {number!r} is not a positive integer")
        if batch_size > MAX_BATCH:
            raise ValidationError(
                f"batch_size {batch_size!r} is over {MAX_BATCH:,}, the most events the server "
                "takes in one request"
            )
        self.url = url.rstrip("/")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.block_seconds = block_seconds
        self.close_timeout = close_timeout
        self._transport = Transport(
            self.url, token, retries=retries, backoff=backoff, timeout=timeout
        )
        self._queue: queue.Queue[_Item | None] = queue.Queue(max_queue)
        self._ledger = Ledger()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="liveeval-client", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- what happened -------------------------------------------------------------

    @property
    def stats(self) -> ClientStats:
        """A snapshot of what became of the events logged so far."""
        return self._ledger.stats()

    @property
    def rejected(self) -> list[Rejected]:
        """The last 100 events not stored, each with the event and the reason."""
        return self._ledger.rejected()

    @property
    def errors(self) -> list[BaseException]:
        """The last 20 exceptions caught in the sender thread."""
        return self._ledger.errors()

    @property
    def sent(self) -> int:
        """Events the server holds: accepted plus duplicates."""
        return self._ledger.sent()

    # -- logging -------------------------------------------------------------------

    def log_prediction(
        self,
        model: str,
        *,
        label: object = None,
        version: str = "unversioned",
        score: object = None,
        probas: object = None,
        id: str | None = None,
        features: object = None,
        segment: str | None = None,
        latency_model_s: object = None,
        latency_total_s: object = None,
        status: str = "ok",
        error_type: str | None = None,
        ts: object = None,
    ) -> str:
        """Queue one prediction; returns its id (generated when not given).

        Values may be numpy or pandas scalars and arrays (``model.predict(X)[0]``,
        ``model.predict_proba(X)[0]``), datetimes (naive means UTC) or plain Python;
        ``None``, ``pd.NA`` and ``pd.NaT`` leave a field out. A value that cannot be
        sent (NaN or infinity outside ``features``, a list as ``label``, an object
        with no JSON form) raises :class:`~liveeval.errors.InvalidEventError` naming
        the field, counted in ``stats.rejected``; a full queue raises
        :class:`~liveeval.errors.QueueFullError`.
        """
        pid = id if type(id) is str else None
        try:
            pid = pid or _encode.identifier(id, "id") or os.urandom(16).hex()
            event: dict[str, Any] = {
                "id": pid,
                "model": _required(_encode.identifier(model, "model"), "model"),
                "version": _required(_encode.identifier(version, "version"), "version"),
                "ts": _encode.timestamp(ts) or datetime.now(UTC).isoformat(),
                "status": _required(_encode.identifier(status, "status"), "status"),
            }
            for name, value in (
                ("label", None if label is None else _encode.label(label)),
                ("score", None if score is None else _encode.number(score, "score")),
                ("probas", None if probas is None else _encode.probabilities(probas)),
                ("features", None if features is None else _encode.features(features)),
                ("segment", None if segment is None else _encode.identifier(segment, "segment")),
                ("latency_model_s", _number(latency_model_s, "latency_model_s")),
                ("latency_total_s", _number(latency_total_s, "latency_total_s")),
                ("error_type", _encode.identifier(error_type, "error_type")),
            ):
                if value is not None:
                    event[name] = value
        except InvalidEventError as exc:
            self._refuse("predictions", {"id": pid or id, "model": model}, exc)
            raise
        self._put("predictions", event)
        return pid

    def log_outcome(
        self,
        prediction_id: str,
        *,
        label: object = None,
        value: object = None,
        ts: object = None,
    ) -> None:
        """Queue the ground truth (a label, or a business value such as a click) for a
        prediction; the same conversions and errors as :meth:`log_prediction`."""
        try:
            event: dict[str, Any] = {
                "prediction_id": _required(
                    _encode.identifier(prediction_id, "prediction_id"), "prediction_id"
                )
            }
            for name, converted in (
                ("label", None if label is None else _encode.label(label)),
                ("value", _number(value, "value")),
                ("ts", None if ts is None else _encode.timestamp(ts)),
            ):
                if converted is not None:
                    event[name] = converted
            if "label" not in event and "value" not in event:
                raise EventValueError(
                    "an outcome needs a 'label' or a 'value'; both are missing",
                    field="label",
                    value=label,
                )
        except InvalidEventError as exc:
            self._refuse("outcomes", {"prediction_id": prediction_id}, exc)
            raise
        self._put("outcomes", event)

    def log_prediction_table(self, table: Any, *, chunk_rows: int = 100_000) -> TableSummary:
        """Send many predictions at once (a batch scoring job, a backfill) as Arrow IPC,
        in chunks of ``chunk_rows``, synchronously, with the same retries as the queue.
        Two chunks are in flight at most: the next one is encoded and sent while the
        server stores the previous one.

        ``table`` is anything ``pyarrow.table()`` takes (a pyarrow Table, a dict of
        columns, a pandas DataFrame) with a ``model`` column and any of ``id``,
        ``version``, ``ts``, ``label``, ``score``, ``probas``, ``segment``,
        ``latency_model_s``, ``latency_total_s``, ``status``, ``error_type``; missing
        ids are generated, ``ts`` defaults to now, ``status`` to ``"ok"``. Needs
        pyarrow (the server's dependency, not this module's).

        Returns the counts of ``stored``, ``duplicates``, ``conflicts`` and
        ``rejected`` rows, and ``rejections``: ``{index, id, status, detail}`` for
        each row not stored (index in ``table``, when the server gives it). They are
        counted in :attr:`stats` too. A chunk the server refuses as a whole raises
        :class:`~liveeval.errors.ValidationError`; a server that stays unreachable
        raises :class:`~liveeval.errors.DeliveryError` (both after counting what
        was stored before, and what the chunk already sent after it stored; nothing
        further is sent).
        """
        return upload_table(self, table, chunk_rows=chunk_rows)

    def track(self, model: str, *, version: str = "unversioned") -> Callable[[F], F]:
        """Decorate a predict function so every call is logged (two lines in a FastAPI app).

        The function returns a dict with ``label`` and optionally ``score`` or
        ``probas`` (numpy values are fine); the decorator adds ``prediction_id`` to
        it, to send the outcome later. An exception is logged as a failed prediction
        and re-raised. Logging never breaks the prediction: a value that cannot be
        sent or a full queue is counted in :attr:`stats`, logged, and the result is
        returned with ``prediction_id`` None.
        """

        return track(self, model, version)

    # -- lifecycle -----------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been answered; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ledger = self._ledger
        with ledger.changed:
            while ledger.pending and not ledger.abandoned:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                ledger.changed.wait(remaining)
            return not ledger.pending

    def close(self, timeout: float | None = None) -> ClientStats:
        """Send what is queued, waiting at most ``timeout`` seconds (default
        ``close_timeout``), and stop the sender. Events still unsent then are counted
        as ``undelivered`` and logged. Returns :attr:`stats`; calling it again only
        returns them."""
        with self._ledger.changed:
            if self._closed:
                return self.stats
            self._closed = True
        atexit.unregister(self.close)
        wait = self.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        self._transport.set_deadline(deadline)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # the sender sees _closed once the queue drains
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        left = self._ledger.abandon(f"still unsent when close() timed out after {wait:g} s")
        if left:
            log.error(
                "liveeval: %d events were not delivered to %s: close() timed out after %g s",
                left,
                self.url,
                wait,
            )
        return self.stats

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------

    def _put(self, kind: str, event: dict[str, Any]) -> None:
        if self._closed:
            raise ClientClosedError(f"this client of {self.url} is closed; create a new one")
        self._ledger.queued()
        try:
            self._queue.put((kind, event), timeout=self.block_seconds)
        except queue.Full:
            detail = (
                f"{self._queue.maxsize} events are waiting to be sent to {self.url}; "
                "the server is down or slower than the events arrive"
            )
            self._ledger.one(kind, event, Fate("dropped", detail), in_flight=True)
            raise QueueFullError(detail) from None

    def _refuse(self, kind: str, event: dict[str, Any], exc: InvalidEventError) -> None:
        self._ledger.one(kind, event, Fate("rejected", f"refused at the call: {exc}"))

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                for kind in ("predictions", "outcomes"):
                    events = [e for k, e in batch if k == kind]
                    if events:
                        self._deliver(kind, events)
            except Exception as exc:  # a bug in the accounting: reported; sending goes on
                self._ledger.error(exc)

    def _next_batch(self) -> list[_Item] | None:
        """Up to ``batch_size`` queued events, waiting for the first; None to stop."""
        while True:
            if self._ledger.abandoned:
                return None
            try:
                if self._closed:  # nothing more is coming: no need to wait
                    item = self._queue.get_nowait()
                else:
                    item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                if self._closed:
                    return None
                continue
            if item is not None:
                break
            if self._queue.empty():
                return None
        batch = [item]
        while len(batch) < self.batch_size:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is not None:
                batch.append(more)
        return batch

    def _deliver(self, kind: str, events: list[dict[str, Any]]) -> None:
        """Send one kind's events and count what became of each. Nothing raised here
        leaves the sender: an error is counted, logged and kept in ``errors``."""
        fates: list[Fate | None] = [None] * len(events)
        try:
            self._send(kind, events, fates)
        except Exception as exc:  # the sender thread must outlive any bug
            self._ledger.error(exc)
            lost = Fate("failed", f"error in the sender thread: {exc!r}")
            fates = [fate or lost for fate in fates]
        unknown = Fate("failed", "no answer recorded")
        # Counted and no longer pending in one step, so close() never counts them twice.
        self._ledger.settle(kind, events, [fate or unknown for fate in fates])

    def _send(self, kind: str, events: list[dict[str, Any]], fates: list[Fate | None]) -> None:
        """POST the events and fill in their fates: the events a 422 does not name are
        sent again, and a batch too large (413) is sent in halves."""
        parts = [list(range(len(events)))]
        while parts:
            part = parts.pop()
            body = _encode_batch(kind, events, part, fates)
            if body is None:
                continue
            sent = [i for i in part if fates[i] is None]
            try:
                code, text = self._transport.post(f"/v1/{kind}", body, "application/json")
            except Undelivered as exc:
                status = "undelivered" if self._closed else "failed"
                for i in sent:
                    fates[i] = Fate(status, str(exc))
                continue
            if code in (200, 201, 409, 422):
                answer = read_answer(kind, code, text, len(sent))
                for position, fate in answer.results.items():
                    fates[sent[position]] = fate
                if answer.resend:  # each round rejects at least one event: this ends
                    parts.append([sent[p] for p in answer.resend])
            elif code == 413 and len(sent) > 1:
                half = len(sent) // 2
                parts += [sent[half:], sent[:half]]
            else:
                detail = summary_detail(code, text)
                status = "rejected" if code in (400, 413) else "failed"
                log.error("liveeval refused %d %s: %s", len(sent), kind, detail)
                for i in sent:
                    fates[i] = Fate(status, detail)


def _encode_batch(
    kind: str, events: list[dict[str, Any]], part: list[int], fates: list[Fate | None]
) -> bytes | None:
    """The request body for the events at ``part``. Should encoding the batch fail,
    each event is tried alone and those that fail are rejected; None when none is left."""
    try:
        return json.dumps({kind: [events[i] for i in part]}, allow_nan=False).encode()
    except Exception as exc:
        log.warning(
            "liveeval: a batch of %s could not be encoded (%r); trying event by event", kind, exc
        )
    keep = []
    for i in part:
        try:
            json.dumps(events[i], allow_nan=False)
        except Exception as exc:
            fates[i] = Fate("rejected", f"could not be encoded as JSON: {exc!r}")
        else:
            keep.append(events[i])
    return json.dumps({kind: keep}, allow_nan=False).encode() if keep else None


def _number(value: object, field: str) -> float | int | None:
    return None if value is None else _encode.number(value, field)


def _required(value: str | None, field: str) -> str:
    if value is None:
        raise EventValueError("is required", field=field, value=value)
    return value
