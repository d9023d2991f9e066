"""Evaluations of many groups (versions, segments, time buckets) in one pass.

Instead of filtering the rows once per group, each statistic is built for all
groups at once with a single ``bincount`` over ``group * cells + cell``. Score
distributions use a coarse histogram here (1024 bins by default) because one
fine histogram per group would cost memory per group; the resulting ROC-AUC
says so in its method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .confusion import ConfusionMatrix
from .evaluation import Evaluation
from .labels import Label
from .ranking import ScoreDistribution

__all__ = ["grouped_evaluations"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

GROUP_RESOLUTION = 1024


def grouped_evaluations(
    group_codes: IntArray,
    n_groups: int,
    labels: Sequence[Label],
    pos_label: Label | None,
    true_codes: IntArray,
    pred_codes: IntArray,
    *,
    score: FloatArray | None = None,
    weight: FloatArray | None = None,
    resolution: int = GROUP_RESOLUTION,
) -> list[Evaluation]:
    """One :class:`Evaluation` per group code in ``range(n_groups)``."""
    k = len(labels)
    g = np.asarray(group_codes, dtype=np.int64)
    flat = (g * k + true_codes) * k + pred_codes
    size = n_groups * k * k
    counts = np.bincount(flat, weights=weight, minlength=size).reshape(n_groups, k, k)
    squares = (
        counts
        if weight is None
        else np.bincount(flat, weights=weight * weight, minlength=size).reshape(n_groups, k, k)
    )
    cell_rows = (
        counts
        if weight is None
        else np.bincount(flat, minlength=size).astype(np.float64).reshape(n_groups, k, k)
    )
    binary = k == 2 and pos_label is not None
    dists: list[ScoreDistribution] | None = None
    if score is not None and binary:
        pos = list(labels).index(pos_label)
        is_pos = (true_codes == pos).astype(np.int64)
        idx = np.minimum((score * resolution).astype(np.int64), resolution - 1)
        slots = (g * resolution + idx) * 2 + is_pos
        hist = np.bincount(slots, weights=weight, minlength=n_groups * resolution * 2).reshape(
            n_groups, resolution, 2
        )
        rows = np.bincount(g, minlength=n_groups)
        if weight is None:
            pos_sq = hist[:, :, 1].sum(axis=1)
            neg_sq = hist[:, :, 0].sum(axis=1)
        else:
            w2 = weight * weight
            pos_sq = np.bincount(g, weights=w2 * is_pos, minlength=n_groups)
            neg_sq = np.bincount(g, weights=w2 * (1 - is_pos), minlength=n_groups)
        dists = []
        for i in range(n_groups):
            nz = np.flatnonzero(hist[i].any(axis=1))
            dists.append(
                ScoreDistribution(
                    resolution,
                    0,
                    False,
                    int(rows[i]),
                    nz.astype(np.float64),
                    hist[i, nz, 1].astype(np.float64),
                    hist[i, nz, 0].astype(np.float64),
                    float(pos_sq[i]),
                    float(neg_sq[i]),
                )
            )
    out = []
    for i in range(n_groups):
        cm = ConfusionMatrix(
            tuple(labels), counts[i].copy(), squares[i].copy(), cell_rows[i].copy()
        )
        out.append(
            Evaluation(
                tuple(labels),
                pos_label if binary else None,
                cm,
                None if dists is None else [dists[i]],
            )
        )
    return out
