"""A served model's input schema: feature names and types, request validation, and
the input handed to the model.

A feature is declared as ``name`` (a number) or ``name:type`` with a type from
:data:`FEATURE_TYPES` (``country:string``); a name that itself contains ``:`` must
end with its type (``a:b:number``). Numeric models get a float matrix built in one
pass with no other allocation (the predict fast path); a model with a text input,
or a scikit-learn ``ColumnTransformer`` that picks its columns by name, gets an
Arrow table with one typed column per feature, which scikit-learn reads like a
DataFrame (or a pandas DataFrame, where the installed scikit-learn needs one). An
ONNX graph with one input per column gets one ``(n, 1)`` array per feature, by name.

Numbers are checked against the range of the dtype the model takes (``float32``,
``float64`` or ``int64``): ``1e39`` for a ``float32`` input is a
:class:`~liveeval.errors.ValidationError`, never an ``inf`` handed to the model.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError

__all__ = ["FEATURE_TYPES", "Feature", "InputSchema", "parse_features"]

NUMBER = "number"
STRING = "string"
FEATURE_TYPES = (NUMBER, STRING)
# What a number is handed to the model as, and the values it can hold.
NUMBER_DTYPES = ("float64", "float32", "int64")
_RANGE = {
    "float64": (-sys.float_info.max, sys.float_info.max),
    "float32": (-float(np.finfo(np.float32).max), float(np.finfo(np.float32).max)),
    "int64": (-(2**63), 2**63 - 1),
}
# Categories listed in an error message before it says "… and N more".
_SHOWN = 20


@dataclass(frozen=True)
class Feature:
    """One input field: its name, its type and, for text the model encodes, the
    categories it was fitted on (checked only when the model rejects others: ``strict``).
    ``dtype`` is what a number is handed to the model as (one of :data:`NUMBER_DTYPES`)."""

    name: str
    type: str = NUMBER
    categories: frozenset[str] | None = None
    strict: bool = False
    dtype: str = "float64"


def parse_features(texts: Sequence[str]) -> tuple[Feature, ...]:
    """Features from ``name`` / ``name:type`` declarations (``--features`` or config).

    Raises
    ------
    ValueError
        for an empty name, an unknown type or a name given twice (the caller adds
        the model and where the declaration came from).
    """
    features: list[Feature] = []
    for text in texts:
        name, kind = str(text), NUMBER
        head, sep, tail = name.rpartition(":")
        if sep:
            if tail not in FEATURE_TYPES:
                close = difflib.get_close_matches(tail, FEATURE_TYPES, n=1, cutoff=0.5)
                hint = f"; did you mean '{head}:{close[0]}'?" if close else ""
                raise ValueError(
                    f"feature {text!r}: unknown type {tail!r}{hint} (types: "
                    f"{', '.join(FEATURE_TYPES)}; a name containing ':' must end with its type)"
                )
            name, kind = head, tail
        if not name.strip():
            raise ValueError(f"feature {text!r}: empty name")
        if any(f.name == name for f in features):
            raise ValueError(f"feature {name!r} is listed twice")
        features.append(Feature(name, kind))
    if not features:
        raise ValueError("no features listed")
    return tuple(features)


def _shown(categories: frozenset[str]) -> str:
    ordered = sorted(categories)
    listed = ", ".join(repr(c) for c in ordered[:_SHOWN])
    more = f" and {len(ordered) - _SHOWN} more" if len(ordered) > _SHOWN else ""
    return f"[{listed}{more}]"


@dataclass(frozen=True)
class InputSchema:
    """What a model takes, and how a request's rows become the model's input.

    Parameters
    ----------
    model:
        The model's name, for messages.
    features:
        The inputs in the order the model takes them.
    frame:
        Build a table with named, typed columns (text inputs, or a model that selects
        columns by name) instead of a float matrix.
    container:
        For ``frame`` inputs: ``"arrow"`` (a ``pyarrow.Table``), ``"pandas"`` (a
        ``pandas.DataFrame``), ``"objects"`` (a 2-D object array, for a model fitted
        on an array, which would warn about names it was not fitted with), or
        ``"columns"`` (a dict of ``(n, 1)`` arrays by name, in each feature's dtype: an
        ONNX graph with one input per column).

    A float matrix (``frame`` false) is built in the features' common dtype
    (``float64`` or ``float32``).
    """

    model: str
    features: tuple[Feature, ...]
    frame: bool = False
    container: str = "arrow"
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    dtype: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Read on every request: computed once.
        object.__setattr__(self, "names", tuple(f.name for f in self.features))
        dtypes = {f.dtype for f in self.features if f.type == NUMBER} or {"float64"}
        if not self.frame and (len(dtypes) > 1 or dtypes <= {"int64"}):
            raise ValueError(
                f"model '{self.model}': a matrix input takes one float dtype, not {sorted(dtypes)}"
            )
        object.__setattr__(self, "dtype", dtypes.pop() if len(dtypes) == 1 else "float64")

    def build(self, rows: list[dict[str, Any]]) -> Any:
        """Validate request rows and build the model's input.

        Raises
        ------
        ValidationError
            naming the row (``inputs[i]``, counted from 0 as in the request) and the
            field: a missing or unknown feature, a value of the wrong type, a number
            that is not finite, a category the model does not know.
        """
        if not self.frame:
            return self.matrix(rows)
        return self.table(rows)

    def _check_names(self, i: int, row: Mapping[str, Any], names: tuple[str, ...]) -> None:
        missing = [f for f in names if f not in row]
        if missing:
            raise ValidationError(
                f"inputs[{i}] lacks feature(s) {missing}; model '{self.model}' expects "
                f"{list(names)}"
            )
        extra = [k for k in row if k not in names]
        if extra:
            raise ValidationError(
                f"inputs[{i}] has unknown feature(s) {extra}; model '{self.model}' expects "
                f"{list(names)}"
            )

    def matrix(self, rows: list[dict[str, Any]]) -> npt.NDArray[np.float64]:
        """All-numeric inputs stacked into one float matrix (features in order)."""
        names = self.names
        out = np.empty((len(rows), len(names)), dtype=self.dtype)
        low, high = _RANGE[self.dtype]
        n = len(names)
        for i, row in enumerate(rows):
            if len(row) != n:
                self._check_names(i, row, names)
            for j, name in enumerate(names):
                try:
                    value = row[name]
                except KeyError:  # as many keys as features, so one is unknown
                    self._check_names(i, row, names)
                    raise
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise self._not_a_number(i, name, value)
                # One comparison: fails for NaN, infinities and what the dtype cannot hold.
                if not low <= value <= high:
                    raise self._out_of_range(i, name, value, self.dtype)
                out[i, j] = value
        return out

    def _out_of_range(self, i: int, name: str, value: Any, dtype: str) -> ValidationError:
        if isinstance(value, float) and not math.isfinite(value):
            return ValidationError(f"inputs[{i}].{name} is {value!r}; expected a finite number")
        low, high = _RANGE[dtype]
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        return ValidationError(
            f"inputs[{i}].{name} is {shown}, which model '{self.model}' cannot take: its "
            f"{dtype} input holds numbers from {low:.8g} to {high:.8g}"
        )

    def _not_a_number(self, i: int, name: str, value: Any) -> ValidationError:
        hint = (
            f" (if model '{self.model}' takes text here, declare the feature as '{name}:string')"
            if isinstance(value, str)
            else ""
        )
        return ValidationError(f"inputs[{i}].{name} is {value!r}; expected a number{hint}")

    def columns(self, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """Validated values, one list per feature."""
        names = self.names
        columns: dict[str, list[Any]] = {name: [] for name in names}
        n = len(names)
        for i, row in enumerate(rows):
            if len(row) != n:
                self._check_names(i, row, names)
            for feature in self.features:
                try:
                    value = row[feature.name]
                except KeyError:
                    self._check_names(i, row, names)
                    raise
                if feature.type == STRING:
                    if not isinstance(value, str):
                        raise ValidationError(
                            f"inputs[{i}].{feature.name} is {value!r}; expected a string"
                        )
                    if (
                        feature.strict
                        and feature.categories is not None
                        and value not in feature.categories
                    ):
                        raise ValidationError(
                            f"inputs[{i}].{feature.name} is {value!r}; model '{self.model}' "
                            f"knows only {_shown(feature.categories)}"
                        )
                else:
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise self._not_a_number(i, feature.name, value)
                    low, high = _RANGE[feature.dtype]
                    if not low <= value <= high:
                        raise self._out_of_range(i, feature.name, value, feature.dtype)
                    if feature.dtype == "int64":
                        if value != int(value):
                            raise ValidationError(
                                f"inputs[{i}].{feature.name} is {value!r}; model "
                                f"'{self.model}' takes a whole number here"
                            )
                        value = int(value)
                    else:
                        value = float(value)
                columns[feature.name].append(value)
        return columns

    def table(self, rows: list[dict[str, Any]]) -> Any:
        """Typed columns: a ``pyarrow.Table`` or a ``pandas.DataFrame`` with the feature
        names, or (for a model fitted without names) a 2-D object array."""
        import pyarrow as pa

        columns = self.columns(rows)
        if self.container == "columns":
            return {
                f.name: np.array(
                    columns[f.name], dtype=object if f.type == STRING else f.dtype
                ).reshape(-1, 1)
                for f in self.features
            }
        if self.container == "objects":
            out = np.empty((len(rows), len(self.features)), dtype=object)
            for j, f in enumerate(self.features):
                out[:, j] = columns[f.name]
            return out
        table = pa.table(
            {
                f.name: pa.array(columns[f.name], pa.string() if f.type == STRING else pa.float64())
                for f in self.features
            }
        )
        if self.container == "pandas":
            return table.to_pandas()
        return table

    def probe_row(self) -> dict[str, Any]:
        """One valid row: 0.0 for numbers, a known category (or "") for text."""
        return self.probe_rows(1)[0]

    def probe_rows(self, n: int) -> list[dict[str, Any]]:
        """``n`` valid rows for the load check: row ``k`` has ``k`` for numbers (0, 1,
        2, …) and the ``k``-th known category (cycling; "" when none is known) for text."""
        rows: list[dict[str, Any]] = []
        for k in range(n):
            row: dict[str, Any] = {}
            for f in self.features:
                if f.type == STRING:
                    known = sorted(f.categories) if f.categories else [""]
                    row[f.name] = known[k % len(known)]
                else:
                    row[f.name] = k if f.dtype == "int64" else float(k)
            rows.append(row)
        return rows
