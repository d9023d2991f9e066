"""`liveeval export` writes Parquet partitioned by model and date."""

from __future__ import annotations

import datetime as dt

import pyarrow.dataset as ds
from typer.testing import CliRunner

from liveeval.cli import app
from liveeval.store import encode_label
from liveeval.store.duck.store import DuckStore


def test_export_partitions_by_model_and_date(tmp_path):
    store = DuckStore(tmp_path / "s.duckdb")
    rows = [
        {
            "id": f"p{i}",
            "model": "a" if i % 2 else "b",
            "version": "v1",
            "ts": dt.datetime(2026, 11, 1 + i % 3),
            "label": encode_label(1),
            "score": 0.7,
            "status": "ok",
        }
        for i in range(12)
    ]
    store.write("predictions", rows)
    store.write(
        "outcomes",
        [{"prediction_id": "p1", "label": encode_label(1), "ts": dt.datetime(2026, 11, 5)}],
    )
    store.close()
    result = CliRunner().invoke(
        app, ["export", "--store", str(tmp_path / "s.duckdb"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "predictions: 12 rows" in result.output
    parts = {
        p.relative_to(tmp_path / "out").parts[:3] for p in (tmp_path / "out").rglob("*.parquet")
    }
    assert ("predictions", "model=a", "date=2026-11-01") in parts
    assert ("predictions", "model=b", "date=2026-11-03") in parts
    table = ds.dataset(
        tmp_path / "out" / "predictions", format="parquet", partitioning="hive"
    ).to_table()
    assert table.num_rows == 12


def test_export_missing_store_is_exit_2(tmp_path):
    result = CliRunner().invoke(
        app, ["export", "--store", str(tmp_path / "none.duckdb"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "no such store file" in result.output


def test_export_includes_journalled_events_and_refuses_a_store_in_use(tmp_path):
    from liveeval.store.duck.journal import json_lines

    path = tmp_path / "s.duckdb"
    store = DuckStore(path)
    event = {"id": "j1", "model": "a", "version": "v1", "ts": dt.datetime(2026, 11, 1)}
    _, rows = store.accept_rows("predictions", [{**event, "status": "ok"}])
    store.journal.append([("predictions", json_lines(rows))])  # acknowledged, not loaded
    args = ["export", "--store", str(path), "--out", str(tmp_path / "out")]
    busy = CliRunner().invoke(app, args)
    assert busy.exit_code == 2 and "is in use" in busy.output
    store.journal.close()
    store._con.close()  # the server died before loading the journal
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "predictions: 1 rows" in result.output
