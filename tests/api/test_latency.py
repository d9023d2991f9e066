"""Latency as the client sees it: from the request's arrival to its answer, after the
commit. A slow disk (every journal sync made 50 ms slower) must show in the stored
total latency, in the metrics read and in the Prometheus histogram — and not in the
time spent inside the model."""

from __future__ import annotations

import itertools
import re
import time

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.api.prometheus import LATENCY_BUCKETS
from liveeval.serving import ModelSpec
from liveeval.store.duck.journal import Journal

SLOW = 0.05
ROW = {"amount": 120.0, "distance_km": 3.5}


def test_the_commit_is_part_of_the_stored_and_exposed_latency(tmp_path, fraud_model, monkeypatch):
    sync = Journal.sync

    def slow_sync(self: Journal):
        time.sleep(SLOW)
        return sync(self)

    monkeypatch.setattr(Journal, "sync", slow_sync)
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        models=[ModelSpec("fraud", fraud_model, version="v3")],
        metrics_cache_seconds=0.0,
    )
    with TestClient(create_app(config)) as client:
        for _ in range(3):
            assert client.post("/v1/models/fraud/predict", json={"inputs": ROW}).status_code == 200
        v2 = {
            "inputs": [
                {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()
            ]
        }
        assert client.post("/v2/models/fraud/infer", json=v2).status_code == 200
        text = client.get("/metrics").text
        metrics = client.get("/v1/models/fraud/metrics").json()["metrics"]
        client.app.state.service.store.export(tmp_path / "out")
    rows = pq.read_table(tmp_path / "out" / "predictions").to_pylist()
    assert len(rows) == 4
    for row in rows:
        assert row["latency_total_s"] >= SLOW
        assert row["latency_model_s"] < SLOW
    assert metrics["latency_p50_seconds"]["value"] >= SLOW
    total = re.search(
        r'liveeval_prediction_latency_seconds_sum\{model="fraud",version="v3"\} (\S+)', text
    )
    count = re.search(
        r'liveeval_prediction_latency_seconds_count\{model="fraud",version="v3"\} (\S+)', text
    )
    assert total and count and float(count.group(1)) == 4.0
    assert float(total.group(1)) >= 4 * SLOW
    in_model = re.search(
        r'liveeval_model_latency_seconds_sum\{model="fraud",version="v3"\} (\S+)', text
    )
    assert in_model and float(in_model.group(1)) < 4 * SLOW


def test_histogram_buckets_resolve_100_microseconds_to_tens_of_seconds():
    assert LATENCY_BUCKETS[0] == 0.0001 and LATENCY_BUCKETS[-1] >= 20
    ratios = [b / a for a, b in itertools.pairwise(LATENCY_BUCKETS)]
    assert max(ratios) <= 2**0.5 * 1.001
