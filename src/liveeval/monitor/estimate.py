"""Performance of a binary classifier estimated from its scores, before labels arrive.

Confidence-based performance estimation (CBPE, as NannyML calls it): when the scores
are calibrated — ``p_b = P(y = 1 | score in bin b)`` known from a labelled reference —
every prediction of a window is a Bernoulli(p_b) label waiting to happen, so the
window's confusion matrix is expected to be

    E[TP] = Σ_b n⁺_b p_b,   E[FP] = Σ_b n⁺_b (1 − p_b),
    E[FN] = Σ_b n⁻_b p_b,   E[TN] = Σ_b n⁻_b (1 − p_b),

with ``n⁺_b``/``n⁻_b`` the window's predictions in score bin ``b`` predicted
positive/negative. Accuracy, precision, recall and F1 are read from these; ROC-AUC
from the calibrated positive mass ``n_b p_b`` and negative mass ``n_b (1 − p_b)``
per bin, ordered by score (pairs in one bin count ½). Everything is O(bins): the
input is a :class:`~liveeval.store.interface.ScoreHistogram`, whatever the rows.

Intervals (nested parametric bootstrap): replicate ``r`` takes the ``r``-th bootstrap
calibration map (reference resampled, map refitted: the map's uncertainty), draws
the window's labels from it (the window's sampling error) and computes the metric
the labels would give; the interval is the replicates' percentile interval. The
labels are drawn per group of neighbouring score bins (up to 64 groups of equal
counts): a binomial with the group's mean probability in place of the exact
Poisson-binomial, whose variance it exceeds by Σ n_b (p_b − p̄_g)², a fraction of a
percent. ROC-AUC replicates add the groups' sampling deviation to the exact per-bin
value of the replicate's map, plus the Mann–Whitney variance of the random order
within each group. The estimate assumes that P(y | score) is the reference's
(covariate shift only); :meth:`PerformanceEstimator.check` tests that on labelled
windows.

References
----------
NannyML, Confidence-based Performance Estimation (docs, "how it works");
Kivimäki et al. (2024), "We don't need no labels", arXiv:2401.08348.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..metrics.interval import BOOTSTRAP_SEED, z_value
from ..metrics.result import MetricResult
from ..store.interface import SCORE_BINS, ScoreHistogram
from ._bins import equal_count_groups, validated
from .assumption import AssumptionCheck, check_calibration
from .calibration import CalibrationMap, fit_calibration
from .histogram import labelled_by_prediction, score_histogram

__all__ = [
    "ESTIMATED_METRICS",
    "AssumptionCheck",
    "ExpectedConfusion",
    "PerformanceEstimator",
    "WindowEstimate",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
GROUPS = 64
# Scores where the reference has fewer than SUPPORT_MIN labelled rows per region of
# width 1 / SUPPORT_REGIONS are "extrapolated"; a window with more than
# EXTRAPOLATED_MAX of its rows there is not trusted.
SUPPORT_REGIONS = 50
SUPPORT_MIN = 5
EXTRAPOLATED_MAX = 0.05
METHOD = "cbpe: calibrated expectation; nested bootstrap (calibration map × labels)"


@dataclass(frozen=True, slots=True)
class ExpectedConfusion:
    """The window's expected confusion matrix under the calibration map."""

    tp: float
    fp: float
    fn: float
    tn: float


