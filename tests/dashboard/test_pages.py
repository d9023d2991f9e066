"""The dashboard's routes in-process: page shells, assets, and the threshold read."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn import metrics as skm

from liveeval.api import ServerConfig, create_app
from liveeval.config import LoggedModel, Tokens
from liveeval.dashboard import ASSETS, DIGEST


@pytest.fixture
def client(tmp_path: Path):
    config = ServerConfig(
        store=str(tmp_path / "store.duckdb"),
        logged=[LoggedModel("fraud", (0, 1), 1, "fraud")],
        metrics_cache_seconds=0.0,
    )
    with TestClient(create_app(config)) as c:
        yield c


def _log(client: TestClient, n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    score = np.round(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1), 3)
    events = [
        {
            "id": f"p{i}",
            "model": "fraud",
            "version": "v1",
            "label": int(s >= 0.5),
            "score": float(s),
        }
        for i, s in enumerate(score)
    ]
    assert client.post("/v1/predictions", json={"predictions": events}).status_code == 200
    outcomes = [{"prediction_id": f"p{i}", "label": int(t)} for i, t in enumerate(y)]
    assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    return y, score


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("/", "overview.js"),
        ("/models/fraud", "model.js"),
        ("/models/fraud/threshold", "threshold.js"),
        ("/alerts", "alerts.js"),
    ],
)
def test_each_page_is_a_shell_loading_its_script_from_the_package(client, path, script):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert f'src="/dashboard/static/{script}?v={DIGEST}"' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # The nav links the alerts; only the model page loads the charting library.
    assert '<a href="/alerts"' in r.text
    assert (f'src="/dashboard/static/uplot.min.js?v={DIGEST}"' in r.text) == (script == "model.js")


def test_a_model_name_in_the_url_is_escaped_in_the_page(client):
    r = client.get("/models/%3Cimg%20src=x%20onerror=alert(1)%3E")
    assert r.status_code == 200
    assert "<img" not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text


def test_a_page_shell_carries_the_servers_clock_for_its_first_render(client):
    from datetime import datetime

    r = client.get("/")
    shell = re.search(
        r'<body data-page="overview" data-now="([^"]+)" data-clock="([^"]+)">', r.text
    )
    assert shell, r.text[:400]
    health = client.get("/healthz").json()
    assert shell.group(2) == health["clock"]
    served = datetime.fromisoformat(shell.group(1))
    assert 0 <= (datetime.fromisoformat(health["now"]) - served).total_seconds() < 60


def test_assets_come_from_the_package_and_fetch_nothing_from_elsewhere(client):
    assert {
        "common.js",
        "overview.js",
        "model.js",
        "threshold.js",
        "alerts.js",
        "charts.js",
    } <= set(ASSETS)
    # The charting library, copied from npm's package by `make assets` into the package.
    assert {"uplot.min.js", "uplot.min.css"} <= set(ASSETS), "run `make assets`"
    for name in ASSETS:
        r = client.get(f"/dashboard/static/{name}")
        assert r.status_code == 200
        text = r.text
        if name == "uplot.min.js":
            # Its licence banner names its project; nothing else in it is a URL.
            assert text.startswith("/*! https://github.com/leeoniya/uPlot (v")
            text = text[text.index("*/") :]
        # The only absolute URL is the SVG namespace: no CDN, no third-party host.
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert client.get("/dashboard/static/pages.py").status_code == 404
    assert client.get("/dashboard/static/..%2F__init__.py").status_code == 404


def test_pages_stay_out_of_the_openapi_spec_but_the_threshold_read_is_in_it(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/models/{model}/threshold" in paths
    assert "/" not in paths and "/models/{model}" not in paths


def test_pages_are_public_while_their_data_needs_the_read_token(tmp_path):
    config = ServerConfig(store=str(tmp_path / "s.duckdb"), tokens=Tokens(write="w", read="r"))
    with TestClient(create_app(config)) as c:
        assert c.get("/").status_code == 200
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models/fraud/threshold").status_code == 401
        assert c.get("/v1/models", headers={"authorization": "Bearer r"}).status_code == 200


def test_threshold_curve_agrees_with_scikit_learn(client):
    y, score = _log(client)
    body = client.get("/v1/models/fraud/threshold?cost_fp=1&cost_fn=5").json()
    curve = body["curve"]
    assert body["labels"] == [0, 1]
    assert body["positives"] == y.sum() and body["negatives"] == (1 - y).sum()
    for i, t in enumerate(curve["threshold"]):
        pred = (score >= t).astype(int)
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        assert (curve["tn"][i], curve["fp"][i], curve["fn"][i], curve["tp"][i]) == (tn, fp, fn, tp)
        assert curve["recall"][i] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
        assert curve["expected_cost"][i] == pytest.approx((fp + 5 * fn) / len(y), abs=1e-12)
    best = next(p for p in body["operating_points"] if p["objective"] == "max_f1")
    precision, recall, _ = skm.precision_recall_curve(y, score)
    f1 = np.max(2 * precision * recall / np.maximum(precision + recall, 1e-300))
    assert best["metrics"]["f1"]["value"] == pytest.approx(f1, abs=1e-12)


def test_threshold_curve_and_points_are_those_of_a_full_result(client):
    """The route computes the curve and its operating points alone; they are what
    ``Evaluation.result`` gives on the same statistics."""
    from liveeval.store import Scope

    _log(client)
    body = client.get("/v1/models/fraud/threshold?cost_fp=1&cost_fn=5&min_recall=0.8").json()
    service = client.app.state.service
    stats = service.store.statistics(Scope("fraud"), classes=(0, 1), pos_label=1)
    full = stats.evaluation.result(0.95, min_recall=0.8, min_precision=0.2, cost_fp=1, cost_fn=5)
    assert body["operating_points"] == [p.to_dict() for p in full.operating_points]
    for key, values in full.threshold_curve.items():
        assert body["curve"][key] == values


def test_threshold_targets_default_to_the_models_profile(client):
    _log(client)
    body = client.get("/v1/models/fraud/threshold").json()
    assert body["targets"] == {"min_recall": 0.9, "min_precision": 0.2}
    objectives = [p["objective"] for p in body["operating_points"]]
    assert objectives == ["max_f1", "recall>=0.9", "precision>=0.2"]
    given = client.get("/v1/models/fraud/threshold?min_recall=0.5").json()
    assert given["targets"]["min_recall"] == 0.5


def test_threshold_without_labels_says_why_and_unknown_models_are_404(client):
    client.post("/v1/predictions", json={"id": "x", "model": "fraud", "label": 1, "score": 0.9})
    body = client.get("/v1/models/fraud/threshold").json()
    assert body["curve"] is None
    assert body["reason"] == "no labelled predictions in this range"
    r = client.get("/v1/models/nope/threshold")
    assert r.status_code == 404 and "unknown model 'nope'" in r.json()["detail"]
    assert client.get("/v1/models/fraud/threshold?cost_fp=-1").status_code == 422


def test_threshold_of_a_multiclass_model_says_it_needs_a_binary_score(tmp_path):
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"), logged=[LoggedModel("iris", ("a", "b", "c"))]
    )
    with TestClient(create_app(config)) as c:
        events = [
            {"id": f"i{i}", "model": "iris", "label": "abc"[i % 3], "probas": [0.6, 0.3, 0.1]}
            for i in range(9)
        ]
        assert c.post("/v1/predictions", json={"predictions": events}).status_code == 200
        outcomes = [{"prediction_id": f"i{i}", "label": "abc"[i % 2]} for i in range(9)]
        assert c.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
        body = c.get("/v1/models/iris/threshold").json()
    assert body["curve"] is None
    assert body["reason"] == "the model has no binary score: a threshold curve needs P(positive)"
    assert body["current_threshold"] is None and body["profile"] is None
