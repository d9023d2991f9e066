"""A small SDK for model servers that are not liveeval's own.

```python
from liveeval.client import Client

with Client("http://127.0.0.1:8000", token=os.environ.get("LIVEEVAL_WRITE_TOKEN")) as client:
    pid = client.log_prediction("fraud", version="v3", label=1, score=0.93)
    ...
    client.log_outcome(pid, label=0)          # hours later, from anywhere
```

Events are queued and sent in batches by a background thread, with retries and
exponential backoff when the server is unreachable or answers 5xx. The queue is
bounded: when it is full, ``log_*`` waits up to ``block_seconds`` and then raises
:class:`QueueFullError` rather than dropping data silently. Events the server
rejects (4xx) are not retried; they are kept in ``client.rejected`` with the
server's message. This module imports nothing from the server.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

__all__ = ["Client", "QueueFullError", "Rejected"]

log = logging.getLogger("liveeval.client")
F = TypeVar("F", bound=Callable[..., Any])


class QueueFullError(RuntimeError):
    """The client's bounded queue stayed full: the server is down or too slow."""


class _Refused(Exception):
    """The server refused a request with a 4xx other than 409: not worth retrying."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Rejected:
    kind: str
    event: dict[str, Any]
    status: int
    detail: str


class Client:
    """Batches predictions and outcomes to a liveeval server."""

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
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.block_seconds = block_seconds
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.rejected: list[Rejected] = []
        self.sent = 0
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(max_queue)
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="liveeval-client", daemon=True)
        self._closed = False
        self._thread.start()

    # -- logging -------------------------------------------------------------------

    def log_prediction(
        self,
        model: str,
        *,
        label: Any = None,
        version: str = "unversioned",
        score: float | None = None,
        probas: list[float] | None = None,
        id: str | None = None,
        features: dict[str, Any] | None = None,
        segment: str | None = None,
        latency_model_s: float | None = None,
        latency_total_s: float | None = None,
        status: str = "ok",
        error_type: str | None = None,
        ts: datetime | None = None,
    ) -> str:
        """Queue one prediction; returns its id (generated when not given)."""
        pid = id or uuid.uuid4().hex
        event = {
            "id": pid,
            "model": model,
            "version": version,
            "ts": (ts or datetime.now(UTC)).isoformat(),
            "label": label,
            "score": score,
            "probas": probas,
            "features": features,
            "segment": segment,
            "latency_model_s": latency_model_s,
            "latency_total_s": latency_total_s,
            "status": status,
            "error_type": error_type,
        }
        self._put("predictions", {k: v for k, v in event.items() if v is not None})
        return pid

    def log_outcome(
        self, prediction_id: str, *, label: Any = None, value: float | None = None
    ) -> None:
        """Queue the ground truth (a label, or a business value such as a click) for a prediction."""
        event = {"prediction_id": prediction_id, "label": label, "value": value}
        self._put("outcomes", {k: v for k, v in event.items() if v is not None})

    def log_prediction_table(self, table: Any, *, chunk_rows: int = 100_000) -> dict[str, int]:
        """Send many predictions at once (a batch scoring job, a backfill) as Arrow IPC,
        in chunks of ``chunk_rows``, synchronously, with the same retries as the queue.

        ``table`` is anything ``pyarrow.table()`` takes (a pyarrow Table, a dict of
        columns, a pandas DataFrame) with a ``model`` column and any of ``id``,
        ``version``, ``ts``, ``label``, ``score``, ``probas``, ``segment``,
        ``latency_model_s``, ``latency_total_s``, ``status``, ``error_type``; missing
        ids are generated, ``ts`` defaults to now, ``status`` to ``"ok"``. Returns the
        counts of stored, duplicate and conflicting rows; conflicts are also kept in
        ``rejected``. Needs pyarrow (the server's dependency, not this module's).
        """
        import pyarrow as pa

        table = _prediction_columns(pa.table(table))
        totals = {"stored": 0, "duplicates": 0, "conflicts": 0}
        for start in range(0, max(table.num_rows, 1), chunk_rows):
            chunk = table.slice(start, chunk_rows)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, chunk.schema) as writer:
                writer.write_table(chunk)
            try:
                _, text = self._post(
                    "/v1/predictions/arrow",
                    sink.getvalue().to_pybytes(),
                    "application/vnd.apache.arrow.stream",
                )
            except _Refused as exc:
                raise ValueError(
                    f"liveeval rejected the batch ({exc.code}): {exc.detail}"
                ) from None
            answer = json.loads(text)
            totals["stored"] += int(answer.get("stored", 0))
            totals["duplicates"] += len(answer.get("duplicates", []))
            for conflict in answer.get("conflicts", []):
                totals["conflicts"] += 1
                event = {"id": conflict.get("id")}
                self.rejected.append(
                    Rejected("predictions", event, 409, conflict.get("detail") or "conflict")
                )
        self.sent += totals["stored"] + totals["duplicates"]
        return totals

    def _post(self, path: str, body: bytes, content_type: str) -> tuple[int, str]:
        """POST with retries and exponential backoff on 5xx and network errors.
        Returns (200 or 409, body); raises :class:`_Refused` for another 4xx and
        ConnectionError when the retries are spent."""
        headers = {"content-type": content_type}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        delay = self.backoff
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(f"{self.url}{path}", body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read().decode(errors="replace")
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                if exc.code == 409:
                    return 409, detail
                if 400 <= exc.code < 500:
                    raise _Refused(exc.code, detail) from None
                log.warning(
                    "liveeval answered %d; retry %d/%d", exc.code, attempt + 1, self.retries
                )
            except (urllib.error.URLError, OSError) as exc:
                log.warning(
                    "liveeval unreachable (%s); retry %d/%d", exc, attempt + 1, self.retries
                )
            if attempt < self.retries:
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise ConnectionError(f"not delivered to {self.url} after {self.retries} retries")

    def track(self, model: str, *, version: str = "unversioned") -> Callable[[F], F]:
        """Decorate a predict function so every call is logged (two lines in a FastAPI app).

        The function must return a dict with ``label`` and optionally ``score`` or
        ``probas``; the decorator adds ``prediction_id`` to it, to send the outcome later.
        An exception is logged as a failed prediction and re-raised.
        """

        def decorate(fn: F) -> F:
            def record(
                started: float, result: Any = None, error: BaseException | None = None
            ) -> Any:
                elapsed = time.perf_counter() - started
                if error is not None:
                    self.log_prediction(
                        model,
                        version=version,
                        status="error",
                        error_type=type(error).__name__,
                        latency_total_s=elapsed,
                    )
                    return None
                if not isinstance(result, dict) or "label" not in result:
                    raise TypeError(
                        f"{fn.__name__} must return a dict with a 'label' to be tracked"
                    )
                pid = self.log_prediction(
                    model,
                    version=version,
                    label=result["label"],
                    score=result.get("score"),
                    probas=result.get("probas"),
                    latency_total_s=elapsed,
                )
                return {**result, "prediction_id": pid}

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    started = time.perf_counter()
                    try:
                        result = await fn(*args, **kwargs)
                    except Exception as exc:
                        record(started, error=exc)
                        raise
                    return record(started, result)

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    record(started, error=exc)
                    raise
                return record(started, result)

            return wrapper  # type: ignore[return-value]

        return decorate

    # -- lifecycle -----------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been sent (or rejected); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------

    def _put(self, kind: str, event: dict[str, Any]) -> None:
        if self._closed:
            raise RuntimeError("the client is closed")
        with self._idle:
            self._pending += 1
        try:
            self._queue.put((kind, event), timeout=self.block_seconds)
        except queue.Full:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            raise QueueFullError(
                f"{self._queue.maxsize} events are waiting to be sent to {self.url}; "
                "the server is down or slower than the events arrive"
            ) from None

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                continue
            if item is None:
                break
            batch = [item]
            while len(batch) < self.batch_size:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            for kind in ("predictions", "outcomes"):
                events = [e for k, e in batch if k == kind]
                if events:
                    self._send(kind, events)
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _send(self, kind: str, events: list[dict[str, Any]]) -> None:
        body = json.dumps({kind: events}).encode()
        try:
            code, detail = self._post(f"/v1/{kind}", body, "application/json")
        except _Refused as exc:
            for event in events:
                self.rejected.append(Rejected(kind, event, exc.code, exc.detail))
            log.error("liveeval rejected %d %s: %s", len(events), kind, exc.detail)
            return
        except ConnectionError:
            for event in events:
                self.rejected.append(
                    Rejected(kind, event, 0, f"not delivered after {self.retries} retries")
                )
            log.error(
                "liveeval: gave up on %d %s after %d retries", len(events), kind, self.retries
            )
            return
        if code == 409:
            self._rejected_items(kind, events, code, detail)
        else:
            self.sent += len(events)

    def _rejected_items(
        self, kind: str, events: list[dict[str, Any]], code: int, detail: str
    ) -> None:
        try:
            results = json.loads(detail)["results"]
        except (ValueError, KeyError, TypeError):
            results = []
        stored = 0
        for event, result in zip(events, results, strict=False):
            if result.get("status") == "conflict":
                self.rejected.append(Rejected(kind, event, code, result.get("detail", "conflict")))
            else:
                stored += 1
        self.sent += stored


def _prediction_columns(table: Any) -> Any:
    """The Arrow ingest endpoint's columns: defaults filled in, labels as JSON text."""
    import os

    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    if "model" not in table.column_names:
        raise ValueError("the table needs a 'model' column")
    if "id" not in table.column_names:
        raw = os.urandom(16 * n).hex()
        table = table.append_column("id", pa.array([raw[i : i + 32] for i in range(0, 32 * n, 32)]))
    if "version" not in table.column_names:
        table = table.append_column("version", pa.array(["unversioned"] * n))
    if "status" not in table.column_names:
        table = table.append_column("status", pa.array(["ok"] * n))
    if "ts" not in table.column_names:
        stamp = datetime.now(UTC).replace(tzinfo=None)
        table = table.append_column("ts", pa.array([stamp] * n, pa.timestamp("us")))
    elif pa.types.is_timestamp(table.schema.field("ts").type) and table.schema.field("ts").type.tz:
        table = table.set_column(
            table.schema.get_field_index("ts"),
            "ts",
            pc.cast(table.column("ts"), pa.timestamp("us", "UTC")).cast(pa.timestamp("us")),
        )
    if "label" in table.column_names:
        label = table.column("label")
        if pa.types.is_string(label.type) or pa.types.is_large_string(label.type):
            # Strings are stored as JSON text, so "1" stays apart from 1.
            text = pa.array([None if v is None else json.dumps(v) for v in label.to_pylist()])
        else:
            text = pc.cast(label, pa.string())
        table = table.set_column(table.schema.get_field_index("label"), "label", text)
    return table
