"""The hot routes are served from ASGI, not FastAPI's router: they must behave exactly
like the routes the OpenAPI spec declares."""

from __future__ import annotations

import pytest

ROW = {"amount": 120.0, "distance_km": 3.5}


def test_curl_style_form_bodies_are_read_as_json(client):
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = client.post(
        "/v1/models/fraud/predict", content=f'{{"inputs": {ROW}}}'.replace("'", '"'), headers=form
    )
    assert r.status_code == 200, r.text
    pid = r.json()["id"]
    r = client.post(
        "/v1/outcomes", content=f'{{"prediction_id": "{pid}", "label": 1}}', headers=form
    )
    assert r.status_code == 200 and r.json()["results"][0]["matched"] is True


@pytest.mark.parametrize("path", ["/v1/models/fraud/predict", "/v1/predictions", "/v1/outcomes"])
def test_other_content_types_and_bad_json_are_422(client, path):
    r = client.post(path, content=b'{"x": 1}', headers={"content-type": "text/plain"})
    assert r.status_code == 422 and "application/json" in r.json()["detail"]
    r = client.post(path, content=b'{"inputs": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "body"
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_fields_are_named(client):
    r = client.post("/v1/models/fraud/predict", json={"inputs": ROW, "colour": "red"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "colour"]


def test_version_query_and_unknown_model_or_version(client):
    r = client.post("/v1/models/fraud/predict", params={"version": "v3"}, json={"inputs": ROW})
    assert r.status_code == 200 and r.json()["version"] == "v3"
    r = client.post("/v1/models/fraud/predict", params={"version": "v9"}, json={"inputs": ROW})
    assert r.status_code == 404 and "no version 'v9'" in r.json()["detail"]
    r = client.post("/v1/models/ghost/predict", json={"inputs": ROW})
    assert r.status_code == 404 and "not served here" in r.json()["detail"]


def test_fast_routes_are_counted_by_their_declared_path(client):
    client.post("/v1/models/fraud/predict", json={"inputs": ROW})
    client.post("/v1/predictions", json={"model": "ext", "label": 1})
    text = client.get("/metrics").text
    assert 'liveeval_http_requests_total{code="200",route="/v1/models/{model}/predict"}' in text
    assert 'liveeval_http_requests_total{code="200",route="/v1/predictions"}' in text


def test_a_chunked_body_over_the_limit_is_413(tmp_path):
    from fastapi.testclient import TestClient

    from liveeval.api import ServerConfig, create_app

    config = ServerConfig(store=str(tmp_path / "s.duckdb"), max_body_bytes=1000)
    with TestClient(create_app(config)) as client:
        # No Content-Length: the limit is enforced while reading.
        body = iter([b'{"model": "ext", "features": {"x": "', b"y" * 2000, b'"}}'])
        r = client.post(
            "/v1/predictions", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and "1000-byte limit" in r.json()["detail"]
