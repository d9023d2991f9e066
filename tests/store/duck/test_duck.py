import asyncio
import datetime as dt

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from liveeval.store import Scope, encode_label
from liveeval.store.duck.aggregate import aggregate
from liveeval.store.duck.journal import json_lines
from liveeval.store.duck.schema import MIGRATIONS
from liveeval.store.duck.store import DuckStore
from liveeval.store.duck.writer import BatchWriter

TS = dt.datetime(2026, 11, 1, 12, 0, 0)


def prediction(i, label=1, score=0.9, **extra):
    return {
        "id": f"p{i}",
        "model": "m",
        "version": "v1",
        "ts": TS,
        "label": encode_label(label),
        "score": score,
        "status": "ok",
        **extra,
    }


def outcome(i, label):
    return {"prediction_id": f"p{i}", "label": encode_label(label), "ts": TS}


@pytest.fixture
def store(tmp_path):
    s = DuckStore(tmp_path / "s.duckdb")
    yield s
    s.close()


def test_repeats_are_stored_once_and_changed_repeats_conflict(store):
    first = store.write("predictions", [prediction(0), prediction(1)])
    assert [o.status for o in first] == ["stored", "stored"]
    # A retry is stamped anew by the server: the timestamp is not content.
    again = store.write("predictions", [{**prediction(0), "ts": TS + dt.timedelta(hours=1)}])
    assert again[0].status == "duplicate"
    changed = store.write("predictions", [prediction(1, score=0.2)])
    assert changed[0].status == "conflict"
    assert "already stored with different content" in (changed[0].detail or "")
    batch = store.write("predictions", [prediction(2), prediction(2), prediction(2, score=0.1)])
    assert [o.status for o in batch] == ["stored", "duplicate", "conflict"]
    assert "appears twice in this batch" in (batch[2].detail or "")
    assert store.count("predictions") == 3


def test_outcomes_join_their_prediction_whichever_arrives_first(store):
    store.write("outcomes", [outcome(0, 1)])  # before its prediction
    store.write("predictions", [prediction(0), prediction(1), prediction(2)])
    store.write("outcomes", [outcome(1, 0)])  # after
    store.write("outcomes", [outcome(9, 1)])  # never matched
    rows = store.cursor().execute("SELECT prediction_id, label FROM labelled ORDER BY 1").fetchall()
    assert rows == [("p0", "1"), ("p1", "0")]
    stats = aggregate(store.cursor(), Scope("m"))
    assert (stats.predictions, stats.labelled, stats.unmatched_outcomes) == (3, 2, 1)


def test_a_prediction_and_its_outcome_in_one_load_pair_once(store):
    # The loader can take both from the journal in one transaction.
    _, predictions = store.accept_rows("predictions", [prediction(0)])
    _, outcomes = store.accept_rows("outcomes", [outcome(0, 1)])
    store.load([("predictions", json_lines(predictions)), ("outcomes", json_lines(outcomes))], None)
    assert store.cursor().execute("SELECT count(*) FROM labelled").fetchall() == [(1,)]


@settings(deadline=None, max_examples=25)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1), st.booleans()), min_size=2, max_size=60),
    st.randoms(use_true_random=False),
)
def test_metrics_equal_sklearn_whatever_the_arrival_order(tmp_path_factory, rows, rnd):
    store = DuckStore(tmp_path_factory.mktemp("order") / "s.duckdb")
    try:
        events = []
        for i, (truth, score, _) in enumerate(rows):
            events.append(("predictions", prediction(i, int(score >= 0.5), score)))
            events.append(("outcomes", outcome(i, int(truth))))
        rnd.shuffle(events)
        # Arrive in random order, in random batch sizes.
        while events:
            size = rnd.randint(1, 5)
            batch, events = events[:size], events[size:]
            for kind in ("predictions", "outcomes"):
                chunk = [e for k, e in batch if k == kind]
                if chunk:
                    store.write(kind, chunk)
        y = np.array([int(t) for t, _, _ in rows])
        s = np.array([score for _, score, _ in rows])
        stats = aggregate(store.cursor(), Scope("m"), classes=(0, 1), pos_label=1)
        assert stats.labelled == len(rows)
        result = stats.evaluation.result()
        assert (
            result.confusion_matrix
            == skm.confusion_matrix(y, (s >= 0.5).astype(int), labels=[0, 1]).tolist()
        )
        assert result.metrics["log_loss"].value == pytest.approx(
            skm.log_loss(y, s, labels=[0, 1]), rel=1e-12
        )
        assert result.metrics["brier"].value == pytest.approx(
            skm.brier_score_loss(y, s), rel=1e-12, abs=1e-15
        )
        if len(set(y)) == 2:
            assert result.metrics["roc_auc"].value == pytest.approx(
                skm.roc_auc_score(y, s), abs=1e-12
            )
    finally:
        store.close()


