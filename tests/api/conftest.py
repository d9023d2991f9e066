from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from liveeval.api import ServerConfig, create_app
from liveeval.serving import ModelSpec


@pytest.fixture
def fraud_model(tmp_path: Path) -> Path:
    import pandas as pd

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {"amount": rng.gamma(2.0, 50.0, 2000), "distance_km": rng.exponential(10.0, 2000)}
    )
    y = ((x["amount"] > 150) & (x["distance_km"] > 8)).astype(int)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    path = tmp_path / "fraud.joblib"
    joblib.dump(model, path)
    return path


@pytest.fixture
def client(tmp_path: Path, fraud_model: Path):
    config = ServerConfig(
        store=str(tmp_path / "store.duckdb"),
        models=[ModelSpec("fraud", fraud_model, version="v3", profile="fraud")],
        metrics_cache_seconds=0.0,
    )
    with TestClient(create_app(config)) as c:
        yield c
