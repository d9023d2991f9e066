"""Loading model files: scikit-learn (joblib/pickle), ONNX and PyTorch.

Models are loaded only from paths the operator gives. scikit-learn models are
joblib/pickle files: **unpickling runs code**, so load only files you trust. ONNX
models need ``onnxruntime`` (and ``onnx`` to read the graph), PyTorch ones ``torch``.

Every problem is a :class:`~liveeval.errors.ModelLoadError` naming the model, the
file, what was expected and found, and the fix, raised before the server starts.
Each kind is checked the same way once loaded (:mod:`liveeval.serving.check`): run
on probe batches of 1 and 3 rows, its output's shape, class count, finiteness and
declared kind (probabilities, logits or labels) verified. Where the model records
its inputs or classes (scikit-learn ``feature_names_in_`` / ``classes_``, ONNX input
names and class labels, ``torch.export`` input shapes), the model is the source of
truth and a config that contradicts it is refused.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from .load_onnx import load_onnx
from .load_sklearn import load_sklearn
from .load_torch import load_torch
from .model import LoadedModel, ModelSpec

__all__ = ["load_model"]

_PICKLES = (".joblib", ".pkl", ".pickle")


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load a scikit-learn (.joblib/.pkl/.pickle), ONNX (.onnx) or PyTorch (.pt, .pt2)
    model file and run the load check on it.

    Raises
    ------
    ModelLoadError
        naming the model, the path, what was wrong and the fix, on one line.
    """
    path = Path(spec.path)
    if not path.exists():
        raise ModelLoadError(spec.name, str(path), "no such file")
    if not path.is_file():
        raise ModelLoadError(spec.name, str(path), "is not a file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return load_onnx(spec, path)
    if suffix in (".pt", ".pt2"):
        return load_torch(spec, path)
    if suffix not in _PICKLES:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"unknown model file type {suffix or '(no suffix)'!r}; expected .joblib, .pkl, "
            ".pickle (scikit-learn), .onnx, .pt (TorchScript) or .pt2 (torch.export)",
        )
    return load_sklearn(spec, path)
