"""Anytime-valid evidence: confidence sequences for proportions and bounded means.

A fixed-sample 95% interval keeps its promise at *one* look. A live verdict or a
drop detector looks again every time labels arrive, and the chance that *some*
look excludes the truth grows without bound (checking a model exactly at its
target every 25 positives up to 1,000, a fixed-sample verdict passes at some look
14% of the time). A confidence sequence ``(C_n)`` keeps

    P(the true value lies outside C_n at ANY n) ≤ alpha,

so it can be read after every new label, at any stopping time, for as long as the
stream lasts.

Method: the beta-binomial (conjugate) mixture of likelihood ratios (Robbins 1970;
Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform, nonparametric,
nonasymptotic confidence sequences", Ann. Statist. 49(2), section 3). For a
candidate rate p, after x successes in n trials,

    M_n(p) = ∫ q^x (1 − q)^(n − x) dBeta(q; a, b) / (p^x (1 − p)^(n − x))
           = B(a + x, b + n − x) / B(a, b) / (p^x (1 − p)^(n − x))

is a non-negative martingale with mean 1 when p is the true rate, so by Ville's
inequality P(sup_n M_n(p) ≥ 1/alpha) ≤ alpha, and ``C_n = {p : M_n(p) < 1/alpha}``
is a confidence sequence. ``C_n`` is an interval (log M_n is convex in p) found
by bisection on each side of x/n. It depends on the data only through (x, n), so
it works from the mergeable counts liveeval stores.

Bounded means: for X in [0, 1] with mean μ, the exponential tilt
q^X (1 − q)^(1 − X) / (μ^X (1 − μ)^(1 − X)) is convex in X, so its mean is at
most its value for a Bernoulli(μ) — 1 (the "sub-Bernoulli" argument, Howard et
al. 2020, "Time-uniform Chernoff bounds via nonnegative supermartingales",
Prob. Surveys 17). The same M_n with x = Σ X_i (not an integer) is a
supermartingale and the same sequence is valid for any variable with known bounds,
after rescaling to [0, 1].

The prior (a, b) only moves where the sequence is tightest, never its validity; it
must be chosen before the data (it may depend on a target fixed in advance).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_PRIOR",
    "bounded_mean_sequence",
    "proportion_sequence",
    "proportion_sequences",
    "quantile_sequence",
    "rate_difference_sequence",
    "sequence_prior",
]

DEFAULT_PRIOR: tuple[float, float] = (0.5, 0.5)
_BISECTIONS = 42
FloatArray = npt.NDArray[np.float64]
_LGAMMA_UFUNC = np.frompyfunc(math.lgamma, 1, 1)


def _lgamma(v: FloatArray) -> FloatArray:
    return np.asarray(_LGAMMA_UFUNC(v), dtype=np.float64)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def sequence_prior(centre: float, strength: float = 20.0) -> tuple[float, float]:
    """A Beta prior centred on ``centre`` (a rate fixed in advance, such as a target).

    ``strength`` is a + b (pseudo-observations); the default 20 spreads the prior over
    about ±0.07 around a centre of 0.9, so the sequence is tightest for rates near the
    target, where a verdict must decide. The centre is clipped to [0.01, 0.99].
    """
    if not strength > 0.0:
        raise ValueError(f"strength must be positive, got {strength!r}")
    c = min(max(centre, 0.01), 0.99)
    return (c * strength, (1.0 - c) * strength)


def proportion_sequence(
    successes: float,
    trials: float,
    alpha: float = 0.05,
    *,
    prior: tuple[float, float] = DEFAULT_PRIOR,
) -> tuple[float, float]:
    """Anytime-valid (1 − ``alpha``) confidence sequence for a binomial rate.

    Parameters
    ----------
    successes, trials:
        Counts so far (``0 ≤ successes ≤ trials``); may be non-integer (a bounded
        mean rescaled to [0, 1], see :func:`bounded_mean_sequence`).
    alpha:
        The probability that the sequence ever excludes the true rate, over every
        look there will ever be (both sides together, so each side's miss rate is at
        most ``alpha`` too).
    prior:
        Beta(a, b) mixing distribution, fixed before the data (default Jeffreys'
        (½, ½); :func:`sequence_prior` centres it on a target).

    Returns
    -------
    (lower, upper):
        ``(0.0, 1.0)`` when ``trials`` is 0.

    Notes
    -----
    Formula: ``{p : x log p + (n − x) log(1 − p) > log B(a + x, b + n − x) − log B(a, b)
    + log alpha}`` (the beta-binomial mixture, Robbins 1970; Howard et al. 2021,
    Ann. Statist. 49(2)). About 1.7–2 times as wide as a fixed-sample Wilson interval
    at a few hundred to a few thousand trials: the price of looking at every one.
    Undefined never: with no trials the sequence is the whole of [0, 1].

    Examples
    --------
    >>> lo, hi = proportion_sequence(90, 100, alpha=0.05)
    >>> round(lo, 3), round(hi, 3)
    (0.772, 0.971)
    """
    _check_alpha(alpha)
    a, b = _check_prior(prior)
    if not (trials >= 0.0 and 0.0 <= successes <= trials * (1.0 + 1e-12)):
        raise ValueError(
            f"need 0 <= successes <= trials, got successes={successes!r}, trials={trials!r}"
        )
    if trials == 0.0:
        return (0.0, 1.0)
    # The scalar path in plain floats: verdicts call it dozens of times per check.
    n = float(trials)
    x = min(float(successes), n)
    level = (
        math.lgamma(a + x)
        + math.lgamma(b + n - x)
        - math.lgamma(a + b + n)
        - _log_beta(a, b)
        + math.log(alpha)
    )

    def inside(p: float) -> bool:
        if (x > 0.0 and p <= 0.0) or (n > x and p >= 1.0):
            return False  # zero likelihood (reached only through rounding)
        ll = (x * math.log(p) if x > 0.0 else 0.0) + ((n - x) * math.log1p(-p) if n > x else 0.0)
        return ll > level

    def boundary(out: float, ins: float) -> float:
        for _ in range(_BISECTIONS):
            mid = 0.5 * (out + ins)
            if inside(mid):
                ins = mid
            else:
                out = mid
        return out

    centre = x / n
    # At x = 0 (x = n) the likelihood peaks at p = 0 (p = 1), which is inside.
    lower = 0.0 if x <= 0.0 else boundary(0.0, centre)
    upper = 1.0 if x >= n else boundary(1.0, centre)
    return (lower, upper)


def _check_prior(prior: tuple[float, float]) -> tuple[float, float]:
    a, b = prior
    if not (a > 0.0 and b > 0.0):
        raise ValueError(f"prior must be two positive numbers, got {prior!r}")
    return float(a), float(b)


def proportion_sequences(
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    alpha: float = 0.05,
    *,
    prior: tuple[float, float] = DEFAULT_PRIOR,
) -> tuple[FloatArray, FloatArray]:
    """:func:`proportion_sequence` for many groups at once (vectorised).

    ``successes`` and ``trials`` are arrays of the same shape (one entry per group,
    window or look); returns the arrays of lower and upper limits.
    """
    _check_alpha(alpha)
    a, b = _check_prior(prior)
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if x.shape != n.shape:
        raise ValueError(f"successes has shape {x.shape} but trials has shape {n.shape}")
    bad = ~((n >= 0.0) & (x >= 0.0) & (x <= n * (1.0 + 1e-12)))
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            "need 0 <= successes <= trials, got successes="
            f"{float(x.ravel()[i])!r}, trials={float(n.ravel()[i])!r} at index {i}"
        )
    x = np.minimum(x, n)
    level = _lgamma(a + x) + _lgamma(b + n - x) - _lgamma(a + b + n) - _log_beta(a, b)
    level = level + math.log(alpha)
    safe_n = np.where(n > 0, n, 1.0)
    centre = x / safe_n

    def inside(p: FloatArray) -> npt.NDArray[np.bool_]:
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = np.where(x > 0, x * np.log(p), 0.0) + np.where(n > x, (n - x) * np.log1p(-p), 0.0)
        result: npt.NDArray[np.bool_] = ll > level
        return result

    lower = _boundary(inside, np.zeros_like(centre), centre)
    upper = _boundary(inside, np.ones_like(centre), centre)
    # At x = 0 (x = n) the likelihood peaks at p = 0 (p = 1), which is inside.
    lower = np.where(x <= 0.0, 0.0, lower)
    upper = np.where(x >= n, 1.0, upper)
    empty = n == 0
    return (np.where(empty, 0.0, lower), np.where(empty, 1.0, upper))


def _boundary(
    inside: Callable[[FloatArray], npt.NDArray[np.bool_]], outside: FloatArray, centre: FloatArray
) -> FloatArray:
    """Bisection between ``outside`` (excluded) and ``centre`` (the estimate, included)."""
    out, ins = outside.copy(), centre.copy()
    for _ in range(_BISECTIONS):
        mid = 0.5 * (out + ins)
        ok = inside(mid)
        ins = np.where(ok, mid, ins)
        out = np.where(ok, out, mid)
    # The excluded side of the boundary, so the sequence never understates its width.
    return out


def bounded_mean_sequence(
    total: float,
    n: float,
    alpha: float = 0.05,
    *,
    bounds: tuple[float, float] = (0.0, 1.0),
    prior: tuple[float, float] = DEFAULT_PRIOR,
) -> tuple[float, float]:
    """Anytime-valid (1 − ``alpha``) confidence sequence for the mean of bounded values.

    Parameters
    ----------
    total, n:
        The running sum of the observations and their count.
    bounds:
        ``(low, high)``: every observation is known to lie in this range (for example
        (0, 1) for a Brier score, (0, c) for a latency capped at a timeout ``c``).
    alpha, prior:
        As for :func:`proportion_sequence`, on the rescaled mean (total/n − low)/(high − low).

    Returns
    -------
    (lower, upper) on the original scale; ``bounds`` when ``n`` is 0.

    Notes
    -----
    Valid for any distribution on ``bounds`` (sub-Bernoulli: Howard et al. 2020, Prob.
    Surveys 17, and 2021, Ann. Statist. 49(2)); tight when the values sit near the
    bounds (rates), conservative for values spread inside them, since it uses no
    variance estimate. It needs only the running sum, so it works on merged counts.

    Examples
    --------
    >>> lo, hi = bounded_mean_sequence(30.0, 100, bounds=(0.0, 1.0))
    >>> lo < 0.3 < hi
    True
    """
    low, high = bounds
    if not high > low:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n!r}")
    if n == 0:
        return (low, high)
    width = high - low
    scaled = (total - low * n) / width
    if scaled < -1e-9 * n or scaled > n * (1.0 + 1e-9):
        raise ValueError(
            f"the mean {total / n!r} of {n!r} values lies outside the bounds {bounds!r}"
        )
    lo, hi = proportion_sequence(min(max(scaled, 0.0), n), n, alpha, prior=prior)
    return (low + lo * width, low + hi * width)


def rate_difference_sequence(
    successes_a: float,
    trials_a: float,
    successes_b: float,
    trials_b: float,
    alpha: float = 0.05,
    *,
    prior: tuple[float, float] = DEFAULT_PRIOR,
) -> tuple[float, float]:
    """Anytime-valid (1 − ``alpha``) confidence sequence for rate A − rate B.

    For two streams that both keep growing (a recent window against a reference that
    is still filling, or two model versions): each rate gets its own sequence at
    ``alpha / 2`` and the difference takes the extreme pairs, so by the union bound the
    truth is excluded at some look with probability at most ``alpha``.

    Returns
    -------
    (lower, upper) within [−1, 1]; ``(-1.0, 1.0)`` while either stream is empty.

    Notes
    -----
    Formula: ``[L_A − U_B, U_A − L_B]`` with ``(L, U)`` from :func:`proportion_sequence`
    at ``alpha / 2``. Conservative (a union bound, not a joint mixture); against a fixed
    reference rate use :func:`proportion_sequence` on the new stream alone.

    Examples
    --------
    >>> lo, hi = rate_difference_sequence(300, 1000, 500, 1000)
    >>> hi < 0.0
    True
    """
    lo_a, hi_a = proportion_sequence(successes_a, trials_a, alpha / 2.0, prior=prior)
    lo_b, hi_b = proportion_sequence(successes_b, trials_b, alpha / 2.0, prior=prior)
    return (lo_a - hi_b, hi_a - lo_b)


def quantile_sequence(
    edges: npt.ArrayLike,
    at_or_below: npt.ArrayLike,
    n: float,
    q: float,
    alpha: float = 0.05,
    *,
    prior: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Anytime-valid (1 − ``alpha``) confidence sequence for the ``q``-quantile.

    Parameters
    ----------
    edges:
        Increasing values x_k (for a latency sketch, its bucket upper edges).
    at_or_below:
        The number of observations ≤ x_k, for each k (non-decreasing).
    n:
        The number of observations.
    q:
        The quantile level, in (0, 1).
    alpha, prior:
        As for :func:`proportion_sequence` (the prior defaults to one centred on ``q``).

    Returns
    -------
    (lower, upper):
        ``upper`` is the first edge whose share at or below it is, anytime-validly,
        above ``q`` (``inf`` when there is none yet: the quantile is unbounded above);
        ``lower`` the last edge whose share is below ``q`` (``-inf`` when none).

    Notes
    -----
    Both limits rest on one sequence: the count of observations at or below the true
    quantile Q is Binomial(n, q) at every n, so its sequence (at ``alpha``) covers q at
    every look with probability 1 − ``alpha``; if it does, no edge below Q can have a
    lower limit above q (counts only grow with x), nor any edge above Q an upper limit
    below q. Formula: ``upper = min{x_k : L(c_k, n) > q}``,
    ``lower = max{x_k : U(c_k, n) < q}``, with (L, U) from :func:`proportion_sequences`
    (Howard et al. 2021, Ann. Statist. 49(2), section 4 on quantiles, here on counts).

    Examples
    --------
    >>> edges = [0.01, 0.02, 0.05, 0.1, 0.2]
    >>> lo, hi = quantile_sequence(edges, [100, 500, 900, 990, 1000], 1000, 0.5)
    >>> lo, hi
    (0.01, 0.05)
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    x = np.asarray(edges, dtype=np.float64)
    c = np.asarray(at_or_below, dtype=np.float64)
    if x.shape != c.shape or x.ndim != 1:
        raise ValueError(f"edges has shape {x.shape} but at_or_below has shape {c.shape}")
    if x.size > 1 and (np.any(np.diff(x) <= 0.0) or np.any(np.diff(c) < 0.0)):
        raise ValueError("edges must increase and at_or_below must not decrease")
    if n <= 0 or x.size == 0:
        return (-math.inf, math.inf)
    lower_p, upper_p = proportion_sequences(
        np.minimum(c, n), np.full(c.shape, float(n)), alpha, prior=prior or sequence_prior(q)
    )
    above = np.flatnonzero(lower_p > q)
    below = np.flatnonzero(upper_p < q)
    upper = float(x[above[0]]) if above.size else math.inf
    lower = float(x[below[-1]]) if below.size else -math.inf
    return (lower, upper)
