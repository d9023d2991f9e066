"""Ingestion, idempotency, the order-free join, and live metrics against scikit-learn."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm


def test_predict_logs_every_prediction_and_outcomes_join_later(client):
    r = client.post(
        "/v1/models/fraud/predict", json={"inputs": {"amount": 400.0, "distance_km": 30.0}}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "fraud" and body["version"] == "v3"
    assert body["label"] == 1 and 0.5 <= body["score"] <= 1
    pid = body["id"]
    r = client.post("/v1/outcomes", json={"prediction_id": pid, "label": 1})
    assert r.status_code == 200 and r.json()["results"][0]["matched"] is True
    m = client.get("/v1/models/fraud/metrics").json()
    assert m["predictions"] == 1 and m["labelled"] == 1
    assert m["confusion_matrix"]["matrix"] == [[0.0, 0.0], [0.0, 1.0]]
    assert m["verdict"]["profile"] == "fraud"


def test_batch_predict_validates_inputs_against_the_schema(client):
    r = client.post("/v1/models/fraud/predict", json={"inputs": [{"amount": 1.0}]})
    assert r.status_code == 422
    assert "lacks feature(s) ['distance_km']" in r.json()["detail"]
    r = client.post("/v1/models/fraud/predict", json={"inputs": {"amount": "x", "distance_km": 1}})
    assert (
        r.status_code == 422 and "inputs[0].amount is 'x'; expected a number" in r.json()["detail"]
    )
    r = client.post("/v1/models/nope/predict", json={"inputs": {"amount": 1}})
    assert r.status_code == 404


def test_a_batch_over_the_row_limit_is_413_naming_the_limit_and_the_size(client):
    rows = [{"prediction_id": f"zz{i}", "value": 1} for i in range(10_001)]
    r = client.post("/v1/outcomes", json={"outcomes": rows})
    assert r.status_code == 413
    assert r.json()["detail"] == (
        "'outcomes' holds 10,001 rows; the limit is 10,000 per request: split it into "
        "requests of at most 10,000"
    )
    events = [{"model": "ext", "label": 1}] * 10_001
    r = client.post("/v1/predictions", json={"predictions": events})
    assert r.status_code == 413
    assert r.json()["detail"].startswith("'predictions' holds 10,001 rows; the limit is 10,000")
    assert "POST /v1/predictions/arrow" in r.json()["detail"]
    inputs = [{"amount": 1.0, "distance_km": 2.0}] * 10_001
    r = client.post("/v1/models/fraud/predict", json={"inputs": inputs})
    assert r.status_code == 413 and "'inputs' holds 10,001 rows" in r.json()["detail"]
    assert client.get("/v1/models/ext/metrics").status_code == 404  # nothing was stored


def test_a_bad_batch_reports_the_batch_errors_only(client):
    # The body's errors are the batch model's, not every branch of "event or batch".
    r = client.post("/v1/predictions", json={"predictions": []})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "predictions"],
            "msg": "List should have at least 1 item after validation, not 0",
            "type": "too_short",
        }
    ]
    r = client.post("/v1/outcomes", json={"outcomes": [{"prediction_id": "a", "value": 1}], "x": 1})
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "x"]]
    # A single event that merely mentions the word is still read as an event.
    r = client.post("/v1/outcomes", json={"prediction_id": "outcomes"})
    assert r.json()["detail"][0]["msg"] == "Value error, an outcome needs a 'label' or a 'value'"


def test_live_metrics_equal_sklearn_on_ingested_events(client):
    rng = np.random.default_rng(1)
    n = 3000
    y = (rng.random(n) < 0.2).astype(int)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    preds = [
        {
            "id": f"p{i}",
            "model": "ext",
            "version": "v1",
            "label": int(s[i] >= 0.5),
            "score": float(s[i]),
            "latency_total_s": 0.01,
            "segment": "web" if i % 2 else "app",
        }
        for i in range(n)
    ]
    # Outcomes first for half the ids: the join must not depend on order.
    half = [{"prediction_id": f"p{i}", "label": int(y[i])} for i in range(0, n, 2)]
    assert client.post("/v1/outcomes", json={"outcomes": half}).status_code == 200
    assert client.post("/v1/predictions", json={"predictions": preds}).status_code == 200
    rest = [{"prediction_id": f"p{i}", "label": int(y[i])} for i in range(1, n, 2)]
    assert client.post("/v1/outcomes", json={"outcomes": rest}).status_code == 200
    m = client.get("/v1/models/ext/metrics").json()
    assert m["labelled"] == n and m["label_coverage"] == 1.0
    pred = (s >= 0.5).astype(int)
    assert m["metrics"]["recall"]["value"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert m["metrics"]["precision"]["value"] == pytest.approx(
        skm.precision_score(y, pred), abs=1e-12
    )
    assert m["metrics"]["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)
    assert m["metrics"]["log_loss"]["value"] == pytest.approx(skm.log_loss(y, s), abs=1e-9)
    seg = client.get("/v1/models/ext/metrics", params={"segment": "web"}).json()
    mask = np.arange(n) % 2 == 1
    assert seg["metrics"]["f1"]["value"] == pytest.approx(
        skm.f1_score(y[mask], pred[mask]), abs=1e-12
    )


def test_events_are_idempotent_and_conflicts_are_409(client):
    event = {"id": "a1", "model": "ext", "label": 1, "score": 0.9}
    assert client.post("/v1/predictions", json=event).json()["results"][0]["status"] == "stored"
    assert client.post("/v1/predictions", json=event).json()["results"][0]["status"] == "duplicate"
    r = client.post("/v1/predictions", json={**event, "score": 0.1})
    assert r.status_code == 409
    assert "already stored with different content" in r.json()["results"][0]["detail"]
    assert client.get("/v1/models/ext/metrics").json()["predictions"] == 1


def test_a_value_after_a_label_is_a_409_saying_to_send_both_in_one_outcome(client):
    # One outcome per prediction, never amended: the detail says why and how.
    client.post("/v1/predictions", json={"id": "v1", "model": "ext", "label": 1})
    assert client.post("/v1/outcomes", json={"prediction_id": "v1", "label": 1}).status_code == 200
    r = client.post("/v1/outcomes", json={"prediction_id": "v1", "value": 3.5})
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail == r.json()["results"][0]["detail"]
    assert detail == (
        "prediction_id 'v1' is already stored with different content; a prediction has one "
        "outcome, never amended: a label and a value for the same prediction go together in "
        'one outcome, {"prediction_id": …, "label": …, "value": …} (an outcome already '
        "stored with only one of them cannot take the other)"
    )
    both = {"prediction_id": "v2", "label": 1, "value": 3.5}
    client.post("/v1/predictions", json={"id": "v2", "model": "ext", "label": 1})
    assert client.post("/v1/outcomes", json=both).status_code == 200
    body = client.get("/v1/models/ext/metrics").json()
    assert body["labelled"] == 2 and body["metrics"]["outcome_value_mean"]["n"] == 1


def test_unmatched_outcomes_are_kept_and_reported(client):
    r = client.post("/v1/outcomes", json={"prediction_id": "never-seen", "label": 0})
    assert r.status_code == 200 and r.json()["results"][0]["matched"] is False
    client.post("/v1/predictions", json={"id": "x", "model": "ext", "label": 0, "score": 0.2})
    assert client.get("/v1/models/ext/metrics").json()["unmatched_outcomes"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "ext", "label": 1, "score": 1.5}, "score"),
        ({"model": "ext", "label": 1, "scor": 0.5}, "scor"),
        ({"model": "ext"}, "label"),
        ({"model": "bad name", "label": 1}, "model"),
        ({"model": "ext", "label": 1, "probas": [0.5, 0.6]}, "probas"),
    ],
)
def test_bad_events_are_422_naming_the_field(client, body, field):
    r = client.post("/v1/predictions", json=body)
    assert r.status_code == 422
    assert field in r.text


def test_arrow_batches_are_ingested(client):
    n = 5000
    table = pa.table(
        {
            "id": [f"b{i}" for i in range(n)],
            "model": ["ext"] * n,
            "version": ["v1"] * n,
            "ts": pa.array(np.full(n, np.datetime64("2026-11-01T00:00:00", "us"))),
            "label": ["1" if i % 3 == 0 else "0" for i in range(n)],
            "score": [((i % 3) == 0) * 0.8 + 0.1 for i in range(n)],
            "status": ["ok"] * n,
        }
    )

    def send(batch):
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, batch.schema) as w:
            w.write_table(batch)
        return client.post(
            "/v1/predictions/arrow",
            content=sink.getvalue(),
            headers={"content-type": "application/vnd.apache.arrow.stream"},
        )

    r = send(table)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "stored": n,
        "duplicates": [],
        "conflicts": [],
        "rejected": 0,
        "rejections": [],
    }
    # The same batch again is stored once; a changed score under a known id conflicts.
    again = send(table.slice(0, 3))
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == ["b0", "b1", "b2"]
    changed = table.slice(0, 2).set_column(5, "score", pa.array([0.5, 0.1]))
    r = send(changed)
    assert r.status_code == 409
    assert r.json()["conflicts"] == [
        {"id": "b0", "detail": "id 'b0' is already stored with different content"}
    ]
    assert r.json()["duplicates"] == ["b1"]
    assert client.get("/v1/models/ext/metrics").json()["predictions"] == n
    r = client.post(
        "/v1/predictions",
        content=b"garbage",
        headers={"content-type": "application/vnd.apache.arrow.stream"},
    )
    assert r.status_code == 422


def test_unknown_model_metrics_is_404(client):
    assert client.get("/v1/models/ghost/metrics").status_code == 404
    assert client.get("/v1/models/fraud/metrics", params={"window": "soon"}).status_code == 422
    r = client.get("/v1/models/fraud/metrics", params={"window": "999999999d"})
    assert r.status_code == 422 and "longer than the longest window accepted" in r.text


def test_prometheus_exposition(client):
    client.post("/v1/models/fraud/predict", json={"inputs": {"amount": 10.0, "distance_km": 1.0}})
    pid = client.post(
        "/v1/models/fraud/predict", json={"inputs": {"amount": 400.0, "distance_km": 30.0}}
    ).json()["id"]
    client.post("/v1/outcomes", json={"prediction_id": pid, "label": 1})
    text = client.get("/metrics").text
    assert 'liveeval_predictions_total{model="fraud",status="ok",version="v3"} 2.0' in text
    assert 'liveeval_prediction_latency_seconds_bucket{le="0.0001",' in text
    assert 'liveeval_prediction_latency_seconds_count{model="fraud",version="v3"} 2.0' in text
    assert 'liveeval_model_latency_seconds_count{model="fraud",version="v3"} 2.0' in text
    assert 'liveeval_model_recall{model="fraud",version="v3"} 1.0' in text
    assert 'liveeval_model_label_coverage{model="fraud",version="v3"} 0.5' in text


def test_deployments(client):
    r = client.post(
        "/v1/deployments", json={"model": "fraud", "version": "v4", "status": "rolled_back"}
    )
    assert r.status_code == 200
    assert (
        client.post(
            "/v1/deployments", json={"model": "fraud", "version": "v4", "status": "done"}
        ).status_code
        == 422
    )


def test_business_outcomes_give_a_click_through_rate(client):
    for i in range(40):
        client.post(
            "/v1/predictions", json={"id": f"ad{i}", "model": "ads", "label": 1, "score": 0.6}
        )
        client.post(
            "/v1/outcomes", json={"prediction_id": f"ad{i}", "value": 1.0 if i < 10 else 0.0}
        )
    m = client.get("/v1/models/ads/metrics").json()["metrics"]
    assert m["click_through_rate"]["value"] == pytest.approx(0.25)
    assert m["click_through_rate"]["method"] == "wilson"
    assert m["click_through_rate"]["lower"] < 0.25 < m["click_through_rate"]["upper"]


def test_server_cpu_and_memory_are_sampled_and_stored(tmp_path):
    import time

    from fastapi.testclient import TestClient

    from liveeval.api import ServerConfig, create_app

    config = ServerConfig(store=str(tmp_path / "s.duckdb"), resource_interval_seconds=0.05)
    with TestClient(create_app(config)) as client:
        time.sleep(0.5)
        assert client.app.state.service.store.count("resource_samples") >= 3
    import duckdb

    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        rss, cpu = con.execute(
            "SELECT min(rss_bytes), min(cpu_percent) FROM resource_samples"
        ).fetchall()[0]
    assert rss > 10_000_000 and cpu >= 0
