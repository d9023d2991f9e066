"""A prediction dated in the future (a client's clock ahead) is kept, but the reads
without ``until`` end at now: it neither counts in "the last hour", nor stretches the
overview's sparklines or pushes the real windows out, nor becomes drift's latest window;
each read says what it left out."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
FUTURE = NOW + dt.timedelta(days=400)


@pytest.fixture(params=["duckdb", "postgresql"])
def ahead(request, tmp_path):
    from tests.store.scenario import postgres_location

    engine = request.param
    store = postgres_location(request) if engine == "postgresql" else str(tmp_path / "s.duckdb")
    with TestClient(create_app(ServerConfig(store=store, metrics_cache_seconds=0.0))) as c:
        yield _log(c)


def _log(client):
    predictions = [
        {
            "id": f"r{i}",
            "model": "bn",
            "label": "yes" if i % 2 else "no",
            "ts": (NOW - dt.timedelta(minutes=5 + i)).isoformat(),
            "features": {"x": float(i)},
        }
        for i in range(6)
    ]
    predictions.append(
        {"id": "fu", "model": "bn", "label": "no", "ts": FUTURE.isoformat(), "features": {"x": 1.0}}
    )
    assert client.post("/v1/predictions", json={"predictions": predictions}).status_code == 200
    outcomes = [{"prediction_id": p["id"], "label": p["label"]} for p in predictions]
    assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    return client


NOTE = r"1 prediction of model 'bn' dated at or after .* are left out of this read"


def test_a_future_prediction_neither_counts_nor_stretches_the_overview(ahead):
    r = ahead.get("/v1/overview?window=1h&size=5m")
    assert r.status_code == 200
    body = r.json()
    (model,) = [m for m in body["models"] if m["model"] == "bn"]
    (card,) = model["versions"]
    assert card["predictions"] == 6
    assert len(card["sparkline"]) <= 13
    assert dt.datetime.fromisoformat(card["sparkline"][-1]["start"]) <= NOW + dt.timedelta(
        minutes=5
    )
    (note,) = body["notes"]
    assert re.match(NOTE, note)


def test_a_future_prediction_does_not_push_the_real_windows_out(ahead):
    body = ahead.get("/v1/models/bn/windows?size=15m").json()
    assert sum(w["predictions"] for w in body["windows"]) == 6
    assert len(body["windows"]) <= 2
    assert body["scope"]["until"] is None
    (note,) = body["notes"]
    assert re.match(NOTE, note)
    # Named explicitly, the range reads it.
    until = (FUTURE + dt.timedelta(days=1)).isoformat()
    asked = ahead.get("/v1/models/bn/windows", params={"size": "1d", "until": until}).json()
    assert sum(w["predictions"] for w in asked["windows"]) == 7
    assert asked["notes"] == []


def test_a_future_prediction_is_not_drifts_latest_window(ahead):
    body = ahead.get("/v1/models/bn/drift?reference=previous:1d&window=1h").json()
    assert dt.datetime.fromisoformat(body["latest"]["start"]) <= NOW
    (note,) = body["notes"]
    assert re.match(NOTE, note)
