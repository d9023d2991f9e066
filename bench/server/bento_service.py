"""BentoML serving the same scikit-learn model (for scale; run by run.py from its own venv)."""

from __future__ import annotations

import os
import warnings

import bentoml
import joblib
import numpy as np

# As for the other servers: no access log, and no warning printed per request for the
# bare feature matrix (the features are put in the model's order above).
warnings.filterwarnings("ignore", message="X does not have valid feature names")


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Fraud:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])
        self.features = list(self.model.feature_names_in_)

    @bentoml.api(route="/v1/models/fraud/predict")
    def predict(self, inputs: dict[str, float]) -> dict[str, float]:
        x = np.array([[inputs[f] for f in self.features]])
        score = float(self.model.predict_proba(x)[0, 1])
        return {"label": int(score >= 0.5), "score": score}
