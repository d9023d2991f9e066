"""Schema v3 on stores written by the v2 code: features and multiclass probabilities
are backfilled, and reads equal scikit-learn's."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from liveeval.store import Scope, open_store
from liveeval.store.duck.features import insert_features
from liveeval.store.duck.schema import MIGRATIONS, SCHEMA_VERSION
from liveeval.store.events import events_table

from ..scenario import Scenario, check_against_sklearn, make_scenario, reference_features

# What the v2 loader ran: events as they came, and each pair joined once into
# ``labelled`` (without class probabilities).
V2_LABELLED = (
    "INSERT INTO labelled SELECT p.id, p.model, p.version, p.ts, p.segment, p.status, "
    "p.label, p.score, o.label, o.value FROM predictions p "
    "JOIN outcomes o ON o.prediction_id = p.id"
)


def write_v2_store(path: str, scenarios: list[Scenario]) -> None:
    con = duckdb.connect(path)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, "
        "applied_at TIMESTAMP DEFAULT now())"
    )
    for version, description, sql in MIGRATIONS[:2]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description])
    for scenario in scenarios:
        for kind, kept in (("predictions", scenario.predictions), ("outcomes", scenario.outcomes)):
            table = events_table(kind, list(kept.values()))
            con.register("new", table)
            con.execute(f"INSERT INTO {kind} SELECT * FROM new")
            con.unregister("new")
    con.execute(V2_LABELLED)
    assert con.execute("SELECT typeof(features) FROM predictions LIMIT 1").fetchall() == [("JSON",)]
    con.close()


def test_a_version_2_store_gets_features_and_probabilities_backfilled(tmp_path):
    binary = make_scenario(21, n=120)
    multi = make_scenario(22, n=120, multiclass=True, model="multi")
    path = str(tmp_path / "v2.duckdb")
    write_v2_store(path, [binary, multi])

    store = open_store(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        check_against_sklearn(
            store.statistics(Scope("m"), classes=binary.classes, pos_label=1.0),
            binary,
            Scope("m"),
            unmatched=10,
        )
        stats = store.statistics(Scope("multi"), classes=multi.classes)
        assert stats.evaluation is not None and stats.evaluation.scores is not None
        check_against_sklearn(stats, multi, Scope("multi"), unmatched=10)
        histograms = store.feature_histograms(Scope("m"), bins=5)
        expected = reference_features(binary, Scope("m"))
        assert set(histograms) == set(expected)
        amounts = expected["amount"]
        assert list(histograms["amount"].counts) == np.histogram(amounts, bins=5)[0].tolist()
        # New events after the migration go through the new loader.
        store.commit(
            "predictions",
            [
                {
                    **binary.predictions["m0"],
                    "id": "after",
                    "features": json.dumps({"amount": 1.0, "fresh": "yes"}),
                }
            ],
        )
        fresh = store.feature_histograms(Scope("m"), ["fresh"])
        assert fresh["fresh"].categories == {"yes": 1}
    finally:
        store.close()


def test_migration_keeps_texts_that_are_not_json_objects(tmp_path):
    path = str(tmp_path / "v2.duckdb")
    con = duckdb.connect(path)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, "
        "applied_at TIMESTAMP DEFAULT now())"
    )
    for version, description, sql in MIGRATIONS[:2]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description])
    rows = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "features": ["[1, 2]", '"text"', "null", '{"x": 1, "y": "z"}'],
        }
    )
    con.register("rows", rows)
    con.execute(
        "INSERT INTO predictions (id, model, version, ts, features, status) "
        "SELECT id, 'm', 'v1', TIMESTAMP '2026-11-01', features, 'ok' FROM rows"
    )
    con.close()
    store = open_store(path)
    try:
        histograms = store.feature_histograms(Scope("m"))
        assert set(histograms) == {"x", "y"}
        assert histograms["x"].rows == 1 and histograms["y"].categories == {"z": 1}
        assert store.statistics(Scope("m")).predictions == 4
    finally:
        store.close()


@pytest.mark.parametrize("keys", [1, 600])
def test_wide_and_sparse_feature_dicts_are_stored_whole(tmp_path, keys):
    # 600 distinct keys spread over rows take the json_each path; one key the keyed one.
    store = open_store(str(tmp_path / "s.duckdb"))
    try:
        events = [
            {
                "id": f"p{i}",
                "model": "m",
                "version": "v1",
                "ts": make_scenario(1, n=1).predictions["m0"]["ts"],
                "features": json.dumps({f"f{(i * 7 + j) % keys}": j for j in range(min(keys, 5))}),
                "status": "ok",
            }
            for i in range(200)
        ]
        store.commit("predictions", events)
        expected: dict[str, int] = {}
        for e in events:
            for name in json.loads(e["features"]):
                expected[name] = expected.get(name, 0) + 1
        got = store.feature_histograms(Scope("m"))
        assert {name: h.rows for name, h in got.items()} == expected
    finally:
        store.close()


def write_v3_store(path: str, scenarios: list[Scenario]) -> None:
    """What the v3 code wrote: events, pairs in ``labelled``, features per feature; no
    rollups."""
    write_v2_store(path, scenarios)
    con = duckdb.connect(path)
    version, description, sql = MIGRATIONS[2]
    con.execute(sql)
    insert_features(con, "predictions")
    con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description])
    con.close()


def test_a_version_3_store_gets_its_rollups_backfilled(tmp_path):
    binary = make_scenario(23, n=150)
    multi = make_scenario(24, n=120, multiclass=True, model="multi")
    path = str(tmp_path / "v3.duckdb")
    write_v3_store(path, [binary, multi])
    store = open_store(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        every = dt.timedelta(hours=6)
        windows = store.grouped_statistics(
            Scope("m"), ("version",), every=every, classes=binary.classes, pos_label=1.0
        )
        assert sum(s.predictions for s in windows.values()) == len(binary.predictions)
        for (version, start), stats in windows.items():
            scope = Scope("m", version=version, since=start, until=start + every)
            check_against_sklearn(stats, binary, scope, unmatched=10)
        delays = store.label_delays(Scope("m"))
        pairs = [pid for pid in binary.predictions if pid in binary.outcomes]
        assert delays.n == len(pairs)
        histograms = store.score_histograms(Scope("m"), classes=binary.classes, pos_label=1.0)
        (merged,) = histograms.values()
        assert merged.n == sum(p["status"] == "ok" for p in binary.predictions.values())
        features = store.feature_windows(Scope("m"))
        (whole,) = features.values()
        amounts = reference_features(binary, Scope("m"))["amount"]
        edges = store.feature_bins("m")["amount"]
        assert list(whole["amount"].counts) == np.histogram(amounts, bins=edges)[0].tolist()
        # A multiclass window keeps its counts and confusion matrix.
        multi_windows = store.grouped_statistics(
            Scope("multi"), every=dt.timedelta(days=1), classes=multi.classes
        ).values()
        labelled = sum(w.labelled for w in multi_windows)
        assert labelled == store.statistics(Scope("multi")).labelled > 0
        assert all(
            any("not kept per time bucket" in note for note in w.notes)
            for w in multi_windows
            if w.labelled
        )
    finally:
        store.close()
