"""Three server processes on one PostgreSQL database: traffic split across them, one
killed mid-stream, the database restarted under load."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from tests.store.scenario import postgres_location

from .conftest import ServerProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    location = postgres_location(request)
    os.environ.pop("LIVEEVAL_WRITE_TOKEN", None)
    group = [
        ServerProcess(None, location, free_port(), tmp_path / f"replica{i}.log") for i in range(3)
    ]
    # Started together: the migrations run once, under the advisory lock.
    starters = [threading.Thread(target=r.start) for r in group]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    try:
        yield group
    finally:
        for r in group:
            r.stop()


def check_metrics(
    replica: ServerProcess, predictions: dict[str, tuple[int, float]], labels: dict[str, int]
) -> None:
    m = replica.get("/v1/models/dur/metrics")
    assert m["predictions"] == len(predictions)
    assert m["labelled"] == len(labels)
    y = np.array([labels[k] for k in labels])
    pred = np.array([predictions[k][0] for k in labels])
    s = np.array([predictions[k][1] for k in labels])
    assert m["metrics"]["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(y, pred), abs=1e-12
    )
    assert m["metrics"]["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)


def test_three_replicas_lose_and_double_nothing_when_one_is_killed(replicas):
    """Predictions to the first replica, their outcomes to the second, retries of both
    to the third; the second is SIGKILLed mid-stream and its outcomes go on to the
    third. Every acknowledged event is stored once, and every replica's metrics equal
    scikit-learn's on the acknowledged events."""
    first, second, third = replicas
    rng = np.random.default_rng(12)
    predictions: dict[str, tuple[int, float]] = {}
    labels: dict[str, int] = {}
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    killed = threading.Event()
    in_flight: list[dict] = []
    statuses: dict[str, int] = {}

    def predict() -> None:
        for i in range(100_000):
            if stop.is_set():
                return
            score = round(float(rng.random()), 3)
            event = {"id": f"d{i}", "model": "dur", "label": int(score >= 0.5), "score": score}
            code, _ = first.post("/v1/predictions", event)
            assert code == 200
            with lock:
                predictions[event["id"]] = (event["label"], score)
                acked.append(event["id"])

    def label() -> None:
        done = 0
        while not stop.is_set():
            with lock:
                ready = acked[done:]
            if not ready:
                time.sleep(0.01)
                continue
            for pid in ready:
                score = predictions[pid][1]
                body = {"prediction_id": pid, "label": int(rng.random() < 0.2 + 0.6 * score)}
                target = third if killed.is_set() else second
                in_flight[:] = [body]
                try:
                    code, _ = target.post("/v1/outcomes", body)
                except (OSError, http.client.HTTPException):
                    # Killed before answering, or while sending its answer (IncompleteRead).
                    code = 0
                if code != 200:
                    # The replica died under the request: the answer is lost, the
                    # outcome may or may not be stored; the next replica gets it again.
                    code, _ = third.post("/v1/outcomes", body)
                    assert code == 200
                with lock:
                    labels[pid] = body["label"]
                in_flight.clear()
                done += 1

    def retry() -> None:
        while not stop.is_set():
            with lock:
                pid = None if not labels else list(labels)[int(rng.integers(0, len(labels)))]
            if pid is None:
                time.sleep(0.01)
                continue
            with lock:
                event_label, score = predictions[pid]
                outcome = labels[pid]
            event = {"id": pid, "model": "dur", "label": event_label, "score": score}
            for kind, body in (
                ("predictions", event),
                ("outcomes", {"prediction_id": pid, "label": outcome}),
            ):
                code, answer = third.post(f"/v1/{kind}", body)
                assert code == 200, answer
                for result in answer.get("results", [answer]):
                    status = result.get("status", "?")
                    statuses[status] = statuses.get(status, 0) + 1
            time.sleep(0.01)

    failures: list[BaseException] = []

    def guarded(job: Any) -> Any:
        def run() -> None:
            try:
                job()
            except BaseException as exc:  # re-raised on the test's thread
                failures.append(exc)
                stop.set()

        return run

    threads = [threading.Thread(target=guarded(f)) for f in (predict, label, retry)]
    for t in threads:
        t.start()
    # Until outcomes flow through the second replica (a busy machine is slow), then kill it.
    deadline = time.monotonic() + 60
    while len(labels) < 30 and time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.1)
    second.kill()
    killed.set()
    # Until outcomes have gone on through the third replica for a while.
    carried_on = len(labels) + 30
    deadline = time.monotonic() + 60
    while len(labels) < carried_on and time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(60)
    if failures:
        raise failures[0]
    assert len(labels) >= 30 and statuses, "the stream should have run before the kill"
    assert "stored" not in statuses, f"a retry was stored again: {statuses}"
    check_metrics(first, predictions, labels)
    check_metrics(third, predictions, labels)
    second.start()
    check_metrics(second, predictions, labels)


def test_a_restarted_database_is_503_then_every_replica_carries_on(replicas, postgres):
    first, second, _ = replicas
    predictions: dict[str, tuple[int, float]] = {}
    labels: dict[str, int] = {}
    for i in range(20):
        event = {"id": f"r{i}", "model": "dur", "label": i % 2, "score": (i % 10) / 10}
        assert first.post("/v1/predictions", event)[0] == 200
        predictions[event["id"]] = (event["label"], event["score"])
    postgres.stop("fast")
    try:
        code, body = first.post(
            "/v1/predictions", {"id": "down", "model": "dur", "label": 1, "score": 0.9}
        )
        assert code == 503, body
        code, _ = second.post("/v1/outcomes", {"prediction_id": "r1", "label": 1})
        assert code == 503
    finally:
        postgres.start()
    # No wrong 2xx while it was down; now the same requests succeed on any replica.
    for i in range(20):
        body = {"prediction_id": f"r{i}", "label": int(i % 3 == 0)}
        assert second.post("/v1/outcomes", body)[0] == 200
        labels[body["prediction_id"]] = body["label"]
    check_metrics(first, predictions, labels)
    check_metrics(second, predictions, labels)
