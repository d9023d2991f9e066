"""Loading scikit-learn models (joblib/pickle files).

**Unpickling runs code**: load only files you trust. The model is the source of truth
for what it records: ``feature_names_in_`` (its inputs are fed by name, in its order,
whatever order the config lists them in), ``n_features_in_`` and ``classes_`` (a config
that lists other classes, or the same in another order, is refused).
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

from ..errors import ModelLoadError
from ._declared import check_classes, declared_features, declared_output, default_positive
from ._sklearn import selects_by_name, text_inputs
from .check import check_model, probe_outputs
from .inputs import NUMBER, STRING, Feature, InputSchema
from .model import LoadedModel, ModelSpec

__all__ = ["load_sklearn"]


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


def load_sklearn(spec: ModelSpec, path: Path) -> LoadedModel:
    """Unpickle a scikit-learn model and run the load check on it."""
    predictor = _unpickle(spec, path)
    has_proba = hasattr(predictor, "predict_proba")
    if not has_proba and not hasattr(predictor, "predict"):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"holds a {type(predictor).__name__}, which has neither predict_proba() nor "
            "predict(); expected a fitted classifier",
        )
    output = _sklearn_output(spec, path, has_proba)
    features = _sklearn_features(spec, path, predictor)
    frame = selects_by_name(predictor) or any(f.type == STRING for f in features)
    fitted = getattr(predictor, "classes_", None)
    if fitted is not None:
        classes = tuple(c.item() if hasattr(c, "item") else c for c in np.asarray(fitted))
        check_classes(
            spec,
            path,
            classes,
            "the model's classes",
            "leave 'classes' out for scikit-learn models (they come from the model's classes_)",
        )
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
        default_positive(spec, path, classes),
        "sklearn",
        output=output,
        # A Pipeline or meta-estimator fitted on a DataFrame, given our bare matrix.
        quiet_names=not frame and hasattr(served, "feature_names_in_"),
    )
    # Limit native thread pools: per-request inference on two cores oversubscribes otherwise.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    return _checked(loaded, path)


def _sklearn_output(spec: ModelSpec, path: Path, has_proba: bool) -> str:
    output = declared_output(spec, path, ("probabilities", "label"))
    if output == "probabilities" and not has_proba:
        raise ModelLoadError(
            spec.name,
            str(path),
            "output = 'probabilities', but the model has no predict_proba(); set "
            "output = 'label' or leave it out",
        )
    return output or ("probabilities" if has_proba else "label")


def _checked(loaded: LoadedModel, path: Path) -> LoadedModel:
    """The load check; a table input that the installed scikit-learn does not take as
    Arrow is retried as a pandas DataFrame."""
    found = probe_outputs(loaded)
    if isinstance(found, str) and loaded.schema.frame and loaded.schema.container == "arrow":
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ModelLoadError(
                loaded.name,
                str(path),
                f"{found} (given as an Arrow table); if the model needs a pandas DataFrame, "
                "install pandas (pip install 'liveeval[pandas]')",
            ) from None
        loaded.schema = InputSchema(
            loaded.schema.model, loaded.schema.features, frame=True, container="pandas"
        )
        retried = probe_outputs(loaded)
        if not isinstance(retried, str):
            found = retried
    check_model(loaded, path, found)
    return loaded


def _sklearn_features(spec: ModelSpec, path: Path, predictor: Any) -> tuple[Feature, ...]:
    """Names from the model (``feature_names_in_``) or the config, in the model's order;
    types from the config, else text where an encoder was fitted on strings."""
    declared = declared_features(spec, path)
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
        count = getattr(predictor, "n_features_in_", None)
        takes = f"takes {int(count)} features but " if isinstance(count, (int, np.integer)) else ""
        raise ModelLoadError(
            spec.name,
            str(path),
            f"the model {takes}does not record its feature names; list them in order with "
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
