"""A served model's bad answer is a failed prediction, never a stored score.

The models here are scikit-learn-like objects that behave at load (the probe row and
small values) and go wrong on large inputs, as a float32 model does when an input
overflows: NaN, infinity, a score above 1, a probability row too long, or an
exception (with a TorchScript-style multi-line message).
"""

from __future__ import annotations

import math
from pathlib import Path

import joblib
import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.serving import ModelSpec

BIG = 1e6  # inputs at or above this make the models below misbehave


class Misbehaving:
    """Classifier on one feature ``x``; ``mode`` says what goes wrong for x >= BIG.
    Binary, except ``extra_class``: three classes, and a fourth column for big inputs."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.classes_ = (0, 1, 2) if mode == "extra_class" else (0, 1)

    def predict_proba(self, x):
        x = np.asarray(x, dtype=float).reshape(len(x), -1)
        if self.mode == "extra_class" and (x >= BIG).any():
            return [[0.4, 0.3, 0.2, 0.1]] * len(x)
        rows = []
        for (value,) in x.tolist():
            p = min(max(value / 10.0, 0.0), 1.0)
            if value >= BIG:
                if self.mode == "nan":
                    p = math.nan
                elif self.mode == "inf":
                    p = math.inf
                elif self.mode == "above_one":
                    p = 1.7
                elif self.mode == "value_error":
                    raise ValueError("Input contains NaN, infinity or a value too large")
                elif self.mode == "torchscript":
                    raise RuntimeError(
                        "The following operation failed in the TorchScript interpreter.\n"
                        "Traceback of TorchScript (most recent call last):\n"
                        '  File "model.py", line 12, in forward\n'
                        "RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x3 and 4x8)"
                    )
            rows.append([1.0 - p, p] if len(self.classes_) == 2 else [1.0 - p, p / 2, p / 2])
        return rows


def _client(tmp_path: Path, mode: str) -> TestClient:
    path = tmp_path / f"{mode}.joblib"
    joblib.dump(Misbehaving(mode), path)
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        models=[ModelSpec("m", path, features=("x",))],
        metrics_cache_seconds=0.0,
    )
    return TestClient(create_app(config))


def _stored_predictions(client: TestClient, out: Path) -> list[dict]:
    client.app.state.service.store.export(out)
    return pq.read_table(out / "predictions").to_pylist()


def _reads_answer_200(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200
    listing = client.get("/v1/models")
    assert listing.status_code == 200
    for name in listing.json()["known"]:
        r = client.get(f"/v1/models/{name}/metrics")
        assert r.status_code == 200, r.text
    assert client.get("/v2/models/m").status_code == 200


@pytest.mark.parametrize(
    ("mode", "error_type", "says"),
    [
        ("nan", "ModelOutputError", "nan"),
        ("inf", "ModelOutputError", "inf"),
        ("above_one", "ModelOutputError", "1.7"),
        ("extra_class", "ModelOutputError", "4"),
        ("value_error", "ValueError", "ValueError: Input contains NaN"),
        ("torchscript", "RuntimeError", "RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    ],
)
def test_a_bad_model_answer_is_a_failed_prediction_with_its_ids(tmp_path, mode, error_type, says):
    with _client(tmp_path, mode) as client:
        good = client.post("/v1/models/m/predict", json={"inputs": {"x": 2.0}})
        assert good.status_code == 200, good.text
        r = client.post("/v1/models/m/predict", json={"inputs": {"x": BIG}})
        assert r.status_code == 502
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["error_type"] == error_type
        assert says in body["detail"] and "\n" not in body["detail"]
        if error_type == "ModelOutputError":
            assert body["detail"].startswith("model 'm' returned an invalid output: ")
        assert "Traceback" not in body["detail"] and len(body["detail"]) <= 300
        assert body["ids"] == [body["id"]] and body["model"] == "m"
        # A batch with one bad row fails whole: every row is logged as failed.
        batch = client.post(
            "/v1/models/m/predict", json={"inputs": [{"x": 1.0}, {"x": BIG}, {"x": 3.0}]}
        )
        assert batch.status_code == 502 and len(batch.json()["ids"]) == 3
        assert "id" not in batch.json()
        failed = {body["id"], *batch.json()["ids"]}
        # Ground truth for a failed prediction is accepted and joined; no read breaks.
        outcome = client.post("/v1/outcomes", json={"prediction_id": body["id"], "label": 1})
        assert outcome.status_code == 200 and outcome.json()["results"][0]["matched"] is True
        client.post("/v1/outcomes", json={"prediction_id": good.json()["id"], "label": 0})
        _reads_answer_200(client)
        metrics = client.get("/v1/models/m/metrics").json()
        assert metrics["predictions"] == 5 and metrics["failed_predictions"] == 4
        assert 'liveeval_predictions_total{model="m",status="error",version="v1"} 4.0' in (
            client.get("/metrics").text
        )
        rows = _stored_predictions(client, tmp_path / "export")
    stored = {row["id"]: row for row in rows}
    assert set(stored) == failed | {good.json()["id"]}
    for key in failed:
        row = stored[key]
        assert row["status"] == "error" and row["error_type"] == error_type
        assert row["score"] is None and row["probas"] is None and row["label"] is None
        assert row["latency_total_s"] > 0
    assert all(r["score"] is None or math.isfinite(r["score"]) for r in rows)


def test_inputs_that_do_not_fit_the_model_are_the_clients_422_and_not_logged(tmp_path):
    with _client(tmp_path, "nan") as client:
        r = client.post("/v1/models/m/predict", json={"inputs": {"y": 1.0}})
        assert r.status_code == 422 and "'x'" in r.text
        assert client.get("/v1/models/m/metrics").json()["predictions"] == 0


def test_a_failed_prediction_retried_with_its_id_is_stored_once(tmp_path):
    with _client(tmp_path, "nan") as client:
        for _ in range(2):
            r = client.post("/v1/models/m/predict", json={"inputs": {"x": BIG}, "id": "p-1"})
            assert r.status_code == 502 and r.json()["ids"] == ["p-1"]
        assert client.get("/v1/models/m/metrics").json()["failed_predictions"] == 1


def test_the_v2_route_fails_the_same_way_in_the_protocols_shape(tmp_path):
    with _client(tmp_path, "nan") as client:
        request = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0, BIG]}]}
        r = client.post("/v2/models/m/infer", json=request)
        assert r.status_code == 502
        body = r.json()
        assert "model 'm' returned an invalid output" in body["error"] and "nan" in body["error"]
        assert body["error_type"] == "ModelOutputError" and len(body["prediction_ids"]) == 2
        assert client.get("/v1/models/m/metrics").json()["failed_predictions"] == 2
        _reads_answer_200(client)


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(tmp_path, monkeypatch):
    with _client(tmp_path, "nan") as client:
        service = client.app.state.service

        async def broken_write(*args, **kwargs):
            raise OSError("No space left on device")

        monkeypatch.setattr(service, "write", broken_write)
        for path, body in (
            ("/v1/models/m/predict", {"inputs": {"x": 1.0}}),
            (
                "/v2/models/m/infer",
                {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            ),
        ):
            r = client.post(path, json=body)
            assert r.status_code == 500 and r.headers["content-type"] == "application/json"
            text = r.json().get("detail") or r.json()["error"]
            assert "internal error (OSError)" in text and "Traceback" not in r.text


class _NanHead:
    """A float32 network whose logits overflow to NaN on large inputs (torch)."""

    @staticmethod
    def module():
        import torch

        class Head(torch.nn.Module):
            def forward(self, x):
                # x * x overflows float32 beyond ~1.8e19; inf - inf is NaN.
                big = x * x * 1e20
                return torch.cat([-x / 10 + (big - big), x / 10], dim=1)

        return Head().eval()


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")
def test_a_torch_model_whose_logits_overflow_fails_cleanly(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "head.pt"
    torch.jit.save(torch.jit.script(_NanHead.module()), str(path))
    spec = ModelSpec("t", path, features=("x",), classes=(0, 1), output="logits")
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), models=[spec], metrics_cache_seconds=0)
    with TestClient(create_app(config)) as client:
        ok = client.post("/v1/models/t/predict", json={"inputs": {"x": 2.0}})
        assert ok.status_code == 200, ok.text
        r = client.post("/v1/models/t/predict", json={"inputs": {"x": 1e30}})
        assert r.status_code == 502 and r.json()["error_type"] == "ModelOutputError"
        assert r.json()["detail"].startswith("model 't' returned an invalid output: ")
        client.post("/v1/outcomes", json={"prediction_id": r.json()["id"], "label": 1})
        client.post("/v1/outcomes", json={"prediction_id": ok.json()["id"], "label": 1})
        metrics = client.get("/v1/models/t/metrics").json()
        assert metrics["failed_predictions"] == 1 and metrics["labelled"] == 1  # the ok one
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/models").status_code == 200
