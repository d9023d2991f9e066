"""Loading model files: scikit-learn (joblib/pickle), ONNX and PyTorch.

Models are loaded only from paths the operator gives. scikit-learn models are
joblib/pickle files: **unpickling runs code**, so load only files you trust. ONNX
models need ``onnxruntime``, PyTorch ones ``torch``.

Every problem is a :class:`~liveeval.errors.ModelLoadError` naming the model, the
file and what was wrong, raised before the server starts: a missing file, a file
that is not a pickle, a pickle whose code cannot be imported, an object that is
not a classifier, inputs that cannot be named, and a scikit-learn model that fails
on a probe row (one valid input, predicted once at load).
"""

from __future__ import annotations

import copy
import importlib
import pickle
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LiveevalError, ModelLoadError
from ..metrics.labels import canonical_label
from ._sklearn import selects_by_name, text_inputs
from .inputs import NUMBER, STRING, Feature, InputSchema, parse_features
from .model import LoadedModel, ModelSpec

__all__ = ["load_model"]

_PICKLES = (".joblib", ".pkl", ".pickle")


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load a scikit-learn (.joblib/.pkl/.pickle), ONNX (.onnx) or PyTorch (.pt, .pt2)
    model file and check it on a probe row.

    Raises
    ------
    ModelLoadError
        naming the model, the path and what was wrong.
    """
    path = Path(spec.path)
    if not path.exists():
        raise ModelLoadError(spec.name, str(path), "no such file")
    if not path.is_file():
        raise ModelLoadError(spec.name, str(path), "is not a file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _load_onnx(spec, path)
    if suffix in (".pt", ".pt2"):
        return _load_torch(spec, path)
    if suffix not in _PICKLES:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"unknown model file type {suffix or '(no suffix)'!r}; expected .joblib, .pkl, "
            ".pickle (scikit-learn), .onnx, .pt (TorchScript) or .pt2 (torch.export)",
        )
    return _load_sklearn(spec, path)


# -- scikit-learn ------------------------------------------------------------------


def _unpickle(spec: ModelSpec, path: Path) -> Any:
    import joblib

    fail = ModelLoadError
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise fail(spec.name, str(path), f"cannot be read: {exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predictor = joblib.load(path)
    except ModuleNotFoundError as exc:
        raise fail(spec.name, str(path), _missing_module(exc.name or str(exc))) from None
    except (ImportError, AttributeError) as exc:
        raise fail(
            spec.name,
            str(path),
            f"the pickle refers to code that cannot be imported here ({exc}); install the "
            "version of the package the model was trained with",
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
        struct.error,
    ) as exc:
        raise fail(
            spec.name,
            str(path),
            f"not a joblib/pickle file ({type(exc).__name__}: {exc})"
            if str(exc)
            else f"not a joblib/pickle file ({type(exc).__name__})",
        ) from None
    except MemoryError:
        raise fail(spec.name, str(path), "not enough memory to load it") from None
    except Exception as exc:  # unpickling runs arbitrary code: any error is possible
        raise fail(
            spec.name, str(path), f"cannot be unpickled: {type(exc).__name__}: {exc}"
        ) from None
    for w in caught:  # e.g. scikit-learn's InconsistentVersionWarning: worth seeing
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return predictor


def _missing_module(name: str) -> str:
    top = name.split(".")[0]
    installed = None
    if top != name:
        try:
            installed = importlib.import_module(top)
        except ImportError:
            pass
    if installed is None:
        return (
            f"the pickle needs the Python module {name!r}, which is not installed here "
            "(install the package the model was trained with)"
        )
    version = getattr(installed, "__version__", None)
    return (
        f"the pickle needs the module {name!r}, which the installed {top!r}"
        f"{f' {version}' if version else ''} does not have: the model was saved with "
        "another version of it; install that version"
    )


def _load_sklearn(spec: ModelSpec, path: Path) -> LoadedModel:
    predictor = _unpickle(spec, path)
    has_proba = hasattr(predictor, "predict_proba")
    if not has_proba and not hasattr(predictor, "predict"):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"holds a {type(predictor).__name__}, which has neither predict_proba() nor "
            "predict(); expected a fitted classifier",
        )
    features = _sklearn_features(spec, path, predictor)
    frame = selects_by_name(predictor) or any(f.type == STRING for f in features)
    fitted = getattr(predictor, "classes_", None)
    if fitted is not None:
        classes = tuple(c.item() if hasattr(c, "item") else c for c in fitted)
        _check_declared_classes(spec, path, classes)
    else:
        classes = tuple(spec.classes or ())
    if not classes:
        raise ModelLoadError(
            spec.name, str(path), "cannot tell its classes; list them as 'classes' in the config"
        )
    served = predictor if frame else _without_feature_names(predictor)
    loaded = LoadedModel(
        spec,
        served,
        InputSchema(
            spec.name,
            features,
            frame=frame,
            container="arrow" if hasattr(predictor, "feature_names_in_") else "objects",
        ),
        classes,
        _default_positive(spec, path, classes),
        "sklearn",
        has_proba=has_proba,
        # A Pipeline or meta-estimator fitted on a DataFrame, given our bare matrix.
        quiet_names=not frame and hasattr(served, "feature_names_in_"),
    )
    # Limit native thread pools: per-request inference on two cores oversubscribes otherwise.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    return _probed(loaded, path)


def _check_declared_classes(spec: ModelSpec, path: Path, fitted: tuple[Any, ...]) -> None:
    """Classes in the config must be the model's own (``1`` and ``1.0`` are one class)."""
    if spec.classes is None:
        return
    try:
        same = {canonical_label(c) for c in spec.classes} == {canonical_label(c) for c in fitted}
    except LiveevalError:
        same = False
    if not same:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"classes {list(spec.classes)} in the config are not the model's classes "
            f"{list(fitted)}; leave 'classes' out for scikit-learn models",
        )


