"""Engine-neutral reads about a model's life: the DuckDB file and TableSource agree on
deployment events and on predictions of two versions on the same inputs; the outbox
keeps one row per key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pyarrow.parquet as pq
import pytest

from liveeval.store import Notification, TableSource, open_store
from liveeval.store.events import events_table

T0 = datetime(2026, 11, 1)


def _events() -> dict[str, list[dict]]:
    predictions = []
    for i in range(30):
        features = {"x": i % 10, "c": "a" if i % 3 else "b"}
        # v2 sees the same inputs with the keys in another order and 1 as 1.0.
        shuffled = {"c": features["c"], "x": float(features["x"])}
        predictions.append(
            {
                "id": f"a{i}",
                "model": "m",
                "version": "v1",
                "ts": T0 + timedelta(minutes=i),
                "features": json.dumps(features),
                "label": json.dumps(i % 2),
                "score": (i % 10) / 10,
                "status": "ok",
            }
        )
        predictions.append(
            {
                "id": f"b{i}",
                "model": "m",
                "version": "v2",
                "ts": T0 + timedelta(minutes=i),
                "features": json.dumps(shuffled),
                "label": json.dumps(int(i % 10 >= 5)),
                "score": (i % 10) / 20,
                "status": "ok",
            }
        )
    # A v2 prediction without features pairs with nothing; a failed one neither.
    predictions.append(
        {"id": "b-none", "model": "m", "version": "v2", "ts": T0, "label": "1", "status": "ok"}
    )
    deployments = [
        {"id": "d1", "model": "m", "version": "v1", "ts": T0, "status": "succeeded"},
        {
            "id": "d2",
            "model": "m",
            "version": "v2",
            "ts": T0 + timedelta(hours=1),
            "status": "failed",
        },
        {"id": "d3", "model": "other", "version": "v9", "ts": T0, "status": "started"},
    ]
    return {"predictions": predictions, "deployments": deployments}


def test_duckdb_and_table_source_agree_on_pairs_and_deployments(tmp_path):
    events = _events()
    store = open_store(tmp_path / "s.duckdb")
    for kind, rows in events.items():
        store.commit(kind, rows)
    tables = TableSource({kind: events_table(kind, rows) for kind, rows in events.items()})
    try:
        for source in (store, tables):
            pairs = source.prediction_pairs("m", "v1", "v2")
            keys = {(i % 10, "a" if i % 3 else "b") for i in range(30)}
            assert pairs.pairs == len(keys)
            assert [e.id for e in source.deployment_events("m")] == ["d1", "d2"]
            since = source.prediction_pairs("m", "v1", "v2", since=T0 + timedelta(minutes=25))
            assert since.pairs == len({(i % 10, "a" if i % 3 else "b") for i in range(25, 30)})
            end, every = T0 + timedelta(minutes=30), timedelta(minutes=10)
            windows = source.prediction_pair_windows("m", "v1", "v2", T0, end, every)
            for w in range(3):
                one = source.prediction_pairs(
                    "m", "v1", "v2", end - (w + 1) * every, end - w * every
                )
                assert (windows[w].pairs, windows[w].flips) == (one.pairs, one.flips) != (0, 0)
        a, b = store.prediction_pairs("m", "v1", "v2"), tables.prediction_pairs("m", "v1", "v2")
        assert (a.pairs, a.flips, a.scored) == (b.pairs, b.flips, b.scored)
        assert a.abs_diff_sum == pytest.approx(b.abs_diff_sum)
        assert a.diff_sq_sum == pytest.approx(b.diff_sq_sum)
    finally:
        tables.close()
        store.close()


def test_the_outbox_keeps_one_row_per_key_and_reports_its_backlog(tmp_path):
    store = open_store(":memory:")
    try:
        row = Notification("k", "hook", "a", "firing", "m", {"n": 1}, T0)
        assert store.outbox_add([row, row]) == 1
        assert store.outbox_add([row]) == 0
        assert store.outbox_backlog() == {"hook": (1, T0)}
        assert [n.key for n in store.outbox_due(T0, channel="hook")] == ["k"]
        assert store.outbox_due(T0, channel="other") == []
        assert store.outbox_due(T0 - timedelta(seconds=1)) == []
    finally:
        store.close()


def test_the_labelled_export_has_one_column_per_feature(tmp_path):
    store = open_store(tmp_path / "s.duckdb")
    try:
        events = _events()
        store.commit("predictions", events["predictions"])
        store.commit(
            "outcomes", [{"prediction_id": f"a{i}", "label": "1", "ts": T0} for i in range(30)]
        )
        rows = store.export_labelled("m", tmp_path / "out.parquet", limit=1000)
        table = pq.read_table(tmp_path / "out.parquet")
    finally:
        store.close()
    assert rows == table.num_rows == 30
    assert table.column("feature_x").type == "double"
    assert table.column("feature_c").to_pylist()[0] in ("a", "b")
    assert set(table.column("actual").to_pylist()) == {1}
