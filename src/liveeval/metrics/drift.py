"""Drift statistics and the drift call, from mergeable binned counts on shared bins.

A :class:`Histogram` holds one feature's values over a window: numbers in bins whose
edges come from the reference (:func:`quantile_edges`), values outside them in
``below``/``above``, other values per category, and ``missing``. Histograms with the
same edges merge by adding counts, so a window of a day is the merge of its hours and
the same code serves files, the store's per-bucket histograms and any window.

Two histograms on the same bins give every statistic here:

- numeric: Kolmogorov–Smirnov ``D`` (max CDF difference at the bin edges — exact
  when every distinct value is an edge, otherwise a lower bound of the exact ``D``,
  with an upper bound from the bin masses), Wasserstein-1 (CDFs linear within a bin)
  normalised by the reference's standard deviation, and PSI and Jensen–Shannon
  distance on ten reference-decile bins;
- categorical: PSI, Jensen–Shannon distance, the chi-square test of homogeneity,
  and the categories of the current window that the reference never had.

**The call** (:func:`call_drift`): a feature is *drifted* when its effect size is at
least the rule's threshold (numeric: Wasserstein-1 in reference standard deviations;
categorical: Jensen–Shannon distance) **and** its test (numeric: Kolmogorov–Smirnov;
categorical: chi-square) is significant after the Benjamini–Hochberg adjustment over
every feature × window tested together. With fewer than ``min_rows`` values on either
side no call is made. The effect size carries a Poisson-bootstrap interval on the
counts. See ``docs/drift.md`` for why these measures and thresholds.

Pure numpy; no I/O.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from ..errors import ValidationError
from ._distributions import chi2_sf, kolmogorov_sf, ks_2samp_pvalue
from ._drift_stats import (
    DEFAULT_BINS,
    PSI_BINS,
    PSI_EPSILON,
    FloatArray,
    Histogram,
    _cdfs,
    _check_same_edges,
    _decile_groups,
    _full_counts,
    _ks_from_counts,
    _wasserstein_from_cdfs,
    _wasserstein_from_counts,
    benjamini_hochberg,
    chi_square_test,
    jensen_shannon_distance,
    ks_statistic,
    population_stability_index,
    quantile_edges,
    wasserstein_distance,
)

__all__ = [
    "DEFAULT_BINS",
    "PSI_BINS",
    "PSI_EPSILON",
    "DriftCall",
    "DriftMeasurement",
    "DriftRule",
    "Histogram",
    "benjamini_hochberg",
    "call_drift",
    "chi2_sf",
    "chi_square_test",
    "jensen_shannon_distance",
    "kolmogorov_sf",
    "ks_2samp_pvalue",
    "ks_statistic",
    "measure_categorical",
    "measure_numeric",
    "measure_numeric_windows",
    "population_stability_index",
    "quantile_edges",
    "wasserstein_distance",
]

Kind = Literal["numeric", "categorical"]
Status = Literal["drifted", "not_drifted", "too_few_rows", "undefined"]

BOOTSTRAP_BINS = 100
"""The numeric effect's bootstrap resamples 100 groups of adjacent reference bins."""
NORMAL_FROM = 100.0
"""Bootstrap counts from this size on are drawn from the Poisson's normal approximation."""
_OTHER = "(other)"
_UNSEEN = "(unseen)"
_MISSING = "(missing)"


# -- the rule, measurements and calls ---------------------------------------------------