def _sklearn_features(spec: ModelSpec, path: Path, predictor: Any) -> tuple[Feature, ...]:
    """Names from the model (``feature_names_in_``) or the config, in the model's order;
    types from the config, else text where an encoder was fitted on strings."""
    declared: tuple[Feature, ...] | None = None
    if spec.features is not None:
        try:
            declared = parse_features(spec.features)
        except ValueError as exc:
            raise ModelLoadError(spec.name, str(path), f"features: {exc}") from None
    recorded = getattr(predictor, "feature_names_in_", None)
    if recorded is not None:
        names = [str(n) for n in recorded]
        if declared is not None:
            given = [f.name for f in declared]
            missing = [n for n in names if n not in given]
            unknown = [n for n in given if n not in names]
            if missing or unknown:
                raise ModelLoadError(
                    spec.name,
                    str(path),
                    f"the model was fitted on features {names}, but the config lists {given}"
                    + (f" (missing {missing})" if missing else "")
                    + (f" (not in the model: {unknown})" if unknown else ""),
                )
    elif declared is not None:
        names = [f.name for f in declared]
    else:
        raise ModelLoadError(
            spec.name,
            str(path),
            "the model does not record its feature names; list them in order with "
            "--features a,b,c or as 'features' in the config",
        )
    expected = getattr(predictor, "n_features_in_", None)
    if isinstance(expected, (int, np.integer)) and int(expected) != len(names):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"the model takes {int(expected)} features, but {len(names)} are listed: {names}",
        )
    inferred = text_inputs(predictor, names)
    # Types given explicitly (name:type); a bare name takes the inferred type.
    types = {
        f.name: f.type
        for f, text in zip(declared or (), spec.features or (), strict=False)
        if ":" in text
    }
    features = []
    for name in names:
        kind = types.get(name) or (STRING if name in inferred else NUMBER)
        categories, strict = inferred.get(name, (None, False))
        if kind != STRING:
            categories, strict = None, False
        features.append(Feature(name, kind, categories, strict))
    return tuple(features)


def _without_feature_names(predictor: Any) -> Any:
    """A plain estimator fitted on a DataFrame warns on every bare matrix; we check the
    names and order ourselves, so serve a shallow copy without the recorded names, which
    skips the check (and the warnings machinery: ~6% of a small prediction's time).
    Pipelines and meta-estimators keep theirs; ``LoadedModel`` silences the warning."""
    if "feature_names_in_" not in getattr(predictor, "__dict__", {}):
        return predictor
    if hasattr(predictor, "steps") or hasattr(predictor, "estimator"):
        return predictor
    bare = copy.copy(predictor)
    del bare.feature_names_in_
    return bare


def _default_positive(spec: ModelSpec, path: Path, classes: tuple[Any, ...]) -> Any:
    declared = spec.pos_label
    if declared is not None:
        if declared not in classes:
            raise ModelLoadError(
                spec.name,
                str(path),
                f"pos_label {declared!r} is not one of the classes {list(classes)}",
            )
        return declared
    if len(classes) == 2 and set(classes) in ({0, 1}, {-1, 1}, {False, True}):
        return classes[1]
    return None


