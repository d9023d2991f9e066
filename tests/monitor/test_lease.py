"""One holder of a store lease among the servers sharing the store: the other takes
over when the holder stops, or when it stops renewing."""

from __future__ import annotations

import time

from liveeval.monitor.lease import Lease
from liveeval.store import open_store


def test_one_server_holds_the_lease_and_another_takes_over_when_it_stops(tmp_path):
    store = open_store(str(tmp_path / "s.duckdb"))
    gained: list[str] = []
    first = Lease(store, "alerts", seconds=0.4, on_gain=lambda: gained.append("first"))
    second = Lease(store, "alerts", seconds=0.4, on_gain=lambda: gained.append("second"))
    try:
        first.start()
        assert first.wait(5)
        second.start()
        time.sleep(0.5)  # two renewals of each: the holder keeps it
        assert first.held and not second.held
        first.stop()
        assert second.wait(5)
        assert gained == ["first", "second"]
    finally:
        first.stop()
        second.stop()
        store.close()


def test_a_holder_that_stops_renewing_loses_the_lease_when_its_time_runs_out(tmp_path):
    store = open_store(str(tmp_path / "s.duckdb"))
    try:
        silent = Lease(store, "alerts", seconds=0.3)
        assert silent.renew() and silent.held
        other = Lease(store, "alerts", seconds=0.3)
        assert not other.renew()
        time.sleep(0.4)  # no renewal: its own belief and the store's both lapse
        assert not silent.held
        assert other.renew() and other.held
        assert not silent.renew()
    finally:
        store.close()
