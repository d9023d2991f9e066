"""The outbox: stored first, delivered once the channel takes it, never lost."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from liveeval.monitor.channels import LogChannel, WebhookChannel
from liveeval.monitor.outbox import Dispatcher, idempotency_key
from liveeval.store import open_store

from .receiver import Receiver
from .test_channels import T0, notice


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def store(tmp_path: Path) -> Iterator:
    s = open_store(tmp_path / "store.duckdb")
    yield s
    s.close()


def notices(n: int, channel: str = "oncall") -> list:
    return [
        notice(
            alert_id=f"rule/fraud/{i}",
            changed_at=T0 + timedelta(seconds=i),
            channels=(channel,),
        )
        for i in range(n)
    ]


def hook(url: str, secret: bytes | None = b"k", name: str = "oncall") -> WebhookChannel:
    return WebhookChannel(name, url, secret, timeout=2.0)


def test_a_notice_is_stored_once_per_channel_whatever_the_retries(store):
    dispatcher = Dispatcher(store, {"log": LogChannel(), "oncall": hook("http://127.0.0.1:9/")})
    n = notice(channels=("oncall", "log", "oncall"))
    dispatcher(n)
    dispatcher(n)
    pending = store.notifications(status="pending")
    assert sorted(p.channel for p in pending) == ["log", "oncall"]
    assert {p.key for p in pending} == {idempotency_key(n, "oncall"), idempotency_key(n, "log")}


def test_channels_take_only_the_states_they_asked_for(store):
    dispatcher = Dispatcher(store, {"log": LogChannel(), "oncall": hook("http://127.0.0.1:9/")})
    dispatcher(notice("pending", channels=("oncall", "log")))
    assert [p.channel for p in store.notifications()] == ["log"]


def test_a_notice_naming_no_channel_goes_to_the_log(store):
    dispatcher = Dispatcher(store, {"log": LogChannel()})
    dispatcher(notice(channels=()))
    assert dispatcher.send_due() == 1
    [row] = store.notifications()
    assert row.channel == "log" and row.status == "delivered" and row.attempts == 1


def test_backoff_doubles_up_to_its_cap_with_half_of_it_random(store):
    dispatcher = Dispatcher(store, {}, base_delay=1.0, max_delay=60.0)
    for failures, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (500, 60.0)]:
        delays = [dispatcher.delay(failures) for _ in range(200)]
        assert cap / 2 <= min(delays) and max(delays) <= cap
        assert max(delays) - min(delays) > cap / 4  # jittered, not in step


def test_every_notice_arrives_exactly_once_after_the_receiver_comes_back(store):
    receiver = Receiver(secret=b"k").start()
    dispatcher = Dispatcher(
        store, {"oncall": hook(receiver.url)}, base_delay=0.05, max_delay=0.2, poll=0.05
    )
    dispatcher.start()
    sent = notices(30)
    try:
        for n in sent[:10]:
            dispatcher(n)
        assert wait_until(lambda: len(receiver.received) == 10)
        receiver.stop()
        # Down for a while: retried with backoff, kept, and reported.
        for n in sent[10:20]:
            dispatcher(n)
        assert wait_until(lambda: dispatcher.stats["oncall"].failed >= 3)
        assert dispatcher.backlog()["oncall"][0] == 10
        [tried] = [r for r in store.notifications(status="pending") if r.attempts]
        assert tried.last_error.startswith("channel 'oncall': cannot deliver")
        receiver.start()  # back, on the same port
        for n in sent[20:]:
            dispatcher(n)
        assert wait_until(lambda: len(receiver.received) >= 30)
        time.sleep(0.3)  # and nothing more arrives
    finally:
        dispatcher.stop()
        receiver.stop()
    keys = [r["key"] for r in receiver.received]
    assert len(keys) == 30 and len(set(keys)) == 30
    # Oldest first, as the notices happened.
    assert keys == [idempotency_key(n, "oncall") for n in sent]
    assert receiver.bad_signatures == 0
    assert store.notifications(status="pending") == []
    assert dispatcher.backlog() == {}


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_pending_notices_survive_a_restart(tmp_path, engine, request):
    from tests.store.scenario import postgres_location

    path = postgres_location(request) if engine == "postgresql" else tmp_path / "store.duckdb"
    port = free_port()
    first = open_store(path)
    dispatcher = Dispatcher(first, {"oncall": hook(f"http://127.0.0.1:{port}/hook")})
    for n in notices(5):
        dispatcher(n)
    dispatcher.send_due()  # refused: nobody listens
    dispatcher.stop()
    first.close()

    receiver = Receiver(secret=b"k")
    receiver.port = port
    receiver.start()
    second = open_store(path)
    try:
        again = Dispatcher(second, {"oncall": hook(f"http://127.0.0.1:{port}/hook")}, poll=0.05)
        again.start()
        assert wait_until(lambda: len(receiver.received) == 5)
        again.stop()
        rows = second.notifications()
    finally:
        receiver.stop()
        second.close()
    assert all(r.status == "delivered" for r in rows)
    assert sum(r.attempts for r in rows) == 6  # the first was tried before the restart too
    assert len({r["key"] for r in receiver.received}) == 5


def test_a_hanging_channel_blocks_neither_the_caller_nor_the_other_channels(store):
    # A listener that never answers: connects, then the read waits for the timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    receiver = Receiver().start()
    dispatcher = Dispatcher(
        store,
        {
            "slow": WebhookChannel(
                "slow", f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=6
            ),
            "fast": hook(receiver.url, None, "fast"),
        },
        poll=0.05,
    )
    dispatcher.start()
    try:
        started = time.perf_counter()
        for i in range(5):
            dispatcher(notice(alert_id=f"a{i}", channels=("slow", "fast")))
        # Storing five notices (a transaction each) is all the caller waits for.
        assert time.perf_counter() - started < 3.0
        # Well before the slow channel's first attempt times out.
        assert wait_until(lambda: len(receiver.received) == 5, timeout=4.5)
    finally:
        silent.close()  # resets the connection waiting in its backlog
        dispatcher.stop()
        receiver.stop()
    assert len(store.notifications(channel="slow", status="pending")) == 5


class _Recorder:
    """A channel that takes everything and re-sends firing alerts every 10 minutes."""

    name = "am"
    type = "alertmanager"
    states = ("firing", "resolved")
    resend = timedelta(minutes=10)

    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

    def deliver(self, notice, key: str) -> None:
        self.got.append((notice.state, key))

    def describe(self) -> dict:
        return {"type": self.type}


def test_a_firing_alert_is_re_sent_every_resend_interval_until_it_resolves(store):
    clock = [T0.replace(tzinfo=None)]
    channel = _Recorder()
    dispatcher = Dispatcher(store, {"am": channel}, clock=lambda: clock[0])
    dispatcher(notice(channels=("am",)))
    assert dispatcher.send_due() == 1
    clock[0] += timedelta(minutes=9)
    assert dispatcher.send_due() == 0  # not yet due
    clock[0] += timedelta(minutes=1)
    assert dispatcher.send_due() == 1
    clock[0] += timedelta(minutes=25)
    assert dispatcher.send_due() == 1  # one re-sending per look, never a burst
    assert [state for state, _ in channel.got] == ["firing"] * 3
    assert len({key for _, key in channel.got}) == 3  # each sending has its own key
    dispatcher(notice("resolved", channels=("am",), changed_at=T0 + timedelta(minutes=40)))
    clock[0] += timedelta(hours=2)
    assert dispatcher.send_due() == 1
    assert [state for state, _ in channel.got][-1] == "resolved"
    assert dispatcher.send_due() == 0  # resolved: no more re-sendings
    assert [n.status for n in store.notifications()] == ["delivered"] * 4


def test_alerts_reopened_at_a_restart_are_re_sent_and_a_paused_channel_waits(store):
    clock = [T0.replace(tzinfo=None)]
    channel = _Recorder()
    dispatcher = Dispatcher(store, {"am": channel}, clock=lambda: clock[0])
    dispatcher.remember([notice(channels=("am",)), notice("pending", alert_id="other")])
    clock[0] += timedelta(minutes=10)
    dispatcher.stats["am"].paused_until = clock[0] + timedelta(minutes=1)
    assert dispatcher.queue_resends("am") == 0
    clock[0] += timedelta(minutes=1)
    assert dispatcher.send_due() == 1 and channel.got[0][0] == "firing"
