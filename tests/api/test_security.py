"""Tokens, refusal of unprotected public binds, body limits, and failed predictions."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.config import Tokens
from liveeval.errors import LiveevalError
from liveeval.serving import ModelSpec


@pytest.fixture
def guarded(tmp_path, monkeypatch):
    for name in ("LIVEEVAL_WRITE_TOKEN", "LIVEEVAL_ADMIN_TOKEN", "LIVEEVAL_READ_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"), tokens=Tokens(write="w-secret", read="r-secret")
    )
    with TestClient(create_app(config)) as client:
        yield client


def test_writes_need_the_write_token(guarded):
    event = {"model": "ext", "label": 1, "score": 0.9}
    assert guarded.post("/v1/predictions", json=event).status_code == 401
    r = guarded.post("/v1/predictions", json=event, headers={"authorization": "Bearer wrong"})
    assert r.status_code == 403
    ok = guarded.post("/v1/predictions", json=event, headers={"authorization": "Bearer w-secret"})
    assert ok.status_code == 200


def test_reads_need_a_read_or_write_token(guarded):
    assert guarded.get("/v1/models").status_code == 401
    assert (
        guarded.get("/v1/models", headers={"authorization": "Bearer r-secret"}).status_code == 200
    )
    assert (
        guarded.get("/v1/models", headers={"authorization": "Bearer w-secret"}).status_code == 200
    )


def test_public_bind_without_token_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVEEVAL_WRITE_TOKEN", raising=False)
    monkeypatch.delenv("LIVEEVAL_ADMIN_TOKEN", raising=False)
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), host="0.0.0.0")
    with pytest.raises(
        LiveevalError, match=r"refusing to listen on 0\.0\.0\.0 without a write token"
    ):
        create_app(config)


def test_oversized_bodies_are_413(tmp_path):
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), max_body_bytes=1000)
    with TestClient(create_app(config)) as client:
        r = client.post(
            "/v1/predictions", json={"model": "ext", "label": 1, "features": {"x": "y" * 2000}}
        )
        assert r.status_code == 413 and "exceeds the 1000-byte limit" in r.json()["detail"]


class Exploding:  # a model that fails on some inputs (the probe rows at load, x=0..2, pass)
    classes_ = (0, 1)
    feature_names_in_ = ("x",)

    def predict_proba(self, x):
        if (x > 5).any():
            raise RuntimeError("boom")
        return [[0.5, 0.5]] * len(x)


def test_a_failing_model_is_logged_and_answered(tmp_path):
    import joblib

    path = tmp_path / "bad.joblib"
    joblib.dump(Exploding(), path)
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), models=[ModelSpec("bad", path)])
    with TestClient(create_app(config)) as client:
        r = client.post("/v1/models/bad/predict", json={"inputs": {"x": 10.0}})
        assert r.status_code == 502 and "RuntimeError: boom" in r.json()["detail"]
        m = client.get("/v1/models/bad/metrics").json()
        assert m["predictions"] == 1 and m["failed_predictions"] == 1
