"""Engine-neutral reads about a model's life: the DuckDB file, PostgreSQL and
TableSource agree on deployment events and on predictions of two versions on the same
inputs; the outbox keeps one row per key; the ledger, the alert history and named
references survive a reopen on every store engine."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pyarrow.parquet as pq
import pytest

from liveeval.errors import ConflictError
from liveeval.store import Notification, Scope, TableSource, open_store
from liveeval.store.events import events_table
from liveeval.store.interface import (
    ActionRun,
    AlertRow,
    FeatureHistogram,
    StoredReference,
)

from .scenario import postgres_location

T0 = datetime(2026, 11, 1)
STORES = ["duckdb", "postgresql"]


@pytest.fixture(params=STORES)
def location(request: pytest.FixtureRequest, tmp_path) -> str:
    """A new store's location on each engine (the same location opens it again)."""
    if request.param == "postgresql":
        return postgres_location(request)
    return str(tmp_path / "s.duckdb")


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


def test_store_engines_and_table_source_agree_on_pairs_and_deployments(location):
    events = _events()
    store = open_store(location)
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


def test_the_outbox_keeps_one_row_per_key_and_reports_its_backlog(location):
    store = open_store(location)
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


def test_a_claimed_notification_goes_to_one_sender_until_attempted_or_its_claim_runs_out(
    location,
):
    store = open_store(location)
    try:
        store.outbox_add(
            [
                Notification("k1", "hook", "a", "firing", "m", {"n": 1}, T0),
                Notification("k2", "hook", "a", "firing", "m", {"n": 2}, T0 + timedelta(1)),
            ]
        )
        at = T0 + timedelta(days=2)
        assert [n.key for n in store.outbox_claim(at, "a", lease_seconds=0.5)] == ["k1"]
        assert [n.key for n in store.outbox_claim(at, "b", limit=5)] == ["k2"]
        assert store.outbox_claim(at, "b", limit=5) == []
        # The claimer stopped without an attempt: its claim runs out, another takes it.
        time.sleep(0.8)
        assert [n.key for n in store.outbox_claim(at, "b", limit=5)] == ["k1"]
        # A failed attempt ends the claim: the notification is due again at its retry.
        store.outbox_update("k1", attempts=1, next_attempt_at=at, error="503")
        assert [n.key for n in store.outbox_claim(at, "c")] == ["k1"]
        store.outbox_update("k1", attempts=2, next_attempt_at=None, error=None, delivered_at=at)
        assert store.outbox_claim(at, "c") == []
        # Claims change no state: k2 is pending, claimed by b.
        assert [n.key for n in store.outbox_due(at)] == ["k2"]
    finally:
        store.close()


def test_one_owner_holds_a_lease_until_it_releases_it_or_stops_renewing(location):
    store = open_store(location)
    try:
        assert store.lease("alerts", "a", 0.5)
        assert not store.lease("alerts", "b", 10)
        assert store.lease("alerts", "a", 0.5)  # renewed
        assert store.lease("other", "b", 10)  # leases are independent
        time.sleep(0.8)
        assert store.lease("alerts", "b", 10)
        assert not store.lease("alerts", "a", 10)
        store.release_lease("alerts", "a")  # not a's: nothing changes
        assert not store.lease("alerts", "a", 10)
        store.release_lease("alerts", "b")
        assert store.lease("alerts", "a", 10)
    finally:
        store.close()


def test_the_outbox_and_action_runs_survive_a_restart(location):
    later = T0 + timedelta(minutes=5)
    store = open_store(location)
    try:
        store.outbox_add(
            [
                Notification("k1", "hook", "a", "firing", "m", {"n": 1}, T0),
                Notification("k2", "mail", "a", "firing", "m", {"n": 2}, later),
            ]
        )
        store.outbox_update("k1", attempts=1, next_attempt_at=later, error="503 from the hook")
        store.record_action_run(ActionRun("r1", "retrain", "running", T0, model="m"))
        store.record_action_run(
            ActionRun("r1", "retrain", "succeeded", T0, model="m", finished_at=later, exit_code=0)
        )
        store.record_action_run(ActionRun("r2", "page", "skipped", later, reason="cooldown"))
    finally:
        store.close()
    store = open_store(location)
    try:
        assert store.outbox_due(T0) == []
        (due,) = store.outbox_due(later, channel="hook")
        assert (due.attempts, due.last_error, due.notice) == (1, "503 from the hook", {"n": 1})
        store.outbox_update("k2", attempts=1, next_attempt_at=None, error=None, delivered_at=later)
        assert [n.key for n in store.notifications()] == ["k2", "k1"]
        assert [n.key for n in store.notifications(status="delivered")] == ["k2"]
        assert store.outbox_backlog() == {"hook": (1, T0)}
        runs = store.action_runs()
        assert [(r.id, r.status) for r in runs] == [("r2", "skipped"), ("r1", "succeeded")]
        assert runs[1].finished_at == later and runs[1].exit_code == 0
        assert [r.id for r in store.action_runs(model="m")] == ["r1"]
    finally:
        store.close()


