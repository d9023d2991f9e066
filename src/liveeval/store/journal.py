"""The write-ahead journal: where an event is committed before the database sees it.

A DuckDB transaction costs a millisecond or more however small it is, which would cap
a server that answers only after a commit at a few hundred small requests a second.
An append and ``fdatasync`` of a file costs about a tenth of that. So the writer
appends each group commit here as one record (an Arrow IPC stream per event kind),
syncs, answers, and a loader moves records into DuckDB in larger transactions. The
database remembers the journal position it has loaded in the same transaction as the
rows, so after a crash exactly the records it lacks are replayed.

Record layout: 4-byte little-endian payload length, 4-byte CRC-32 of the payload,
1-byte kind code, then the payload. A torn record at the end of the last segment
(a crash during the append, before the sync returned, so never acknowledged) is cut
off on open.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .events import KINDS

__all__ = ["Journal", "Position", "Record"]

_HEADER = struct.Struct("<IIB")
SEGMENT_BYTES = 64 << 20


@dataclass(frozen=True, order=True)
class Position:
    """A place in the journal: segment number and byte offset within it."""

    segment: int
    offset: int


@dataclass(frozen=True)
class Record:
    kind: str
    table: pa.Table
    end: Position


def encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


class Journal:
    """Append-only segment files in ``folder`` (``000001.log``, ``000002.log`` …)."""

    def __init__(self, folder: str | Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        segments = self.segments()
        self._segment = segments[-1] if segments else 1
        path = self._path(self._segment)
        self._truncate_torn_tail(path)
        self._file = open(path, "ab")
        self._offset = self._file.tell()

    def _path(self, segment: int) -> Path:
        return self.folder / f"{segment:06d}.log"

    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.folder.glob("*.log") if p.stem.isdigit())

    @property
    def end(self) -> Position:
        return Position(self._segment, self._offset)

    def append(self, records: list[tuple[str, pa.Table]]) -> Position:
        """Append records and sync them to disk; returns the position after the last."""
        chunks = []
        for kind, table in records:
            payload = encode(table)
            chunks.append(_HEADER.pack(len(payload), zlib.crc32(payload), KINDS.index(kind)))
            chunks.append(payload)
        data = b"".join(chunks)
        if self._offset and self._offset + len(data) > self.segment_bytes:
            self._rotate()
        self._file.write(data)
        self._file.flush()
        os.fdatasync(self._file.fileno())
        self._offset += len(data)
        return self.end

    def _rotate(self) -> None:
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
                offset = start
                while True:
                    header = f.read(_HEADER.size)
                    if len(header) < _HEADER.size:
                        break
                    length, crc, code = _HEADER.unpack(header)
                    payload = f.read(length)
                    if len(payload) < length or zlib.crc32(payload) != crc:
                        break
                    offset += _HEADER.size + length
                    table = pa.ipc.open_stream(payload).read_all()
                    yield Record(KINDS[code], table, Position(segment, offset))

    def discard_before(self, position: Position) -> None:
        """Delete segments wholly before ``position`` (their records are loaded)."""
        for segment in self.segments():
            if segment < position.segment and segment != self._segment:
                self._path(segment).unlink(missing_ok=True)

    def close(self) -> None:
        self._file.close()

    def _truncate_torn_tail(self, path: Path) -> None:
        if not path.exists():
            return
        good = 0
        with open(path, "rb") as f:
            while True:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                length, crc, _ = _HEADER.unpack(header)
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                good += _HEADER.size + length
        if good != path.stat().st_size:
            with open(path, "r+b") as f:
                f.truncate(good)