@dataclass(frozen=True)
class WindowEstimate:
    """Estimated metrics of one window (see the module docstring).

    ``metrics`` maps each of :data:`ESTIMATED_METRICS` to a :class:`MetricResult`
    whose interval holds the metric the window's labels will give, once they arrive
    (at ``confidence``). ``trusted`` is False when a check found the calibration moved
    since the reference, or when more than 5% of the window's rows (``extrapolated``)
    have scores the reference barely covers; ``reason`` then says why, in one line.
    """

    n: int
    confusion: ExpectedConfusion | None
    metrics: Mapping[str, MetricResult]
    calibration: str
    trusted: bool = True
    reason: str | None = None
    check: AssumptionCheck | None = field(default=None)
    extrapolated: float = 0.0
    # The simulated realized counts behind the intervals ("tp", "fp", "fn", "tn") and
    # ROC-AUC, one value per draw: the multiclass estimator adds classes draw by draw.
    draws: Mapping[str, FloatArray] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(
        self, metric: Callable[[MetricResult], dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """As JSON; ``metric`` writes each metric (default ``MetricResult.to_dict``)."""
        write = metric or MetricResult.to_dict
        return {
            "n": self.n,
            "confusion": None
            if self.confusion is None
            else {
                "tp": self.confusion.tp,
                "fp": self.confusion.fp,
                "fn": self.confusion.fn,
                "tn": self.confusion.tn,
            },
            "metrics": {k: write(v) for k, v in self.metrics.items()},
            "calibration": self.calibration,
            "trusted": self.trusted,
            "reason": self.reason,
            "check": None if self.check is None else self.check.to_dict(),
            "extrapolated": self.extrapolated,
        }


@dataclass(frozen=True, eq=False)
class _Window:
    """A window's occupied bins, their groups and the weights of the mass product."""

    counts: FloatArray
    occ: IntArray
    n1: FloatArray  # predicted positive, per occupied bin
    n0: FloatArray
    nb: FloatArray
    r1: FloatArray  # of which without a label (to draw); all of them unless use_labels
    r0: FloatArray
    k1: FloatArray  # known positives among the labelled predicted positive
    k0: FloatArray
    starts: IntArray
    weights: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class _Pending:
    """A window's metric before its interval: the estimate (None: undefined, with
    ``reason``) and the simulated realized values the interval is read from."""

    value: float | None
    reason: str | None
    sims: FloatArray
    n: int
    calibration: str


def _auc(pos: FloatArray, neg: FloatArray) -> FloatArray:
    """ROC-AUC of positive/negative mass per ordered bin (ties count ½), last axis."""
    below = np.cumsum(neg, axis=-1) - neg
    wins = (pos * (below + neg / 2.0)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = wins / (pos.sum(axis=-1) * neg.sum(axis=-1))
    return out


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _probability(mass: FloatArray, counts: FloatArray) -> FloatArray:
    """Mean probability per group (0 for an empty group, which draws nothing)."""
    ratio = _ratio(mass, counts)
    # NaN (an empty group) is 0; clip maps ±inf to the ends as nan_to_num then clip did.
    ratio[np.isnan(ratio)] = 0.0
    return np.clip(ratio, 0.0, 1.0, out=ratio)


def _draw(n: FloatArray, p: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Binomial(n, p) draws, by the normal law (rounded, clipped to [0, n]) where
    n·p·(1 − p) ≥ 9 — numpy's binomial sampler costs ~0.4 µs a draw at any n.

    The sampler is called on the cells that need it only (n > 0, p > 0, not normal),
    in the same order: numpy returns 0 for n = 0 or p = 0 without using the
    generator, so the draws and the generator's state are those of one call over
    every cell (the estimates' cells are mostly n = 0 once labels arrive)."""
    var = n * p * (1.0 - p)
    big = var >= 9.0
    full = np.broadcast_to(n, p.shape)
    live = ~big & (full > 0) & (p > 0)
    exact = np.zeros(p.shape)
    exact[live] = rng.binomial(full[live].astype(np.int64), p[live])
    approx = np.clip(np.rint(n * p + np.sqrt(var) * rng.standard_normal(p.shape)), 0.0, n)
    return np.where(big, approx, exact)


class PerformanceEstimator:
    """Estimates a binary classifier's metrics per window from its scores alone.

    Build it with :meth:`fit` (a labelled reference as a ScoreHistogram) or
    :meth:`fit_arrays` (labels and scores from a file); then :meth:`estimate` each
    window's ScoreHistogram, and :meth:`check` recent labelled windows to know whether
    the estimates can be trusted.
    """

    def __init__(
        self,
        calibration: CalibrationMap,
        *,
        confidence: float = 0.95,
        draws: int = 400,
        seed: int = BOOTSTRAP_SEED,
    ) -> None:
        z_value(confidence)  # validates
        self.calibration = calibration
        self.confidence = confidence
        self.seed = seed
        maps = calibration.replicates.shape[0]
        self.draws_per_map = max(1, -(-draws // maps))

    @classmethod
    def fit(
        cls,
        reference: ScoreHistogram,
        *,
        confidence: float = 0.95,
        replicates: int = 200,
        draws: int = 400,
        seed: int = BOOTSTRAP_SEED,
    ) -> PerformanceEstimator:
        """Calibrate on ``reference.labelled`` (see :func:`fit_calibration`).

        ``replicates`` bootstrap maps are fitted once; each estimate draws ``draws``
        label samples (rounded up to a multiple of ``replicates``), an equal number
        from each map.
        """
        validated(reference, "reference")
        cal = fit_calibration(reference, replicates=replicates, seed=seed)
        return cls(cal, confidence=confidence, draws=draws, seed=seed)

    @classmethod
    def fit_arrays(
        cls,
        y_true: npt.ArrayLike,
        y_score: npt.ArrayLike,
        *,
        confidence: float = 0.95,
        replicates: int = 200,
        draws: int = 400,
        seed: int = BOOTSTRAP_SEED,
    ) -> PerformanceEstimator:
        """Calibrate on reference labels (0/1) and scores, binned as the store bins them."""
        hist = score_histogram(y_score, y_true=y_true)
        return cls.fit(hist, confidence=confidence, replicates=replicates, draws=draws, seed=seed)

    # -- estimation -------------------------------------------------------------

    def estimate(
        self,
        window: ScoreHistogram,
        *,
        check: AssumptionCheck | None = None,
        use_labels: bool = False,
    ) -> WindowEstimate:
        """Estimated accuracy, precision, recall, F1 and ROC-AUC of ``window``.

        Uses ``window.predicted`` (every ok prediction, labelled or not). Formulas,
        interval method and reference: see the module docstring. Undefined: every
        metric with no predictions; precision with nothing predicted positive;
        recall and F1 when the calibrated scores expect no positives (F1: and
        nothing is predicted positive); ROC-AUC when they expect a single class.
        ``check`` (from :meth:`check`) sets ``trusted`` and ``reason``.

        ``use_labels``: count the labels the window already has (``window.labelled``)
        as they are and estimate only the rest, so that the interval narrows as labels
        arrive and closes on the realized value when all have. (Labelled predictions
        are assigned to their predicted class per score bin, exactly where a bin holds
        one predicted class; see :func:`labelled_by_prediction`.) This assumes that
        the labels not yet arrived are like the arrived ones given the score.
        """
        return self.estimate_many([window], check=check, use_labels=use_labels)[0]

    def estimate_many(
        self,
        windows: Sequence[ScoreHistogram],
        *,
        check: AssumptionCheck | None = None,
        use_labels: bool = False,
    ) -> list[WindowEstimate]:
        """:meth:`estimate` of every window, with the same ``check``; the replicate
        maps' masses of all windows come from one matrix product."""
        parts = [self._prepare(w, use_labels) for w in windows]
        used = [p for p in parts if p is not None]
        masses: list[FloatArray] = []
        if used:
            product = self.calibration.replicates32 @ np.concatenate(
                [p.weights for p in used], axis=1
            )
            at = np.cumsum([0] + [p.weights.shape[1] for p in used])
            masses = [product[:, at[i] : at[i + 1]].astype(np.float64) for i in range(len(used))]
        found = iter(masses)
        finished = [
            self._finish(w, p, None if p is None else next(found), check)
            for w, p in zip(windows, parts, strict=True)
        ]
        # Every interval of every window from one quantile call per draw count.
        pending = [(i, m, spec) for i, (_, specs) in enumerate(finished) for m, spec in specs]
        limits = self._limits([spec.sims for _, _, spec in pending])
        metrics: list[dict[str, MetricResult]] = [{} for _ in finished]
        for (i, m, spec), limit in zip(pending, limits, strict=True):
            metrics[i][m] = self._result(m, spec, limit)
        return [
            est if not specs else replace(est, metrics=metrics[i])
            for i, (est, specs) in enumerate(finished)
        ]

    def _prepare(self, window: ScoreHistogram, use_labels: bool) -> _Window | None:
        validated(window, "window")
        n1_all = window.predicted[1].astype(np.float64)
        n0_all = window.predicted[0].astype(np.float64)
        counts = n0_all + n1_all
        occ = np.flatnonzero(counts > 0)
        if len(occ) == 0:
            return None
        n1, n0, nb = n1_all[occ], n0_all[occ], counts[occ]
        if use_labels:
            lab0, lab1, pos0, pos1 = (
                a[occ].astype(np.float64) for a in labelled_by_prediction(window)
            )
        else:
            lab0 = lab1 = pos0 = pos1 = np.zeros(len(occ))
        r1, r0 = n1 - lab1, n0 - lab0
        starts = equal_count_groups(nb, GROUPS)
        groups = len(starts)
        gid = np.zeros(len(occ), dtype=np.int64)
        gid[starts[1:]] = 1
        gid = np.cumsum(gid)
        # Each replicate map's probability mass per group and predicted class is one
        # float32 product over every score bin (unoccupied bins weigh 0).
        weights = np.zeros((SCORE_BINS, 2 * groups), dtype=np.float32)
        weights[occ, gid] = r1
        weights[occ, groups + gid] = r0
        return _Window(counts, occ, n1, n0, nb, r1, r0, pos1, pos0, starts, weights)

    def _finish(
        self,
        window: ScoreHistogram,
        part: _Window | None,
        mass: FloatArray | None,
        check: AssumptionCheck | None,
    ) -> tuple[WindowEstimate, list[tuple[str, _Pending]]]:
        """The window's estimate, and its metrics still to be given their intervals
        (empty when the estimate is complete: a window without predictions)."""
        cal = self.calibration
        name = cal.method
        counts = (
            part.counts if part is not None else window.predicted.sum(axis=0).astype(np.float64)
        )
        n = int(counts.sum())
        extrapolated = self._extrapolated(counts)
        trusted, reason = True, None
        if check is not None and check.checked and not check.trusted:
            trusted, reason = False, check.reason
        elif extrapolated > EXTRAPOLATED_MAX:
            trusted = False
            reason = (
                f"not trusted: {extrapolated:.0%} of the window's predictions have scores "
                f"where the reference has fewer than {SUPPORT_MIN} labelled rows per "
                f"{1 / SUPPORT_REGIONS:.2f} of score, so the calibration there is extrapolated"
            )
        if part is None or mass is None:
            metrics = {
                m: MetricResult.undefined(m, "undefined: no predictions in the window", n=0)
                for m in ESTIMATED_METRICS
            }
            return WindowEstimate(0, None, metrics, name, trusted, reason, check, 0.0), []
        occ, n1, n0, nb, starts = part.occ, part.n1, part.n0, part.nb, part.starts
        r1, r0, k1, k0 = part.r1, part.r0, part.k1, part.k0
        p = cal.probability[occ]
        pos_tot, neg_tot = float(n1.sum()), float(n0.sum())
        e_tp = float(k1.sum() + r1 @ p)
        e_fn = float(k0.sum() + r0 @ p)
        conf = ExpectedConfusion(e_tp, pos_tot - e_tp, e_fn, neg_tot - e_fn)

        rng = np.random.default_rng(self.seed)
        r1_g = np.add.reduceat(r1, starts)
        r0_g = np.add.reduceat(r0, starts)
        n_g = np.add.reduceat(nb, starts)
        known_g = np.add.reduceat(k1 + k0, starts)
        groups = len(starts)
        mass = np.tile(mass, (self.draws_per_map, 1))
        tp = _draw(r1_g, _probability(mass[:, :groups], r1_g), rng)
        fn = _draw(r0_g, _probability(mass[:, groups:], r0_g), rng)
        tp_r = k1.sum() + tp.sum(axis=1)
        fn_r = k0.sum() + fn.sum(axis=1)
        fp_r = pos_tot - tp_r
        tn_r = neg_tot - fn_r

        pos_mass = k1 + k0 + (r1 + r0) * p
        auc = float(_auc(pos_mass, nb - pos_mass))
        e_pos_g = np.add.reduceat(pos_mass, starts)
        centre = float(_auc(e_pos_g, n_g - e_pos_g))
        unknown = (r1_g + r0_g) / n_g
        sims: dict[str, FloatArray] = {
            "accuracy": (tp_r + tn_r) / n,
            "precision": _ratio(tp_r, np.full_like(tp_r, pos_tot)),
            "recall": _ratio(tp_r, tp_r + fn_r),
            "f1": _ratio(2.0 * tp_r, 2.0 * tp_r + fp_r + fn_r),
            "roc_auc": self._auc_replicates(auc, centre, n_g, known_g + tp + fn, unknown, rng),
        }
        e_pos = e_tp + e_fn
        values: dict[str, tuple[float | None, str | None]] = {
            "accuracy": ((e_tp + conf.tn) / n, None),
            "precision": (
                (e_tp / pos_tot, None)
                if pos_tot > 0
                else (None, "undefined: nothing in the window is predicted positive")
            ),
            "recall": (
                (e_tp / e_pos, None)
                if e_pos > 0
                else (None, "undefined: the calibrated scores expect no positives")
            ),
            "f1": (
                (2 * e_tp / (2 * e_tp + conf.fp + e_fn), None)
                if pos_tot + e_pos > 0
                else (
                    None,
                    "undefined: nothing predicted positive and no positives expected",
                )
            ),
        }
        values["roc_auc"] = (
            (auc, None)
            if e_pos > 0 and n - e_pos > 0
            else (None, "undefined: the calibrated scores expect a single class")
        )
        specs = [
            (m, _Pending(values[m][0], values[m][1], sims[m], n, name)) for m in ESTIMATED_METRICS
        ]
        draws = {"tp": tp_r, "fp": fp_r, "fn": fn_r, "tn": tn_r, "roc_auc": sims["roc_auc"]}
        estimate = WindowEstimate(n, conf, {}, name, trusted, reason, check, extrapolated, draws)
        return estimate, specs

    def estimate_arrays(
        self,
        y_score: npt.ArrayLike,
        *,
        y_pred: npt.ArrayLike | None = None,
        threshold: float = 0.5,
    ) -> WindowEstimate:
        """:meth:`estimate` of raw scores (binned as the store bins them)."""
        return self.estimate(score_histogram(y_score, y_pred=y_pred, threshold=threshold))

    def _extrapolated(self, counts: FloatArray) -> float:
        """Share of ``counts`` in score regions the reference barely covers."""
        total = counts.sum()
        if total == 0:
            return 0.0
        width = SCORE_BINS // SUPPORT_REGIONS
        support = self.calibration.support.reshape(SUPPORT_REGIONS, width).sum(axis=1)
        window = counts.reshape(SUPPORT_REGIONS, width).sum(axis=1)
        return float(window[support < SUPPORT_MIN].sum() / total)

    @staticmethod
    def _auc_replicates(
        exact: float,
        centre: float,
        n_g: FloatArray,
        pos_draw: FloatArray,
        unknown: FloatArray,
        rng: np.random.Generator,
    ) -> FloatArray:
        """ROC-AUC the drawn labels would give: the exact value under the calibration
        map, plus the group-level deviation of the draw (map replicate and labels),
        plus the Mann–Whitney noise of the random order within each group (scaled by
        the group's share of predictions without a label: known labels' order is not
        random)."""
        pos = pos_draw
        neg = n_g - pos
        drawn = _auc(pos, neg)
        p_tot, n_tot = pos.sum(axis=1), neg.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            within = np.sqrt((pos * neg * (n_g + 1.0) / 12.0 * unknown).sum(axis=1)) / (
                p_tot * n_tot
            )
        out = exact + (drawn - centre) + within * rng.standard_normal(len(drawn))
        return np.where((p_tot > 0) & (n_tot > 0), np.clip(out, 0.0, 1.0), np.nan)

    def _limits(self, samples: Sequence[FloatArray]) -> list[tuple[float, float] | None]:
        """The percentile interval of each sample's defined (not NaN) draws, None with
        fewer than 20. Samples without NaN of one length go through one
        ``np.quantile(..., axis=1)``: each row's result equals its own call's (the same
        order statistics, interpolated by the same formula)."""
        alpha = 1.0 - self.confidence
        q = [alpha / 2.0, 1.0 - alpha / 2.0]
        out: list[tuple[float, float] | None] = [None] * len(samples)
        whole: dict[int, list[int]] = {}
        for i, sims in enumerate(samples):
            if not np.isnan(sims).any():
                if len(sims) >= 20:
                    whole.setdefault(len(sims), []).append(i)
                continue
            defined = sims[~np.isnan(sims)]
            if len(defined) >= 20:
                lo, hi = np.quantile(defined, q)
                out[i] = (float(lo), float(hi))
        for rows in whole.values():
            lo_hi = np.quantile(np.stack([samples[i] for i in rows]), q, axis=1)
            for i, lo, hi in zip(rows, lo_hi[0].tolist(), lo_hi[1].tolist(), strict=True):
                out[i] = (lo, hi)
        return out

    def _result(
        self, name: str, spec: _Pending, limits: tuple[float, float] | None
    ) -> MetricResult:
        value, sims, n, calibration = spec.value, spec.sims, spec.n, spec.calibration
        if value is None:
            return MetricResult.undefined(
                name, spec.reason or "undefined", n=n, confidence=self.confidence, method=METHOD
            )
        defined = int((~np.isnan(sims)).sum())
        notes = [f"estimated before labels ({calibration} calibration)"]
        if defined < len(sims):
            share = 1.0 - defined / len(sims)
            notes.append(
                f"the realized {name} would be undefined in {share:.0%} of simulated "
                "label draws; interval over the others"
            )
        if limits is None:
            return MetricResult(
                name,
                value,
                None,
                None,
                n,
                self.confidence,
                METHOD,
                note="; ".join(notes) + "; too few defined draws for an interval",
            )
        lo, hi = limits
        return MetricResult(
            name,
            value,
            min(lo, value),
            max(hi, value),
            n,
            self.confidence,
            METHOD,
            note="; ".join(notes),
        )

    # -- the assumption -----------------------------------------------------------

    def check(
        self,
        labelled: ScoreHistogram | Sequence[ScoreHistogram],
        *,
        alpha: float = 0.01,
        min_labels: int = 50,
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
        return check_calibration(
            self.calibration,
            labelled,
            alpha=alpha,
            min_labels=min_labels,
            draws_per_map=self.draws_per_map,
            seed=self.seed + 1,
        )
