"""Tail probabilities of the chi-square and Kolmogorov distributions, numpy and math only.

scipy is a development dependency only; these are checked against ``scipy.stats.chi2``
and ``scipy.stats.kstwobign`` in ``tests/metrics/test_drift.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "chi2_sf",
    "chi2_sf_array",
    "kolmogorov_sf",
    "kolmogorov_sf_array",
    "ks_2samp_pvalue",
    "ks_2samp_pvalue_array",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 10_000


def _gamma_p_series(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x) by its power series (x < a + 1)."""
    term = 1.0 / a
    total = term
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) by Legendre's continued fraction
    (modified Lentz; x >= a + 1), accurate in relative terms far into the tail."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(x: float, df: int) -> float:
    """Survival function of the chi-square distribution, ``P(X >= x)`` for ``X ~ chi2(df)``.

    Formula: ``Q(df / 2, x / 2)``, the regularised upper incomplete gamma function,
    by its series below ``a + 1`` and its continued fraction above (Press et al.,
    *Numerical Recipes*, 3rd ed., §6.2). Undefined for ``df < 1`` (raises ValueError).
    """
    if df < 1:
        raise ValueError(f"chi-square degrees of freedom must be >= 1, got {df}")
    if not x > 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a = df / 2.0
    half = x / 2.0
    if half < a + 1.0:
        return max(0.0, 1.0 - _gamma_p_series(a, half))
    return min(1.0, _gamma_q_fraction(a, half))


def chi2_sf_array(x: npt.ArrayLike, df: int) -> FloatArray:
    """:func:`chi2_sf` of every value of ``x`` (one ``df``): the same series and
    continued fraction, iterated over all values at once, each value stopping where the
    scalar code stops; the same floats as :func:`chi2_sf` value by value (tested)."""
    if df < 1:
        raise ValueError(f"chi-square degrees of freedom must be >= 1, got {df}")
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    out = np.ones(xs.size)
    with np.errstate(invalid="ignore"):
        positive = xs > 0.0
    out[positive & np.isinf(xs)] = 0.0
    a = df / 2.0
    half = xs / 2.0
    finite = positive & np.isfinite(xs)
    series = np.flatnonzero(finite & (half < a + 1.0))
    fraction = np.flatnonzero(finite & ~(half < a + 1.0))
    lga = math.lgamma(a)

    def prefactor(h: FloatArray) -> list[float]:
        return [math.exp(-v + a * math.log(v) - lga) for v in h.tolist()]

    if series.size:
        h = half[series]
        term = np.full(h.size, 1.0 / a)
        total = term.copy()
        ap = a
        active = np.arange(h.size)
        for _ in range(_MAX_ITER):
            ap += 1.0
            t = term[active] * (h[active] / ap)
            term[active] = t
            total[active] += t
            active = active[~(np.abs(t) < np.abs(total[active]) * _EPS)]
            if active.size == 0:
                break
        p = total * np.array(prefactor(h))
        out[series] = np.maximum(0.0, 1.0 - p)
    if fraction.size:
        h = half[fraction]
        b = h + 1.0 - a
        c = np.full(h.size, 1.0 / _TINY)
        d = 1.0 / b
        frac = d.copy()
        active = np.arange(h.size)
        for i in range(1, _MAX_ITER):
            an = -i * (i - a)
            b[active] += 2.0
            dd = an * d[active] + b[active]
            dd[np.abs(dd) < _TINY] = _TINY
            cc = b[active] + an / c[active]
            cc[np.abs(cc) < _TINY] = _TINY
            dd = 1.0 / dd
            delta = dd * cc
            d[active], c[active] = dd, cc
            frac[active] *= delta
            active = active[~(np.abs(delta - 1.0) < _EPS)]
            if active.size == 0:
                break
        out[fraction] = np.minimum(1.0, np.array(prefactor(h)) * frac)
    return out


