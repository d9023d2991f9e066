"""The server as a separate process: durability under SIGKILL (the client SDK's tests
against it are in tests/client/test_server.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sklearn import metrics as skm

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


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
    # Until the stream has run a while (a busy machine is slow), then kill it mid-stream.
    deadline = time.monotonic() + 60
    while len(labels) < 50 and time.monotonic() < deadline and sender.is_alive():
        time.sleep(0.05)
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
