"""Binary scores from arrays into :class:`~liveeval.store.interface.ScoreHistogram`s.

The store keeps every binary model's scores in ``SCORE_BINS`` equal-width bins of
[0, 1] (score ``s`` in bin ``min(floor(s · SCORE_BINS), SCORE_BINS − 1)``); these
functions bin arrays from a file the same way, so a file and a live store give the
estimator the same input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ..metrics.ranking import validate_scores
from ..store.interface import SCORE_BINS, ScoreHistogram, SplitScoreHistogram

__all__ = [
    "SplitScoreHistogram",
    "labelled_by_prediction",
    "score_bins",
    "score_histogram",
    "score_histograms",
    "unlabelled_part",
]

IntArray = npt.NDArray[np.int64]


def score_bins(y_score: npt.ArrayLike) -> IntArray:
    """The score bin of every score: ``min(floor(s · SCORE_BINS), SCORE_BINS − 1)``.

    Raises
    ------
    ValidationError
        For a score outside [0, 1] or not a number, naming its row (from 0).
    """
    s = validate_scores(y_score)
    b = (s * SCORE_BINS).astype(np.int64)
    np.minimum(b, SCORE_BINS - 1, out=b)
    return b


def _binary(values: npt.ArrayLike, column: str, n: int) -> npt.NDArray[Any]:
    a = np.asarray(values)
    if a.shape != (n,):
        raise ValidationError(
            f"expected {n} values, one per score, got shape {a.shape}", column=column
        )
    return a


def _codes(
    a: npt.NDArray[Any], column: str, known: npt.NDArray[np.bool_] | None = None
) -> IntArray:
    """0/1 codes of a binary column (bools or the numbers 0 and 1), 0 where not ``known``."""
    if a.dtype == np.bool_:
        return a.astype(np.int64)
    bad = ~((a == 0) | (a == 1))
    if known is not None:
        bad &= known
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{a[row].item()!r} is not a binary label; accepted: 0, 1, False, True",
            column=column,
            row=row,
        )
    if known is not None:
        return np.where(known, a, 0).astype(np.int64)
    return a.astype(np.int64)


def score_histograms(
    window: npt.ArrayLike,
    n_windows: int,
    y_score: npt.ArrayLike,
    *,
    y_pred: npt.ArrayLike | None = None,
    y_true: npt.ArrayLike | None = None,
    threshold: float = 0.5,
) -> list[ScoreHistogram]:
    """One :class:`ScoreHistogram` per window, from row arrays, in one pass.

    Parameters
    ----------
    window:
        Each row's window, an integer in ``[0, n_windows)``.
    n_windows:
        Number of windows (histograms returned, empty ones included).
    y_score:
        Each row's score (probability of the positive class), in [0, 1].
    y_pred:
        Each row's predicted label (0/1 or bool); ``y_score >= threshold`` when None.
    y_true:
        Each row's actual label (0/1 or bool), NaN for rows without one yet; None when
        no row is labelled.
    threshold:
        Decision threshold used when ``y_pred`` is None.

    Raises
    ------
    ValidationError
        For scores outside [0, 1], labels other than 0/1, windows out of range, or
        arrays of different lengths.
    """
    b = score_bins(y_score)
    n = len(b)
    w = np.asarray(window)
    if w.shape != (n,) or (n and not np.issubdtype(w.dtype, np.integer)):
        raise ValidationError(
            f"windows must be {n} integers, one per score, got {w.dtype} of shape {w.shape}",
            column="window",
        )
    if n and (int(w.min()) < 0 or int(w.max()) >= n_windows):
        bad = int(np.flatnonzero((w < 0) | (w >= n_windows))[0])
        raise ValidationError(
            f"window {int(w[bad])} is outside [0, {n_windows})", column="window", row=bad
        )
    if y_pred is None:
        pred = (validate_scores(y_score) >= threshold).astype(np.int64)
    else:
        pred = _codes(_binary(y_pred, "y_pred", n), "y_pred")
    cell = (w.astype(np.int64) * 2) * SCORE_BINS
    predicted = np.bincount(cell + pred * SCORE_BINS + b, minlength=n_windows * 2 * SCORE_BINS)
    labelled = np.zeros_like(predicted)
    if y_true is not None:
        t = _binary(y_true, "y_true", n)
        if t.dtype.kind == "f":
            known = ~np.isnan(t)
            at = (cell + b + _codes(t, "y_true", known) * SCORE_BINS)[known]
        else:
            at = cell + b + _codes(t, "y_true") * SCORE_BINS
        labelled = np.bincount(at, minlength=n_windows * 2 * SCORE_BINS)
    predicted = predicted.reshape(n_windows, 2, SCORE_BINS).astype(np.int64)
    labelled = labelled.reshape(n_windows, 2, SCORE_BINS).astype(np.int64)
    return [ScoreHistogram(predicted[i], labelled[i]) for i in range(n_windows)]


def score_histogram(
    y_score: npt.ArrayLike,
    *,
    y_pred: npt.ArrayLike | None = None,
    y_true: npt.ArrayLike | None = None,
    threshold: float = 0.5,
) -> ScoreHistogram:
    """A :class:`ScoreHistogram` of row arrays; see :func:`score_histograms`."""
    n = len(np.asarray(y_score))
    return score_histograms(
        np.zeros(n, dtype=np.int64), 1, y_score, y_pred=y_pred, y_true=y_true, threshold=threshold
    )[0]


def labelled_by_prediction(
    window: ScoreHistogram,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Per score bin: labelled predictions predicted negative and positive, and the
    actual positives among each — ``(labelled_0, labelled_1, positives_0, positives_1)``.

    ``labelled`` counts labels by actual class, so which predicted class a labelled
    prediction had is known only where a score bin holds one predicted class (every
    bin but the threshold's, when labels are predicted by a threshold); in a bin with
    both, labels and positives are shared in proportion to the predicted counts
    (rounded). Exact in every bin for a :class:`SplitScoreHistogram`.
    """
    if isinstance(window, SplitScoreHistogram):
        hit = np.asarray(window.labelled_positive, dtype=np.int64)
        lab = np.asarray(window.labelled, dtype=np.int64)
        lab1, pos1 = hit.sum(axis=0), hit[1]
        return lab.sum(axis=0) - lab1, lab1, lab[1] - pos1, pos1
    predicted = np.asarray(window.predicted, dtype=np.int64)
    total = predicted.sum(axis=0)
    labelled = np.minimum(np.asarray(window.labelled, dtype=np.int64).sum(axis=0), total)
    positives = np.minimum(np.asarray(window.labelled[1], dtype=np.int64), labelled)
    safe = np.where(total > 0, total, 1)
    lab1 = np.minimum(np.rint(labelled * predicted[1] / safe).astype(np.int64), predicted[1])
    lab0 = np.minimum(labelled - lab1, predicted[0])
    lab1 = labelled - lab0
    share = lab1 / np.where(labelled > 0, labelled, 1)
    pos1 = np.clip(np.rint(positives * share).astype(np.int64), positives - lab0, lab1)
    pos0 = positives - pos1
    return lab0, lab1, pos0, pos1


def unlabelled_part(window: ScoreHistogram) -> ScoreHistogram:
    """The predictions of ``window`` that have no label yet, as a histogram (see
    :func:`labelled_by_prediction` for bins that hold both predicted classes)."""
    lab0, lab1, _, _ = labelled_by_prediction(window)
    rest = np.asarray(window.predicted, dtype=np.int64) - np.stack([lab0, lab1])
    return ScoreHistogram(rest, np.zeros_like(rest))
