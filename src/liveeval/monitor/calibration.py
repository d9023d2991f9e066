"""A calibration map from a binary model's score to P(y = 1), fitted on binned scores.

Estimating performance before labels (:mod:`liveeval.monitor.estimate`) needs, for
every score bin ``b`` of :data:`~liveeval.store.interface.SCORE_BINS`, the probability
``p_b`` that a prediction with that score is positive. Two maps are candidates:

- ``identity``: the score is the probability, ``p_b`` = the bin's centre;
- ``isotonic``: centred isotonic regression of the reference's labels on the bins
  (pool-adjacent-violators weighted by the counts, each block's value placed at its
  mean bin and interpolated linearly; Zadrozny & Elkan 2002, Oron & Flournoy 2017),
  with Jeffreys' estimate for an end block of one class, then corrected per bin by
  the bootstrap's estimate of its bias (isotonic fits are too steep near the ends,
  which makes every estimated metric optimistic).

The isotonic map is applied only when it lowers the calibration error on held-out
reference rows: the reference's rows are split into five folds (a multinomial split
of every bin's counts), each fold is scored by the map fitted on the other four, and
the held-out Brier scores are compared. For two maps ``f`` and ``g``,
``E[(f(s) − y)²] − E[(g(s) − y)²] = E[(f(s) − η(s))²] − E[(g(s) − η(s))²]`` with
``η(s) = P(y = 1 | s)``: a Brier difference *is* the difference of the maps' mean
squared calibration errors, with no binning of its own. NannyML's CBPE makes the same
decision by comparing binned expected calibration errors across shuffle splits.

The map's uncertainty is carried by replicate maps: the reference's counts are
resampled (Poisson bootstrap: each bin's positives and negatives drawn from Poisson
laws with the observed counts as means) and the isotonic map refitted (and moved by
the same bias correction). When the identity is chosen, its replicates are the
identity plus each replicate's deviation from the replicates' mean (clipped to
[0, 1]): the reference confirms calibration only up to that precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ..metrics.interval import BOOTSTRAP_SEED
from ..store.interface import SCORE_BINS, ScoreHistogram

__all__ = [
    "CalibrationMap",
    "fit_calibration",
    "isotonic_bins",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FOLDS = 5
CENTRES: FloatArray = (np.arange(SCORE_BINS, dtype=np.float64) + 0.5) / SCORE_BINS


@dataclass(frozen=True, eq=False)
class CalibrationMap:
    """P(y = 1) per score bin, the replicate maps behind its uncertainty, and why.

    ``probability[b]`` is ``p_b``; ``replicates[r, b]`` the same from the ``r``-th
    bootstrap of the reference; ``support[b]`` the reference's labelled rows in bin
    ``b``. ``method`` is ``"identity"`` or ``"isotonic"``;
    ``reason`` says why, with the held-out Brier scores that decided
    (``brier_identity``, ``brier_isotonic``; ``None`` when no comparison was possible).
    """

    probability: FloatArray
    replicates: FloatArray
    method: Literal["identity", "isotonic"]
    reason: str
    reference_rows: int
    reference_positives: int
    brier_identity: float | None = None
    brier_isotonic: float | None = None
    support: FloatArray = field(default_factory=lambda: np.zeros(SCORE_BINS), repr=False)
    replicates32: npt.NDArray[np.float32] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "replicates32", self.replicates.astype(np.float32))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "reason": self.reason,
            "reference_rows": self.reference_rows,
            "reference_positives": self.reference_positives,
            "brier_identity": self.brier_identity,
            "brier_isotonic": self.brier_isotonic,
            "replicates": int(self.replicates.shape[0]),
        }


def isotonic_bins(
    positives: npt.ArrayLike,
    totals: npt.ArrayLike,
    *,
    centred: bool = True,
    shrink_ends: bool = True,
) -> npt.NDArray[np.float64]:
    """Isotonic (non-decreasing) fit of ``positives / totals`` along the last axis.

    Weighted least squares with the ``totals`` as weights, by pooling adjacent
    violators; every row of a 2-D input is fitted on its own, all rows at once (each
    pass merges every run of violating neighbouring blocks, a valid PAV step whatever
    the order: Best & Chakravarti 1990). ``centred`` (the default) places each pooled
    block's value at the block's weighted mean bin and interpolates linearly between
    blocks — centred isotonic regression (Oron & Flournoy 2017): the plain step
    function is flat inside a block, which throws away the ranking within it and
    biases an ROC-AUC estimated from the map downwards. With ``centred=False``, the
    step function (bins no row fell into interpolated between their occupied
    neighbours). Both are constant beyond the first and last occupied bin; a row
    without any rows is NaN. ``shrink_ends`` (the default) replaces a first block
    without positives (or a last block without negatives) by Jeffreys' estimate
    ½ / (n + 1) (or (n + ½) / (n + 1)): a probability of exactly 0 would make every
    bootstrap replicate agree that those scores are never positive.

    References
    ----------
    Ayer et al. (1955); Best & Chakravarti (1990), Active set algorithms for isotonic
    regression, Mathematical Programming 47; Oron & Flournoy (2017), Centered isotonic
    regression, Statistics in Biopharmaceutical Research 9.
    """
    pos = np.atleast_2d(np.asarray(positives, dtype=np.float64))
    tot = np.atleast_2d(np.asarray(totals, dtype=np.float64))
    occupied = tot > 0
    rows, cols = np.nonzero(occupied)
    sums = pos[occupied]
    weights = tot[occupied]
    moments = weights * cols
    firsts = cols.astype(np.float64)
    out = np.full(tot.shape, np.nan)
    if len(sums) == 0:
        return out
    block_row = rows
    done: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray, IntArray]] = []
    while True:
        means = sums / weights
        violates = (means[:-1] >= means[1:]) & (block_row[:-1] == block_row[1:])
        if not violates.any():
            break
        # Rows without violations are final: set them aside so that the late passes,
        # which merge a few blocks of a few rows, do not sweep every row again.
        unsettled = np.zeros(pos.shape[0], dtype=bool)
        unsettled[block_row[1:][violates]] = True
        active = unsettled[block_row]
        if active.sum() < 0.7 * len(active):
            idle = ~active
            done.append((sums[idle], weights[idle], moments[idle], firsts[idle], block_row[idle]))
            sums, weights, moments, firsts, block_row = (
                sums[active],
                weights[active],
                moments[active],
                firsts[active],
                block_row[active],
            )
            means = sums / weights
            violates = (means[:-1] >= means[1:]) & (block_row[:-1] == block_row[1:])
        keep = np.ones(len(sums), dtype=bool)
        keep[1:] = ~violates
        at = np.flatnonzero(keep)
        sums = np.add.reduceat(sums, at)
        weights = np.add.reduceat(weights, at)
        moments = np.add.reduceat(moments, at)
        firsts = firsts[at]
        block_row = block_row[at]
    done.append((sums, weights, moments, firsts, block_row))
    b_sum, b_weight, b_moment, b_first, b_row = (
        np.concatenate(parts) for parts in zip(*done, strict=True)
    )
    order = np.lexsort((b_first, b_row))
    b_mean = (b_sum / b_weight)[order]
    b_centre = (b_moment / b_weight)[order]
    b_first, b_row = b_first[order], b_row[order]
    bounds = np.searchsorted(b_row, np.arange(pos.shape[0] + 1))
    if shrink_ends:
        # Only a row's first block can have mean 0 and only its last mean 1 (block means
        # increase strictly). Those would say "never positive" from a finite sample and
        # stay so in every bootstrap replicate; Jeffreys' (k + ½)/(n + 1) keeps them
        # honest, capped by the neighbouring block so the map stays non-decreasing.
        first, last = bounds[:-1], bounds[1:] - 1
        has = first <= last
        first, last = first[has], last[has]
        w_first, w_last = b_weight[order][first], b_weight[order][last]
        zero = b_mean[first] == 0.0
        one = b_mean[last] == 1.0
        nxt = np.where(first + 1 <= last, b_mean[np.minimum(first + 1, last)], 1.0)
        prv = np.where(last - 1 >= first, b_mean[np.maximum(last - 1, first)], 0.0)
        b_mean[first[zero]] = np.minimum(0.5 / (w_first[zero] + 1.0), nxt[zero])
        b_mean[last[one]] = np.maximum((w_last[one] + 0.5) / (w_last[one] + 1.0), prv[one])
    index = np.arange(tot.shape[1], dtype=np.float64)
    for r in range(pos.shape[0]):
        lo, hi = bounds[r], bounds[r + 1]
        if lo == hi:
            continue
        if centred:
            out[r] = np.interp(index, b_centre[lo:hi], b_mean[lo:hi])
        else:
            occ = np.flatnonzero(occupied[r]).astype(np.float64)
            block_of = np.searchsorted(b_first[lo:hi], occ, side="right") - 1
            out[r] = np.interp(index, occ, b_mean[lo:hi][block_of])
    return out


def _brier(pos: FloatArray, neg: FloatArray, p: FloatArray) -> float:
    """Summed (not averaged) Brier loss of counts ``pos``/``neg`` under map ``p``."""
    return float((pos * (1.0 - p) ** 2 + neg * p**2).sum())


def fit_calibration(
    reference: ScoreHistogram,
    *,
    replicates: int = 200,
    seed: int = BOOTSTRAP_SEED,
) -> CalibrationMap:
    """Fit the calibration map on a labelled reference, choosing it by cross-fitting.

    Uses ``reference.labelled`` (``[0]``: negatives, ``[1]``: positives per score
    bin). See the module docstring for the candidates, the choice and the replicates.

    Parameters
    ----------
    reference:
        Labelled scores of the reference period (or file), binned.
    replicates:
        Number of bootstrap maps (the estimate's intervals draw one label sample per
        map), at least 50.
    seed:
        Seed of the fold split and the bootstrap, so a fit is reproducible.

    Raises
    ------
    ValidationError
        When the reference has no labelled rows, or ``replicates`` is below 50.
    """
    if replicates < 50:
        raise ValidationError(
            f"replicates must be at least 50 for a 95% interval, got {replicates}",
            column="replicates",
        )
    neg = reference.labelled[0].astype(np.float64)
    pos = reference.labelled[1].astype(np.float64)
    rows = int(neg.sum() + pos.sum())
    n_pos = int(pos.sum())
    if rows == 0:
        raise ValidationError(
            "the reference has no labelled predictions; estimation needs scores with "
            "their labels to calibrate on",
            column="reference",
        )
    rng = np.random.default_rng(seed)
    identity = CENTRES.copy()
    if n_pos == 0 or n_pos == rows:
        only = "positive" if n_pos == rows else "negative"
        flat = np.broadcast_to(identity, (replicates, SCORE_BINS)).copy()
        return CalibrationMap(
            identity,
            flat,
            "identity",
            f"scores used as probabilities, unchecked: every one of the {rows:,} reference "
            f"labels is {only}, so calibration cannot be assessed",
            rows,
            n_pos,
            support=pos + neg,
        )
    fitted = isotonic_bins(pos, pos + neg)[0]
    brier_id, brier_iso = _cross_fit(pos, neg, rng)
    boot_pos = rng.poisson(pos, size=(replicates, SCORE_BINS)).astype(np.float64)
    boot_neg = rng.poisson(neg, size=(replicates, SCORE_BINS)).astype(np.float64)
    boot = isotonic_bins(boot_pos, boot_pos + boot_neg)
    empty = np.isnan(boot[:, 0])
    boot[empty] = fitted
    # Isotonic fits are biased towards the extremes (a steeper map: optimistic
    # metrics); the bootstrap sees the same bias again, so the map is corrected by
    # it (Efron's bias correction, per bin) and the replicates moved with it.
    shift = fitted - boot.mean(axis=0)
    numbers = (
        f"held-out Brier {brier_iso / rows:.5f} isotonic vs {brier_id / rows:.5f} "
        f"identity ({FOLDS}-fold cross-fitting on {rows:,} reference rows)"
    )
    if brier_iso < brier_id:
        return CalibrationMap(
            np.clip(fitted + shift, 0.0, 1.0),
            np.clip(boot + 2.0 * shift, 0.0, 1.0),
            "isotonic",
            f"isotonic calibration applied: it lowers the calibration error, {numbers}",
            rows,
            n_pos,
            brier_id / rows,
            brier_iso / rows,
            support=pos + neg,
        )
    deviation = np.clip(identity + (boot - boot.mean(axis=0)), 0.0, 1.0)
    return CalibrationMap(
        identity,
        deviation,
        "identity",
        f"scores used as probabilities: calibrating them would not lower the "
        f"calibration error, {numbers}",
        rows,
        n_pos,
        brier_id / rows,
        brier_iso / rows,
        support=pos + neg,
    )


def _cross_fit(pos: FloatArray, neg: FloatArray, rng: np.random.Generator) -> tuple[float, float]:
    """Held-out Brier (summed over all reference rows) of the identity and isotonic maps."""
    share = np.full(FOLDS, 1.0 / FOLDS)
    pos_folds = rng.multinomial(pos.astype(np.int64), share).T.astype(np.float64)
    neg_folds = rng.multinomial(neg.astype(np.int64), share).T.astype(np.float64)
    train_pos = pos[None, :] - pos_folds
    train_tot = train_pos + neg[None, :] - neg_folds
    maps = isotonic_bins(train_pos, train_tot)
    # A fold whose training part is empty (tiny references) is scored by the identity.
    unfit = np.isnan(maps[:, 0])
    maps[unfit] = CENTRES
    brier_id = _brier(pos, neg, CENTRES)
    brier_iso = _brier(pos_folds, neg_folds, maps)
    return brier_id, brier_iso
