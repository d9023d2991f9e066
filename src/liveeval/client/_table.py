"""The bulk upload: a whole table of predictions as Arrow IPC chunks, synchronously.

pyarrow is imported here, on first use, and nowhere else in the client.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import DeliveryError, ValidationError
from ._answer import Fate, summary_detail
from ._http import Undelivered

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["ARROW_STREAM", "Rejection", "TableSummary", "upload_table"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


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
    :meth:`Client.log_prediction_table`."""
    import pyarrow as pa

    if chunk_rows < 1:
        raise ValidationError(f"chunk_rows {chunk_rows!r} is not a positive integer")
    table = _prediction_columns(pa.table(table))
    summary = TableSummary(stored=0, duplicates=0, conflicts=0, rejected=0, rejections=[])
    for start in range(0, max(table.num_rows, 1), chunk_rows):
        chunk = table.slice(start, chunk_rows)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, chunk.schema) as writer:
            writer.write_table(chunk)
        try:
            code, text = client._transport.post(
                "/v1/predictions/arrow", sink.getvalue().to_pybytes(), ARROW_STREAM, bounded=False
            )
        except Undelivered as exc:
            _count(client, summary, chunk, [], failed=str(exc))
            raise DeliveryError(
                f"rows {start}..{start + chunk.num_rows - 1} not delivered to {client.url}: {exc}; "
                f"{summary['stored']} rows were stored before",
                summary=summary,
            ) from None
        answer = _load(text)
        if code in (200, 409) or (code == 422 and "rejections" in answer):
            _count(client, summary, chunk, _rows(answer, start, chunk), answer=answer)
            continue
        detail = summary_detail(code, text)
        _count(client, summary, chunk, [], refused=detail)
        raise ValidationError(
            f"liveeval refused rows {start}..{start + chunk.num_rows - 1} as a whole ({detail}); "
            f"{summary['stored']} rows were stored before",
            source="<table>",
            row=start,
        )
    return summary


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
