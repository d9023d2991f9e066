"""Live drift: windows against a reference, from the store's per-bucket histograms."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.config import LoggedModel

T0 = datetime(2026, 11, 2)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path: Path = tmp_path_factory.mktemp("drift") / "store.duckdb"
    config = ServerConfig(
        store=str(path), logged=[LoggedModel("ext", (0, 1), 1)], metrics_cache_seconds=0.0
    )
    rng = np.random.default_rng(11)
    with TestClient(create_app(config)) as c:
        # v1: a reference day of 12,000 predictions (the store fixes its bins from the
        # first 10,000 values); v2: 3 hours where only 'amount' moves (by 0.5 SD) and
        # the label's prevalence rises.
        for version, hours, n, shift, prevalence in (
            ("v1", 24, 12_000, 0.0, 0.2),
            ("v2", 3, 3_000, 0.5, 0.5),
        ):
            start = T0 if version == "v1" else T0 + timedelta(days=1)
            amount = rng.normal(shift, 1.0, n)
            other = rng.normal(0.0, 1.0, n)
            channel = rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2])
            y = (rng.random(n) < prevalence).astype(int)
            s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
            preds, outs = [], []
            for i in range(n):
                pid = f"{version}-{i}"
                preds.append(
                    {
                        "id": pid,
                        "model": "ext",
                        "version": version,
                        "ts": (start + timedelta(seconds=hours * 3600 * i / n)).isoformat(),
                        "label": int(s[i] >= 0.5),
                        "score": float(s[i]),
                        "features": {
                            "amount": float(amount[i]),
                            "other": float(other[i]),
                            "channel": str(channel[i]),
                        },
                    }
                )
                outs.append({"prediction_id": pid, "label": int(y[i])})
            for k in range(0, n, 5000):
                r = c.post("/v1/predictions", json={"predictions": preds[k : k + 5000]})
                assert r.status_code == 200
                assert (
                    c.post("/v1/outcomes", json={"outcomes": outs[k : k + 5000]}).status_code == 200
                )
        yield c


def test_a_moved_feature_and_label_are_called_drifted_and_the_others_not(client):
    body = client.get(
        "/v1/models/ext/drift", params={"reference": "version:v1", "window": "1h", "version": "v2"}
    ).json()
    assert len(body["windows"]) == 3
    for window in body["windows"]:
        assert "amount" in window["drifted"] and "label" in window["drifted"]
    # 'other' and 'channel' did not move. The call controls the false-discovery rate
    # (Benjamini-Hochberg at 5%): among the ~12 true calls here, a null cell may be called
    # now and then, never routinely.
    null_calls = sum(n in w["drifted"] for w in body["windows"] for n in ("other", "channel"))
    assert null_calls <= 1
    latest = {c["name"]: c for c in body["latest"]["columns"]}
    amount = latest["amount"]
    assert amount["drifted"] and amount["method"]["effect"] == "wasserstein_std"
    # A 0.5 SD shift: the effect (W1 / reference SD, on the store's bins) is near 0.5.
    assert 0.35 <= amount["effect"]["value"] <= 0.65
    assert amount["effect"]["lower"] <= amount["effect"]["value"] <= amount["effect"]["upper"]
    assert amount["p_adjusted"] >= amount["p_value"]
    assert "Benjamini-Hochberg" in amount["rule"]
    assert not latest["other"]["drifted"] and latest["other"]["status"] == "not_drifted"
    assert body["latest"]["columns"][0]["drifted"]  # ranked: drifted first
    assert body["rule"]["correction"] == "benjamini_hochberg"


def test_a_time_range_reference_and_a_previous_window_reference(client):
    ref = f"{T0.isoformat()}Z/{(T0 + timedelta(hours=12)).isoformat()}Z"
    body = client.get(
        "/v1/models/ext/drift",
        params={"reference": ref, "window": "1h", "since": (T0 + timedelta(hours=12)).isoformat()},
    ).json()
    calls = [c for w in body["windows"][:12] for c in w["columns"] if c["name"] == "amount"]
    assert calls and not any(c["drifted"] for c in calls)  # the same distribution
    body = client.get(
        "/v1/models/ext/drift", params={"reference": "previous:1d", "window": "1h", "version": "v2"}
    ).json()
    assert "amount" in body["windows"][0]["drifted"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"reference": "yesterday"}, "'version:NAME'"),
        ({"reference": "version:v1", "window": "10m"}, "multiples of 15m"),
        ({"reference": "2026-11-02T00:00:00/2026-11-01T00:00:00"}, "not after the start"),
    ],
)
def test_bad_drift_queries_are_422s_that_name_the_problem(client, params, match):
    r = client.get("/v1/models/ext/drift", params=params)
    assert r.status_code == 422
    assert match in str(r.json()["detail"])


def test_an_unknown_feature_is_404_naming_the_known_ones(client):
    r = client.get("/v1/models/ext/drift", params={"reference": "version:v1", "features": "amout"})
    assert r.status_code == 404
    assert "no feature 'amout'" in r.json()["detail"] and "amount" in r.json()["detail"]


def test_unknown_model_is_404(client):
    assert (
        client.get("/v1/models/nope/drift", params={"reference": "version:v1"}).status_code == 404
    )


def test_prometheus_shows_each_features_drift_in_the_last_full_window(tmp_path):
    from liveeval.service._clock import now

    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        logged=[LoggedModel("live", (0, 1), 1)],
        metrics_cache_seconds=0.0,
        window="1h",
    )
    end = now().replace(minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(3)
    rows = []
    # 12,000 predictions over the 7 days before the last full hour, then 1,500 in its
    # last 25 minutes where 'x' moved by one SD and 'z' did not.
    for i in range(12_000):
        ts = end - timedelta(hours=1) - timedelta(seconds=50 * (i + 1))
        rows.append((f"r{i}", ts, rng.normal(0, 1), rng.normal(0, 1)))
    for i in range(1_500):
        ts = end - timedelta(seconds=1 + i)
        rows.append((f"c{i}", ts, rng.normal(1, 1), rng.normal(0, 1)))
    preds = [
        {
            "id": pid,
            "model": "live",
            "ts": ts.isoformat(),
            "label": 0,
            "score": 0.2,
            "features": {"x": float(x), "z": float(z)},
        }
        for pid, ts, x, z in rows
    ]
    with TestClient(create_app(config)) as client:
        for k in range(0, len(preds), 5000):
            r = client.post("/v1/predictions", json={"predictions": preds[k : k + 5000]})
            assert r.status_code == 200
        text = client.get("/metrics").text
    assert 'liveeval_feature_drifted{feature="x",model="live",version="unversioned"} 1.0' in text
    assert 'liveeval_feature_drifted{feature="z",model="live",version="unversioned"} 0.0' in text
    assert "liveeval_feature_drift_effect" in text
