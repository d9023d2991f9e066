"""What several replicas on one PostgreSQL database need beyond the store contract:
idempotency and pairs decided by the database under concurrency, migrations run once
when replicas start together, credentials never printed, and a lost database
answered as unavailable, then recovered from."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections import Counter
from typing import Any

import numpy as np
import pytest

from liveeval.errors import StoreUnavailable
from liveeval.store import Scope, encode_label, open_store
from liveeval.store.duck.schema import SCHEMA_VERSION
from liveeval.store.postgres import masked
from liveeval.store.postgres.schema import MIGRATIONS

from ..scenario import postgres_location

TS = dt.datetime(2026, 11, 1)


def prediction(i: int, **fields: Any) -> dict[str, Any]:
    score = round((i * 37 % 100) / 100, 2)
    event = {
        "id": f"p{i}",
        "model": "m",
        "version": "v1",
        "ts": TS + dt.timedelta(minutes=i),
        "features": json.dumps({"amount": float(i % 17), "country": "fr" if i % 3 else "de"}),
        "label": encode_label(int(score >= 0.5)),
        "score": score,
        "status": "ok",
        "latency_total_s": 0.01,
    }
    event.update(fields)
    return event


def outcome(i: int) -> dict[str, Any]:
    return {
        "prediction_id": f"p{i}",
        "label": encode_label(int(i % 4 == 0)),
        "ts": TS + dt.timedelta(days=1),
    }


@pytest.fixture
def location(request: pytest.FixtureRequest) -> str:
    return postgres_location(request)


def run_together(*jobs: Any) -> list[Any]:
    """Run the callables at the same moment on threads; their results in order."""
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(at: int, job: Any) -> None:
        start.wait()
        try:
            results[at] = job()
        except BaseException as exc:  # re-raised below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_replicas_starting_together_migrate_the_database_once(location):
    engines = run_together(*[lambda: open_store(location) for _ in range(3)])
    try:
        assert {e.schema_version for e in engines} == {SCHEMA_VERSION}
        import psycopg

        with psycopg.connect(location) as conn:
            rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
        # Each migration applied once, the last one the DuckDB schema's version.
        assert sorted(r[0] for r in rows) == [m[0] for m in MIGRATIONS]
        assert MIGRATIONS[-1][0] == SCHEMA_VERSION
    finally:
        for e in engines:
            e.close()


def test_two_replicas_store_one_event_once_and_a_different_one_is_a_conflict_at_either(
    location,
):
    a, b = open_store(location), open_store(location)
    try:
        events = [prediction(i) for i in range(40)]
        first, second = run_together(
            lambda: a.commit("predictions", events), lambda: b.commit("predictions", events)
        )
        for x, y in zip(first, second, strict=True):
            assert sorted([x.status, y.status]) == ["duplicate", "stored"]
        changed = prediction(3, score=0.99)
        for engine in (a, b):
            (answer,) = engine.commit("predictions", [changed])
            assert answer.status == "conflict"
            assert answer.detail == "id 'p3' is already stored with different content"
        assert a.count("predictions") == b.count("predictions") == 40
        assert a.statistics(Scope("m")).predictions == 40
    finally:
        a.close()
        b.close()


def test_pairs_complete_exactly_once_whichever_replica_gets_which_half(location):
    """Predictions through one replica, outcomes through another, at the same time and
    in random batches (an outcome often before its prediction), the same outcomes
    again through a third: every pair is joined once."""
    replicas = [open_store(location) for _ in range(3)]
    n = 300
    rng = np.random.default_rng(4)
    order = rng.permutation(n)
    predictions = [prediction(int(i)) for i in order]
    outcomes = [outcome(int(i)) for i in rng.permutation(n)]

    def send(engine: Any, kind: str, events: list[dict[str, Any]]) -> Counter[str]:
        counts: Counter[str] = Counter()
        at = 0
        while at < len(events):
            size = int(rng.integers(1, 25))
            for answer in engine.commit(kind, events[at : at + size]):
                counts[answer.status] += 1
            at += size
        return counts

    try:
        sent = run_together(
            lambda: send(replicas[0], "predictions", predictions),
            lambda: send(replicas[1], "outcomes", outcomes),
            lambda: send(replicas[2], "outcomes", outcomes[::-1]),
        )
        assert sent[0] == {"stored": n}
        assert sent[1]["stored"] + sent[2]["stored"] == n
        assert sent[1]["duplicate"] + sent[2]["duplicate"] == n
        for engine in replicas:
            stats = engine.statistics(Scope("m"), classes=(0, 1), pos_label=1)
            assert (stats.predictions, stats.labelled, stats.unmatched_outcomes) == (n, n, 0)
            windows = engine.grouped_statistics(Scope("m"), every=dt.timedelta(hours=1))
            assert sum(w.labelled for w in windows.values()) == n
        import psycopg

        with psycopg.connect(location) as conn:
            assert conn.execute("SELECT count(*) FROM labelled").fetchone() == (n,)
    finally:
        for engine in replicas:
            engine.close()


def test_large_batches_are_stored_once_and_a_retry_is_answered_row_by_row(location):
    """Batches of FAST_ROWS and more take the COPY path: new ids are stored, a retried
    batch is all duplicates, and a batch mixing new ids, stored ids with other content
    and ids twice in the batch gets each row's own answer; outcomes sent as one large
    batch through another replica at the same time pair every prediction once."""
    from liveeval.store.events import events_table
    from liveeval.store.postgres.load import FAST_ROWS

    a, b = open_store(location), open_store(location)
    n = FAST_ROWS + 500
    try:
        first = events_table("predictions", [prediction(i) for i in range(n)])
        stored, paired = run_together(
            lambda: a._writer.commit_table("predictions", first),
            lambda: b._writer.commit_table(
                "outcomes", events_table("outcomes", [outcome(i) for i in range(n)])
            ),
        )
        assert (stored.count("stored"), paired.count("stored")) == (n, n)
        again = b._writer.commit_table("predictions", first)
        assert again.count("duplicate") == n
        mixed = [prediction(i) for i in range(n - 5, 2 * n - 5)]  # 5 stored, the rest new
        mixed[0] = prediction(n - 5, score=0.999)  # a stored id, other content
        mixed.append(prediction(n + 10))  # twice in the batch, the same
        mixed.append(prediction(n + 11, score=0.123))  # twice, different
        answer = a._writer.commit_table("predictions", events_table("predictions", mixed))
        status = answer.outcomes()
        assert status[0].status == "conflict"
        assert status[0].detail == f"id 'p{n - 5}' is already stored with different content"
        assert [o.status for o in status[1:5]] == ["duplicate"] * 4
        assert {o.status for o in status[5:-2]} == {"stored"}
        assert status[-2].status == "duplicate"
        assert status[-1].status == "conflict"
        assert "appears twice in this batch" in (status[-1].detail or "")
        for engine in (a, b):
            stats = engine.statistics(Scope("m"), classes=(0, 1), pos_label=1)
            assert (stats.predictions, stats.labelled) == (2 * n - 5, n)
            assert engine.count("predictions") == 2 * n - 5
    finally:
        a.close()
        b.close()


def test_a_batch_of_parallel_rows_is_written_as_two_halves_answered_in_its_own_order(
    location, monkeypatch
):
    """A batch of PARALLEL_ROWS distinct ids or more goes to two connections at once,
    the lower ids and the upper ids; each row's answer is in the batch's order, and
    stored, duplicate and conflicting ids in either half are told apart."""
    from liveeval.store.events import events_table
    from liveeval.store.postgres import writer

    monkeypatch.setattr(writer, "PARALLEL_ROWS", 2000)
    seen: list[tuple[str, str, str]] = []
    real = writer.write_batches

    def spy(connections: Any, batches: Any, owner: str, *rest: Any) -> Any:
        batch = batches[0][1]
        ids = (
            [r["id"] for r in batch.rows]
            if hasattr(batch, "rows")
            else batch.column("id").to_pylist()
        )
        seen.append((threading.current_thread().name, min(ids), max(ids)))
        return real(connections, batches, owner, *rest)

    monkeypatch.setattr(writer, "write_batches", spy)
    engine = open_store(location)
    try:
        engine.commit("predictions", [prediction(i) for i in (5, 2990)])
        engine.commit("predictions", [prediction(7, score=0.999)])
        rows = [prediction(i) for i in range(3000)][::-1]  # not in id order
        answer = engine._writer.commit_table("predictions", events_table("predictions", rows))
        assert len(seen) == 2 + 2  # the two small commits, then two halves
        halves = sorted(seen[2:], key=lambda s: s[1])
        assert {h[0] for h in halves} == {"liveeval-pg-copy", threading.current_thread().name}
        assert halves[0][2] < halves[1][1]  # disjoint ranges of ids
        expected = {
            f"p{i}": "duplicate" if i in (5, 2990) else "conflict" if i == 7 else "stored"
            for i in range(3000)
        }
        got = answer.outcomes()
        assert [o.key for o in got] == [r["id"] for r in rows]
        assert {o.key: o.status for o in got} == expected
        assert answer.details == {
            rows.index(prediction(7)): "id 'p7' is already stored with different content"
        }
        assert engine.count("predictions") == 3000
    finally:
        engine.close()


def test_a_half_that_fails_fails_the_batch_and_the_retry_stores_the_rest_once(
    location, monkeypatch
):
    """Nothing is acknowledged when one half fails; the half that committed answers
    "duplicate" to the retry, and no event is stored twice."""
    from liveeval.store.events import events_table
    from liveeval.store.postgres import writer

    monkeypatch.setattr(writer, "PARALLEL_ROWS", 2000)
    real = writer.write_batches
    lost = {"once": True}

    def flaky(connections: Any, batches: Any, owner: str, *rest: Any) -> Any:
        if "p2999" in batches[0][1].column("id").to_pylist() and lost.pop("once", False):
            raise StoreUnavailable("the database went away")
        return real(connections, batches, owner, *rest)

    monkeypatch.setattr(writer, "write_batches", flaky)
    engine = open_store(location)
    table = events_table("predictions", [prediction(i) for i in range(3000)])
    try:
        with pytest.raises(StoreUnavailable, match="the database went away"):
            engine._writer.commit_table("predictions", table)
        retry = engine._writer.commit_table("predictions", table)
        assert (retry.count("duplicate"), retry.count("stored")) == (1500, 1500)
        assert engine.count("predictions") == 3000
        stats = engine.statistics(Scope("m"), classes=(0, 1), pos_label=1)
        assert stats.predictions == 3000
    finally:
        engine.close()


def test_group_commits_from_the_event_loop_answer_each_request(location):
    engine = open_store(location)

    async def many() -> list[Any]:
        return await asyncio.gather(
            *[engine.write("predictions", [prediction(i % 30)]) for i in range(60)]
        )

    try:
        answers = [a[0].status for a in asyncio.run(many())]
        assert Counter(answers) == {"stored": 30, "duplicate": 30}
        assert engine.known_ids("predictions", ["p0", "p29", "p30"]) == [True, True, False]
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:hunter2@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgres://u:p%40ss@db/x?sslmode=require", "postgres://u:***@db/x?sslmode=require"),
        (
            "postgresql://db/x?user=u&password=hunter2&a=1",
            "postgresql://db/x?user=u&password=***&a=1",
        ),
        ("host=db password=hunter2 user=u", "host=db password=*** user=u"),
        ("postgresql://u@db/x", "postgresql://u@db/x"),
    ],
)
def test_passwords_in_a_location_are_masked(text, shown):
    assert masked(text) == shown


def test_refused_credentials_are_unavailable_and_never_echo_the_password(postgres):
    location = f"postgresql://liveeval:wrong-hunter2@127.0.0.1:{postgres.port}/postgres"
    with pytest.raises(StoreUnavailable, match="password authentication failed") as info:
        open_store(location)
    assert "wrong-hunter2" not in str(info.value)
    assert "liveeval:***@" in str(info.value)


def test_a_lost_database_is_unavailable_then_the_replica_carries_on(postgres, location):
    engine = open_store(location)
    try:
        assert [a.status for a in engine.commit("predictions", [prediction(1)])] == ["stored"]
        postgres.stop("fast")
        try:
            with pytest.raises(StoreUnavailable, match="unavailable"):
                engine.commit("predictions", [prediction(2)])
            with pytest.raises(StoreUnavailable):
                engine.statistics(Scope("m"))
        finally:
            postgres.start()
        assert [a.status for a in engine.commit("predictions", [prediction(2)])] == ["stored"]
        assert engine.statistics(Scope("m")).predictions == 2
    finally:
        engine.close()


def test_an_export_reads_back_as_the_same_statistics(location, tmp_path):
    from liveeval.store import TableSource

    engine = open_store(location)
    try:
        engine.commit("predictions", [prediction(i) for i in range(50)])
        engine.commit("outcomes", [outcome(i) for i in range(0, 60, 2)])
        written = engine.export(tmp_path / "export")
        assert written["predictions"] == 50 and written["outcomes"] == 30
        kw: dict[str, Any] = {"classes": (0, 1), "pos_label": 1}
        ours = engine.statistics(Scope("m"), **kw)
        with TableSource.from_parquet(tmp_path / "export") as source:
            theirs = source.statistics(Scope("m"), **kw)
        assert (ours.predictions, ours.labelled, ours.unmatched_outcomes) == (50, 25, 5)
        assert (theirs.predictions, theirs.labelled, theirs.unmatched_outcomes) == (50, 25, 5)
        assert ours.evaluation is not None and theirs.evaluation is not None
        a, b = ours.evaluation.result().metrics, theirs.evaluation.result().metrics
        for name in ("accuracy", "roc_auc", "log_loss"):
            assert a[name].value == pytest.approx(b[name].value, rel=1e-12)
    finally:
        engine.close()


def test_a_group_sent_as_json_stores_exactly_the_rows_the_arrow_path_stores(location):
    """Small groups travel as one JSON parameter typed by PostgreSQL; every value comes
    back as the Arrow path stores it (extreme floats, quotes, backslashes, non-ASCII,
    probability lists, a zoned time), and events JSON cannot carry (NaN) take the Arrow
    path; duplicates and conflicts in a JSON group are still told apart."""
    from liveeval.store.events import events_table
    from liveeval.store.postgres import writer
    from liveeval.store.postgres.load import Events

    odd = {
        "segment": 'q"uo\\te \u00e9\u4e2d \U0001f600',
        "score": 5e-324,
        "probas": [0.1, 0.2, 0.7000000000000001],
        "latency_model_s": 1.7976931348623157e308,
        "latency_total_s": 0.1 + 0.2,
    }
    zoned = dt.datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    via_json = [prediction(1, **odd), prediction(2, ts=zoned), prediction(3, error_type=None)]
    via_arrow = [{**e, "id": "a" + e["id"]} for e in via_json]
    assert Events.of("predictions", via_json) is not None
    assert Events.of("predictions", [prediction(4, score=float("nan"))]) is None
    engine = open_store(location)
    try:
        engine.commit("predictions", via_json)
        outcomes, _ = writer.write_batches(
            engine._writer.connections,
            [("predictions", events_table("predictions", via_arrow))],
            engine._writer.owner,
        )
        assert {o.status for o in outcomes[0].outcomes()} == {"stored"}
        with engine._writer.connections.connection() as conn:
            rows = conn.execute("SELECT * FROM predictions ORDER BY id").fetchall()
        stored = {r[0]: r[1:] for r in rows}
        for event in via_json:
            assert stored[event["id"]] == stored["a" + event["id"]]
        assert stored["p2"][2] == dt.datetime(2026, 3, 1, 10, 30, 0, 123456)
        assert stored["p1"][6] == 5e-324 and stored["p1"][9] == 0.1 + 0.2
        again = engine.commit(
            "predictions", [prediction(1, **odd), prediction(2, score=0.5), prediction(5)]
        )
        assert [o.status for o in again] == ["duplicate", "conflict", "stored"]
        nan = engine.commit("predictions", [prediction(6, latency_model_s=float("nan"))])
        assert [o.status for o in nan] == ["stored"]
    finally:
        engine.close()


def test_a_batch_rolled_from_memory_gives_the_rollups_of_one_read_back(
    postgres: Any, location: str
) -> None:
    """A replica rolls the predictions its own large batches stored from memory; read
    back from PostgreSQL instead (as another replica's are), the rollups, features
    and feature state are the same, row for row."""
    import psycopg

    from liveeval.store.events import events_table
    from liveeval.store.postgres.load import _ROLLUPS

    other = postgres.create_database(f"t{uuid.uuid4().hex[:16]}")
    held = []
    for where, keep in ((location, True), (other, False)):
        engine = open_store(where)
        if not keep:
            engine._writer._keep = lambda loaded: None
        else:
            real = engine._writer._keep
            engine._writer._keep = lambda loaded, real=real: (
                held.append(len(loaded)),
                real(loaded),
            )
        try:
            rows = [prediction(i, latency_model_s=0.002 * (i % 5)) for i in range(2500)]
            engine._writer.commit_table("predictions", events_table("predictions", rows))
            outcomes = [outcome(i) for i in range(0, 2500, 2)]
            engine._writer.commit_table("outcomes", events_table("outcomes", outcomes))
            engine._writer.settle()
        finally:
            engine.close()
    assert held and sum(held) >= 1  # the first database's roll had rows in memory
    tables = [t for t, _, _ in _ROLLUPS] + ["features", "labelled", "feature_bins"]
    queries = {t: f"SELECT t::text FROM {t} t" for t in tables}
    queries["feature_categories"] = "SELECT t::text FROM feature_categories t"
    queries["feature_pending"] = "SELECT t::text FROM feature_pending t"
    # Counters are kept in slots by connection: their sums.
    queries["store_counts"] = "SELECT kind || ' ' || sum(n) FROM store_counts GROUP BY kind"
    contents = []
    for where in (location, other):
        with psycopg.connect(where) as conn:
            contents.append(
                {t: sorted(r[0] for r in conn.execute(q).fetchall()) for t, q in queries.items()}
            )
    assert contents[0]["rollup_counts"]
    assert contents[0] == contents[1]


def test_batches_held_for_the_roll_past_the_memory_limit_are_dropped_oldest_first(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liveeval.store.events import events_table
    from liveeval.store.postgres import writer

    table = events_table("predictions", [prediction(i) for i in range(100)])
    monkeypatch.setattr(writer, "LOADED_BYTES", 2 * table.nbytes)
    engine = open_store(location)
    try:
        engine._writer._keep([(101, table), (102, table)])
        engine._writer._keep([(103, table)])
        assert sorted(engine._writer._loaded_rows()) == [102, 103]
        monkeypatch.setattr(writer, "LOADED_SECONDS", -1.0)
        engine._writer._keep([(104, table)])
        assert engine._writer._loaded_rows() == {}
    finally:
        engine.close()
