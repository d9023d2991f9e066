"""Turning what a model server holds (numpy and pandas scalars and arrays, datetimes)
into JSON types, at the ``log_*`` call, so that a value that cannot be sent is an
error the caller sees and never an exception in the sender thread.

Nothing here imports numpy or pandas: their values are recognised by what they offer
(``item()``, ``tolist()``, ``dtype``, ``ndim``), so the client stays stdlib-only.

The rules, per field:

- missing: ``None``, ``pd.NA``, ``pd.NaT``, ``np.datetime64("NaT")`` leave the field out;
- a label is one ``str``, ``int``, ``bool`` or ``float`` (numpy/pandas scalars and 0-d
  arrays included); a list or an array of several values is an error;
- a number (score, value, latency) is finite; NaN and infinity are errors, and so is a
  ``bool``;
- probabilities are a flat sequence of finite numbers (a list, a tuple, a 1-D array);
- a timestamp is a ``datetime`` (naive means UTC), ``pd.Timestamp``,
  ``np.datetime64``, ``date`` or an ISO 8601 string;
- features are a mapping with string keys whose values are any of the above, nested
  lists and mappings; there NaN is missing (JSON has no NaN) and infinity an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..errors import EventTypeError, EventValueError

__all__ = ["features", "identifier", "label", "number", "probabilities", "timestamp"]

_MISSING_TYPES = frozenset({"NAType", "NaTType"})


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__module__}.{type(value).__qualname__})".replace("builtins.", "")


def _is_missing(value: object) -> bool:
    return value is None or type(value).__name__ in _MISSING_TYPES


def _unwrap(value: Any, field: str) -> Any:
    """A numpy/pandas scalar or 0-d array as the Python scalar it holds; anything
    else unchanged. Datetimes come back as ``datetime`` (or None for NaT)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None or getattr(value, "ndim", None) != 0:
        return value
    kind = getattr(dtype, "kind", "")
    if kind == "M":  # datetime64: item() of a nanosecond value is an int
        return value.astype("datetime64[us]").item()
    if kind == "m":
        raise EventTypeError(
            f"{_describe(value)} is a duration; send it as a number of seconds",
            field=field,
            value=value,
        )
    return value.item()


def label(value: Any, field: str = "label") -> str | int | float | bool | None:
    """One class label as a JSON scalar; None when missing."""
    kind = type(value)
    if kind is int or kind is str or kind is bool:
        return value  # type: ignore[no-any-return]
    if _is_missing(value):
        return None
    raw = value
    value = _unwrap(value, field)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EventValueError(
                f"{_describe(raw)} is not a label; pass None (or pd.NA) for an unknown label",
                field=field,
                value=raw,
            )
        return float(value)
    if hasattr(value, "__len__") and not isinstance(value, Mapping):
        raise EventValueError(
            f"{_describe(raw)} holds {len(value)} values, not one label; "
            "pass one row's prediction, e.g. model.predict(X)[0]",
            field=field,
            value=raw,
        )
    raise EventTypeError(
        f"{_describe(raw)} is not a label; a label is a str, int, bool or float "
        "(numpy and pandas scalars included)",
        field=field,
        value=raw,
    )


def number(value: Any, field: str) -> float | int | None:
    """A finite number; None when missing."""
    kind = type(value)
    if kind is float:
        if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
            return value  # type: ignore[no-any-return]
    elif kind is int:
        return value  # type: ignore[no-any-return]
    if _is_missing(value):
        return None
    raw = value
    value = _unwrap(value, field)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise EventTypeError(
            f"{_describe(raw)} is not a number; send an int or a float", field=field, value=raw
        )
    result: float | int = float(value) if not isinstance(value, int) else int(value)
    if isinstance(result, float) and not math.isfinite(result):
        raise EventValueError(
            f"{_describe(raw)} is not a finite number; leave the field out (None) when there is none",
            field=field,
            value=raw,
        )
    return result


