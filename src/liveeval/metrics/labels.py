"""Discovering class labels and encoding label arrays as integer codes.

Labels may be any hashable, sortable values (ints, strings, booleans). An array
value outside the declared labels is an error naming its first row, never
dropped: scikit-learn's ``confusion_matrix(labels=...)`` silently drops such rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from ..errors import UnknownLabelError, ValidationError

__all__ = [
    "Label",
    "canonical_label",
    "discover_labels",
    "encode_labels",
    "label_key",
    "normalise_label",
    "sort_labels",
]

Label = Hashable
IntArray = npt.NDArray[np.int64]


def normalise_label(value: object) -> Label:
    """Turn numpy scalars into plain Python values so labels compare and print well."""
    if isinstance(value, np.generic):
        item: Label = value.item()
        return item
    if not isinstance(value, Hashable):
        raise ValidationError(f"label {value!r} is not hashable")
    return value


_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})


def canonical_label(value: object) -> Label:
    """The one value that stands for a label whatever JSON type it arrived as.

    The rule (documented in docs/labels.md): numpy scalars become Python values;
    ``true``/``false`` (booleans or those words) become ``1``/``0``; a finite
    number with an integral value becomes an ``int`` (``1.0`` -> ``1``); a string
    that spells a number becomes that number (``"1"``, ``"1.0"`` -> ``1``,
    ``"0.5"`` -> ``0.5``); any other string stays as it is. So ``1``, ``1.0``,
    ``"1"`` and ``true`` are one class, and ``"spam"`` another.

    Raises
    ------
    ValidationError
        for NaN, infinities, and values that are not scalars.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValidationError(f"label {value!r} is not a finite number")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, str):
        if value in _TRUE:
            return 1
        if value in _FALSE:
            return 0
        text = value.strip()
        # ASCII only: float() also reads other scripts' digits ("٣" is 3).
        if (
            text.isascii()
            and text
            and (text[0].isdigit() or text[0] in "+-.")
            and text not in ("+", "-", ".")
        ):
            try:
                number = float(text)
            except ValueError:
                return value
            if np.isfinite(number):
                return canonical_label(number)
        return value
    raise ValidationError(
        f"label {value!r} ({type(value).__name__}) is not a string, number or boolean"
    )


def label_key(value: object) -> str:
    """A text key of :func:`canonical_label`, for dictionaries across JSON types."""
    canonical = canonical_label(value)
    return f"s:{canonical}" if isinstance(canonical, str) else f"n:{canonical!r}"


def sort_labels(values: Iterable[Label]) -> tuple[Label, ...]:
    """The distinct labels of ``values`` in ascending order; numbers before text.

    scikit-learn refuses to order labels of mixed kinds, but a store can hold them (an
    undeclared model that was sent ``"a"`` and ``2``), and a read must never fail on
    data that was accepted: numbers come first by value, then text by code point.
    """
    unique = {normalise_label(v) for v in values}
    try:
        return tuple(sorted(unique))  # type: ignore[type-var]
    except TypeError:
        return tuple(sorted(unique, key=_mixed_order))


def _mixed_order(label: Label) -> tuple[int, float, str]:
    if isinstance(label, int | float):
        return (0, float(label), "")
    return (1, 0.0, str(label))


def discover_labels(*arrays: npt.ArrayLike | None) -> tuple[Label, ...]:
    """Sorted union of the distinct values of ``arrays`` (like scikit-learn's ``unique_labels``)."""
    found: list[Label] = []
    for array in arrays:
        if array is None:
            continue
        values = np.asarray(array)
        if values.size == 0:
            continue
        if values.dtype.kind in "fc" and np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values))[0])
            raise ValidationError("label is NaN; labels must be present", row=row)
        if values.dtype.kind == "O":
            found.extend(set(values.tolist()))
        else:
            found.extend(np.unique(values).tolist())
    return sort_labels(found)


def encode_labels(
    array: npt.ArrayLike, labels: Sequence[Label], *, what: str = "label"
) -> IntArray:
    """Map each value of ``array`` to its index in ``labels``.

    Raises
    ------
    UnknownLabelError
        naming the first row whose value is not in ``labels``.
    """
    values = np.asarray(array)
    if values.ndim != 1:
        raise ValidationError(f"{what} must be one-dimensional, got shape {values.shape}")
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    if values.size == 0:
        return codes
    if values.dtype.kind in "biuf" and all(
        isinstance(label, (int, float, bool, np.number)) for label in labels
    ):
        # Numeric fast path: O(n log k) by binary search in the sorted labels.
        order = np.argsort(np.asarray(labels, dtype=np.float64), kind="stable")
        sorted_labels = np.asarray(labels, dtype=np.float64)[order]
        position = np.searchsorted(sorted_labels, values)
        position = np.minimum(position, len(sorted_labels) - 1)
        matched = sorted_labels[position] == values
        codes[matched] = order[position[matched]]
    else:
        index = {normalise_label(label): i for i, label in enumerate(labels)}
        try:
            uniques, inverse = np.unique(values.astype(object), return_inverse=True)
        except TypeError:  # text and numbers together: no order, so map row by row
            uniques, inverse = values.astype(object), np.arange(values.shape[0])
        mapped = np.array([index.get(normalise_label(u), -1) for u in uniques], dtype=np.int64)
        codes = mapped[inverse.reshape(-1)]
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        row = int(bad[0])
        raise UnknownLabelError(
            f"{what} {normalise_label(values[row])!r} is not one of the declared classes "
            f"{list(labels)!r} ({bad.size} row(s) affected)",
            row=row,
        )
    return codes
