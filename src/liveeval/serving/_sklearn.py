"""What a fitted scikit-learn model tells about its raw inputs: which columns a
``ColumnTransformer`` selects by name, and which an encoder fitted on strings reads
(with the categories it knows). Only public fitted attributes are read:
``steps``, ``transformers_``, ``categories_``, ``handle_unknown``, ``statistics_``."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["selects_by_name", "text_inputs"]


def _first_steps(estimator: Any) -> Any:
    """The step of a Pipeline that sees the raw input."""
    while hasattr(estimator, "steps"):
        steps = [s for _, s in estimator.steps if s not in (None, "passthrough")]
        if not steps:
            return None
        estimator = steps[0]
    return estimator


def selects_by_name(estimator: Any) -> bool:
    """A ColumnTransformer (first in a Pipeline) that picks columns by name, which
    scikit-learn allows only on tables with named columns."""
    first = _first_steps(estimator)
    transformers = getattr(first, "transformers_", None)
    if transformers is None:
        return False
    for _, _, columns in transformers:
        if isinstance(columns, str) or callable(columns):
            return True
        if isinstance(columns, (list, tuple)) and any(isinstance(c, str) for c in columns):
            return True
        if isinstance(columns, slice) and isinstance(columns.start or columns.stop, str):
            return True
    return False


def _columns(spec: Any, names: list[str]) -> list[str]:
    """The input names a fitted ColumnTransformer entry applies to."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, (int, np.integer)):
        return [names[int(spec)]]
    if isinstance(spec, slice):
        if isinstance(spec.start, str) or isinstance(spec.stop, str):
            start = names.index(spec.start) if spec.start is not None else 0
            stop = names.index(spec.stop) + 1 if spec.stop is not None else len(names)
            return names[start:stop]
        return names[spec]
    values = list(np.asarray(spec).reshape(-1)) if not isinstance(spec, list) else spec
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return [n for n, keep in zip(names, values, strict=False) if keep]
    out = []
    for v in values:
        if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            out.append(names[int(v)])
        elif isinstance(v, str):
            out.append(v)
    return out


def text_inputs(estimator: Any, names: list[str]) -> dict[str, tuple[frozenset[str], bool]]:
    """Inputs that an encoder fitted on strings reads: name -> (its categories, whether
    the encoder rejects other values)."""
    first = _first_steps(estimator)
    if first is None:
        return {}
    transformers = getattr(first, "transformers_", None)
    if transformers is not None:
        found: dict[str, tuple[frozenset[str], bool]] = {}
        for _, transformer, spec in transformers:
            if isinstance(transformer, str):  # "drop" / "passthrough"
                continue
            try:
                columns = _columns(spec, names)
            except (IndexError, ValueError, TypeError):
                continue
            found.update(text_inputs(transformer, columns))
        return found
    encoder = _encoder(estimator)
    categories = getattr(encoder, "categories_", None)
    if not isinstance(categories, list) or len(categories) != len(names):
        return {}
    strict = getattr(encoder, "handle_unknown", "error") == "error"
    found = {}
    for name, values in zip(names, categories, strict=True):
        texts = [v for v in values if isinstance(v, str)]
        others = [v for v in values if not isinstance(v, str) and v is not None and v == v]
        if texts and not others:
            found[name] = (frozenset(texts), strict and len(texts) == len(values))
    return found


def _encoder(estimator: Any) -> Any:
    """The encoder (an estimator with ``categories_``) that reads the raw columns: the
    estimator itself, or the first one in a Pipeline after steps that keep each column
    as it is (imputers without missing-value indicators)."""
    steps = (
        [s for _, s in estimator.steps if s not in (None, "passthrough")]
        if hasattr(estimator, "steps")
        else [estimator]
    )
    for step in steps:
        if hasattr(step, "categories_"):
            return step
        if not hasattr(step, "statistics_") or getattr(step, "add_indicator", False):
            return None
    return None
