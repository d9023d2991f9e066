"""The server as a separate process: the client SDK, and durability under SIGKILL."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sklearn import metrics as skm

from liveeval.client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_client_batches_predictions_and_outcomes(server):
    rng = np.random.default_rng(3)
    n = 4000
    y = (rng.random(n) < 0.15).astype(int)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    with Client(server.url, batch_size=500) as client:
        ids = [
            client.log_prediction(
                "ext",
                version="v1",
                label=int(s[i] >= 0.5),
                score=float(s[i]),
                latency_total_s=0.005,
            )
            for i in range(n)
        ]
        for i, pid in enumerate(ids):
            client.log_outcome(pid, label=int(y[i]))
        assert client.flush(30)
    assert client.rejected == [] and client.sent == 2 * n
    m = server.get("/v1/models/ext/metrics")
    assert m["predictions"] == n and m["labelled"] == n
    assert m["metrics"]["recall"]["value"] == pytest.approx(
        skm.recall_score(y, s >= 0.5), abs=1e-12
    )
    assert m["metrics"]["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)


def test_client_track_decorator_logs_calls(server):
    with Client(server.url) as client:

        @client.track("scorer", version="v2")
        def predict(x: float) -> dict:
            return {"label": int(x > 0.5), "score": x}

        out = predict(0.8)
        assert out["label"] == 1 and "prediction_id" in out
        client.log_outcome(out["prediction_id"], label=1)
    m = server.get("/v1/models/scorer/metrics")
    assert m["predictions"] == 1 and m["labelled"] == 1


def test_every_acknowledged_event_survives_sigkill(server):
    rng = np.random.default_rng(9)
    predictions: dict[str, tuple[int, float]] = {}  # acknowledged: id -> (predicted, score)
    labels: dict[str, int] = {}  # acknowledged outcomes
    in_flight: list[tuple[str, dict]] = []
    stop = threading.Event()

    def send() -> None:
        for i in range(100_000):
            if stop.is_set():
                return
            pid = f"d{i}"
            score = float(rng.random())
            event = {"id": pid, "model": "dur", "label": int(score >= 0.5), "score": score}
            outcome = {"prediction_id": pid, "label": int(rng.random() < 0.3 + 0.4 * score)}
            for kind, body in (("predictions", event), ("outcomes", outcome)):
                in_flight[:] = [(kind, body)]
                try:
                    code, _ = server.post(f"/v1/{kind}", body)
                except OSError:
                    return
                if code != 200:
                    return
                if kind == "predictions":
                    predictions[pid] = (event["label"], score)
                else:
                    labels[pid] = outcome["label"]
                in_flight.clear()

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(4.0)
    server.kill()
    stop.set()
    sender.join(30)
    assert len(labels) > 5, "the stream should have run before the kill"
    server.start()
    # An event whose answer was lost may or may not be stored; sending it again is
    # idempotent, so afterwards it is stored exactly once either way.
    for kind, body in in_flight:
        code, _ = server.post(f"/v1/{kind}", body)
        assert code == 200
        if kind == "predictions":
            predictions[body["id"]] = (body["label"], body["score"])
        else:
            labels[body["prediction_id"]] = body["label"]
    m = server.get("/v1/models/dur/metrics")
    assert m["predictions"] == len(predictions)
    assert m["labelled"] == len(labels)
    y = np.array([labels[k] for k in labels])
    pred = np.array([predictions[k][0] for k in labels])
    s = np.array([predictions[k][1] for k in labels])
    assert m["metrics"]["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(y, pred), abs=1e-12
    )
    assert m["metrics"]["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)


def test_served_model_end_to_end_with_prometheus(server):
    code, body = server.post(
        "/v1/models/fraud/predict",
        {"inputs": [{"amount": 400.0, "distance_km": 30.0}, {"amount": 5.0, "distance_km": 1.0}]},
    )
    assert code == 200 and [p["label"] for p in body["predictions"]] == [1, 0]
    for p, truth in zip(body["predictions"], [1, 1], strict=True):
        server.post("/v1/outcomes", {"prediction_id": p["id"], "label": truth})
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/metrics") as r:
        text = r.read().decode()
    assert 'liveeval_model_recall{model="fraud",version="v3"} 0.5' in text
    assert "process_resident_memory_bytes" in text
