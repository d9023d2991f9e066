"""The bulk upload: a whole table of predictions as Arrow IPC chunks, synchronously,
two chunks in flight.

pyarrow is imported here, on first use, and nowhere else in the client.
"""

from __future__ import annotations

import json
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from ..errors import DeliveryError, ValidationError
from ._answer import Fate, summary_detail
from ._http import Undelivered

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["ARROW_STREAM", "Rejection", "TableSummary", "upload_table"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
_PATH = "/v1/predictions/arrow"
#: Chunks sent and not yet answered, at most: the client encodes and sends one while
#: the server stores the other.
IN_FLIGHT = 2


class Rejection(TypedDict):
    """A row of an uploaded table that was not stored."""

    index: int | None
    id: str | None
    status: str
    detail: str


class TableSummary(TypedDict):
    """What became of an uploaded table's rows."""

    stored: int
    duplicates: int
    conflicts: int
    rejected: int
    rejections: list[Rejection]


def upload_table(client: Client, table: Any, *, chunk_rows: int = 100_000) -> TableSummary:
    """Send ``table`` through ``client`` in Arrow IPC chunks; see
    :meth:`Client.log_prediction_table`.

    At most :data:`IN_FLIGHT` chunks are in flight: the next chunk is encoded and
    sent (by a worker thread) while the server stores the previous one. Answers are
    counted in table order; after a chunk refused or undelivered, the chunk sent
    after it is still awaited and counted, nothing further is sent, and no thread
    is left running.
    """
    import pyarrow as pa

    if chunk_rows < 1:
        raise ValidationError(f"chunk_rows {chunk_rows!r} is not a positive integer")
    table = _prediction_columns(pa.table(table))
    summary = TableSummary(stored=0, duplicates=0, conflicts=0, rejected=0, rejections=[])
    pending: deque[_Sent] = deque()
    with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="liveeval-table") as pool:
        try:
            for start in range(0, max(table.num_rows, 1), chunk_rows):
                if len(pending) == IN_FLIGHT:
                    _settle(client, summary, pending)
                chunk = table.slice(start, chunk_rows)
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, chunk.schema) as writer:
                    writer.write_table(chunk)
                body = sink.getvalue().to_pybytes()
                post = client._transport.post
                answer = pool.submit(post, _PATH, body, ARROW_STREAM, bounded=False)
                pending.append(_Sent(start, chunk, answer))
            while pending:
                _settle(client, summary, pending)
        finally:
            # An exception of our own (a KeyboardInterrupt while waiting): the posts
            # still running finish before the pool's exit returns.
            for sent in pending:
                sent.answer.cancel()
    return summary


class _Sent(NamedTuple):
    start: int
    chunk: Any
    answer: Future[tuple[int, str]]


def _settle(client: Client, summary: TableSummary, pending: deque[_Sent]) -> None:
    """Count the oldest chunk's answer; if it failed, await and count the chunks sent
    after it, then raise."""
    sent = pending.popleft()
    failure = _outcome(client, summary, sent)
    if failure is None:
        return
    before = summary["stored"]
    while pending:
        _outcome(client, summary, pending.popleft())
    after = summary["stored"] - before
    rows = f"rows {sent.start}..{sent.start + sent.chunk.num_rows - 1}"
    stored = f"{before} rows were stored before" + (f", {after} after it" if after else "")
    kind, detail = failure
    if kind == "refused":
        raise ValidationError(
            f"liveeval refused {rows} as a whole ({detail}); {stored}",
            source="<table>",
            row=sent.start,
        )
    raise DeliveryError(
        f"{rows} not delivered to {client.url}: {detail}; {stored}", summary=summary
    )


def _outcome(client: Client, summary: TableSummary, sent: _Sent) -> tuple[str, str] | None:
    """Wait for one chunk's answer and count it; ``(kind, detail)`` when the chunk
    was refused as a whole or not delivered."""
    try:
        code, text = sent.answer.result()
    except Undelivered as exc:
        _count(client, summary, sent.chunk, [], failed=str(exc))
        return "undelivered", str(exc)
    answer = _load(text)
    if code in (200, 409) or (code == 422 and "rejections" in answer):
        _count(client, summary, sent.chunk, _rows(answer, sent.start, sent.chunk), answer=answer)
        return None
    detail = summary_detail(code, text)
    _count(client, summary, sent.chunk, [], refused=detail)
    return "refused", detail


def _load(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _rows(answer: dict[str, Any], start: int, chunk: Any) -> list[Rejection]:
    """The chunk's rows not stored, indexed in the whole table."""
    rows: list[Rejection] = []
    for field, status in (("rejections", "rejected"), ("conflicts", "conflict")):
        for item in answer.get(field) or []:
            if isinstance(item, dict):
                index = item.get("index")
                rows.append(
                    Rejection(
                        index=start + index if isinstance(index, int) else None,
                        id=item.get("id"),
                        status=status,
                        detail=str(item.get("detail") or status),
                    )
                )
    return rows


def _count(
    client: Client,
    summary: TableSummary,
    chunk: Any,
    rows: list[Rejection],
    *,
    answer: dict[str, Any] | None = None,
    failed: str | None = None,
    refused: str | None = None,
) -> None:
    """Add one chunk's outcome to ``summary`` and to the client's stats."""
    stored = duplicates = rejected = 0
    if answer is not None:
        stored = int(answer.get("stored", 0))
        duplicates = len(answer.get("duplicates") or [])
        rejected = int(answer.get("rejected", sum(r["status"] == "rejected" for r in rows)))
    conflicts = sum(r["status"] == "conflict" for r in rows)
    summary["stored"] += stored
    summary["duplicates"] += duplicates
    summary["conflicts"] += conflicts
    summary["rejected"] += rejected
    summary["rejections"].extend(rows)
    ledger = client._ledger
    ledger.add("accepted", stored)
    ledger.add("duplicates", duplicates)
    for row in rows:
        ledger.one("predictions", {"id": row["id"]}, Fate(row["status"], row["detail"]))
    # Rejections the server counted without listing them.
    ledger.add("rejected", rejected - sum(r["status"] == "rejected" for r in rows))
    if failed is not None:
        ledger.add("failed", chunk.num_rows, f"{chunk.num_rows} table rows: failed: {failed}")
    if refused is not None:
        summary["rejected"] += chunk.num_rows
        ledger.add("rejected", chunk.num_rows, f"{chunk.num_rows} table rows: rejected: {refused}")


def _prediction_columns(table: Any) -> Any:
    """The Arrow ingest endpoint's columns: defaults filled in, labels as JSON text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    if "model" not in table.column_names:
        raise ValidationError(
            f"the table needs a 'model' column; it has {table.column_names}", source="<table>"
        )
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
