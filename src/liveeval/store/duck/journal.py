"""The write-ahead journal: where an event is committed before the database sees it.

A DuckDB transaction costs a millisecond or more however small it is, which would cap
a server that answers only after a commit at a few hundred small requests a second.
An append and ``fdatasync`` of a file costs about a tenth of that. So the writer
appends each group commit here as one record per event kind, syncs, answers, and a
loader moves records into DuckDB in larger transactions. The database remembers the
journal position it has loaded in the same transaction as the rows, so after a crash
exactly the records it lacks are replayed.

Record layout: 4-byte little-endian payload length, 4-byte CRC-32 of the payload,
1-byte kind code, then the payload: JSON lines for the small commits of the request
path (a few microseconds per event to write) or an Arrow IPC stream for large
batches. A torn record at the end of the last segment (a crash during the append,
before the sync returned, so never acknowledged) is cut off on open.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import pyarrow as pa
import pyarrow.json as pj

from ...errors import StoreLocked
from ..events import KINDS, SCHEMAS

__all__ = ["Journal", "Payload", "Position", "Record", "StoreLocked", "json_lines", "to_table"]


_HEADER = struct.Struct("<IIB")
# The kind code's high bit marks a payload of JSON lines (small commits from the
# request path, cheap to write) instead of an Arrow IPC stream (large batches).
_JSON_LINES = 0x80
SEGMENT_BYTES = 64 << 20

Payload: TypeAlias = pa.Table | bytes


@dataclass(frozen=True, order=True)
class Position:
    """A place in the journal: segment number and byte offset within it."""

    segment: int
    offset: int


@dataclass(frozen=True)
class Record:
    kind: str
    payload: Payload
    end: Position


def encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def json_lines(rows: list[dict[str, Any]]) -> bytes:
    """Rows as JSON lines; timestamps in ISO 8601. Floats keep every digit (repr)."""
    return "\n".join([_dumps(_with_iso_ts(row)) for row in rows]).encode()


_dumps = json.JSONEncoder(default=lambda v: _iso(v), ensure_ascii=False).encode


def _with_iso_ts(row: dict[str, Any]) -> dict[str, Any]:
    # The timestamp is the one non-JSON value of every event; converting it here keeps
    # the C encoder off its slow path that calls back into Python.
    ts = row.get("ts")
    if isinstance(ts, datetime):
        return {**row, "ts": ts.isoformat()}
    return row


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_table(kind: str, payload: Payload | list[Payload]) -> pa.Table:
    """A payload (or several of one kind) as one Arrow table in the store's layout."""
    parts = payload if isinstance(payload, list) else [payload]
    schema = SCHEMAS[kind]
    tables = [p for p in parts if isinstance(p, pa.Table)]
    lines = [p for p in parts if isinstance(p, bytes)]
    if lines:
        # Arrow's JSON reader parses a commit's lines in C++, off the request path. One
        # block for the whole buffer: an event larger than a block (the default is 1 MiB,
        # a body may be 32) would otherwise fail the load — forever, since it is
        # durable in the journal.
        data = b"\n".join(lines)
        tables.append(
            pj.read_json(
                io.BytesIO(data),
                read_options=pj.ReadOptions(block_size=min(max(1 << 20, len(data) + 1), 2**31 - 1)),
                parse_options=pj.ParseOptions(explicit_schema=schema),
            ).select(schema.names)
        )
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


