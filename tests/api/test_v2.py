"""The Open Inference Protocol (v2): its JSON shapes in-process, and a real Triton
client (``tritonclient[http]``) against a real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from liveeval.api import ServerConfig, create_app
from liveeval.serving import ModelSpec

ROWS = [{"amount": 120.0, "distance_km": 3.5}, {"amount": 400.0, "distance_km": 30.0}]


def _tensors(rows: list[dict[str, float]], shape_1: bool = False) -> list[dict]:
    n = len(rows)
    return [
        {
            "name": name,
            "shape": [n, 1] if shape_1 else [n],
            "datatype": "FP64",
            "data": [[r[name]] for r in rows] if shape_1 else [r[name] for r in rows],
        }
        for name in ("amount", "distance_km")
    ]


def _native_scores(client: TestClient, rows: list[dict[str, float]]) -> list[float]:
    r = client.post("/v1/models/fraud/predict", json={"inputs": rows})
    return [p["score"] for p in r.json()["predictions"]]


def test_health_readiness_and_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "liveeval"
    assert client.get("/v2/models/fraud/ready").json() == {"name": "fraud", "ready": True}
    assert client.get("/v2/models/fraud/versions/v3/ready").status_code == 200
    meta = client.get("/v2/models/fraud").json()
    assert meta["name"] == "fraud" and meta["versions"] == ["v3"] and meta["platform"] == "sklearn"
    assert meta["inputs"] == [
        {"name": "amount", "datatype": "FP64", "shape": [-1]},
        {"name": "distance_km", "datatype": "FP64", "shape": [-1]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["label", "score", "prediction_id"]
    assert meta["classes"] == [0, 1]
    assert client.get("/v2/models/fraud/versions/v3").json() == meta


@pytest.mark.parametrize("form", ["per_feature", "per_feature_n1", "matrix", "nested_matrix"])
def test_infer_takes_every_tensor_layout_and_logs_like_the_native_route(client, form):
    if form == "per_feature":
        inputs = _tensors(ROWS)
    elif form == "per_feature_n1":
        inputs = _tensors(ROWS, shape_1=True)
    else:
        flat = [v for r in ROWS for v in (r["amount"], r["distance_km"])]
        data = [flat[:2], flat[2:]] if form == "nested_matrix" else flat
        inputs = [{"name": "input-0", "shape": [2, 2], "datatype": "FP32", "data": data}]
    r = client.post(
        "/v2/models/fraud/infer",
        json={"id": "req-7", "parameters": {"segment": "web"}, "inputs": inputs},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "fraud" and body["model_version"] == "v3"
    assert body["id"] == "req-7" and body["parameters"] == {"segment": "web"}
    out = {o["name"]: o for o in body["outputs"]}
    assert out["score"]["shape"] == [2] and out["score"]["datatype"] == "FP64"
    assert out["score"]["data"] == pytest.approx(_native_scores(client, ROWS), abs=1e-12)
    assert out["label"] == {"name": "label", "shape": [2], "datatype": "INT64", "data": [0, 1]}
    ids = out["prediction_id"]["data"]
    assert out["prediction_id"]["datatype"] == "BYTES" and len(set(ids)) == 2
    r = client.post("/v1/outcomes", json={"prediction_id": ids[1], "label": 1})
    assert r.json()["results"][0]["matched"] is True
    metrics = client.get("/v1/models/fraud/metrics", params={"segment": "web"}).json()
    assert metrics["predictions"] == 2 and metrics["labelled"] == 1


def test_requested_outputs_are_the_ones_answered(client):
    r = client.post(
        "/v2/models/fraud/versions/v3/infer",
        json={
            "inputs": _tensors(ROWS[:1]),
            "outputs": [{"name": "prediction_id"}, {"name": "score"}],
        },
    )
    assert [o["name"] for o in r.json()["outputs"]] == ["prediction_id", "score"]


@pytest.mark.parametrize(
    ("inputs", "status", "says"),
    [
        ([{"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]}], 400, "lack"),
        (
            [{"name": "colour", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}],
            400,
            "one tensor per feature (amount, distance_km)",
        ),
        (
            [*_tensors(ROWS[:1]), {"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}],
            400,
            "'x' is not a feature of model 'fraud'",
        ),
        (
            [
                {"name": "amount", "shape": [2], "datatype": "FP64", "data": [1.0]},
                *_tensors(ROWS[:1])[1:],
            ],
            400,
            "shape [2] holds 2 values but data has 1",
        ),
        (
            [
                {"name": "amount", "shape": [1], "datatype": "BYTES", "data": ["much"]},
                *_tensors(ROWS[:1])[1:],
            ],
            400,
            "amount",
        ),
    ],
)
def test_tensors_that_do_not_fit_are_400_in_the_protocols_shape(client, inputs, status, says):
    r = client.post("/v2/models/fraud/infer", json={"inputs": inputs})
    assert r.status_code == status
    assert set(r.json()) == {"error"} and says in r.json()["error"]
    assert client.get("/v1/models/fraud/metrics").json()["predictions"] == 0


def test_protocol_errors_for_unknown_models_bad_json_and_outputs(client):
    r = client.post("/v2/models/ghost/infer", json={"inputs": _tensors(ROWS)})
    assert r.status_code == 404 and "not served here" in r.json()["error"]
    assert client.get("/v2/models/ghost").status_code == 404
    assert "error" in client.get("/v2/models/fraud/versions/v9/ready").json()
    r = client.post(
        "/v2/models/fraud/infer", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = client.post(
        "/v2/models/fraud/infer", json={"inputs": _tensors(ROWS), "outputs": [{"name": "probas"}]}
    )
    assert r.status_code == 400 and "its outputs: label, score, prediction_id" in r.json()["error"]


def test_tokens_are_checked_with_the_protocols_error_shape(tmp_path, fraud_model, monkeypatch):
    monkeypatch.setenv("LIVEEVAL_WRITE_TOKEN", "w-secret")
    monkeypatch.setenv("LIVEEVAL_READ_TOKEN", "r-secret")
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"), models=[ModelSpec("fraud", fraud_model, version="v3")]
    )
    with TestClient(create_app(config)) as client:
        r = client.post("/v2/models/fraud/infer", json={"inputs": _tensors(ROWS)})
        assert r.status_code == 401 and "Bearer" in r.json()["error"]
        r = client.get("/v2/models/fraud", headers={"authorization": "Bearer nope"})
        assert r.status_code == 403 and "error" in r.json()
        assert client.get("/v2/health/ready").status_code == 200  # public, holds no data
        r = client.post(
            "/v2/models/fraud/infer",
            json={"inputs": _tensors(ROWS)},
            headers={"authorization": "Bearer w-secret"},
        )
        assert r.status_code == 200


def test_a_multiclass_model_answers_probabilities_as_an_n_by_k_tensor(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2))
    y = np.array(["low", "mid", "high"])[np.digitize(x[:, 0], [-0.5, 0.5])]
    path = tmp_path / "three.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path)
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"), models=[ModelSpec("three", path, features=("a", "b"))]
    )
    with TestClient(create_app(config)) as client:
        meta = client.get("/v2/models/three").json()
        assert meta["classes"] == ["high", "low", "mid"]
        assert meta["outputs"][0] == {"name": "label", "datatype": "BYTES", "shape": [-1]}
        assert meta["outputs"][1] == {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]}
        inputs = [
            {"name": "m", "shape": [3, 2], "datatype": "FP64", "data": x[:3].ravel().tolist()}
        ]
        out = {
            o["name"]: o
            for o in client.post("/v2/models/three/infer", json={"inputs": inputs}).json()[
                "outputs"
            ]
        }
        assert out["probabilities"]["shape"] == [3, 3]
        model = joblib.load(path)
        assert np.allclose(
            np.reshape(out["probabilities"]["data"], (3, 3)), model.predict_proba(x[:3]), atol=1e-12
        )
        assert out["label"]["data"] == model.predict(x[:3]).tolist()


@pytest.mark.e2e
@pytest.mark.slow
def test_a_triton_client_predicts_logs_and_joins_outcomes_unchanged(tmp_path: Path):
    import tritonclient.http as triton

    from tests.e2e.conftest import ServerProcess, free_port

    rng = np.random.default_rng(0)
    import pandas as pd

    x = pd.DataFrame(
        {"amount": rng.gamma(2.0, 50.0, 2000), "distance_km": rng.exponential(10.0, 2000)}
    )
    y = ((x["amount"] > 150) & (x["distance_km"] > 8)).astype(int)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    joblib.dump(model, tmp_path / "fraud.joblib")
    config = tmp_path / "liveeval.toml"
    config.write_text('[[models]]\nname = "fraud"\npath = "fraud.joblib"\nversion = "v3"\n')
    server = ServerProcess(config, tmp_path / "store.duckdb", free_port())
    server.start()
    try:
        client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("fraud")
        meta = client.get_model_metadata("fraud")
        assert [i["name"] for i in meta["inputs"]] == ["amount", "distance_km"]
        batch = x.iloc[:5]
        ids: list[str] = []
        for binary in (False, True):  # JSON tensors, and Triton's binary extension
            inputs = []
            for name in ("amount", "distance_km"):
                tensor = triton.InferInput(name, [len(batch)], "FP64")
                tensor.set_data_from_numpy(batch[name].to_numpy(), binary_data=binary)
                inputs.append(tensor)
            outputs = [
                triton.InferRequestedOutput(n, binary_data=binary)
                for n in ("label", "score", "prediction_id")
            ]
            result = client.infer("fraud", inputs, outputs=outputs, request_id="r1")
            assert result.get_response()["id"] == "r1"
            np.testing.assert_allclose(
                result.as_numpy("score"), model.predict_proba(batch)[:, 1], atol=1e-12
            )
            assert result.as_numpy("label").tolist() == model.predict(batch).tolist()
            ids += [str(i) for i in result.as_numpy("prediction_id").tolist()]
        with pytest.raises(triton.InferenceServerException, match="not a feature"):
            bad = triton.InferInput("colour", [1], "FP64")
            bad.set_data_from_numpy(np.array([1.0]), binary_data=False)
            client.infer("fraud", [bad, *inputs[1:]])
        client.close()
        for i, pid in enumerate(ids):
            code, body = server.post("/v1/outcomes", {"prediction_id": pid, "label": i % 2})
            assert code == 200 and body["results"][0]["matched"] is True
        metrics = server.get("/v1/models/fraud/metrics")
        assert metrics["predictions"] == 10 and metrics["labelled"] == 10
    finally:
        server.stop()