def test_the_alert_history_is_kept_in_order_across_a_restart(location):
    store = open_store(location)
    try:
        for i, state in enumerate(["pending", "firing", "resolved", "firing"]):
            alert = "a1" if i < 3 else "a2"
            model = "m" if i < 3 else "n"
            store.record_alert(
                AlertRow(
                    alert,
                    "drop",
                    model,
                    None,
                    None,
                    "accuracy",
                    state,
                    "page",
                    T0 + timedelta(minutes=i),
                    json.dumps({"i": i}),
                )
            )
    finally:
        store.close()
    store = open_store(location)
    try:
        assert [r.state for r in store.alert_history("a1")] == ["pending", "firing", "resolved"]
        assert [r.alert_id for r in store.alert_history(model="n")] == ["a2"]
        last = store.alert_history(limit=2)
        assert [json.loads(r.body)["i"] for r in last] == [2, 3]
        assert last[0].ts == T0 + timedelta(minutes=2)
    finally:
        store.close()


def _reference(name: str, edges: tuple[float, ...], rows: int) -> StoredReference:
    counts = (rows // 2, rows - rows // 2)
    histogram = FeatureHistogram("x", rows, 0, edges, counts, 0, 0, {}, 0)
    return StoredReference("m", name, rows, {"x": histogram}, moments={"x": (rows, 1.0, 2.0)})


def test_references_fix_bins_once_and_survive_a_reopen(location):
    store = open_store(location)
    try:
        # Numbers stored before the bins are fixed are binned on them at once.
        store.commit("predictions", _events()["predictions"])
        fixed = store.fix_feature_bins("m", {"x": [0.0, 5.0, 10.0]})
        assert fixed == {"x": (0.0, 5.0, 10.0)}
        assert store.fix_feature_bins("m", {"x": [1.0, 2.0]}) == fixed
        (window,) = store.feature_windows(Scope("m"), None, ["x"]).values()
        histogram = window["x"]
        assert histogram.edges == fixed["x"]
        assert sum(histogram.counts) + histogram.below + histogram.above == 60
        store.save_reference(_reference("train", fixed["x"], 10))
        with pytest.raises(ConflictError, match="already has a reference named 'train'"):
            store.save_reference(_reference("train", fixed["x"], 20))
        store.save_reference(_reference("train", fixed["x"], 20), replace=True)
        store.save_reference(_reference("old", fixed["x"], 4))
        assert store.delete_reference("m", "old") is True
        assert store.delete_reference("m", "old") is False
    finally:
        store.close()
    store = open_store(location)
    try:
        ref = store.reference("m", "train")
        assert ref is not None and ref.rows == 20 and ref.created is not None
        assert ref.features["x"].counts == (10, 10) and ref.moments["x"] == (20, 1.0, 2.0)
        assert [r.name for r in store.references("m")] == ["train"]
        assert store.reference("m", "old") is None
    finally:
        store.close()


def test_failures_and_resources_are_counted_per_window(location):
    store = open_store(location)
    try:
        store.commit(
            "predictions",
            [
                {
                    "id": f"e{i}",
                    "model": "m",
                    "version": "v1",
                    "ts": T0 + timedelta(minutes=i),
                    "status": "error",
                    "error_type": "ValueError" if i % 2 else None,
                }
                for i in range(6)
            ],
        )
        store.commit(
            "resource_samples",
            [
                {
                    "ts": T0 + timedelta(minutes=i),
                    "process": "api",
                    "cpu_percent": 10.0 * i,
                    "rss_bytes": 1000 + i,
                }
                for i in range(6)
            ],
        )
        every = timedelta(minutes=3)
        failed = store.failures(Scope("m"), every)
        assert [(f.start, f.error_type, f.count) for f in failed] == [
            (T0, "", 2),
            (T0, "ValueError", 1),
            (T0 + every, "", 1),
            (T0 + every, "ValueError", 2),
        ]
        windows = store.resource_windows(T0, T0 + 2 * every, every)
        assert [(w.start, w.samples, w.cpu_percent_max, w.rss_bytes_max) for w in windows] == [
            (T0, 3, 20.0, 1002),
            (T0 + every, 3, 50.0, 1005),
        ]
        usage = store.resource_usage(T0 + every, None)
        assert (usage.samples, usage.cpu_percent_mean, usage.rss_bytes_max) == (3, 40.0, 1005)
    finally:
        store.close()


def test_the_labelled_export_has_one_column_per_feature(tmp_path, location):
    store = open_store(location)
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