class Journal:
    """Append-only segment files in ``folder`` (``000001.log``, ``000002.log`` …).

    :meth:`write` appends without syncing and :meth:`sync` makes everything written so
    far durable, so that one thread can sync while another keeps writing; a record
    may be acknowledged once a sync that started after its write has returned.
    """

    def __init__(self, folder: str | Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        # One writer per journal: a second one would interleave appends.
        self._lock_file = open(self.folder / "LOCK", "a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise StoreLocked(
                f"the journal {self.folder} is in use by another liveeval server or tool"
            ) from None
        segments = self.segments()
        self._segment = segments[-1] if segments else 1
        path = self._path(self._segment)
        self._truncate_torn_tail(path)
        self._file = open(path, "ab")  # kept open for the journal's life
        self._offset = self._file.tell()
        self._lock = threading.Lock()  # the file, segment and offset
        self._sync_lock = threading.Lock()  # one fdatasync at a time; no rotation during one
        self._durable = Position(self._segment, self._offset)

    def _path(self, segment: int) -> Path:
        return self.folder / f"{segment:06d}.log"

    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.folder.glob("*.log") if p.stem.isdigit())

    @property
    def end(self) -> Position:
        with self._lock:
            return Position(self._segment, self._offset)

    @property
    def durable(self) -> Position:
        """Everything before this position is on disk."""
        return self._durable

    def write(self, records: list[tuple[str, Payload]]) -> Position:
        """Append records (not yet synced); returns the position after the last."""
        chunks = []
        for kind, payload in records:
            code = KINDS.index(kind)
            if isinstance(payload, bytes):
                data, code = payload, code | _JSON_LINES
            else:
                data = encode(payload)
            chunks.append(_HEADER.pack(len(data), zlib.crc32(data), code))
            chunks.append(data)
        data = b"".join(chunks)
        with self._lock:
            if self._offset and self._offset + len(data) > self.segment_bytes:
                self._rotate()
            self._file.write(data)
            self._offset += len(data)
            return Position(self._segment, self._offset)

    def sync(self) -> Position:
        """Make everything written so far durable; returns the durable position."""
        with self._sync_lock:
            with self._lock:
                self._file.flush()
                end = Position(self._segment, self._offset)
                fd = self._file.fileno()
            if end > self._durable:
                os.fdatasync(fd)
                self._durable = end
            return self._durable

    def append(self, records: list[tuple[str, Payload]]) -> Position:
        """Write and sync."""
        self.write(records)
        return self.sync()

    def _rotate(self) -> None:
        # Called with self._lock held. The old segment is synced before it is closed:
        # a later sync of the new file would not cover it.
        with self._sync_lock:
            self._file.flush()
            os.fdatasync(self._file.fileno())
            self._durable = Position(self._segment, self._offset)
            self._file.close()
            self._segment += 1
            self._file = open(self._path(self._segment), "ab")
            self._offset = 0
            # The new file's directory entry must survive a crash too.
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self, since: Position) -> Iterator[Record]:
        """Every complete record after ``since``, in order."""
        for segment in self.segments():
            if segment < since.segment:
                continue
            start = since.offset if segment == since.segment else 0
            with open(self._path(segment), "rb") as f:
                f.seek(start)
                for end, code, data in _frames(f, start):
                    kind = KINDS[code & ~_JSON_LINES]
                    payload: Payload = (
                        data if code & _JSON_LINES else pa.ipc.open_stream(data).read_all()
                    )
                    yield Record(kind, payload, Position(segment, end))

    def discard_before(self, position: Position) -> None:
        """Delete segments wholly before ``position`` (their records are loaded)."""
        with self._lock:
            current = self._segment
        for segment in self.segments():
            if segment < position.segment and segment != current:
                self._path(segment).unlink(missing_ok=True)

    def close(self) -> None:
        if self._file.closed:
            return
        self.sync()
        with self._lock:
            self._file.close()
        self._lock_file.close()  # releases the lock

    def _truncate_torn_tail(self, path: Path) -> None:
        if not path.exists():
            return
        good = 0
        with open(path, "rb") as f:
            for good, _, _ in _frames(f, 0):  # noqa: B007 - the last end is what we need
                pass
        if good != path.stat().st_size:
            with open(path, "r+b") as f:
                f.truncate(good)


def _frames(f: BinaryIO, offset: int) -> Iterator[tuple[int, int, bytes]]:
    """(end offset, kind code, payload) of each intact record from ``offset``; stops at
    the first short or corrupt one."""
    while True:
        header = f.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        length, crc, code = _HEADER.unpack(header)
        data = f.read(length)
        if len(data) < length or zlib.crc32(data) != crc:
            return
        offset += _HEADER.size + length
        yield offset, code, data
