"""The client's accounts: what became of every event, under one lock."""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._answer import Fate

__all__ = ["ClientStats", "Ledger", "Rejected"]

log = logging.getLogger("liveeval.client")

_KEEP_REASONS = 20
_KEEP_REJECTED = 100
_KEEP_ERRORS = 20
# The count each fate adds to.
_COUNTER = {
    "stored": "accepted",
    "duplicate": "duplicates",
    "conflict": "conflicts",
    "rejected": "rejected",
    "failed": "failed",
    "undelivered": "undelivered",
    "dropped": "dropped",
}
_TAKEN = ("stored", "duplicate")


@dataclass(frozen=True)
class Rejected:
    """An event that was not stored: ``status`` is ``rejected`` (invalid), ``conflict``
    (its id is stored with other content), ``failed`` (not delivered after the
    retries, or lost to an error in the sender), ``undelivered`` (still unsent when
    ``close()`` timed out) or ``dropped`` (the queue was full); ``detail`` says why."""

    kind: str
    event: dict[str, Any]
    status: str
    detail: str


@dataclass(frozen=True)
class ClientStats:
    """What became of the events logged so far; every event is in exactly one of
    ``accepted``, ``duplicates``, ``conflicts``, ``rejected``, ``failed``, ``dropped``,
    ``undelivered`` and ``pending``.

    Attributes
    ----------
    accepted:
        Stored by the server.
    duplicates:
        Already stored with the same content (stored once; a retry, say).
    conflicts:
        Not stored: the id is stored with different content.
    rejected:
        Not stored: invalid, refused at the ``log_*`` call (which raised) or by the
        server, with the reason in ``reasons``.
    failed:
        Not delivered: the server stayed unreachable or answered 5xx or 429 through
        the retries, refused the request (401, 403, 404), or an error in the sender
        thread lost the batch.
    dropped:
        Not queued: the queue stayed full (``log_*`` raised ``QueueFullError``).
    undelivered:
        Still queued or in flight when ``close()`` timed out.
    pending:
        Queued or in flight now.
    unmatched:
        Accepted outcomes whose prediction the server does not know (yet).
    errors:
        Exceptions caught in the sender thread (also in ``Client.errors``, and logged).
    reasons:
        The last few reasons why events were not stored, oldest first; the events of
        a batch lost to one cause share one line.
    """

    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    failed: int = 0
    dropped: int = 0
    undelivered: int = 0
    pending: int = 0
    unmatched: int = 0
    errors: int = 0
    reasons: tuple[str, ...] = ()


def _key(event: dict[str, Any]) -> str:
    return str(event.get("id") or event.get("prediction_id"))


class Ledger:
    """Counts, reasons, the last rejected events and the sender's errors, and the
    number of events in flight, which ``flush`` waits on (``changed``)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.pending = 0
        # Set when close() gave up on what is in flight: the sender's late answers
        # are then not counted again.
        self.abandoned = False
        self._counts: Counter[str] = Counter()
        self._reasons: deque[str] = deque(maxlen=_KEEP_REASONS)
        self._rejected: deque[Rejected] = deque(maxlen=_KEEP_REJECTED)
        self._errors: deque[BaseException] = deque(maxlen=_KEEP_ERRORS)

    def stats(self) -> ClientStats:
        with self.changed:
            counts = {name: self._counts[name] for name in (*_COUNTER.values(), "unmatched")}
            return ClientStats(
                **counts,
                pending=self.pending,
                errors=self._counts["errors"],
                reasons=tuple(self._reasons),
            )

    def rejected(self) -> list[Rejected]:
        with self.changed:
            return list(self._rejected)

    def errors(self) -> list[BaseException]:
        with self.changed:
            return list(self._errors)

    def sent(self) -> int:
        with self.changed:
            return self._counts["accepted"] + self._counts["duplicates"]

    def queued(self) -> None:
        with self.changed:
            self.pending += 1

    def one(self, kind: str, event: dict[str, Any], fate: Fate, *, in_flight: bool = False) -> None:
        """Count the fate of one event that is not sent in a batch: refused at the
        call, dropped, or a row of an uploaded table; ``in_flight`` if it was counted
        as pending."""
        with self.changed:
            if in_flight:
                self.pending -= 1
                self.changed.notify_all()
            self._note(kind, event, fate)
            if fate.status not in _TAKEN:
                self._reasons.append(f"{kind[:-1]} {_key(event)}: {fate.status}: {fate.detail}")

    def add(self, name: str, n: int, reason: str | None = None) -> None:
        """Add ``n`` to a count (a table's rows counted in bulk), with one reason."""
        with self.changed:
            self._counts[name] += n
            if reason is not None:
                self._reasons.append(reason)

    def settle(self, kind: str, events: Sequence[dict[str, Any]], fates: Sequence[Fate]) -> None:
        """Count what became of a batch in flight, which is then no longer pending: one
        reason line per distinct cause, and one warning logged when any event was not
        stored."""
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        with self.changed:
            if self.abandoned:
                return  # close() counted these as undelivered
            self.pending -= len(events)
            self.changed.notify_all()
            for event, fate in zip(events, fates, strict=True):
                self._note(kind, event, fate)
                if fate.status not in _TAKEN:
                    groups.setdefault((fate.status, fate.detail or fate.status), []).append(event)
            for (status, detail), group in groups.items():
                who = f"{kind[:-1]} {_key(group[0])}"
                if len(group) > 1:
                    who = f"{len(group)} {kind} (first {_key(group[0])})"
                self._reasons.append(f"{who}: {status}: {detail}")
        if groups:
            refused: Counter[str] = Counter()
            for (status, _), group in groups.items():
                refused[status] += len(group)
            log.warning(
                "liveeval: of %d %s, not stored: %s; see client.stats.reasons",
                len(events),
                kind,
                ", ".join(f"{n} {status}" for status, n in sorted(refused.items())),
            )

    def error(self, exc: BaseException) -> None:
        log.error("liveeval: error in the client's sender thread", exc_info=exc)
        with self.changed:
            self._counts["errors"] += 1
            self._errors.append(exc)

    def abandon(self, reason: str) -> int:
        """Stop counting what is in flight; count it as undelivered. Returns how many."""
        with self.changed:
            self.abandoned = True
            left, self.pending = self.pending, 0
            if left:
                self._counts["undelivered"] += left
                self._reasons.append(f"{left} events {reason}")
            self.changed.notify_all()
            return left

    def _note(self, kind: str, event: dict[str, Any], fate: Fate) -> None:
        self._counts[_COUNTER[fate.status]] += 1
        if kind == "outcomes" and fate.matched is False:
            self._counts["unmatched"] += 1
        if fate.status not in _TAKEN:
            self._rejected.append(Rejected(kind, event, fate.status, fate.detail or fate.status))
