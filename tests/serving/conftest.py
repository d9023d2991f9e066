"""Model files for the serving tests, fitted here on small random data."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest


def fitted_frame(n: int = 400):
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, n),
            "country": rng.choice(["DE", "FR", "US"], n),
            "channel": rng.choice(["web", "app"], n),
        }
    )
    y = ((frame["amount"] > 100) ^ (frame["country"] == "US")).astype(int)
    return frame, y


def dump(model: object, path: Path) -> Path:
    joblib.dump(model, path)
    return path


@pytest.fixture
def text_pipeline(tmp_path: Path) -> Path:
    """A Pipeline whose ColumnTransformer one-hot encodes two string columns."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, y = fitted_frame()
    pipeline = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(), ["country", "channel"]),
            (StandardScaler(), ["amount"]),
        ),
        LogisticRegression(),
    ).fit(frame, y)
    return dump(pipeline, tmp_path / "text.joblib")


@pytest.fixture
def bare_model(tmp_path: Path) -> Path:
    """A LogisticRegression fitted on a bare matrix: no recorded feature names."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return dump(LogisticRegression().fit(x, y), tmp_path / "bare.joblib")
