"""A served prediction's total latency is known only after its commit: the amendment
replaces the value written with the event, whether the row is loaded yet or not."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pyarrow.parquet as pq
import pytest

from liveeval.store.duck.engine import DuckEngine

TS = datetime(2026, 11, 27, 12, 0, 0, 123456)


def _event(key: str, total: float) -> dict:
    return {
        "id": key,
        "model": "m",
        "version": "v1",
        "ts": TS,
        "label": "1",
        "score": 0.9,
        "latency_model_s": 0.001,
        "latency_total_s": total,
        "status": "ok",
    }


def _latencies(engine: DuckEngine, out) -> dict[str, float]:
    engine.export(out)
    rows = pq.read_table(out / "predictions").to_pylist()
    return {r["id"]: r["latency_total_s"] for r in rows}


@pytest.mark.parametrize("location", ["file", ":memory:"])
def test_amended_latencies_replace_the_written_ones_loaded_or_not(tmp_path, location):
    engine = DuckEngine(tmp_path / "s.duckdb" if location == "file" else ":memory:")
    try:

        async def scenario() -> None:
            await engine.write("predictions", [_event("a", 0.001), _event("b", 0.001)])
            engine.amend_latency([("a", TS, 0.25)])  # before the load: patched on insert
            assert engine.count("predictions") == 2  # settles: loads a, b and the amendment
            engine.amend_latency([("b", TS, 0.5)])  # after the load: an UPDATE
            await engine.write("predictions", [_event("c", 0.002)])

        asyncio.run(scenario())
        assert _latencies(engine, tmp_path / "out") == {"a": 0.25, "b": 0.5, "c": 0.002}
    finally:
        engine.close()


def test_an_amendment_for_an_unknown_or_other_time_changes_nothing(tmp_path):
    engine = DuckEngine(tmp_path / "s.duckdb")
    try:
        asyncio.run(engine.write("predictions", [_event("a", 0.001)]))
        engine.count("predictions")
        engine.amend_latency([("ghost", TS, 9.0), ("a", datetime(2020, 1, 1), 9.0)])
        assert _latencies(engine, tmp_path / "out") == {"a": 0.001}
    finally:
        engine.close()


def test_amendments_for_rows_loaded_without_a_reader_wait_for_the_next_read(tmp_path):
    # Without a reader waiting, the loader loads on its own (every 0.25 s) and keeps
    # amendments for rows it loaded before; the next read applies them.
    engine = DuckEngine(tmp_path / "s.duckdb")
    try:

        async def scenario() -> None:
            await engine.write("predictions", [_event("a", 0.001)])
            await asyncio.sleep(0.6)  # loaded by the loader, no reader
            engine.amend_latency([("a", TS, 0.25)])
            await engine.write("predictions", [_event("b", 0.001)])
            engine.amend_latency([("b", TS, 0.5)])
            await asyncio.sleep(0.6)

        asyncio.run(scenario())
        assert _latencies(engine, tmp_path / "out") == {"a": 0.25, "b": 0.5}
    finally:
        engine.close()


def test_amendments_still_pending_at_close_are_applied(tmp_path):
    engine = DuckEngine(tmp_path / "s.duckdb")
    asyncio.run(engine.write("predictions", [_event("a", 0.001)]))
    engine.amend_latency([("a", TS, 0.25)])
    engine.close()
    engine = DuckEngine(tmp_path / "s.duckdb")
    try:
        assert _latencies(engine, tmp_path / "out") == {"a": 0.25}
    finally:
        engine.close()
