"""The live demo's traffic: HTTP to the server on 127.0.0.1, like any client.

A timeline over the run's duration (fractions of it, so a short run shows it all):

- from the start, predictions for both models through ``POST /v1/models/{m}/predict``;
  about 2% of fraud requests carry a negative amount, which the model refuses (a
  failed prediction, logged with its error type);
- ground truth arrives later through ``POST /v1/outcomes`` in small batches: fraud
  labels after a few seconds (chargebacks, compressed), diagnoses later (biopsies);
  some never arrive;
- at 30% the fraudsters change tactics (smaller amounts, nearby, ordinary merchants):
  recall drops;
- at half time ``v2`` of the fraud model is deployed and takes the traffic (it catches
  more of the new frauds than v1, far fewer than v1 caught before the drift).
"""

from __future__ import annotations

import heapq
import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .models import FRAUD_FEATURES, DemoData, fraud_rows

__all__ = ["Replayer", "Timeline"]


@dataclass(frozen=True)
class Timeline:
    """When things happen, as fractions of the run."""

    new_version: float = 0.5
    # Early enough that the drop's alert (labels come ~2 simulated hours late, looks
    # close every 2 hours) fires well within two minutes of a 150 s run; late enough
    # that the traffic before it (the alert's reference) holds ~100 frauds.
    drift: float = 0.3
    fraud_per_second: float = 16.0
    diagnosis_per_second: float = 4.0
    failure_share: float = 0.02
    # More fraud than in life (the models were trained on 5%), so that an hour's window
    # of a short run holds enough frauds for its recall to say something.
    fraud_prevalence: float = 0.2
    # Label delays, as fractions of the run (mean of an exponential, plus a floor).
    fraud_delay: float = 0.06
    diagnosis_delay: float = 0.12
    never_labelled: float = 0.04


@dataclass
class Counts:
    predictions: int = 0
    failed: int = 0
    outcomes: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Replayer:
    """Sends the demo's traffic until ``duration`` seconds have passed or :meth:`stop`."""

    def __init__(
        self,
        port: int,
        duration: float,
        diagnosis: DemoData,
        *,
        timeline: Timeline | None = None,
        seed: int = 11,
        token: str | None = None,
        log: Any = None,
    ) -> None:
        self.port = port
        self.duration = duration
        self.diagnosis = diagnosis
        self.timeline = timeline or Timeline()
        self.rng = np.random.default_rng(seed)
        self.token = token
        self.log = log or (lambda text: None)
        self.counts = Counts()
        self.events: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._pending: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = 0
        self._conn: http.client.HTTPConnection | None = None
        self._spread = diagnosis.x.std(axis=0) * 0.05

    def stop(self) -> None:
        self._stop.set()

    # -- HTTP ---------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        payload = json.dumps(body)
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self._conn.request("POST", path, payload, headers)
                response = self._conn.getresponse()
                data = response.read()
                return response.status, json.loads(data or b"{}")
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # -- the timeline ---------------------------------------------------------------

    def run(self) -> None:
        t = self.timeline
        start = time.monotonic()
        deployed = drifted = False
        due = {"fraud": 0.0, "diagnosis": 0.0}
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                elapsed = now - start
                if elapsed >= self.duration:
                    break
                share = elapsed / self.duration
                if not deployed and share >= t.new_version:
                    deployed = True
                    self._post(
                        "/v1/deployments",
                        {"model": "fraud", "version": "v2", "status": "succeeded"},
                    )
                    self._note(elapsed, "fraud v2 deployed: it takes the traffic from now on")
                if not drifted and share >= t.drift:
                    drifted = True
                    self._note(
                        elapsed,
                        "drift: fraudsters switch to small, nearby, ordinary-looking payments",
                    )
                version = "v2" if deployed else "v1"
                if now >= due["fraud"]:
                    self._fraud(version, drifted, now)
                    due["fraud"] = now + self.rng.exponential(1.0 / t.fraud_per_second)
                if now >= due["diagnosis"]:
                    self._diagnosis(now)
                    due["diagnosis"] = now + self.rng.exponential(1.0 / t.diagnosis_per_second)
                self._flush(now)
                wait = min(due.values()) - time.monotonic()
                if wait > 0:
                    self._stop.wait(min(wait, 0.2))
        finally:
            if self._conn is not None:
                self._conn.close()

    def _note(self, elapsed: float, text: str) -> None:
        self.events.append((elapsed, text))
        self.log(f"[{elapsed:5.0f} s] {text}")

    def _fraud(self, version: str, drifted: bool, now: float) -> None:
        x, fraud = fraud_rows(
            1, self.rng, prevalence=self.timeline.fraud_prevalence, drifted=drifted
        )
        row = dict(zip(FRAUD_FEATURES, (float(v) for v in x[0]), strict=True))
        if self.rng.random() < self.timeline.failure_share:
            row["amount"] = -row["amount"]
        status, body = self._post(f"/v1/models/fraud/predict?version={version}", {"inputs": row})
        self._answered("fraud", status, body, int(fraud[0]), now, self.timeline.fraud_delay)

    def _diagnosis(self, now: float) -> None:
        d = self.diagnosis
        i = int(self.rng.integers(len(d.y)))
        x = np.maximum(d.x[i] + self.rng.normal(0.0, self._spread), 0.0)
        row = dict(zip(d.features, (float(v) for v in x), strict=True))
        status, body = self._post("/v1/models/diagnosis/predict", {"inputs": row})
        self._answered("diagnosis", status, body, str(d.y[i]), now, self.timeline.diagnosis_delay)

    def _answered(
        self, model: str, status: int, body: dict[str, Any], truth: Any, now: float, delay: float
    ) -> None:
        if status == 200 and "id" in body:
            self.counts.predictions += 1
            if self.rng.random() >= self.timeline.never_labelled:
                wait = self.duration * (0.02 + self.rng.exponential(delay))
                self._seq += 1
                heapq.heappush(
                    self._pending,
                    (now + wait, self._seq, {"prediction_id": body["id"], "label": truth}),
                )
            return
        if body.get("ids"):  # the model failed: logged as a failed prediction
            self.counts.failed += 1
            return
        key = f"{model}: HTTP {status}"
        self.counts.errors[key] = self.counts.errors.get(key, 0) + 1

    def _flush(self, now: float, force: bool = False) -> None:
        ready: list[dict[str, Any]] = []
        while self._pending and (force or self._pending[0][0] <= now) and len(ready) < 500:
            ready.append(heapq.heappop(self._pending)[2])
        if not ready:
            return
        status, _ = self._post("/v1/outcomes", {"outcomes": ready})
        if status == 200:
            self.counts.outcomes += len(ready)
        else:
            self.counts.errors[f"outcomes: HTTP {status}"] = (
                self.counts.errors.get(f"outcomes: HTTP {status}", 0) + 1
            )
