"""Which event ids the store already holds, answered in memory.

Idempotency (the same event twice is stored once, a different event under a known id
is a conflict) needs a membership test for every incoming id. Asking the database for
each batch costs a statement and, without a primary-key index, a scan; keeping a
primary key makes every bulk load several times slower. So the store keeps a 64-bit
hash of every id in sorted numpy arrays: a miss (the normal case, a new id) is decided
here; a hit, which is a retry, a conflict or a rare hash collision, is confirmed
against the stored rows.

Hashes are computed vectorised over Arrow's string buffers: ids are padded into
8-byte words and mixed column by column, so 100,000 ids hash in a few milliseconds.
"""

from __future__ import annotations

import struct
import threading

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["IdIndex", "hash_id", "hash_ids"]

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
# Rows hashed per chunk, so that very long ids never build a huge padded matrix.
_CHUNK_BYTES = 16 << 20


_SMALL = 32
_RECENT_LIMIT = 4096
_MASK = (1 << 64) - 1


def hash_id(text: str) -> int:
    """:func:`hash_ids` of one id, in plain Python (the same value)."""
    data = text.encode()
    length = len(data)
    words = (length + 7) // 8
    h = (length * int(_MULTIPLIER)) & _MASK
    if words:
        for w in struct.unpack(f"<{words}Q", data.ljust(words * 8, b"\0")):
            h = _mix_int(h ^ w)
    return _mix_int(h)


def _mix_int(h: int) -> int:
    h ^= h >> 30
    h = (h * int(_MIX)) & _MASK
    h ^= h >> 27
    h = (h * int(_MULTIPLIER)) & _MASK
    return h ^ (h >> 31)


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # splitmix64's finaliser: every input bit affects every output bit.
    h ^= h >> np.uint64(30)
    h *= _MIX
    h ^= h >> np.uint64(27)
    h *= _MULTIPLIER
    h ^= h >> np.uint64(31)
    return h


def hash_ids(ids: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each UTF-8 id (nulls are not allowed).

    Two equal strings always hash alike; different strings collide with probability
    about 2**-64 per pair.
    """
    if len(ids) <= _SMALL and not ids.null_count:
        # A server's group commit is often a handful of ids, where numpy's per-call
        # overhead (~100 us) is far more than the arithmetic in plain Python.
        return np.array([hash_id(i) for i in ids.to_pylist()], dtype=np.uint64)
    if isinstance(ids, pa.ChunkedArray):
        parts = [hash_ids(chunk) for chunk in ids.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    if ids.null_count:
        raise ValueError("ids must not be null")
    array = ids.cast(pa.large_string())
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[array.offset : array.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)
        if data_buf is not None
        else np.zeros(0, dtype=np.uint8)
    )
    lengths = np.diff(offsets)
    out = np.empty(n, dtype=np.uint64)
    # Rows of one length form a dense byte matrix; ids are usually of one or a few
    # lengths (uuids, counters), so this is a handful of vectorised passes.
    distinct = np.unique(lengths)
    with np.errstate(over="ignore"):
        for length in distinct.tolist():
            rows = np.flatnonzero(lengths == length) if distinct.size > 1 else None
            starts = offsets[:-1] if rows is None else offsets[rows]
            step = max(1, _CHUNK_BYTES // max(length, 8))
            for at in range(0, len(starts), step):
                chunk = starts[at : at + step]
                hashed = _hash_equal_length(data, chunk, length)
                if rows is None:
                    out[at : at + step] = hashed
                else:
                    out[rows[at : at + step]] = hashed
    return out


def _hash_equal_length(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], length: int
) -> npt.NDArray[np.uint64]:
    m = len(starts)
    words = (length + 7) // 8
    padded = np.zeros((m, max(words, 1) * 8), dtype=np.uint8)
    if length:
        first = int(starts[0])
        if int(starts[-1]) - first == (m - 1) * length:
            # Contiguous rows (the usual case): a reshape of the data buffer, no gather.
            padded[:, :length] = data[first : first + m * length].reshape(m, length)
        else:
            padded[:, :length] = data[starts[:, None] + np.arange(length)[None, :]]
    packed = padded.view("<u8")
    h = np.full(m, length, dtype=np.uint64) * _MULTIPLIER
    for w in range(words):
        h ^= packed[:, w]
        h = _mix(h)
    return _mix(h)


class IdIndex:
    """A growing set of id hashes: sorted levels merged like a log-structured tree.

    Adding appends a sorted level and merges neighbours of similar size (a stable
    sort of two sorted runs is a linear merge), so adding stays cheap on average and
    a lookup costs one binary search per level (about log2 of the number of adds).
    Small adds (a server's group commits) gather in a plain set first, since numpy's
    per-call overhead would dominate them. Thread-safe: the writer adds while the
    loader and request handlers look.
    """

    def __init__(self) -> None:
        self._levels: list[npt.NDArray[np.uint64]] = []
        self._recent: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(level) for level in self._levels) + len(self._recent)

    def add(self, hashes: npt.NDArray[np.uint64]) -> None:
        if hashes.size == 0:
            return
        with self._lock:
            if hashes.size <= _SMALL:
                self._recent.update(hashes.tolist())
                if len(self._recent) < _RECENT_LIMIT:
                    return
                hashes = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
                self._recent = set()
            levels = [*self._levels, np.sort(hashes)]
            while len(levels) > 1 and len(levels[-2]) <= 2 * len(levels[-1]):
                top = levels.pop()
                below = levels.pop()
                levels.append(np.sort(np.concatenate([below, top]), kind="stable"))
            self._levels = levels

    def contains(self, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        with self._lock:
            levels = self._levels
            recent = (
                [h in self._recent for h in hashes.tolist()]
                if hashes.size <= _SMALL
                else np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
            )
        if isinstance(recent, list):
            found = np.array(recent, dtype=bool)
        else:
            found = np.isin(hashes, recent)
        if not levels or hashes.size == 0:
            return found
        # Sorted needles walk each level in order, which keeps the search in cache.
        order = np.argsort(hashes)
        needles = hashes[order]
        hit = np.zeros(needles.shape, dtype=bool)
        for level in levels:
            at = np.searchsorted(level, needles)
            at[at == len(level)] = 0
            hit |= level[at] == needles
        found[order] |= hit
        return found