def probabilities(value: Any, field: str = "probas") -> list[float] | None:
    """A flat list of finite numbers; None when missing."""
    if _is_missing(value):
        return None
    raw = value
    ndim = getattr(value, "ndim", None)
    if ndim is not None and ndim != 1:
        raise EventValueError(
            f"an array of shape {getattr(value, 'shape', '?')} is not one row's probabilities; "
            "pass a 1-D sequence, e.g. model.predict_proba(X)[0]",
            field=field,
            value=raw,
        )
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise EventTypeError(
            f"{_describe(raw)} is not a sequence of probabilities; pass a list or a 1-D array",
            field=field,
            value=raw,
        )
    return [_probability(p, field, i) for i, p in enumerate(value)]


def _probability(value: Any, field: str, index: int) -> float:
    where = f"{field}[{index}]"
    if type(value) is float and value - value == 0.0:
        return value
    result = number(value, where)
    if result is None:
        raise EventValueError(
            f"{_describe(value)} is missing; every class needs a probability",
            field=where,
            value=value,
        )
    return float(result)


def identifier(value: Any, field: str) -> str | None:
    """A string (an id, a model name, a segment); None when missing."""
    if type(value) is str:
        return value
    if _is_missing(value):
        return None
    unwrapped = _unwrap(value, field)
    if isinstance(unwrapped, str):
        return str(unwrapped)
    raise EventTypeError(
        f"{_describe(value)} is not a string; convert it with str() if it is meant as one",
        field=field,
        value=value,
    )


def timestamp(value: Any, field: str = "ts") -> str | None:
    """An ISO 8601 timestamp in UTC (naive datetimes are taken as UTC); None when missing."""
    if _is_missing(value):
        return None
    raw = value
    value = _unwrap(value, field)
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return str(value.isoformat())
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).isoformat()
    raise EventTypeError(
        f"{_describe(raw)} is not a timestamp; send a datetime (naive means UTC), "
        "a pandas Timestamp, a numpy datetime64 or an ISO 8601 string",
        field=field,
        value=raw,
    )


def features(value: Any, field: str = "features") -> dict[str, Any] | None:
    """A mapping of feature names to JSON values; None when missing."""
    if _is_missing(value):
        return None
    if not isinstance(value, Mapping):
        raise EventTypeError(
            f"{_describe(value)} is not a mapping of feature names to values",
            field=field,
            value=value,
        )
    return _mapping(value, field)


def _mapping(value: Mapping[Any, Any], field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if type(key) is str else _key(key, field)
        out[name] = _json(item, f"{field}.{name}")
    return out


def _key(key: Any, field: str) -> str:
    unwrapped = _unwrap(key, field)
    if isinstance(unwrapped, str):
        return str(unwrapped)
    if isinstance(unwrapped, int) and not isinstance(unwrapped, bool):
        return str(int(unwrapped))
    raise EventTypeError(f"key {_describe(key)} is not a string", field=field, value=key)


def _json(value: Any, field: str) -> Any:
    """Any feature value as JSON: NaN and NaT become null, infinity is an error."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        if value - value == 0.0:
            return value
        if value != value:
            return None
        raise EventValueError(f"{value!r} is not a finite number", field=field, value=value)
    if _is_missing(value):
        return None
    value = _unwrap(value, field)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float | Decimal):
        return _json(float(value), field)
    if isinstance(value, datetime | date):
        return timestamp(value, field)
    if isinstance(value, Mapping):
        return _mapping(value, field)
    if getattr(value, "ndim", None) is not None and hasattr(value, "tolist"):
        dtype = getattr(value, "dtype", None)
        if getattr(dtype, "kind", "") == "M":
            value = value.astype("datetime64[us]")
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_json(v, f"{field}[{i}]") for i, v in enumerate(value)]
    raise EventTypeError(
        f"{_describe(value)} has no JSON form; send str, int, float, bool, None, datetimes, "
        "lists, mappings, or numpy/pandas scalars and arrays of those",
        field=field,
        value=value,
    )
