"""The confusion matrix as a mergeable sufficient statistic, and the metrics of it.

Rows are actual classes, columns predicted classes (scikit-learn's layout). Cells
hold summed weights; a second matrix holds summed squared weights so that
intervals can use linearised variances (and Kish's effective sample size) when
rows are weighted, and a third the row count per cell, so that ``n`` counts rows
whatever the weights (``None`` when a caller built the matrix without it).

The formula functions take arrays of shape ``(..., k, k)`` so the same code gives
the point estimate and all bootstrap replicates at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from .labels import Label, discover_labels, encode_labels

__all__ = ["ConfusionMatrix", "cells", "safe_divide"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def safe_divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """Elementwise ratio that is NaN where the denominator is 0."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def cells(counts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """One-vs-rest TP, FP, FN, TN per class, each of shape ``(..., k)``."""
    tp = np.diagonal(counts, axis1=-2, axis2=-1)
    actual = counts.sum(axis=-1)
    predicted = counts.sum(axis=-2)
    total = counts.sum(axis=(-2, -1))[..., None]
    fp = predicted - tp
    fn = actual - tp
    tn = total - tp - fp - fn
    return tp, fp, fn, tn


def validate_weight(weight: npt.ArrayLike | None, n: int) -> FloatArray | None:
    """Check a weight column: one finite, non-negative number per row."""
    if weight is None:
        return None
    w = np.asarray(weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValidationError(f"weight has shape {w.shape}, expected ({n},)", column="weight")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        row = int(bad[0])
        raise ValidationError(
            f"{float(w[row])!r} is not a finite non-negative weight", column="weight", row=row
        )
    return w


@dataclass(eq=False)
class ConfusionMatrix:
    """Weighted confusion-matrix counts over declared ``labels``.

    Examples
    --------
    >>> cm = ConfusionMatrix.from_arrays([1, 1, 0, 0], [1, 0, 0, 0])
    >>> cm.counts.tolist()
    [[2.0, 0.0], [1.0, 1.0]]
    """

    labels: tuple[Label, ...]
    counts: FloatArray = field(repr=False)
    squares: FloatArray = field(repr=False)
    rows: FloatArray | None = field(default=None, repr=False)

    @classmethod
    def empty(cls, labels: Sequence[Label]) -> ConfusionMatrix:
        k = len(labels)
        if k == 0:
            raise ValidationError("at least one class label is needed")
        if len(set(labels)) != k:
            raise ValidationError(f"class labels must be distinct, got {list(labels)!r}")
        return cls(tuple(labels), np.zeros((k, k)), np.zeros((k, k)), np.zeros((k, k)))

    @classmethod
    def from_arrays(
        cls,
        y_true: npt.ArrayLike,
        y_pred: npt.ArrayLike,
        *,
        labels: Sequence[Label] | None = None,
        weight: npt.ArrayLike | None = None,
    ) -> ConfusionMatrix:
        """Count ``y_true`` against ``y_pred``; labels are discovered when not given."""
        if labels is None:
            labels = discover_labels(y_true, y_pred)
        cm = cls.empty(labels)
        true_codes = encode_labels(y_true, cm.labels, what="y_true")
        pred_codes = encode_labels(y_pred, cm.labels, what="y_pred")
        return cm.update_codes(true_codes, pred_codes, weight)

    @property
    def k(self) -> int:
        return len(self.labels)

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    @property
    def effective_n(self) -> float:
        """Kish's effective sample size; equals the row count when unweighted."""
        sq = float(self.squares.sum())
        return self.total**2 / sq if sq > 0 else 0.0

    @property
    def is_weighted(self) -> bool:
        return not np.array_equal(self.counts, self.squares)

    def row_count(self, mask: npt.NDArray[np.bool_] | None = None) -> int:
        """Rows in the cells of ``mask`` (all cells by default).

        Unweighted, the counts are the rows. Weighted without stored row counts,
        Kish's effective size of those cells stands in.
        """
        m = np.ones(self.counts.shape, dtype=bool) if mask is None else mask
        if self.rows is not None:
            return int(round(float(self.rows[m].sum())))
        total = float(self.counts[m].sum())
        if not self.is_weighted:
            return int(round(total))
        sq = float(self.squares[m].sum())
        return int(round(total * total / sq)) if sq > 0 else 0

    def update_codes(
        self,
        true_codes: IntArray,
        pred_codes: IntArray,
        weight: npt.ArrayLike | None = None,
    ) -> ConfusionMatrix:
        """Add rows given as integer codes into ``labels`` (in place; returns self)."""
        t = np.asarray(true_codes, dtype=np.int64)
        p = np.asarray(pred_codes, dtype=np.int64)
        if t.shape != p.shape:
            raise ValidationError(
                f"y_true has {t.shape[0]} rows but y_pred has {p.shape[0]}", column="y_pred"
            )
        k = self.k
        w = validate_weight(weight, t.shape[0])
        flat = t * k + p
        rows = np.bincount(flat, minlength=k * k).astype(np.float64).reshape(k, k)
        if w is None:
            self.counts += rows
            self.squares += rows
        else:
            self.counts += np.bincount(flat, weights=w, minlength=k * k).reshape(k, k)
            self.squares += np.bincount(flat, weights=w * w, minlength=k * k).reshape(k, k)
        if self.rows is not None:
            self.rows += rows
        return self

    def _aligned(
        self, labels: tuple[Label, ...]
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        if labels == self.labels:
            return self.counts, self.squares, self._known_rows
        index = [labels.index(label) for label in self.labels]
        k = len(labels)
        counts, squares = np.zeros((k, k)), np.zeros((k, k))
        counts[np.ix_(index, index)] = self.counts
        squares[np.ix_(index, index)] = self.squares
        rows = None
        if self._known_rows is not None:
            rows = np.zeros((k, k))
            rows[np.ix_(index, index)] = self._known_rows
        return counts, squares, rows

    @property
    def _known_rows(self) -> FloatArray | None:
        if self.rows is not None:
            return self.rows
        return None if self.is_weighted else self.counts

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """A new matrix holding both; differing label sets are united (sorted)."""
        if other.labels == self.labels:
            labels = self.labels
        else:
            labels = discover_labels(np.array(list(self.labels) + list(other.labels), dtype=object))
        a_counts, a_squares, a_rows = self._aligned(labels)
        b_counts, b_squares, b_rows = other._aligned(labels)
        rows = None if a_rows is None or b_rows is None else a_rows + b_rows
        return ConfusionMatrix(labels, a_counts + b_counts, a_squares + b_squares, rows)

    def index_of(self, label: Label) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise ValidationError(
                f"positive label {label!r} is not one of the classes {list(self.labels)!r}"
            ) from None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "labels": list(self.labels),
            "counts": self.counts.tolist(),
            "squares": self.squares.tolist(),
        }
        if self.rows is not None:
            out["rows"] = self.rows.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ConfusionMatrix:
        raw = data["labels"]
        if not isinstance(raw, (list, tuple)):
            raise ValidationError("confusion matrix labels must be a list")
        labels: tuple[Label, ...] = tuple(raw)
        rows = data.get("rows")
        return cls(
            labels,
            np.asarray(data["counts"], dtype=np.float64),
            np.asarray(data["squares"], dtype=np.float64),
            None if rows is None else np.asarray(rows, dtype=np.float64),
        )