def kolmogorov_sf(x: float) -> float:
    """Survival function of Kolmogorov's limiting distribution, ``P(K > x)``.

    Formula: ``2 Σ_{k≥1} (-1)^(k-1) exp(-2 k² x²)`` for ``x >= 1``, and
    ``1 - (√(2π) / x) Σ_{k≥1} exp(-(2k-1)² π² / (8 x²))`` below, where each series
    converges in a few terms (Kolmogorov 1933; Marsaglia, Tsang & Wang 2003).
    """
    if not x > 0.0:
        return 1.0
    if x >= 1.0:
        total = 0.0
        for k in range(1, 101):
            term = math.exp(-2.0 * k * k * x * x)
            total += term if k % 2 else -term
            if term < 1e-300 or term < abs(total) * _EPS:
                break
        return max(0.0, min(1.0, 2.0 * total))
    if x < 0.04:
        return 1.0  # the series below underflows; the cdf is < 1e-300 here
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8.0 * x * x))
        total += term
        if term < total * _EPS:
            break
    return max(0.0, min(1.0, 1.0 - math.sqrt(2.0 * math.pi) / x * total))


def ks_2samp_pvalue(d: float, n: int, m: int) -> float:
    """Two-sided p-value of the two-sample Kolmogorov–Smirnov statistic ``d``.

    Formula: ``Q_KS((√nₑ + 0.12 + 0.11/√nₑ) d)`` with ``nₑ = n m / (n + m)``: the
    limiting distribution with Stephens' (1970) small-sample correction (as in
    *Numerical Recipes* §14.3.3), which tracks the exact distribution to about
    0.005 from ``nₑ ≈ 50`` on. Conservative for discrete data and for a ``d``
    computed on bins (a lower bound of the exact statistic).
    """
    if n < 1 or m < 1:
        raise ValueError(f"both samples need at least one value, got n={n}, m={m}")
    en = n * m / (n + m)
    root = math.sqrt(en)
    return kolmogorov_sf((root + 0.12 + 0.11 / root) * d)


_TERMS = 100


def kolmogorov_sf_array(x: npt.ArrayLike) -> FloatArray:
    """:func:`kolmogorov_sf` of every entry of ``x`` at once.

    The same two series with the same stopping rule per entry — each entry's sum
    stops at the term where :func:`kolmogorov_sf` stops, and its terms are added in
    the same order — so the values are the scalar function's (``tests/metrics/
    test_drift.py`` compares them). 1 where x ≤ 0 or NaN, as the scalar function.
    """
    v = np.atleast_1d(np.asarray(x, dtype=np.float64))
    out = np.ones_like(v)
    big = v >= 1.0
    if big.any():
        xb = v[big]
        total = np.zeros_like(xb)
        active = np.ones(xb.shape, dtype=np.bool_)
        for k in range(1, _TERMS + 1):
            term = np.exp(-2.0 * k * k * xb * xb)
            total = np.where(active, total + term if k % 2 else total - term, total)
            active &= ~((term < 1e-300) | (term < np.abs(total) * _EPS))
            if not active.any():
                break
        out[big] = np.maximum(0.0, np.minimum(1.0, 2.0 * total))
    small = (v > 0.0) & (v < 1.0) & (v >= 0.04)
    if small.any():
        xs = v[small]
        total = np.zeros_like(xs)
        active = np.ones(xs.shape, dtype=np.bool_)
        for k in range(1, _TERMS + 1):
            term = np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8.0 * xs * xs))
            total = np.where(active, total + term, total)
            active &= ~(term < total * _EPS)
            if not active.any():
                break
        out[small] = np.maximum(0.0, np.minimum(1.0, 1.0 - math.sqrt(2.0 * math.pi) / xs * total))
    return out


def ks_2samp_pvalue_array(d: npt.ArrayLike, n: npt.ArrayLike, m: npt.ArrayLike) -> FloatArray:
    """:func:`ks_2samp_pvalue` of every entry at once: ``Q_KS((√nₑ + 0.12 + 0.11/√nₑ) d)``
    with ``nₑ = n m / (n + m)`` (Stephens 1970), the Kolmogorov series by
    :func:`kolmogorov_sf_array`. Same values as the scalar function.

    Raises
    ------
    ValueError
        when an entry of ``n`` or ``m`` is below 1.
    """
    dd = np.atleast_1d(np.asarray(d, dtype=np.float64))
    nn = np.broadcast_to(np.asarray(n, dtype=np.int64), dd.shape)
    mm = np.broadcast_to(np.asarray(m, dtype=np.int64), dd.shape)
    if dd.size and (nn.min() < 1 or mm.min() < 1):
        raise ValueError(
            f"both samples need at least one value, got n={int(nn.min())}, m={int(mm.min())}"
        )
    en = (nn * mm).astype(np.float64) / (nn + mm).astype(np.float64)
    root = np.sqrt(en)
    return kolmogorov_sf_array((root + 0.12 + 0.11 / root) * dd)
