"""An ONNX model is served like a scikit-learn one and gives the same probabilities."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.serving import ModelSpec

onnx = pytest.importorskip("skl2onnx")


def test_onnx_model_matches_its_sklearn_original(tmp_path, fraud_model):
    from skl2onnx import to_onnx

    sk = joblib.load(fraud_model)
    x = np.array([[400.0, 30.0], [5.0, 1.0], [160.0, 9.0]], dtype=np.float32)
    onx = to_onnx(sk, x[:1], options={id(sk): {"zipmap": False}})
    path = tmp_path / "fraud.onnx"
    path.write_bytes(onx.SerializeToString())
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        models=[
            ModelSpec(
                "fraud", path, version="onnx1", features=("amount", "distance_km"), classes=(0, 1)
            )
        ],
    )
    rows = [{"amount": float(a), "distance_km": float(d)} for a, d in x]
    with TestClient(create_app(config)) as client:
        r = client.post("/v1/models/fraud/predict", json={"inputs": rows})
        assert r.status_code == 200, r.text
        scores = [p["score"] for p in r.json()["predictions"]]
        meta = client.get("/v2/models/fraud").json()
        assert meta["platform"] == "onnxruntime_onnx"
        assert {i["datatype"] for i in meta["inputs"]} == {"FP32"}
        tensor = {"name": "x", "shape": [3, 2], "datatype": "FP32", "data": x.ravel().tolist()}
        v2 = client.post("/v2/models/fraud/infer", json={"inputs": [tensor]}).json()
        assert v2["outputs"][1]["data"] == pytest.approx(scores, abs=1e-12)
    import pandas as pd

    frame = pd.DataFrame(x.astype(np.float64), columns=["amount", "distance_km"])
    expected = sk.predict_proba(frame)[:, 1]
    assert scores == pytest.approx(expected, abs=1e-5)


def test_onnx_model_without_features_says_what_to_declare(tmp_path, fraud_model):
    from skl2onnx import to_onnx

    from liveeval.errors import LiveevalError

    sk = joblib.load(fraud_model)
    path = tmp_path / "m.onnx"
    path.write_bytes(to_onnx(sk, np.zeros((1, 2), dtype=np.float32)).SerializeToString())
    with pytest.raises(
        LiveevalError,
        match=r"declare 'features' \(its 2 inputs, in order; or --features\) in its "
        r"\[\[models\]\] entry in liveeval\.toml; from the graph: classes \[0, 1\]$",
    ):
        create_app(ServerConfig(store=str(tmp_path / "s.duckdb"), models=[ModelSpec("m", path)]))
