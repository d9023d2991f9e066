"""Drift on an exported folder (TableSource) equals drift on the store it came from:
the features' frozen bins (quantiles of the first numbers in arrival order, which the
export does not keep) travel with the events."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from liveeval.service.drift import drift_of
from liveeval.store import open_store
from liveeval.store.duck import rollup, rollup_features
from liveeval.store.table import TableSource

from .scenario import close_source, postgres_location

TS = dt.datetime(2026, 11, 1)


def drifting_events() -> list[dict[str, object]]:
    rng = np.random.default_rng(3)
    events: list[dict[str, object]] = []
    for i in range(240):
        # The first numbers (which fix the bins) differ from the later ones.
        x = float(rng.normal(0, 1) if i < 60 else rng.normal(1, 2))
        ts = TS + dt.timedelta(minutes=i)
        event = {"id": f"d{i}", "model": "dm", "version": "v1", "ts": ts, "status": "ok"}
        events.append({**event, "label": "1", "features": f'{{"x": {x}}}'})
    return events


@pytest.mark.parametrize("engine", ["duckdb-file", "postgresql"])
def test_drift_on_an_export_equals_drift_on_the_store(engine, tmp_path, request, monkeypatch):
    # Bins fixed after 40 numbers, not 10,000: the store's bins are the first numbers'.
    monkeypatch.setattr(rollup_features, "FREEZE_VALUES", 40)
    monkeypatch.setattr(rollup, "FREEZE_VALUES", 40)
    location = postgres_location(request) if engine == "postgresql" else str(tmp_path / "s.duckdb")
    store = open_store(location)
    events = drifting_events()
    # Two loads: the first 60 numbers fix the bins (a table source sees all 240 at once).
    store.commit("predictions", events[:60])
    assert store.count("predictions") == 60
    assert "x" in store.feature_bins("dm")  # settled: the first load is in
    store.commit("predictions", events[60:])
    try:
        store.export(tmp_path / "export")
        exported = TableSource.from_parquet(tmp_path / "export")
        assert exported.feature_bins("dm") == store.feature_bins("dm")
        for reference, window in [
            ("2026-11-01T00:00:00/2026-11-01T01:00:00", "1h"),
            ("previous:1h", "15m"),
        ]:
            a = drift_of(store, "dm", reference=reference, window=window)
            b = drift_of(exported, "dm", reference=reference, window=window)
            assert a == b
        exported.close()
    finally:
        close_source(store)
