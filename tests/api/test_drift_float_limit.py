"""Drift of a numeric feature whose values reach ±1e308 (accepted): an effect on
scaled values or an undefined call with a reason, never a null effect read as "not
drifted"; no overflow warning escapes (the suite turns warnings into errors)."""

from __future__ import annotations

import datetime as dt

import numpy as np

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
HOUR = NOW.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)


def test_drift_of_a_feature_near_the_float_limit_is_never_a_null_not_drifted(client):
    rng = np.random.default_rng(0)
    predictions = []
    for i in range(400):
        earlier = i < 200
        value = float(rng.choice([-1e308, 0.0, 5e307, 1e308] if earlier else [-1e308, 1e308]))
        ts = HOUR - dt.timedelta(hours=3 if earlier else 0) + dt.timedelta(minutes=i % 50)
        predictions.append(
            {
                "id": f"f{i}",
                "model": "big",
                "label": 1,
                "ts": ts.isoformat(),
                "features": {"w": value},
            }
        )
    assert client.post("/v1/predictions", json={"predictions": predictions}).status_code == 200
    start = HOUR - dt.timedelta(hours=3)
    reference = f"{start.isoformat()}/{(start + dt.timedelta(hours=1)).isoformat()}"
    r = client.get("/v1/models/big/drift", params={"reference": reference, "window": "1h"})
    assert r.status_code == 200
    cells = [c for w in r.json()["windows"] for c in w["columns"] if c["name"] == "w"]
    assert cells
    assert any(c["status"] == "drifted" for c in cells), cells
    for cell in cells:
        effect = cell["effect"]["value"] if isinstance(cell["effect"], dict) else cell["effect"]
        assert effect is not None or cell["status"] in ("undefined", "too_few_rows"), cell
