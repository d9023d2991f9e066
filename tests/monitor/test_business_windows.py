"""The windows answer's ``business`` object over HTTP, and the monitor's columns."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats

from liveeval.api import ServerConfig, create_app
from liveeval.config import LoggedModel
from liveeval.readiness import Costs

T0 = datetime(2026, 11, 2, 0, 0, 0)


def _serve(tmp_path: Path, profile: str | None, costs: dict[str, Costs] | None = None):
    config = ServerConfig(
        store=str(tmp_path / "store.duckdb"),
        logged=[LoggedModel("ext", (0, 1), 1, profile)],
        metrics_cache_seconds=0.0,
        costs=costs or {},
    )
    return TestClient(create_app(config))


def _send(client: TestClient, values: bool = True) -> dict[int, tuple[int, int, list[float]]]:
    """Two hours of labelled predictions; returns (FP, FN, business values) per hour."""
    rng = np.random.default_rng(11)
    expected = {}
    preds, outcomes = [], []
    for hour, n in ((0, 150), (1, 90)):
        y = (rng.random(n) < 0.2).astype(int)
        pred = np.where(rng.random(n) < 0.85, y, 1 - y)
        money = np.round(rng.gamma(2.0, 10.0, n), 2)
        for i in range(n):
            pid = f"h{hour}-{i}"
            preds.append({
                "id": pid, "model": "ext", "version": "v1", "label": int(pred[i]),
                "ts": (T0 + timedelta(hours=hour, seconds=20 * i)).isoformat(),
            })  # fmt: skip
            outcome = {"prediction_id": pid, "label": int(y[i])}
            if values:
                outcome["value"] = float(money[i])
            outcomes.append(outcome)
        fp = int(((pred == 1) & (y == 0)).sum())
        fn = int(((pred == 0) & (y == 1)).sum())
        expected[hour] = (fp, fn, money.tolist())
    assert client.post("/v1/predictions", json={"predictions": preds}).status_code == 200
    assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    return expected


def test_windows_carry_false_alarms_per_day_and_the_profiles_expected_cost(tmp_path):
    with _serve(tmp_path, "fraud") as client:
        expected = _send(client)
        body = client.get("/v1/models/ext/windows", params={"size": "1h"}).json()
    for w, hour in zip(body["windows"], (0, 1), strict=True):
        fp, fn, money = expected[hour]
        n = len(money)
        business = w["business"]
        assert (business["false_alarms"], business["misses"], business["labelled"]) == (fp, fn, n)
        per_day = business["false_alarms_per_day"]
        assert per_day["value"] == pytest.approx(fp * 24)
        assert per_day["upper"] == pytest.approx(stats.chi2.ppf(0.975, 2 * fp + 2) / 2 * 24)
        assert per_day["method"].startswith("exact Poisson (Garwood)")
        assert business["costs"]["false_negative"] == 50.0  # fraud's [costs]
        cost = business["expected_cost"]
        assert cost["value"] == pytest.approx((fp * 1 + fn * 50) / n)
        assert cost["lower"] <= cost["value"] <= cost["upper"]
        assert cost["method"].startswith("MOVER")
        assert business["total_cost"] == pytest.approx(fp * 1 + fn * 50)
        value = business["outcome_value_mean"]
        assert value["value"] == pytest.approx(np.mean(money))
        assert value["n"] == n


def test_a_models_own_costs_override_the_profile_and_no_costs_means_no_expected_cost(tmp_path):
    own = {"ext": Costs(2.0, 7.0, "liveeval.toml")}
    with _serve(tmp_path / "a", "fraud", own) as client:
        expected = _send(client, values=False)
        body = client.get("/v1/models/ext/windows", params={"size": "1h"}).json()
    fp, fn, money = expected[0]
    first = body["windows"][0]["business"]
    assert first["expected_cost"]["value"] == pytest.approx((2 * fp + 7 * fn) / len(money))
    assert "outcome_value_mean" not in first
    with _serve(tmp_path / "b", "balanced") as client:  # a profile without [costs]
        _send(client, values=False)
        body = client.get("/v1/models/ext/windows", params={"size": "1h"}).json()
    first = body["windows"][0]["business"]
    assert first["false_alarms"] == fp
    assert "expected_cost" not in first and "costs" not in first
