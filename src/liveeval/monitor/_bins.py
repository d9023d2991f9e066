"""Helpers shared by estimation and its assumption check."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ..store.interface import SCORE_BINS, ScoreHistogram

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def validated(hist: ScoreHistogram, what: str) -> ScoreHistogram:
    for name in ("predicted", "labelled"):
        a = getattr(hist, name)
        if np.shape(a) != (2, SCORE_BINS):
            raise ValidationError(
                f"{what}.{name} must have shape (2, {SCORE_BINS}), got {np.shape(a)}",
                column=what,
            )
        if (np.asarray(a) < 0).any():
            raise ValidationError(f"{what}.{name} holds negative counts", column=what)
    return hist


def equal_count_groups(counts: FloatArray, groups: int) -> IntArray:
    """Start indices of up to ``groups`` runs of neighbouring bins with equal counts."""
    total = counts.sum()
    mid = np.cumsum(counts) - counts / 2.0
    g = np.minimum((mid / total * groups).astype(np.int64), groups - 1)
    return np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
