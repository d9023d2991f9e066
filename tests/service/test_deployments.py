"""Deployment history: success rate, live time per version, rollbacks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from liveeval.config import ServerConfig
from liveeval.errors import ModelLoadError
from liveeval.service import Service
from liveeval.service.deployments import summarise_deployments
from liveeval.serving import ModelSpec
from liveeval.store import DeploymentEvent, open_store

T0 = datetime(2026, 11, 1)


def events(*rows: tuple[int, str, str]) -> list[DeploymentEvent]:
    return [
        DeploymentEvent(f"e{i}", "m", version, T0 + timedelta(hours=hour), status)
        for i, (hour, version, status) in enumerate(rows)
    ]


def test_success_rate_live_time_and_rollbacks_follow_the_events():
    history = events(
        (0, "v1", "started"),
        (1, "v1", "succeeded"),
        (10, "v2", "started"),
        (11, "v2", "failed"),  # v1 stays live
        (20, "v2", "started"),
        (21, "v2", "succeeded"),
        (25, "v2", "rolled_back"),  # back to v1
        (30, "v3", "succeeded"),
    )
    summary = summarise_deployments(history, T0 + timedelta(hours=40))
    assert summary["deployments"] == 4 and summary["rollbacks"] == 1
    assert summary["success_rate"]["value"] == pytest.approx(3 / 4)
    assert summary["success_rate"]["lower"] < 0.75 < summary["success_rate"]["upper"]
    assert summary["live_version"] == "v3"
    assert summary["rollback_events"] == [
        {"ts": (T0 + timedelta(hours=25)).isoformat(), "version": "v2", "to": "v1"}
    ]
    live = {v["version"]: v["live_seconds"] / 3600 for v in summary["versions"]}
    assert live == {"v1": 20 + 5, "v2": 4, "v3": 10}
    v2 = next(v for v in summary["versions"] if v["version"] == "v2")
    assert (v2["started"], v2["succeeded"], v2["failed"], v2["rolled_back"]) == (2, 1, 1, 1)
    assert v2["success_rate"]["value"] == 0.5


def test_no_events_means_no_rate_rather_than_zero():
    summary = summarise_deployments([], T0)
    assert summary["deployments"] == 0 and summary["success_rate"]["value"] is None
    assert summary["live_version"] is None


def test_a_model_that_fails_to_load_is_recorded_as_a_failed_deployment(tmp_path):
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a model")
    store_path = tmp_path / "store.duckdb"
    open_store(store_path).close()  # a server that ran before: its store exists
    config = ServerConfig(store=str(store_path), models=[ModelSpec("fraud", broken, version="v9")])
    with pytest.raises(ModelLoadError):
        Service(config)
    store = open_store(store_path)
    try:
        assert [(e.version, e.status) for e in store.deployment_events("fraud")] == [
            ("v9", "started"),
            ("v9", "failed"),
        ]
    finally:
        store.close()


def test_a_first_start_with_a_bad_model_leaves_no_store_behind(tmp_path):
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a model")
    config = ServerConfig(
        store=str(tmp_path / "new.duckdb"), models=[ModelSpec("fraud", broken, version="v9")]
    )
    with pytest.raises(ModelLoadError):
        Service(config)
    assert not (tmp_path / "new.duckdb").exists()
