"""Does P(y | score) on recent labelled predictions still match the reference's map?

Estimation before labels (:mod:`liveeval.monitor.estimate`) assumes covariate shift
only; this module tests that assumption on the labels that have arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics.interval import BOOTSTRAP_SEED
from ..store.interface import SCORE_BINS, ScoreHistogram
from ._bins import equal_count_groups, validated
from .calibration import CalibrationMap

__all__ = ["CHECK_REGIONS", "AssumptionCheck", "check_calibration"]

CHECK_REGIONS = 10


@dataclass(frozen=True, slots=True)
class AssumptionCheck:
    """Does P(y | score) on recent labelled predictions still match the reference?

    ``statistic`` is Σ_g (O_g − E_g)² / V_g over up to ten score regions of equal
    labelled counts (O observed positives, E expected under the calibration map, V
    the variance of O from sampling and from the map, by simulation); ``p_value`` the
    share of simulated statistics at least as large. ``trusted`` is False when
    ``p_value < alpha``; ``reason`` names the region that departs most. ``checked`` is
    False when there were too few labels, and then ``trusted`` is True (nothing
    contradicts the assumption, nothing confirms it).
    """

    checked: bool
    trusted: bool
    labelled: int
    reason: str
    statistic: float | None = None
    p_value: float | None = None
    alpha: float = 0.01
    regions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "trusted": self.trusted,
            "labelled": self.labelled,
            "reason": self.reason,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "regions": self.regions,
        }


def check_calibration(
    calibration: CalibrationMap,
    labelled: ScoreHistogram | Sequence[ScoreHistogram],
    *,
    alpha: float = 0.01,
    min_labels: int = 50,
    draws_per_map: int = 2,
    seed: int = BOOTSTRAP_SEED,
) -> AssumptionCheck:
    """Test whether P(y | score) on labelled predictions departs from the calibration.

    Uses ``labelled`` (one histogram or several, merged: e.g. the last days'
    windows). The labelled rows' score bins are cut into up to ten regions of
    equal counts (at least 30 labels each); in region g, ``O_g`` positives are
    observed and ``E_g = Σ_b n_b p_b`` expected. The statistic
    ``T = Σ_g (O_g − E_g)² / V_g``, with ``V_g`` the variance of ``O_g`` under
    the calibration replicates (sampling and map uncertainty, simulated), is
    compared with its simulated distribution under the assumption; ``trusted``
    is False when the simulated p-value is below ``alpha`` (a chi-square-type
    goodness-of-fit test, Hosmer & Lemeshow 1980, with a parametric-bootstrap
    null). Each call is one test at level ``alpha``; checking many windows
    raises the chance of a false alarm accordingly.

    Not checked (``checked=False``, ``trusted=True``) with fewer than
    ``min_labels`` labelled predictions.
    """
    hists = [labelled] if isinstance(labelled, ScoreHistogram) else list(labelled)
    neg = np.zeros(SCORE_BINS)
    pos = np.zeros(SCORE_BINS)
    for h in hists:
        validated(h, "labelled")
        neg += h.labelled[0]
        pos += h.labelled[1]
    tot = neg + pos
    n_lab = int(tot.sum())
    if n_lab < min_labels:
        return AssumptionCheck(
            False,
            True,
            n_lab,
            f"not checked: {n_lab} labelled predictions, at least {min_labels} needed",
            alpha=alpha,
        )
    occ = np.flatnonzero(tot > 0)
    t_occ, pos_occ = tot[occ], pos[occ]
    regions = max(1, min(CHECK_REGIONS, n_lab // 30))
    starts = equal_count_groups(t_occ, regions)
    n_g = np.add.reduceat(t_occ, starts)
    obs = np.add.reduceat(pos_occ, starts)
    exp = np.add.reduceat(t_occ * calibration.probability[occ], starts)
    rep_mean = np.add.reduceat(calibration.replicates[:, occ] * t_occ, starts, axis=1)
    rep_mean = np.tile(rep_mean, (draws_per_map, 1))
    rng = np.random.default_rng(seed)
    sim = rng.binomial(n_g.astype(np.int64), np.clip(rep_mean / n_g, 0.0, 1.0))
    var = np.maximum(sim.var(axis=0, ddof=1), 0.25)
    stat = float(((obs - exp) ** 2 / var).sum())
    sim_stat = ((sim - exp) ** 2 / var).sum(axis=1)
    p_value = float((1 + (sim_stat >= stat).sum()) / (len(sim_stat) + 1))
    worst = int(np.argmax((obs - exp) ** 2 / var))
    lo = occ[starts[worst]] / SCORE_BINS
    end = starts[worst + 1] - 1 if worst + 1 < len(starts) else len(occ) - 1
    hi = (occ[end] + 1) / SCORE_BINS
    where = (
        f"in scores {lo:.3f}–{hi:.3f}, {obs[worst] / n_g[worst]:.1%} of "
        f"{int(n_g[worst]):,} labelled predictions were positive, "
        f"{exp[worst] / n_g[worst]:.1%} expected"
    )
    if p_value < alpha:
        reason = (
            f"not trusted: P(y | score) moved since the reference (concept shift): {where} "
            f"(p = {p_value:.3g} < {alpha})"
        )
        return AssumptionCheck(True, False, n_lab, reason, stat, p_value, alpha, len(starts))
    reason = (
        f"calibration holds on {n_lab:,} labelled predictions (p = {p_value:.3g}); "
        f"largest gap: {where}"
    )
    return AssumptionCheck(True, True, n_lab, reason, stat, p_value, alpha, len(starts))