@dataclass(frozen=True)
class DriftRule:
    """What decides a drift call, stated in every output.

    A feature is drifted when its effect size is at least the threshold of its kind
    **and** its test's p-value, Benjamini–Hochberg-adjusted over every feature ×
    window tested together, is below ``alpha``. With fewer than ``min_rows`` values
    (missing values aside) on either side no call is made.

    Defaults, and why (``docs/drift.md``):

    - ``numeric_threshold = 0.05``: Wasserstein-1 over the reference's standard
      deviation, i.e. how far values moved on average, in reference SDs (a mean shift
      of ``k`` SD gives ``k``). Half the 0.1 SD shift that must be found, so such a
      shift is called with room for its interval; Evidently's 0.1 cut-off on the same
      measure sits exactly at a 0.1 SD shift and misses half of them.
    - ``categorical_threshold = 0.05``: Jensen–Shannon distance (base 2), about a 6
      point swing in a 50/50 split or a 2% class doubling (PSI ≈ 0.014); the peers'
      0.1 needs a 12 point swing.
    - ``alpha = 0.05``: false-discovery rate; with nothing drifted, at most 5% of runs
      call anything (at large samples far fewer, as the effect threshold binds).
    - ``min_rows = 100``: below it the tests' asymptotic p-values lose accuracy and no
      effect near the thresholds could be significant anyway.
    """

    numeric_threshold: float = 0.05
    categorical_threshold: float = 0.05
    alpha: float = 0.05
    min_rows: int = 100
    bootstrap: int = 200
    confidence: float = 0.95
    seed: int = 0
    max_categories: int = 50

    def __post_init__(self) -> None:
        for name in ("numeric_threshold", "categorical_threshold"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValidationError(f"{name} must be a finite number >= 0, got {v}")
        if not 0 < self.alpha < 1:
            raise ValidationError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0 < self.confidence < 1:
            raise ValidationError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.min_rows < 2:
            raise ValidationError(f"min_rows must be >= 2, got {self.min_rows}")
        if self.bootstrap < 0:
            raise ValidationError(f"bootstrap must be >= 0, got {self.bootstrap}")
        if self.max_categories < 1:
            raise ValidationError(f"max_categories must be >= 1, got {self.max_categories}")

    def threshold(self, kind: Kind) -> float:
        return self.numeric_threshold if kind == "numeric" else self.categorical_threshold

    def describe(self, tests: int | None = None) -> str:
        over = f"over the {tests} tests made" if tests is not None else "over all tests made"
        return (
            f"drifted when the effect size is at least its threshold (numeric: Wasserstein-1 / "
            f"reference SD >= {self.numeric_threshold:g}; categorical: Jensen-Shannon distance "
            f">= {self.categorical_threshold:g}) and the test's p-value (numeric: "
            f"Kolmogorov-Smirnov; categorical: chi-square), Benjamini-Hochberg-adjusted {over}, "
            f"is below {self.alpha:g}; no call with fewer than {self.min_rows} values on "
            "either side"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric_effect": "wasserstein_std",
            "numeric_threshold": self.numeric_threshold,
            "numeric_test": "kolmogorov_smirnov",
            "categorical_effect": "jensen_shannon",
            "categorical_threshold": self.categorical_threshold,
            "categorical_test": "chi_square",
            "alpha": self.alpha,
            "correction": "benjamini_hochberg",
            "min_rows": self.min_rows,
            "confidence": self.confidence,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class DriftMeasurement:
    """Everything measured between one feature's reference and current window.

    ``effect`` is the effect size of the kind (numeric ``wasserstein_std``, categorical
    ``jensen_shannon``) with its bootstrap interval ``[effect_lower, effect_upper]``;
    ``p_value`` is the raw p-value of ``test``. ``statistics`` holds every statistic
    computed (``ks``, ``ks_upper``, ``wasserstein``, ``wasserstein_std``, ``psi``,
    ``jensen_shannon``, ``chi_square``…). ``reason`` says why something is undefined
    (``effect`` is ``math.inf`` when a constant reference changed at all).
    """

    kind: Kind
    effect_method: str
    effect: float | None
    effect_lower: float | None
    effect_upper: float | None
    interval_method: str
    test: str
    statistic: float | None
    df: int | None
    p_value: float | None
    rows_reference: int
    rows_current: int
    missing_reference: int
    missing_current: int
    statistics: Mapping[str, float | None]
    unseen_categories: int = 0
    unseen_current: int = 0
    enough_rows: bool = True
    reason: str | None = None
    notes: tuple[str, ...] = ()
    bins: tuple[str, ...] = ()
    reference_shares: tuple[float, ...] = ()
    current_shares: tuple[float, ...] = ()


@dataclass(frozen=True)
class DriftCall:
    """A measurement with its call: adjusted p-value, ``drifted``, and the rule.

    ``status`` is ``drifted``, ``not_drifted``, ``too_few_rows`` (no call made) or
    ``undefined`` (nothing to compare, e.g. no values at all).
    """

    measurement: DriftMeasurement
    threshold: float
    p_adjusted: float | None
    drifted: bool
    status: Status
    rule: str


def _interval_method(rule: DriftRule) -> str:
    return (
        f"basic bootstrap, {rule.bootstrap} Poisson resamples of the bin counts, "
        f"{rule.confidence:.0%}, seed {rule.seed}"
    )


def _percentile(values: FloatArray, rule: DriftRule) -> tuple[float, float]:
    tail = (1.0 - rule.confidence) / 2.0
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.inf, math.inf
    lo, hi = np.quantile(finite, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _resample(counts: FloatArray, rule: DriftRule, rng: np.random.Generator) -> FloatArray:
    """``rule.bootstrap`` Poisson-bootstrap replicates of a count vector (one per row).

    A count of at least ``NORMAL_FROM`` is drawn from the Poisson's normal
    approximation ``c + √c z`` (clipped at 0), 5–10x faster than numpy's Poisson
    sampler at large means and within a few per cent of it in every quantile there.
    """
    out = np.empty((rule.bootstrap, counts.size))
    big = counts >= NORMAL_FROM
    if big.any():
        lam = counts[big]
        z = rng.standard_normal((rule.bootstrap, lam.size))
        out[:, big] = np.maximum(lam + np.sqrt(lam) * z, 0.0)
    if not big.all():
        out[:, ~big] = rng.poisson(counts[~big], size=(rule.bootstrap, int((~big).sum())))
    return out


def _basic_interval(
    point: float, replicates: FloatArray, replicate_point: float, rule: DriftRule
) -> tuple[float, float]:
    """Basic (reverse-percentile) bootstrap interval ``[θ̂ − q_hi(δ*), θ̂ − q_lo(δ*)]`` with
    ``δ* = θ* − θ̂*`` (Davison & Hinkley 1997, §5.2), clipped at 0. Unlike the percentile
    interval it corrects a distance's upward bias in small samples, so that with no
    change the interval reaches down to 0."""
    if not math.isfinite(point):
        return point, point
    lo_q, hi_q = _percentile(replicates - replicate_point, rule)
    lower = max(0.0, min(point, point - hi_q))
    upper = max(point, point - lo_q)
    return lower, upper


def _wasserstein_interval(
    edges: FloatArray,
    r: FloatArray,
    c: FloatArray,
    point: float,
    rule: DriftRule,
    normalise: Any,
) -> tuple[float, float]:
    """Bootstrap on ``BOOTSTRAP_BINS`` groups of adjacent bins (equal reference mass):
    the sampling spread of W₁ barely depends on the fine bins, and resampling 1000
    bins per replicate cost ~10x more. The spread is applied to the fine estimate."""
    starts = _decile_groups(r[1:-1].astype(np.int64), BOOTSTRAP_BINS)
    cr = np.concatenate([[r[0]], np.add.reduceat(r[1:-1], starts), [r[-1]]])
    cc = np.concatenate([[c[0]], np.add.reduceat(c[1:-1], starts), [c[-1]]])
    ce = np.concatenate([edges[starts], [edges[-1]]])
    coarse_point = float(normalise(_wasserstein_from_counts(ce, cr, cc)))
    reference_cdfs, rng = _reference_replicates(cr, rule)
    boots = normalise(_wasserstein_from_cdfs(ce, reference_cdfs - _cdfs(_resample(cc, rule, rng))))
    return _basic_interval(float(normalise(point)), boots, coarse_point, rule)


# The reference's side of a numeric bootstrap — its replicates' CDFs and the generator
# state after drawing them — by its exact coarse counts, seed and replicates: the same
# for every window compared with that reference, so it is drawn once.
_REFERENCE_KEPT = 64
_REFERENCE_REPLICATES: OrderedDict[tuple[bytes, int, int], tuple[FloatArray, dict[str, Any]]] = (
    OrderedDict()
)
_REFERENCE_LOCK = threading.Lock()


def _reference_replicates(
    counts: FloatArray, rule: DriftRule
) -> tuple[FloatArray, np.random.Generator]:
    """``_cdfs`` of ``_resample(counts)`` drawn first from ``default_rng(rule.seed)``,
    and a generator at the state that draw leaves (the current window's draws come
    next): exactly what drawing both in turn from one generator gives."""
    key = (np.ascontiguousarray(counts, dtype=np.float64).tobytes(), rule.seed, rule.bootstrap)
    with _REFERENCE_LOCK:
        found = _REFERENCE_REPLICATES.get(key)
        if found is not None:
            _REFERENCE_REPLICATES.move_to_end(key)
    if found is None:
        drawn = np.random.default_rng(rule.seed)
        found = (_cdfs(_resample(counts, rule, drawn)), dict(drawn.bit_generator.state))
        with _REFERENCE_LOCK:
            _REFERENCE_REPLICATES[key] = found
            while len(_REFERENCE_REPLICATES) > _REFERENCE_KEPT:
                _REFERENCE_REPLICATES.popitem(last=False)
    cdfs, state = found
    rng = np.random.default_rng(rule.seed)
    rng.bit_generator.state = state
    return cdfs, rng


def _too_few(n_ref: int, n_cur: int, rule: DriftRule) -> str | None:
    if n_ref < rule.min_rows or n_cur < rule.min_rows:
        return (
            f"too few values for a call: {n_ref} in the reference and {n_cur} in the current "
            f"window; the rule needs at least {rule.min_rows} on each side"
        )
    return None


def measure_numeric(
    reference: Histogram,
    current: Histogram,
    rule: DriftRule | None = None,
    *,
    reference_std: float | None = None,
) -> DriftMeasurement:
    """Drift statistics of a numeric feature: effect ``W₁ / σ_ref``, test KS.

    ``reference`` and ``current`` must share edges (normally the reference's
    :func:`quantile_edges`). ``σ_ref`` is ``reference_std`` if given, else
    :meth:`Histogram.std` of the reference; the interval holds it fixed. Also computed:
    KS ``D`` with its upper bound, raw ``W₁``, and PSI and Jensen–Shannon on reference
    deciles. Non-numeric values of a numeric feature (categories) are counted as
    missing.
    """
    rule = rule or DriftRule()
    _check_same_edges(reference, current)
    r = _full_counts(reference)
    c = _full_counts(current)
    n_ref, n_cur = int(r.sum()), int(c.sum())
    miss_ref = reference.missing + reference.category_rows
    miss_cur = current.missing + current.category_rows
    if n_ref == 0 or n_cur == 0:
        return DriftMeasurement(
            "numeric", "wasserstein_std", None, None, None, "none", "kolmogorov_smirnov",
            None, None, None, n_ref, n_cur, miss_ref, miss_cur, {}, enough_rows=False,
            reason=f"no numbers to compare: {n_ref} in the reference, {n_cur} in the current window",
        )  # fmt: skip
    d, d_upper = _ks_from_counts(r, c)
    p = ks_2samp_pvalue(d, n_ref, n_cur)
    with np.errstate(over="ignore", invalid="ignore"):
        w1 = float(_wasserstein_from_counts(reference.edges, r, c))
        sigma = reference_std if reference_std is not None else reference.std()
    notes: list[str] = []
    reason = None

    def normalise(w: FloatArray | float) -> FloatArray:
        w = np.asarray(w, dtype=np.float64)
        if sigma is not None and sigma > 0:
            return w / sigma
        return np.where(w > 0, np.inf, 0.0)

    with np.errstate(over="ignore", invalid="ignore"):
        effect = float(normalise(w1))
    if sigma is None or sigma == 0:
        reason = "the reference is constant (standard deviation 0): any change is infinite"
    elif math.isnan(effect):
        reason = (
            "the effect cannot be computed: the numbers overflow float64 (the reference's "
            f"standard deviation is {sigma:g}, the Wasserstein distance {w1:g})"
        )
    groups = _decile_groups(r[1:-1].astype(np.int64))
    coarse_r = np.concatenate([[r[0]], np.add.reduceat(r[1:-1], groups), [r[-1]]])
    coarse_c = np.concatenate([[c[0]], np.add.reduceat(c[1:-1], groups), [c[-1]]])
    bounds = [*reference.edges[groups].tolist(), float(reference.edges[-1])]
    labels = [
        f"< {bounds[0]:.4g}",
        *(f"[{a:.4g}, {b:.4g})" for a, b in pairwise(bounds)),
        f">= {bounds[-1]:.4g}",
    ]
    lower = upper = effect
    if rule.bootstrap:
        lower, upper = _wasserstein_interval(reference.edges, r, c, w1, rule, normalise)
    if c[0] or c[-1]:
        notes.append(
            f"{int(c[0] + c[-1])} current values lie outside the reference's range "
            f"[{reference.edges[0]:.6g}, {reference.edges[-1]:.6g}]; Wasserstein counts them "
            "at the range's edge (a lower bound)"
        )
    stats: dict[str, float | None] = {
        "ks": d,
        "ks_upper": d_upper,
        "wasserstein": w1,
        "wasserstein_std": effect if math.isfinite(effect) else None,
        "reference_std": sigma,
        "psi": float(population_stability_index(coarse_r, coarse_c)),
        "jensen_shannon": float(jensen_shannon_distance(coarse_r, coarse_c)),
    }
    return DriftMeasurement(
        kind="numeric",
        effect_method="wasserstein_std",
        effect=effect,
        effect_lower=lower,
        effect_upper=upper,
        interval_method=_interval_method(rule) if rule.bootstrap else "none",
        test="kolmogorov_smirnov",
        statistic=d,
        df=None,
        p_value=p,
        rows_reference=n_ref,
        rows_current=n_cur,
        missing_reference=miss_ref,
        missing_current=miss_cur,
        statistics=stats,
        enough_rows=_too_few(n_ref, n_cur, rule) is None,
        reason=_too_few(n_ref, n_cur, rule) or reason,
        notes=tuple(notes),
        **_shares_of(labels, coarse_r, coarse_c),
    )


def _shares_of(labels: Sequence[str], r: FloatArray, c: FloatArray) -> dict[str, Any]:
    """Bin labels and each window's shares, for plots; bins empty on both sides dropped."""
    keep = (r + c) > 0
    rs = r / r.sum() if r.sum() else r
    cs = c / c.sum() if c.sum() else c
    return {
        "bins": tuple(lab for lab, k in zip(labels, keep, strict=True) if k),
        "reference_shares": tuple(float(v) for v in rs[keep]),
        "current_shares": tuple(float(v) for v in cs[keep]),
    }


def measure_numeric_windows(
    reference: Histogram,
    currents: Sequence[Histogram],
    rule: DriftRule | None = None,
    *,
    reference_std: float | None = None,
) -> list[DriftMeasurement]:
    """:func:`measure_numeric` for many windows of one feature at once (the live path).

    The statistics of all windows are computed together on a ``(windows, bins)`` array:
    KS, Wasserstein, PSI and Jensen–Shannon cost one vectorised pass, not one call per
    window. Results equal :func:`measure_numeric`'s window by window. The bootstrap
    interval is still per window (~5 ms each): for a grid of many windows use a rule
    with ``bootstrap=0`` and measure the windows you show with intervals.
    """
    rule = rule or DriftRule()
    if not currents:
        return []
    for current in currents:
        _check_same_edges(reference, current)
    r = _full_counts(reference)
    cs = np.stack([_full_counts(c) for c in currents])
    n_ref = int(r.sum())
    n_curs = cs.sum(axis=1).astype(np.int64)
    if n_ref == 0 or not n_curs.all():
        # Rare (empty windows): fall back to the one-window path for its messages.
        return [measure_numeric(reference, c, rule, reference_std=reference_std) for c in currents]
    stats = numeric_window_statistics(reference, r, cs, reference_std)
    ks, upper_bound, w1, effects = stats.ks, stats.ks_upper, stats.w1, stats.effects
    psi, js, groups, coarse_r, coarse_c = (
        stats.psi,
        stats.js,
        stats.groups,
        stats.coarse_r,
        stats.coarse_c,
    )
    sigma, constant, scale = stats.sigma, stats.constant, stats.scale
    bounds = [*reference.edges[groups].tolist(), float(reference.edges[-1])]
    labels = [
        f"< {bounds[0]:.4g}",
        *(f"[{a:.4g}, {b:.4g})" for a, b in pairwise(bounds)),
        f">= {bounds[-1]:.4g}",
    ]

    def normalise(w: FloatArray | float) -> FloatArray:
        w = np.asarray(w, dtype=np.float64)
        return np.where(w > 0, np.inf, 0.0) if constant else w / scale

    out = []
    for i, current in enumerate(currents):
        c = cs[i]
        effect = float(effects[i])
        lower = upper = effect
        if rule.bootstrap:
            lower, upper = _wasserstein_interval(
                reference.edges, r, c, float(w1[i]), rule, normalise
            )
        notes = []
        if c[0] or c[-1]:
            notes.append(
                f"{int(c[0] + c[-1])} current values lie outside the reference's range "
                f"[{reference.edges[0]:.6g}, {reference.edges[-1]:.6g}]; Wasserstein counts "
                "them at the range's edge (a lower bound)"
            )
        n_cur = int(n_curs[i])
        too_few = _too_few(n_ref, n_cur, rule)
        out.append(
            DriftMeasurement(
                kind="numeric",
                effect_method="wasserstein_std",
                effect=effect,
                effect_lower=lower,
                effect_upper=upper,
                interval_method=_interval_method(rule) if rule.bootstrap else "none",
                test="kolmogorov_smirnov",
                statistic=float(ks[i]),
                df=None,
                p_value=ks_2samp_pvalue(float(ks[i]), n_ref, n_cur),
                rows_reference=n_ref,
                rows_current=n_cur,
                missing_reference=reference.missing + reference.category_rows,
                missing_current=current.missing + current.category_rows,
                statistics={
                    "ks": float(ks[i]),
                    "ks_upper": float(upper_bound[i]),
                    "wasserstein": float(w1[i]),
                    "wasserstein_std": effect if math.isfinite(effect) else None,
                    "reference_std": sigma,
                    "psi": float(psi[i]),
                    "jensen_shannon": float(js[i]),
                },
                enough_rows=too_few is None,
                reason=too_few
                or (
                    "the reference is constant (standard deviation 0): any change is infinite"
                    if constant
                    else None
                ),
                notes=tuple(notes),
                **_shares_of(labels, coarse_r, coarse_c[i]),
            )
        )
    return out


@dataclass(frozen=True)
class NumericWindowStatistics:
    """The statistics of one numeric feature over many windows, as arrays (windows
    first): KS ``D`` and its upper bound, raw W₁, the effect ``W₁ / σ_ref``, and PSI and
    Jensen–Shannon on the reference's deciles (``groups``: the decile starts)."""

    ks: FloatArray
    ks_upper: FloatArray
    w1: FloatArray
    effects: FloatArray
    psi: FloatArray
    js: FloatArray
    groups: Any
    coarse_r: FloatArray
    coarse_c: FloatArray
    sigma: float | None
    constant: bool
    scale: float


def numeric_window_statistics(
    reference: Histogram,
    r: FloatArray,
    cs: FloatArray,
    reference_std: float | None = None,
    *,
    full: bool = True,
) -> NumericWindowStatistics:
    """The array core of :func:`measure_numeric_windows`: ``r`` the reference's
    ``[below, counts…, above]`` and ``cs`` one such row per window, each with numbers
    (``r.sum() > 0`` and every row's sum > 0). With ``full=False`` only what a call
    needs — KS ``D``, W₁ and the effect — is computed; the KS upper bound, PSI and
    Jensen–Shannon are NaN and the decile arrays empty (a live grid's cells)."""
    n_ref = int(r.sum())
    n_curs = cs.sum(axis=1).astype(np.int64)
    p = r / n_ref
    q = cs / n_curs[:, None]
    # The CDFs at the edges as _cdfs gives them (p and q are its shares: every total > 0).
    cdf_c = np.cumsum(q[:, :-1], axis=1)
    w1 = _wasserstein_from_cdfs(reference.edges, np.subtract(np.cumsum(p[:-1]), cdf_c, out=cdf_c))
    sigma = reference_std if reference_std is not None else reference.std()
    scale = sigma if sigma is not None and sigma > 0 else 0.0
    constant = scale == 0.0
    effects = np.where(w1 > 0, np.inf, 0.0) if constant else w1 / scale
    running = np.cumsum(np.subtract(p, q), axis=1)
    if not full:
        # KS D alone: the zero before the first bin cannot raise a maximum of |·|.
        ks = np.max(np.abs(running, out=running), axis=1)
        nan = np.full(cs.shape[0], np.nan)
        none = np.zeros(0)
        return NumericWindowStatistics(
            ks, nan, w1, effects, nan, nan, none, none, none, sigma, constant, scale
        )
    cum_d = np.concatenate([np.zeros((cs.shape[0], 1)), running], axis=1)
    ks = np.max(np.abs(cum_d), axis=1)
    d_lo, d_hi = cum_d[:, :-1], cum_d[:, 1:]
    upper_bound = np.minimum(
        np.maximum.reduce(
            [
                np.max(np.minimum(d_lo + p, d_hi + q), axis=1),
                -np.min(np.maximum(d_lo - q, d_hi - p), axis=1),
                ks,
            ]
        ),
        1.0,
    )
    groups = _decile_groups(r[1:-1].astype(np.int64))
    coarse_r = np.concatenate([[r[0]], np.add.reduceat(r[1:-1], groups), [r[-1]]])
    coarse_c = np.concatenate(
        [cs[:, :1], np.add.reduceat(cs[:, 1:-1], groups, axis=1), cs[:, -1:]], axis=1
    )
    psi = population_stability_index(np.broadcast_to(coarse_r, coarse_c.shape), coarse_c)
    js = jensen_shannon_distance(np.broadcast_to(coarse_r, coarse_c.shape), coarse_c)
    return NumericWindowStatistics(
        ks, upper_bound, w1, effects, psi, js, groups, coarse_r, coarse_c, sigma, constant, scale
    )


def _category_vectors(
    reference: Histogram, current: Histogram, rule: DriftRule
) -> tuple[list[str], FloatArray, FloatArray, int, int]:
    """Align two categorical histograms: the reference's most frequent
    ``max_categories``, then other, unseen and missing. Returns the bucket names, the
    two count vectors, and the number and count of unseen categories."""
    ref_cats = reference.categories
    ranked = sorted(ref_cats.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [k for k, v in ranked[: rule.max_categories] if v > 0]
    kept_set = set(kept)
    ref_complete = reference.other == 0  # the reference kept every category it saw
    unseen_names = [k for k, v in current.categories.items() if v > 0 and k not in ref_cats]
    r_other = sum(v for k, v in ref_cats.items() if k not in kept_set) + reference.other
    c_other = current.other + sum(
        v for k, v in current.categories.items() if k not in kept_set and k in ref_cats
    )
    unseen = sum(current.categories[k] for k in unseen_names)
    if not ref_complete:  # cannot tell unseen from the reference's other
        c_other += unseen
        unseen_names, unseen = [], 0
    names = [*kept, _OTHER, _UNSEEN, _MISSING]
    r = np.array(
        [ref_cats[k] for k in kept] + [r_other, 0, reference.missing + reference.numeric_rows],
        dtype=np.float64,
    )
    c = np.array(
        [current.categories.get(k, 0) for k in kept]
        + [c_other, unseen, current.missing + current.numeric_rows],
        dtype=np.float64,
    )
    return names, r, c, len(unseen_names), int(unseen)


def measure_categorical(
    reference: Histogram, current: Histogram, rule: DriftRule | None = None
) -> DriftMeasurement:
    """Drift statistics of a categorical feature: effect Jensen–Shannon, test chi-square.

    The buckets are the reference's ``rule.max_categories`` most frequent categories,
    ``(other)`` for the rest, ``(unseen)`` for categories of the current window the
    reference never had (counted exactly when the reference histogram kept all its
    categories, ``other == 0``), and ``(missing)``, which counts as a category here
    (a label or category going missing is a change). Numbers in a categorical feature
    count as missing. Also computed: PSI over the same buckets.
    """
    rule = rule or DriftRule()
    names, r, c, n_unseen, unseen_rows = _category_vectors(reference, current, rule)
    n_ref, n_cur = int(r.sum()), int(c.sum())
    miss_ref = reference.missing + reference.numeric_rows
    miss_cur = current.missing + current.numeric_rows
    if n_ref == 0 or n_cur == 0:
        return DriftMeasurement(
            "categorical", "jensen_shannon", None, None, None, "none", "chi_square",
            None, None, None, n_ref, n_cur, miss_ref, miss_cur, {}, enough_rows=False,
            reason=f"no values to compare: {n_ref} in the reference, {n_cur} in the current window",
        )  # fmt: skip
    js = float(jensen_shannon_distance(r, c))
    stat, df, p, pooled = chi_square_test(r, c)
    lower = upper = js
    if rule.bootstrap:
        rng = np.random.default_rng(rule.seed)
        boots = jensen_shannon_distance(_resample(r, rule, rng), _resample(c, rule, rng))
        lower, upper = _basic_interval(js, boots, js, rule)
    notes = []
    if pooled:
        notes.append(f"chi-square pooled {pooled} bucket(s) with expected counts below 5")
    if reference.other and any(k not in reference.categories for k in current.categories):
        notes.append(
            "the reference histogram kept only its most frequent categories, so categories "
            "it does not list count as (other), not (unseen)"
        )
    stats: dict[str, float | None] = {
        "jensen_shannon": js,
        "psi": float(population_stability_index(r, c)),
        "chi_square": stat,
        "unseen_share": unseen_rows / n_cur if n_cur else None,
    }
    too_few = _too_few(n_ref, n_cur, rule)
    return DriftMeasurement(
        kind="categorical",
        effect_method="jensen_shannon",
        effect=js,
        effect_lower=lower,
        effect_upper=upper,
        interval_method=_interval_method(rule) if rule.bootstrap else "none",
        test="chi_square",
        statistic=stat,
        df=df,
        p_value=p,
        rows_reference=n_ref,
        rows_current=n_cur,
        missing_reference=miss_ref,
        missing_current=miss_cur,
        statistics=stats,
        unseen_categories=n_unseen,
        unseen_current=unseen_rows,
        enough_rows=too_few is None,
        reason=too_few,
        notes=tuple(notes),
        **_shares_of(names, r, c),
    )


def call_drift(
    measurements: Sequence[DriftMeasurement], rule: DriftRule | None = None
) -> list[DriftCall]:
    """The drift call for every measurement, tested together.

    Every measurement with enough rows is one test in one Benjamini–Hochberg family
    (pass all features × windows of a report at once). ``drifted`` is
    ``effect >= threshold and p_adjusted < alpha``; a measurement below
    ``rule.min_rows`` gets ``status = "too_few_rows"``, no adjusted p-value and
    ``drifted = False``. The calls come back in the order given.
    """
    rule = rule or DriftRule()
    raw = [m.p_value if m.enough_rows and m.p_value is not None else None for m in measurements]
    adjusted = benjamini_hochberg(raw)
    tests = sum(p is not None for p in raw)
    text = rule.describe(tests)
    calls = []
    for m, p_adj in zip(measurements, adjusted, strict=True):
        threshold = rule.threshold(m.kind)
        status: Status
        # An effect that could not be computed (NaN: numbers near the float64 limit
        # overflow the Wasserstein distance) is undefined, never "not drifted".
        if m.effect is None or math.isnan(m.effect) or (m.enough_rows and p_adj is None):
            status, drifted = "undefined", False
        elif not m.enough_rows:
            status, drifted = "too_few_rows", False
        else:
            drifted = bool(m.effect >= threshold and p_adj is not None and p_adj < rule.alpha)
            status = "drifted" if drifted else "not_drifted"
        calls.append(DriftCall(m, threshold, p_adj, drifted, status, text))
    return calls