def _probed(loaded: LoadedModel, path: Path) -> LoadedModel:
    """Predict one valid row now, so that a model that cannot serve fails at start.

    A table input that the installed scikit-learn does not take as Arrow is retried
    as a pandas DataFrame."""
    row = loaded.schema.probe_row()
    method = "predict_proba" if loaded.has_proba else "predict"
    error = _probe(loaded, row)
    if error is not None and loaded.schema.frame and loaded.schema.container == "arrow":
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ModelLoadError(
                loaded.name,
                str(path),
                f"{method}() fails on a probe row {row} given as an Arrow table ({error}); "
                "if the model needs a pandas DataFrame, install pandas "
                "(pip install 'liveeval[pandas]')",
            ) from None
        loaded.schema = InputSchema(
            loaded.schema.model, loaded.schema.features, frame=True, container="pandas"
        )
        if _probe(loaded, row) is None:
            return loaded
    if error is not None:
        raise ModelLoadError(
            loaded.name, str(path), f"{method}() fails on a probe row {row}: {error}"
        )
    return loaded


def _probe(loaded: LoadedModel, row: dict[str, Any]) -> str | None:
    """None if the model answers one row in the expected shape, else what went wrong."""
    try:
        x = loaded.inputs([row])
        if not loaded.has_proba:
            labels = np.asarray(loaded._call("predict", x)).reshape(-1)
            if len(labels) != 1:
                return f"{len(labels)} labels for one row"
            return _among_classes(labels[0], loaded.classes)
        proba = loaded.proba(x)
    except Exception as exc:  # the model's own code: any error is possible
        return f"{type(exc).__name__}: {exc}"
    if proba.shape != (1, len(loaded.classes)):
        return (
            f"it returned an array of shape {proba.shape} for one row; expected (1, "
            f"{len(loaded.classes)}) for the classes {list(loaded.classes)}"
        )
    return None


def _among_classes(label: Any, classes: tuple[Any, ...]) -> str | None:
    """None if ``label`` is one of ``classes`` (``1`` and ``1.0`` are one class)."""
    value = label.item() if isinstance(label, np.generic) else label
    try:
        known = canonical_label(value) in {canonical_label(c) for c in classes}
    except LiveevalError:
        known = False
    if known:
        return None
    return (
        f"it predicted {value!r}, which is not one of the classes {list(classes)} "
        "(a regressor cannot be served as a classifier)"
    )


# -- ONNX and PyTorch ----------------------------------------------------------------


def _runtime(
    spec: ModelSpec, path: Path, module: str, what: str, extra: str
) -> tuple[Any, tuple[Feature, ...], tuple[Any, ...]]:
    """Import an optional model runtime, and check the config says what the file cannot:
    the input features (numbers) and the classes."""
    try:
        runtime = importlib.import_module(module)
    except ImportError:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"is {what} model; install {module} (pip install 'liveeval[{extra}]')",
        ) from None
    if spec.features is None or spec.classes is None:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"{what} model needs 'features' and 'classes' in the config (or --features)",
        )
    try:
        features = parse_features(spec.features)
    except ValueError as exc:
        raise ModelLoadError(spec.name, str(path), f"features: {exc}") from None
    text = [f.name for f in features if f.type != NUMBER]
    if text:
        raise ModelLoadError(
            spec.name, str(path), f"{what} model takes numbers only; {text} are declared text"
        )
    return runtime, features, tuple(spec.classes)


def _load_onnx(spec: ModelSpec, path: Path) -> LoadedModel:
    onnxruntime, features, classes = _runtime(spec, path, "onnxruntime", "an ONNX", "onnx")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(spec.name, str(path), f"cannot be loaded: {exc}") from None
    # Not probed: an exported graph may take a fixed batch size only, and serve it.
    return LoadedModel(
        spec,
        session,
        InputSchema(spec.name, features),
        classes,
        _default_positive(spec, path, classes),
        "onnx",
    )


def _load_torch(spec: ModelSpec, path: Path) -> LoadedModel:
    """TorchScript (``.pt``, ``torch.jit.save``) or ``torch.export`` (``.pt2``) programs."""
    torch, features, classes = _runtime(spec, path, "torch", "a PyTorch", "torch")
    if spec.output not in ("logits", "probabilities", "proba"):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"output must be 'logits' or 'probabilities', not {spec.output!r}",
        )
    try:
        if path.suffix.lower() == ".pt2":
            module = torch.export.load(str(path)).module()
        else:
            module = torch.jit.load(str(path), map_location="cpu")
            module.eval()
    except Exception as exc:  # torch raises many untyped errors for bad files
        raise ModelLoadError(spec.name, str(path), f"cannot be loaded: {exc}") from None
    torch.set_num_threads(1)
    # Not probed: an exported program may take a fixed batch size only, and serve it.
    return LoadedModel(
        spec,
        module,
        InputSchema(spec.name, features),
        classes,
        _default_positive(spec, path, classes),
        "torch",
    )
