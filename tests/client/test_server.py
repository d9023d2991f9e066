"""The client against the real liveeval server, a separate process on 127.0.0.1.

These hold for today's server (a batch with an invalid event is a 422 naming it) and
for the per-event contract alike."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

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
    assert client.stats.accepted == 2 * n and client.stats.unmatched == 0
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


def test_track_sends_the_numpy_values_of_a_sklearn_model(server):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    model = LogisticRegression().fit(x, y)
    started = time.monotonic()
    with Client(server.url, close_timeout=10) as client:

        @client.track("sk", version="v1")
        def predict(row: np.ndarray) -> dict[str, Any]:
            return {"label": model.predict(row)[0], "score": model.predict_proba(row)[0, 1]}

        outs = [predict(x[i : i + 1]) for i in range(len(x))]
        for out, truth in zip(outs, y, strict=True):
            client.log_outcome(out["prediction_id"], label=truth)
    assert time.monotonic() - started < 10
    assert client.stats.accepted == 2 * len(x) and client.stats.rejected == 0, client.stats
    m = server.get("/v1/models/sk/metrics")
    assert m["predictions"] == len(x) and m["labelled"] == len(x)
    assert m["metrics"]["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(y, model.predict(x)), abs=1e-12
    )


def test_one_invalid_event_among_200_is_rejected_and_the_199_stored(server, monkeypatch):
    # Hold the sender until the 200 events are queued, so they leave as one batch.
    queued = threading.Event()
    original = Client._next_batch

    def held(self: Client) -> Any:
        queued.wait(30)
        return original(self)

    monkeypatch.setattr(Client, "_next_batch", held)
    with Client(server.url, batch_size=200) as client:
        for i in range(200):
            client.log_prediction(
                "mixed", id=f"m{i}", label=i % 2, score=1.5 if i == 123 else 0.3 + 0.4 * (i % 2)
            )
        queued.set()
        assert client.flush(30)
    s = client.stats
    assert (s.accepted, s.rejected, s.failed) == (199, 1, 0), s
    [reason] = s.reasons
    assert reason.startswith("prediction m123: rejected: score") and "1" in reason
    assert server.get("/v1/models/mixed/metrics")["predictions"] == 199


def test_close_is_bounded_when_the_server_dies(server):
    client = Client(server.url, backoff=0.2, flush_interval=0.05)
    client.log_prediction("before", label=1)
    assert client.flush(10)
    server.kill()
    for i in range(100):
        client.log_prediction("after", label=i % 2)
    started = time.monotonic()
    stats = client.close(timeout=1.5)
    assert time.monotonic() - started < 3.0
    assert stats.accepted == 1 and stats.undelivered + stats.failed == 100


def test_the_bulk_upload_reports_each_rejected_row(server):
    import pyarrow as pa

    n = 10
    table = pa.table(
        {
            "id": [f"row{i}" for i in range(n)],
            "model": ["bulk"] * n,
            "label": [i % 2 for i in range(n)],
            "score": [1.5 if i in (2, 7, 8, 9) else 0.1 + 0.8 * (i % 2) for i in range(n)],
        }
    )
    with Client(server.url) as client:
        summary = client.log_prediction_table(table, chunk_rows=3)  # rows 6..8 and 9: one all bad
    assert (summary["stored"], summary["rejected"]) == (6, 4)
    assert [(r["index"], r["id"]) for r in summary["rejections"]] == [
        (2, "row2"),
        (7, "row7"),
        (8, "row8"),
        (9, "row9"),
    ]
    assert all("score" in r["detail"] for r in summary["rejections"])
    assert (client.stats.accepted, client.stats.rejected) == (6, 4)
    assert server.get("/v1/models/bulk/metrics")["predictions"] == 6