def test_acknowledged_events_survive_a_crash_before_loading(tmp_path):
    path = tmp_path / "s.duckdb"
    store = DuckStore(path)
    # Accepted and journalled (the acknowledgement), then the process dies before the
    # loader runs: nothing reaches DuckDB.
    _, rows = store.accept_rows("predictions", [prediction(0), prediction(1)])
    store.journal.append([("predictions", json_lines(rows))])
    store.journal.append([("outcomes", json_lines([outcome(1, 1)]))])
    store.journal.close()
    store._con.close()
    reopened = DuckStore(path)
    try:
        assert reopened.count("predictions") == 2
        assert aggregate(reopened.cursor(), Scope("m")).labelled == 1
        # The replayed ids are indexed: a retry is a duplicate, not a second row.
        assert reopened.write("predictions", [prediction(0)])[0].status == "duplicate"
    finally:
        reopened.close()
    again = DuckStore(path)  # replay happens once
    try:
        assert again.count("predictions") == 2
    finally:
        again.close()


def test_version_1_stores_are_migrated(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, "
        "applied_at TIMESTAMP DEFAULT now())"
    )
    con.execute(MIGRATIONS[0][2])
    con.execute("INSERT INTO schema_migrations (version, description) VALUES (1, 'v1')")
    con.execute(
        "INSERT INTO predictions (id, model, version, ts, label, score, status, digest) "
        "VALUES ('a', 'm', 'v1', TIMESTAMP '2026-11-01', '1', 0.8, 'ok', 'x'), "
        "('b', 'm', 'v1', TIMESTAMP '2026-11-01', '0', 0.3, 'ok', 'y')"
    )
    con.execute(
        "INSERT INTO outcomes VALUES ('a', '1', NULL, TIMESTAMP '2026-11-02', 'z'), "
        "('zz', '0', NULL, TIMESTAMP '2026-11-02', 'w')"
    )
    con.close()
    store = DuckStore(path)
    try:
        assert store.schema_version == MIGRATIONS[-1][0]
        stats = aggregate(store.cursor(), Scope("m"))
        assert (stats.predictions, stats.labelled, stats.unmatched_outcomes) == (2, 1, 1)
        assert store.write("predictions", [prediction(0)])[0].status == "stored"
        assert store.write("outcomes", [outcome(0, 1)])[0].status == "stored"
        assert store.write("predictions", [{**prediction(0), "id": "a"}])[0].status == "conflict"
    finally:
        store.close()


def test_concurrent_writers_are_group_committed_and_all_loaded(tmp_path):
    store = DuckStore(tmp_path / "s.duckdb")
    writer = BatchWriter(store)

    async def main():
        results = await asyncio.gather(
            *(writer.write("predictions", [prediction(i)], fresh=True) for i in range(500)),
            *(writer.write("outcomes", [outcome(i, 1)]) for i in range(0, 500, 2)),
        )
        return results

    results = asyncio.run(main())
    assert all(r[0].status == "stored" for r in results)
    writer.settle()
    assert store.count("predictions") == 500
    assert aggregate(store.cursor(), Scope("m")).labelled == 250
    writer.close()
    store.close()


def test_a_retried_id_is_answered_off_the_event_loop(tmp_path):
    import asyncio
    import threading

    from liveeval.store.duck.engine import DuckEngine

    engine = DuckEngine(tmp_path / "s.duckdb")
    event = prediction(1, 1, 0.9)
    loop_thread: list[int] = []

    async def run() -> list[str]:
        loop_thread.append(threading.get_ident())
        first = await engine.write("predictions", [dict(event)])
        again = await engine.write("predictions", [dict(event)])
        return [first[0].status, again[0].status]

    original = engine._writer.commit
    seen: list[int] = []

    def commit(kind, events):
        seen.append(threading.get_ident())
        return original(kind, events)

    engine._writer.commit = commit  # type: ignore[method-assign]
    try:
        assert asyncio.run(run()) == ["stored", "duplicate"]
    finally:
        engine.close()
    # The retry (and only it) went through a worker thread's commit.
    assert len(seen) == 1 and seen[0] != loop_thread[0]


def test_a_predict_retry_with_new_latencies_is_a_duplicate(tmp_path):
    store = DuckStore(tmp_path / "s.duckdb")
    first = dict(prediction(1, 1, 0.9), latency_total_s=0.01, latency_model_s=0.001)
    again = dict(first, latency_total_s=0.02, latency_model_s=0.002)
    assert store.write("predictions", [first])[0].status == "stored"
    assert store.write("predictions", [again])[0].status == "duplicate"
    store.close()


def test_a_single_event_larger_than_a_json_block_loads(tmp_path):
    from liveeval.store import Scope
    from liveeval.store.duck.engine import DuckEngine

    engine = DuckEngine(tmp_path / "s.duckdb")
    big = dict(prediction(1, 1, 0.9), features='{"a": "' + "x" * 3_000_000 + '"}')
    assert engine.commit("predictions", [big])[0].status == "stored"
    assert engine.statistics(Scope("m")).predictions == 1
    engine.close()
    reopened = DuckEngine(tmp_path / "s.duckdb")
    assert reopened.count("predictions") == 1
    reopened.close()
