"""Loading models and predicting with them.

Models are loaded only from paths the operator gives (command line or config
file), never from request input. scikit-learn models are joblib/pickle files:
**unpickling runs code**, so load only files you trust. ONNX models need the
``onnxruntime`` package.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..errors import LiveevalError, ValidationError

__all__ = ["LoadedModel", "ModelSpec", "Predictor", "load_model"]


class Predictor(Protocol):
    """Anything that turns a feature matrix into class probabilities."""

    def predict_proba(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class ModelSpec:
    """A model as the operator declares it (``--model name=path`` or ``[[models]]``)."""

    name: str
    path: Path
    version: str = "v1"
    features: tuple[str, ...] | None = None
    classes: tuple[Any, ...] | None = None
    pos_label: Any = None
    profile: str | None = None
    threshold: float = 0.5
    # PyTorch models: whether the module returns logits (softmax/sigmoid applied here)
    # or probabilities.
    output: str = "logits"


@dataclass
class LoadedModel:
    spec: ModelSpec
    predictor: Any
    features: tuple[str, ...]
    classes: tuple[Any, ...]
    pos_label: Any = None
    kind: str = "sklearn"
    # Whether scikit-learn would warn that a bare matrix has no feature names.
    names_recorded: bool = field(init=False)

    def __post_init__(self) -> None:
        self.names_recorded = self.kind == "sklearn" and (
            "feature_names_in_" in getattr(self.predictor, "__dict__", {})
            or hasattr(self.predictor, "steps")
        )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2 and self.pos_label is not None

    def matrix(self, rows: list[dict[str, Any]]) -> npt.NDArray[np.float64]:
        """Validate rows against the input schema and stack them (features in order)."""
        out = np.empty((len(rows), len(self.features)))
        for i, row in enumerate(rows):
            missing = [f for f in self.features if f not in row]
            if missing:
                raise ValidationError(
                    f"inputs[{i}] lacks feature(s) {missing}; model '{self.name}' expects "
                    f"{list(self.features)}"
                )
            extra = [k for k in row if k not in self.features]
            if extra:
                raise ValidationError(
                    f"inputs[{i}] has unknown feature(s) {extra}; model '{self.name}' expects "
                    f"{list(self.features)}"
                )
            for j, name in enumerate(self.features):
                value = row[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValidationError(f"inputs[{i}].{name} is {value!r}; expected a number")
                if not np.isfinite(value):
                    raise ValidationError(
                        f"inputs[{i}].{name} is {value!r}; expected a finite number"
                    )
                out[i, j] = value
        return out

    def predict(self, x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], float]:
        """Class probabilities (columns in ``classes`` order) and the model's seconds."""
        started = time.perf_counter()
        if self.kind == "onnx":
            proba = self._predict_onnx(x)
        elif self.kind == "torch":
            proba = self._predict_torch(x)
        elif not self.names_recorded:
            proba = np.asarray(self.predictor.predict_proba(x), dtype=np.float64)
        else:
            with warnings.catch_warnings():
                # We check names and order ourselves and pass a bare matrix on purpose.
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                proba = np.asarray(self.predictor.predict_proba(x), dtype=np.float64)
        return proba, time.perf_counter() - started

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


def _runtime(
    spec: ModelSpec, path: Path, module: str, what: str, extra: str
) -> tuple[Any, tuple[str, ...], tuple[Any, ...]]:
    """Import an optional model runtime, and check the config says what the file cannot:
    the input features and the classes."""
    import importlib

    try:
        runtime = importlib.import_module(module)
    except ImportError:
        raise LiveevalError(
            f"model '{spec.name}': {path} is {what} model; install {module} "
            f"(pip install 'liveeval[{extra}]')"
        ) from None
    if spec.features is None or spec.classes is None:
        raise LiveevalError(
            f"model '{spec.name}': {what} model needs 'features' and 'classes' in the config"
        )
    return runtime, tuple(spec.features), tuple(spec.classes)


