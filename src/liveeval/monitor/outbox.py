"""Notifications that arrive: stored first, delivered from a background thread, retried
with capped exponential backoff and jitter until the channel takes them.

:class:`Dispatcher` is a subscriber of the alert engine: called with an
:class:`AlertNotice`, it writes one row per channel to the store's outbox (one small
transaction: durable before it returns, never a network call) and wakes the sender.
The sender delivers each channel's due notifications oldest first; a failure pauses
that channel alone (the others go on) for ``min(max_delay, base_delay · 2^(k-1))``
after its k-th failure in a row, half of it drawn at random so that several servers
do not retry in step. Nothing is dropped: a notification stays pending until
delivered, and the backlog is visible (:meth:`Dispatcher.backlog`, Prometheus,
``GET /v1/notifications?status=pending``).

A channel with a ``resend`` interval (Alertmanager: it resolves an alert whose
``endsAt`` has passed) gets each firing alert again every ``resend`` while it fires:
a new outbox row of the same notice, with its own key (:func:`resend_key`), queued by
the channel's sender; the resolution stops it. The firing alerts are remembered from
the notices the dispatcher stores and, at a restart, from the alerts the engine
reopens (:meth:`Dispatcher.remember`).

Each notification has an idempotency key, the same for the same notice and channel:
storing a notice twice stores it once, and receivers deduplicate deliveries on it
(a crash between a receiver's 2xx and the outbox's update sends it again: delivery is
at least once, and exactly once at a receiver that keeps the keys it has seen).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import NotificationError
from ..store.interface import Ledger, Notification
from .channels import Channel, notice_from_json
from .notice import AlertNotice

__all__ = ["ChannelStats", "Dispatcher", "idempotency_key", "resend_key"]

LOG = logging.getLogger("liveeval.alerts")


def _resend(channel: Channel) -> timedelta | None:
    every = getattr(channel, "resend", None)
    return every if isinstance(every, timedelta) else None


def _utc_naive(ts: datetime) -> datetime:
    return ts if ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def idempotency_key(notice: AlertNotice, channel: str) -> str:
    """32 hex digits from the alert, its state, the time of the change and the channel."""
    raw = "\x1f".join(
        (notice.alert_id, notice.state, _utc_naive(notice.changed_at).isoformat(), channel)
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def resend_key(notice: AlertNotice, channel: str, at: datetime) -> str:
    """The key of a firing alert's re-sending at ``at`` (distinct from the first's)."""
    raw = "\x1f".join((idempotency_key(notice, channel), "resend", _utc_naive(at).isoformat()))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass
class ChannelStats:
    """Since the dispatcher started: deliveries, failed attempts, failures in a row."""

    delivered: int = 0
    failed: int = 0
    failing_in_a_row: int = 0
    paused_until: datetime | None = None
    last_error: str | None = None


class Dispatcher:
    """The outbox's writer (as a subscriber) and sender (a background thread).

    Parameters
    ----------
    ledger
        The store (its outbox methods).
    channels
        By name, as :func:`~liveeval.monitor.channels.parse_channels` returns them.
    base_delay, max_delay
        Seconds before the first retry of a failing channel, and the cap.
    poll
        Seconds between looks at the outbox when nothing wakes the sender (retries
        fall due without a wake-up).
    claim_seconds
        How long a notification being delivered stays claimed by this sender (other
        servers on the same store skip it meanwhile; it is free again after this
        long when the sender stopped mid-delivery).
    """

    def __init__(
        self,
        ledger: Ledger,
        channels: Mapping[str, Channel],
        *,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        poll: float = 5.0,
        batch: int = 100,
        clock: Callable[[], datetime] = _now,
        rng: random.Random | None = None,
        claim_seconds: float = 300.0,
    ) -> None:
        self.ledger = ledger
        self.channels = dict(channels)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll = poll
        self.batch = batch
        self.clock = clock
        self._rng = rng or random.Random()
        # Who claims notifications (several servers may share the store's outbox), and
        # for how long: longer than any delivery; a stopped server's claims run out.
        self.owner = uuid.uuid4().hex
        self.claim_seconds = claim_seconds
        self.stats: dict[str, ChannelStats] = {name: ChannelStats() for name in self.channels}
        self._wake = {name: threading.Event() for name in self.channels}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Firing alerts of channels that re-send: (alert id, channel) → (notice, when
        # last queued).
        self._firing: dict[tuple[str, str], tuple[AlertNotice, datetime]] = {}
        self._firing_lock = threading.Lock()

    # -- the subscriber -----------------------------------------------------------------

    def __call__(self, notice: AlertNotice) -> None:
        """Store the notice for each of its channels (``log`` when it names none) that
        takes its state; returns once stored. Never sends, so never blocks on a channel."""
        names = notice.channels or ("log",)
        items = []
        for name in dict.fromkeys(names):
            channel = self.channels.get(name)
            if channel is None:
                # Rules are checked against the channels at start; this is a bug.
                LOG.error("alert %s names unknown channel %r: not stored", notice.alert_id, name)
                continue
            if notice.state not in channel.states:
                continue
            at = self.clock()
            items.append(_queued(notice, name, idempotency_key(notice, name), at))
        if items:
            self.ledger.outbox_add(items)
            for item in items:
                self._track(notice, item.channel, item.created_at)
                self._wake[item.channel].set()

    def remember(self, notices: Iterable[AlertNotice]) -> None:
        """Firing alerts to re-send (the alerts the engine reopened at a restart): each
        is re-sent ``resend`` after now on the channels of its notice that re-send."""
        at = self.clock()
        for notice in notices:
            for name in dict.fromkeys(notice.channels or ("log",)):
                channel = self.channels.get(name)
                if channel is not None and notice.state in channel.states:
                    self._track(notice, name, at)

    def _track(self, notice: AlertNotice, name: str, at: datetime) -> None:
        if _resend(self.channels[name]) is None:
            return
        with self._firing_lock:
            if notice.state == "firing":
                self._firing[(notice.alert_id, name)] = (notice, at)
            elif notice.state == "resolved":
                self._firing.pop((notice.alert_id, name), None)

    def queue_resends(self, name: str) -> int:
        """Queue the re-sending of ``name``'s firing alerts whose last sending is
        ``resend`` old or more (none while the channel is paused: its pending rows are
        sent when it is back, with a fresh ``endsAt``). Returns how many."""
        every = _resend(self.channels[name])
        at = self.clock()
        paused = self.stats[name].paused_until
        if every is None or (paused is not None and paused > at):
            return 0
        with self._firing_lock:
            due = [
                (key, notice)
                for key, (notice, last) in self._firing.items()
                if key[1] == name and last + every <= at
            ]
            for key, notice in due:
                self._firing[key] = (notice, at)
        items = [_queued(notice, name, resend_key(notice, name, at), at) for _, notice in due]
        if items:
            self.ledger.outbox_add(items)
        return len(items)

    # -- the sender: one thread per channel, so a slow one delays only itself ---------

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for name in self.channels:
            thread = threading.Thread(
                target=self._run, args=(name,), name=f"liveeval-outbox-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sending (pending notifications stay in the outbox for the next start);
        an attempt under way finishes within its channel's timeout."""
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def _run(self, name: str) -> None:
        wake = self._wake[name]
        while not self._stop.is_set():
            try:
                self.send_channel(name)
            except Exception:
                # The sender must outlive a bug or a store hiccup; the backlog shows it.
                LOG.exception("notification sender of channel %r failed", name)
            paused = self.stats[name].paused_until
            wait = self.poll
            every = _resend(self.channels[name])
            if every is not None:  # wake in time for the next re-sending
                wait = min(wait, max(every.total_seconds() / 4, 0.05))
            if paused is not None:
                wait = min(self.max_delay, max(0.0, (paused - self.clock()).total_seconds()))
            wake.wait(wait)
            wake.clear()

    def send_due(self) -> int:
        """Deliver every due notification of every channel not paused, in this thread.
        Returns the number of attempts."""
        return sum(self.send_channel(name) for name in self.channels)

    def send_channel(self, name: str) -> int:
        """Deliver ``name``'s due notifications oldest first, until one fails (the
        channel then pauses). Returns the number of attempts."""
        channel = self.channels[name]
        stats = self.stats[name]
        at = self.clock()
        if stats.paused_until is not None and stats.paused_until > at:
            return 0
        self.queue_resends(name)
        attempts = 0
        while not self._stop.is_set():
            # One at a time, claimed: with several servers on one store each
            # notification goes to one sender, and a failure leaves no claim behind.
            due = self.ledger.outbox_claim(
                self.clock(), self.owner, channel=name, lease_seconds=self.claim_seconds
            )
            if not due:
                break
            for item in due:
                attempts += 1
                if not self._attempt(channel, stats, item):
                    return attempts
        return attempts

    def _attempt(self, channel: Channel, stats: ChannelStats, item: Notification) -> bool:
        try:
            channel.deliver(notice_from_json(item.notice), item.key)
        except NotificationError as exc:
            error = str(exc)
        else:
            self.ledger.outbox_update(
                item.key,
                attempts=item.attempts + 1,
                next_attempt_at=None,
                error=None,
                delivered_at=self.clock(),
            )
            stats.delivered += 1
            stats.failing_in_a_row = 0
            stats.paused_until = None
            return True
        stats.failed += 1
        stats.failing_in_a_row += 1
        stats.last_error = error
        retry = self.clock() + timedelta(seconds=self.delay(stats.failing_in_a_row))
        stats.paused_until = retry
        self.ledger.outbox_update(
            item.key, attempts=item.attempts + 1, next_attempt_at=retry, error=error
        )
        LOG.warning("notification %s not delivered (retry at %s): %s", item.key, retry, error)
        return False

    def delay(self, failures: int) -> float:
        """Seconds before the next try after ``failures`` failures in a row: the capped
        exponential ``min(max_delay, base_delay · 2^(failures-1))``, half fixed and half
        drawn uniformly ("equal jitter")."""
        capped = min(self.max_delay, self.base_delay * 2.0 ** min(failures - 1, 60))
        return capped / 2 + self._rng.uniform(0, capped / 2)

    # -- reporting ----------------------------------------------------------------------

    def backlog(self) -> dict[str, tuple[int, float]]:
        """Per channel with pending notifications: how many, and the oldest's age in
        seconds."""
        at = self.clock()
        return {
            name: (count, max(0.0, (at - oldest).total_seconds()))
            for name, (count, oldest) in self.ledger.outbox_backlog().items()
        }


def _queued(notice: AlertNotice, channel: str, key: str, at: datetime) -> Notification:
    """``notice`` as an outbox row for ``channel``, due now."""
    return Notification(
        key=key,
        channel=channel,
        alert_id=notice.alert_id,
        state=notice.state,
        model=notice.model,
        notice=notice.to_json(),
        created_at=at,
        next_attempt_at=at,
    )
