"""A loaded model and what predicting with it gives.

Models are loaded only from paths the operator gives (command line or config
file), never from request input (see :mod:`liveeval.serving.load`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..metrics.labels import Label, normalise_label
from .inputs import InputSchema

__all__ = ["LoadedModel", "ModelSpec", "Prediction", "Predictor"]


class Predictor(Protocol):
    """Anything that turns a feature matrix into class probabilities."""

    def predict_proba(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class ModelSpec:
    """A model as the operator declares it (``--model name=path`` or ``[[models]]``).

    ``features`` are ``name`` or ``name:type`` declarations
    (:func:`~liveeval.serving.inputs.parse_features`).
    """

    name: str
    path: Path
    version: str = "v1"
    features: tuple[str, ...] | None = None
    classes: tuple[Any, ...] | None = None
    pos_label: Any = None
    profile: str | None = None
    threshold: float = 0.5
    # PyTorch models: whether the module returns logits (softmax/sigmoid applied here)
    # or probabilities ("probabilities", or "proba").
    output: str = "logits"


@dataclass(frozen=True)
class Prediction:
    """What a model said about a batch of rows.

    ``labels`` are plain Python values. A binary model with a positive class gives
    ``scores`` (P(positive), and the label is ``score >= threshold``); another model
    with probabilities gives ``probas`` (one list per row, in ``classes`` order); a
    model without ``predict_proba`` gives labels alone.
    """

    labels: list[Label]
    scores: list[float] | None
    probas: list[list[float]] | None
    model_seconds: float


@dataclass
class LoadedModel:
    spec: ModelSpec
    predictor: Any
    schema: InputSchema
    classes: tuple[Any, ...]
    pos_label: Any = None
    kind: str = "sklearn"
    # False for classifiers without predict_proba (LinearSVC, RidgeClassifier, ...):
    # served with predicted labels only.
    has_proba: bool = True
    # Whether scikit-learn would warn that a bare matrix has no feature names (a
    # Pipeline fitted on a DataFrame, given the matrix we build in its order).
    quiet_names: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def features(self) -> tuple[str, ...]:
        return self.schema.names

    @property
    def feature_types(self) -> dict[str, str]:
        return {f.name: f.type for f in self.schema.features}

    @property
    def is_binary(self) -> bool:
        return self.has_proba and len(self.classes) == 2 and self.pos_label is not None

    def inputs(self, rows: list[dict[str, Any]]) -> Any:
        """Validate request rows against the input schema and build the model's input
        (raises :class:`~liveeval.errors.ValidationError` naming the row and field)."""
        return self.schema.build(rows)

    def infer(self, x: Any) -> Prediction:
        """Labels and, where the model has them, scores or class probabilities.

        Exceptions from the model itself propagate: the caller logs them as failed
        predictions."""
        started = time.perf_counter()
        if not self.has_proba:
            raw = self._call("predict", x)
            seconds = time.perf_counter() - started
            labels = [normalise_label(v) for v in np.asarray(raw).reshape(-1)]
            return Prediction(labels, None, None, seconds)
        proba = self.proba(x)
        seconds = time.perf_counter() - started
        if self.is_binary:
            pos = self.classes.index(self.pos_label)
            scores: list[float] = proba[:, pos].tolist()
            neg = normalise_label(self.classes[1 - pos])
            positive = normalise_label(self.pos_label)
            threshold = self.spec.threshold
            return Prediction(
                [positive if s >= threshold else neg for s in scores], scores, None, seconds
            )
        names = [normalise_label(c) for c in self.classes]
        labels = [names[i] for i in np.argmax(proba, axis=1).tolist()]
        return Prediction(labels, None, proba.tolist(), seconds)

    # Until every caller uses inputs()/infer(): the float-matrix names of before.
    def matrix(self, rows: list[dict[str, Any]]) -> Any:
        return self.inputs(rows)

    def predict(self, x: Any) -> tuple[npt.NDArray[np.float64], float]:
        """Class probabilities (columns in ``classes`` order) and the model's seconds."""
        started = time.perf_counter()
        proba = self.proba(x)
        return proba, time.perf_counter() - started

    def proba(self, x: Any) -> npt.NDArray[np.float64]:
        """Class probabilities, one row per input row, columns in ``classes`` order."""
        if self.kind == "onnx":
            return self._predict_onnx(x)
        if self.kind == "torch":
            return self._predict_torch(x)
        return np.asarray(self._call("predict_proba", x), dtype=np.float64)

    def _call(self, method: str, x: Any) -> Any:
        if not self.quiet_names:
            return getattr(self.predictor, method)(x)
        with warnings.catch_warnings():
            # We check names and order ourselves and pass a bare matrix on purpose.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return getattr(self.predictor, method)(x)

    def _predict_torch(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import torch

        with torch.inference_mode():
            out = self.predictor(torch.from_numpy(x.astype(np.float32)))
            if out.ndim == 1 or out.shape[1] == 1:  # one output: P(positive) or its logit
                p = torch.sigmoid(out) if self.spec.output == "logits" else out
                p = p.reshape(-1)
                out = torch.stack([1 - p, p], dim=1)
            elif self.spec.output == "logits":
                out = torch.softmax(out, dim=1)
        return np.asarray(out.double().numpy(), dtype=np.float64)

    def _predict_onnx(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        session = self.predictor
        name = session.get_inputs()[0].name
        outputs = session.run(None, {name: x.astype(np.float32)})
        probs = outputs[-1]
        if isinstance(probs, list):  # skl2onnx's ZipMap: one dict per row
            return np.array([[row[c] for c in self.classes] for row in probs], dtype=np.float64)
        return np.asarray(probs, dtype=np.float64)
