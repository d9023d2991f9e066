"""One holder at a time among the servers sharing a store: the alert evaluator.

Several replicas on one PostgreSQL store would each evaluate every rule, record each
state change once per replica and announce it once per replica. A :class:`Lease`
elects one of them: a thread renews a named lease in the store (``Ledger.lease``)
every quarter of its length; the holder evaluates, the others wait. When the holder
stops (or loses the database), it stops renewing, its lease runs out in the store and
another replica takes it at its next renewal, so evaluation fails over within one
lease length.

The holder believes it holds the lease only until ``seconds`` minus a safety margin
after its last successful renewal (by its own monotonic clock, started before the
renewal was sent): it stops evaluating before the store lets anyone else in.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from ..store.interface import Ledger

__all__ = ["Lease"]

LOG = logging.getLogger("liveeval.alerts")


class Lease:
    """Take and keep the store lease ``name`` on a background thread.

    Parameters
    ----------
    ledger
        The store (its ``lease`` and ``release_lease``).
    name
        The lease's name, the same at every server.
    seconds
        How long a renewal holds; a server that stops renewing is replaced after this.
    on_gain
        Called (on the lease's thread) each time this server takes the lease after
        not holding it: catch up with what the previous holder did.
    """

    def __init__(
        self,
        ledger: Ledger,
        name: str,
        *,
        seconds: float = 10.0,
        on_gain: Callable[[], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.name = name
        self.seconds = seconds
        # Readable in the store (``SELECT * FROM leases``): which server evaluates.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.on_gain = on_gain
        self._until = 0.0  # monotonic time until which this server holds the lease
        self._gained = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """Whether this server holds the lease now (and has caught up)."""
        return self._gained.is_set() and time.monotonic() < self._until

    def renew(self) -> bool:
        """Take or extend the lease once; whether it is held."""
        sent = time.monotonic()
        try:
            ok = self.ledger.lease(self.name, self.owner, self.seconds)
        except Exception as exc:  # the store is away: hold nothing until it answers
            LOG.warning("lease %r not renewed: %s", self.name, exc)
            ok = False
        if not ok:
            self._until = 0.0
            self._gained.clear()
            return False
        # A margin for the store's clock and for the answer's time in transit.
        self._until = sent + self.seconds * 0.8
        if not self._gained.is_set():
            if self.on_gain is not None:
                try:
                    self.on_gain()
                except Exception:
                    LOG.exception("taking over lease %r failed; trying again", self.name)
                    return False
            LOG.info("this server now holds lease %r", self.name)
            self._gained.set()
        return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"liveeval-lease-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.renew()
            if self._stop.wait(self.seconds / 4):
                return

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for this server to hold the lease."""
        return self._gained.wait(timeout) and self.held

    def stop(self) -> None:
        """Stop renewing and give the lease back, so another server takes it at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        was_held = self._gained.is_set()
        self._gained.clear()
        self._until = 0.0
        if was_held:
            try:
                self.ledger.release_lease(self.name, self.owner)
            except Exception as exc:
                LOG.warning("lease %r not released (it runs out): %s", self.name, exc)
