"""The live demo's two models, trained at first run (a few seconds) and kept as
joblib files: no download.

- ``fraud`` (binary, profile ``fraud``): transactions from :func:`fraud_rows`, the
  same generator family as the batch demo's log. ``v1`` is a plain logistic
  regression; ``v2`` reads log-amounts and weights the rare class up, so it catches
  more fraud at the cost of precision.
- ``diagnosis`` (binary with text labels, profile ``medical``): scikit-learn's
  bundled breast-cancer data (Wisconsin diagnostic), ``benign`` / ``malignant``.

Both need scikit-learn (``pip install 'liveeval[demo]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FRAUD_FEATURES",
    "DemoClassifier",
    "DemoData",
    "fraud_rows",
    "load_diagnosis",
    "train_models",
]

FRAUD_FEATURES = ("amount", "account_age_days", "distance_km", "merchant_risk")
# Bumped whenever the training changes, so that files from an older run are retrained.
REVISION = "2"
FloatArray = npt.NDArray[np.float64]


class DemoClassifier:
    """A fitted scikit-learn pipeline behind the demo's input check: a transaction with a
    negative amount (a refund forwarded by mistake) makes it raise, as real models do
    on input they were never meant to see; the server logs those as failed predictions.
    """

    def __init__(
        self, pipeline: Any, features: tuple[str, ...], classes: Any, guard: str | None
    ) -> None:
        self.pipeline = pipeline
        self.feature_names_in_ = np.array(features, dtype=object)
        self.n_features_in_ = len(features)
        self.classes_ = np.asarray(classes)
        self.guard = None if guard is None else features.index(guard)

    def _check(self, x: FloatArray) -> FloatArray:
        x = np.asarray(x, dtype=float)
        if self.guard is not None and (x[:, self.guard] < 0).any():
            bad = float(x[x[:, self.guard] < 0, self.guard][0])
            raise ValueError(f"amount {bad:g} is negative: refunds are not scored")
        return x

    def predict_proba(self, x: FloatArray) -> FloatArray:
        proba: FloatArray = self.pipeline.predict_proba(self._check(x))
        return proba

    def predict(self, x: FloatArray) -> Any:
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]


def fraud_rows(
    n: int, rng: np.random.Generator, *, prevalence: float = 0.05, drifted: bool = False
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Transactions and whether each is fraud. After the drift, fraudsters imitate normal
    customers: small amounts, nearby, ordinary merchants — the models miss them."""
    fraud = rng.random(n) < prevalence
    if drifted:
        amount_boost, distance_boost, risk_boost = 1.4, 1.3, 0.06
    else:
        amount_boost, distance_boost, risk_boost = 2.5, 3.0, 0.2
    amount = np.round(rng.lognormal(3.5, 1.1, n) * np.where(fraud, amount_boost, 1.0), 2)
    age = rng.integers(1, 3650, n).astype(float)
    age = np.where(fraud & ~drifted, np.minimum(age, rng.integers(1, 400, n)), age)
    distance = np.round(rng.exponential(12.0, n) * np.where(fraud, distance_boost, 1.0), 3)
    risk = np.round(rng.beta(2, 8, n) + fraud * rng.uniform(0, risk_boost, n), 4)
    x = np.column_stack([amount, age, distance, risk])
    return x, fraud.astype(np.int64)


@dataclass(frozen=True)
class DemoData:
    """The diagnosis data: rows, their classes and the feature names."""

    x: FloatArray
    y: npt.NDArray[np.str_]
    features: tuple[str, ...]


def load_diagnosis() -> DemoData:
    """scikit-learn's breast-cancer data, shipped inside the package (no download)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = tuple(str(n).replace(" ", "_") for n in data.feature_names)
    # In the bundle 0 is malignant and 1 benign; text labels make the positive class plain.
    y = np.where(data.target == 0, "malignant", "benign")
    return DemoData(np.asarray(data.data, dtype=float), y, names)


def train_models(folder: Path, seed: int = 3) -> dict[str, Path]:
    """Train the three model files into ``folder`` unless they are already there."""
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "fraud-v1": folder / "fraud-v1.joblib",
        "fraud-v2": folder / "fraud-v2.joblib",
        "diagnosis": folder / "diagnosis.joblib",
    }
    marker = folder / "REVISION"
    current = marker.read_text().strip() if marker.is_file() else None
    if current == REVISION and all(p.is_file() for p in paths.values()):
        return paths
    rng = np.random.default_rng(seed)
    x, y = fraud_rows(20_000, rng)
    v1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    v2 = make_pipeline(
        FunctionTransformer(np.log1p),
        StandardScaler(),
        LogisticRegression(max_iter=1000, class_weight={0: 1.0, 1: 16.0}),
    ).fit(x, y)
    joblib.dump(DemoClassifier(v1, FRAUD_FEATURES, [0, 1], "amount"), paths["fraud-v1"])
    joblib.dump(DemoClassifier(v2, FRAUD_FEATURES, [0, 1], "amount"), paths["fraud-v2"])
    diag = load_diagnosis()
    # Half the rows train the model; the replayer draws noisy copies of all of them.
    train = rng.random(len(diag.y)) < 0.5
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.3))
    model.fit(diag.x[train], diag.y[train])
    joblib.dump(DemoClassifier(model, diag.features, model.classes_, None), paths["diagnosis"])
    marker.write_text(REVISION + "\n")
    return paths
