"""Counters count what was stored, and counts are integers."""

from __future__ import annotations

ROW = {"amount": 400.0, "distance_km": 30.0}


def test_outcome_retries_are_counted_apart_from_stored_outcomes(client):
    pid = client.post("/v1/models/fraud/predict", json={"inputs": ROW}).json()["id"]
    for _ in range(3):
        r = client.post("/v1/outcomes", json={"prediction_id": pid, "label": 1})
        assert r.status_code == 200
    assert (
        client.post("/v1/outcomes", json={"prediction_id": "nobody", "label": 0}).status_code == 200
    )
    conflict = client.post("/v1/outcomes", json={"prediction_id": pid, "label": 0})
    assert conflict.status_code == 409
    text = client.get("/metrics").text
    assert 'liveeval_outcomes_total{matched="true"} 1.0' in text
    assert 'liveeval_outcomes_total{matched="false"} 1.0' in text
    assert "liveeval_outcomes_duplicate_total 2.0" in text


def test_unweighted_confusion_counts_are_integers_in_json(client):
    for amount in (400.0, 10.0, 500.0):
        pid = client.post(
            "/v1/models/fraud/predict", json={"inputs": {**ROW, "amount": amount}}
        ).json()["id"]
        client.post("/v1/outcomes", json={"prediction_id": pid, "label": 1})
    matrix = client.get("/v1/models/fraud/metrics").json()["confusion_matrix"]["matrix"]
    cells = [v for row in matrix for v in row]
    assert sum(cells) == 3 and all(type(v) is int for v in cells)