def _default_positive(classes: tuple[Any, ...], declared: Any) -> Any:
    if declared is not None:
        if declared not in classes:
            raise LiveevalError(
                f"positive label {declared!r} is not one of the classes {list(classes)}"
            )
        return declared
    if len(classes) == 2 and set(classes) in ({0, 1}, {-1, 1}, {False, True}):
        return classes[1]
    return None


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load a scikit-learn (.joblib/.pkl) or ONNX (.onnx) model file."""
    path = Path(spec.path)
    if not path.is_file():
        raise LiveevalError(f"model '{spec.name}': no such file {path}")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        onnxruntime, features, classes = _runtime(spec, path, "onnxruntime", "an ONNX", "onnx")
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise LiveevalError(f"model '{spec.name}': cannot load {path}: {exc}") from None
        return LoadedModel(
            spec,
            session,
            features,
            classes,
            _default_positive(classes, spec.pos_label),
            "onnx",
        )
    if suffix in (".pt", ".pt2"):
        return _load_torch(spec, path)
    if suffix not in (".joblib", ".pkl", ".pickle"):
        raise LiveevalError(
            f"model '{spec.name}': cannot load {path.name}; expected .joblib, .pkl, .onnx, "
            ".pt (TorchScript) or .pt2 (torch.export)"
        )
    import joblib

    predictor = joblib.load(path)
    if not hasattr(predictor, "predict_proba"):
        raise LiveevalError(f"model '{spec.name}': {path} has no predict_proba()")
    names = spec.features
    if names is None:
        names = getattr(predictor, "feature_names_in_", None)
        if names is None:
            raise LiveevalError(
                f"model '{spec.name}': the model does not record its feature names; "
                "list them as 'features' in the config"
            )
    sk_features = tuple(str(n) for n in names)
    classes = tuple(
        c.item() if hasattr(c, "item") else c
        for c in getattr(predictor, "classes_", spec.classes or ())
    )
    if not classes:
        raise LiveevalError(
            f"model '{spec.name}': cannot tell its classes; list them in the config"
        )
    # Limit native thread pools: per-request inference on two cores oversubscribes otherwise.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    return LoadedModel(
        spec,
        _without_feature_names(predictor),
        sk_features,
        classes,
        _default_positive(classes, spec.pos_label),
    )


def _without_feature_names(predictor: Any) -> Any:
    """A plain estimator fitted on a DataFrame warns on every bare matrix; we check the
    names and order ourselves, so serve a shallow copy without the recorded names, which
    skips the check (and the warnings machinery: ~6% of a small prediction's time).
    Pipelines and meta-estimators keep theirs; ``predict`` silences the warning."""
    if "feature_names_in_" not in getattr(predictor, "__dict__", {}):
        return predictor
    if hasattr(predictor, "steps") or hasattr(predictor, "estimator"):
        return predictor
    bare = copy.copy(predictor)
    del bare.feature_names_in_
    return bare


def _load_torch(spec: ModelSpec, path: Path) -> LoadedModel:
    """TorchScript (``.pt``, ``torch.jit.save``) or ``torch.export`` (``.pt2``) programs."""
    torch, features, classes = _runtime(spec, path, "torch", "a PyTorch", "torch")
    if spec.output not in ("logits", "proba"):
        raise LiveevalError(
            f"model '{spec.name}': output must be 'logits' or 'proba', not {spec.output!r}"
        )
    try:
        if path.suffix.lower() == ".pt2":
            module = torch.export.load(str(path)).module()
        else:
            module = torch.jit.load(str(path), map_location="cpu")
            module.eval()
    except Exception as exc:  # torch raises many untyped errors for bad files
        raise LiveevalError(f"model '{spec.name}': cannot load {path}: {exc}") from None
    torch.set_num_threads(1)
    return LoadedModel(
        spec,
        module,
        features,
        classes,
        _default_positive(classes, spec.pos_label),
        "torch",
    )
