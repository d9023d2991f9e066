"""Confidence intervals over arrays: one call for many windows.

The functions of :mod:`liveeval.metrics.interval` take one count or one set of sums and
return one interval; a live read of 720 hourly windows calls them thousands of times,
and each call runs a root search in Python. These take arrays (one entry per window)
and return arrays of limits, with the same formulas and the same root searches run on
every entry at once.

They agree with the scalar functions to 1e-9 relative (``tests/metrics/
test_interval_array.py``), not bit for bit: numpy's ``exp``, ``log`` and ``dot`` may
round differently from ``math``'s in the last bit, and a root found by Newton's method
and one found by bisection to adjacent floats differ by a few units in the last place.
The root searches stop at the scalar code's resolution, so intervals cover exactly as
the scalar ones do (``docs/coverage.md``).

Pure numpy and ``math``; no I/O.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .interval import poisson_lower, z_value

__all__ = [
    "modified_wilson_array",
    "normal_quantile",
    "poisson_interval_array",
    "poisson_lower_array",
    "t_mean_array",
    "t_quantile_array",
    "wilson_array",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _floats(values: npt.ArrayLike) -> FloatArray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


def wilson_array(
    successes: npt.ArrayLike, n: npt.ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Wilson score intervals for many binomial proportions at once.

    Formula, per entry with p = successes / n clipped to [0, 1] and z the two-sided
    normal quantile: ``(p + z²/2n ± z √(p(1 − p)/n + z²/4n²)) / (1 + z²/n)``, clipped to
    [0, 1] (Wilson 1927). The arithmetic is that of
    :func:`~liveeval.metrics.interval.wilson`, operation for operation, so the limits
    are the same floats. Undefined (NaN limits) where ``n`` ≤ 0.

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. JASA 22(158), 209–212.
    """
    x = _floats(successes)
    size = _floats(n)
    z = z_value(confidence)
    defined = size > 0
    safe = np.where(defined, size, 1.0)
    p = np.minimum(np.maximum(x / safe, 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / safe
    centre = (p + z2 / (2.0 * safe)) / denom
    half = z * np.sqrt(p * (1.0 - p) / safe + z2 / (4.0 * safe * safe)) / denom
    lower = np.maximum(0.0, centre - half)
    upper = np.minimum(1.0, centre + half)
    lower = np.where(p == 0.0, 0.0, lower)
    upper = np.where(p == 1.0, 1.0, upper)
    return np.where(defined, lower, np.nan), np.where(defined, upper, np.nan)


def poisson_lower_array(count: npt.ArrayLike, tail: float) -> FloatArray:
    """Exact lower confidence limits of Poisson means after ``count`` events, per entry.

    Formula: the λ with P(Poisson(λ) ≥ count) = ``tail``, the ``tail`` quantile of
    Gamma(count, 1); 0 for a count ≤ 0. Each distinct count is solved once by
    :func:`~liveeval.metrics.interval.poisson_lower` (bisection to adjacent floats,
    remembered): the modified Wilson interval asks for counts of 1 to 3 only, so a
    thousand windows need a handful of distinct limits.
    """
    c = _floats(count)
    values, inverse = np.unique(c, return_inverse=True)
    limits = np.array([poisson_lower(float(v), tail) for v in values.tolist()], np.float64)
    out: FloatArray = limits[inverse.reshape(-1)].reshape(c.shape)
    return out


@functools.lru_cache(maxsize=8)
def _log_factorials(size: int) -> FloatArray:
    """log(j!) for j < ``size`` (``math.lgamma``, correctly rounded to ~1 ulp)."""
    return np.array([math.lgamma(j + 1.0) for j in range(size)], np.float64)


def _poisson_cdf(shape: npt.NDArray[np.int64], lam: FloatArray) -> FloatArray:
    """Q(s, λ) = P(Poisson(λ) ≤ s − 1) = Σ_{j<s} e^{−λ} λ^j / j!, per entry (s ≥ 1, λ > 0).

    Only the terms within 14√λ + 40 of λ are summed: the others are below e^{−90}
    of the largest, far under a float's resolution."""
    reach = np.ceil(14.0 * np.sqrt(lam) + 40.0)
    first = np.clip(np.floor(lam - reach), 0, shape).astype(np.int64)
    width = int(max((shape - first).max(), 1))
    j = first[:, None] + np.arange(width, dtype=np.int64)[None, :]
    inside = j < shape[:, None]
    j = np.where(inside, j, 0)
    size = 1 << int(int(j.max()) + 1).bit_length()
    log_terms = j * np.log(lam)[:, None] - lam[:, None] - _log_factorials(size)[j]
    terms = np.where(inside, np.exp(log_terms), 0.0)
    out: FloatArray = terms.sum(axis=1)
    return out


def _poisson_roots(shape: npt.NDArray[np.int64], target: float) -> FloatArray:
    """The λ with Q(s, λ) = ``target`` per entry (Q falls as λ grows): safeguarded
    Newton from the Wilson–Hilferty approximation, inside the scalar search's bracket
    [0, s + 20√s + 20], to a few units in the last place."""
    s = shape.astype(np.float64)
    lo = np.zeros_like(s)
    hi = s + 20.0 * np.sqrt(s) + 20.0
    z = float(normal_quantile(np.array([1.0 - target]))[0])
    lam = s * (1.0 - 1.0 / (9.0 * s) + z / (3.0 * np.sqrt(s))) ** 3
    lam = np.where((lam > lo) & (lam < hi), lam, 0.5 * (lo + hi))
    log_norm = _log_factorials(int(shape.max()) + 1)[shape - 1]
    for _ in range(100):
        f = _poisson_cdf(shape, lam) - target
        lo = np.where(f > 0.0, lam, lo)
        hi = np.where(f > 0.0, hi, lam)
        # dQ/dλ = −P(Poisson(λ) = s − 1)
        slope = np.exp((s - 1.0) * np.log(lam) - lam - log_norm)
        step = f / np.where(slope > 0.0, slope, np.inf)
        nxt = lam + step
        nxt = np.where((nxt > lo) & (nxt < hi) & (step != 0.0), nxt, 0.5 * (lo + hi))
        nxt = np.where(f == 0.0, lam, nxt)
        if (np.abs(nxt - lam) <= 4.0 * np.spacing(lam)).all():
            return nxt
        lam = nxt
    return lam


def poisson_interval_array(
    count: npt.ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Exact (Garwood 1936) intervals for Poisson means after ``count`` events, per entry.

    Formula, as :func:`~liveeval.metrics.interval.poisson_interval`: the lower limit
    is the λ with P(Poisson(λ) ≥ k) = α/2 (0 for k = 0), the upper the λ with
    P(Poisson(λ) ≤ k) = α/2, α = 1 − ``confidence``. Each distinct count is solved once,
    all together: the Poisson distribution function as a finite sum of terms (integer
    counts), its root by safeguarded Newton steps. Agrees with the scalar bisection to
    1e-12 relative (``tests/metrics/test_interval_array.py``); coverage is the same.

    Raises
    ------
    ValueError
        for a negative or non-integer count, or a confidence outside (0, 1).

    References
    ----------
    Garwood, F. (1936). Fiducial limits for the Poisson distribution. Biometrika
    28(3/4), 437–442.
    """
    c = _floats(count)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    bad = ~np.isfinite(c) | (c < 0) | (c != np.floor(c))
    if bad.any():
        value = c[bad][0]
        raise ValueError(f"a Poisson count must be a non-negative integer, got {value!r}")
    values, inverse = np.unique(c.astype(np.int64), return_inverse=True)
    tail = (1.0 - confidence) / 2.0
    lower = np.zeros(values.size)
    positive = values > 0
    if positive.any():
        lower[positive] = _poisson_roots(values[positive], 1.0 - tail)
    upper = _poisson_roots(values + 1, tail) if values.size else np.zeros(0)
    at = inverse.reshape(-1)
    return lower[at].reshape(c.shape), upper[at].reshape(c.shape)


def modified_wilson_array(
    successes: npt.ArrayLike, n: npt.ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Modified Wilson intervals (Brown, Cai & DasGupta 2001) for many proportions.

    As :func:`~liveeval.metrics.interval.modified_wilson`, per entry: Wilson's interval,
    with the exact Poisson limit λ/n for the lower limit when there are 1 to x*
    successes (x* = 2 for n ≤ 50, else 3), and symmetrically for the upper limit and
    failures. Undefined (NaN limits) where ``n`` ≤ 0. Same floats as the scalar
    function.

    References
    ----------
    Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a binomial
    proportion. Statistical Science 16(2), 101–133, section 4.1.1.
    """
    x_in = _floats(successes)
    size = _floats(n)
    lower, upper = wilson_array(x_in, size, confidence)
    defined = size > 0
    edge = np.where(size <= 50, 2.0, 3.0)
    tail = (1.0 - confidence) / 2.0
    x = np.minimum(np.maximum(x_in, 0.0), size)
    few = defined & (x > 0.0) & (x <= edge)
    if few.any():
        lower[few] = np.minimum(lower[few], poisson_lower_array(x[few], tail) / size[few])
    failures = size - x
    few = defined & (failures > 0.0) & (failures <= edge)
    if few.any():
        upper[few] = np.maximum(
            upper[few], 1.0 - poisson_lower_array(failures[few], tail) / size[few]
        )
    return lower, upper


# --- the normal quantile -----------------------------------------------------------

# Wichura's (1988) algorithm AS 241, PPND16: rational approximations of degree 7 in
# three regions, accurate to about 1e-16.
_CENTRAL_NUM = (
    2.5090809287301226727e3,
    3.3430575583588128105e4,
    6.7265770927008700853e4,
    4.5921953931549871457e4,
    1.3731693765509461125e4,
    1.9715909503065514427e3,
    1.3314166789178437745e2,
    3.3871328727963666080e0,
)
_CENTRAL_DEN = (
    5.2264952788528545610e3,
    2.8729085735721942674e4,
    3.9307895800092710610e4,
    2.1213794301586595867e4,
    5.3941960214247511077e3,
    6.8718700749205790830e2,
    4.2313330701600911252e1,
    1.0,
)
_NEAR_NUM = (
    7.74545014278341407640e-4,
    2.27238449892691845833e-2,
    2.41780725177450611770e-1,
    1.27045825245236838258e0,
    3.64784832476320460504e0,
    5.76949722146069140550e0,
    4.63033784615654529590e0,
    1.42343711074968357734e0,
)
_NEAR_DEN = (
    1.05075007164441684324e-9,
    5.47593808499534494600e-4,
    1.51986665636164571966e-2,
    1.48103976427480074590e-1,
    6.89767334985100004550e-1,
    1.67638483018380384940e0,
    2.05319162663775882187e0,
    1.0,
)
_FAR_NUM = (
    2.01033439929228813265e-7,
    2.71155556874348757815e-5,
    1.24266094738807843860e-3,
    2.65321895265761230930e-2,
    2.96560571828504891230e-1,
    1.78482653991729133580e0,
    5.46378491116411436990e0,
    6.65790464350110377720e0,
)
_FAR_DEN = (
    2.04426310338993978564e-15,
    1.42151175831644588870e-7,
    1.84631831751005468180e-5,
    7.86869131145613259100e-4,
    1.48753612908506148525e-2,
    1.36929880922735805310e-1,
    5.99832206555887937690e-1,
    1.0,
)


def _horner(coefficients: tuple[float, ...], x: FloatArray) -> FloatArray:
    out = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        out = out * x + c
    return out


def normal_quantile(p: npt.ArrayLike) -> FloatArray:
    """Standard-normal quantiles Φ⁻¹(p) for an array of probabilities in (0, 1).

    Formula: Wichura's algorithm AS 241 (PPND16), the one ``statistics.NormalDist.
    inv_cdf`` uses — a rational function of q = p − ½ for |q| ≤ 0.425, else of
    r = √(−log min(p, 1 − p)), in two ranges — accurate to about 1e-16 relative.
    Undefined (NaN) outside (0, 1).

    References
    ----------
    Wichura, M. J. (1988). Algorithm AS 241: the percentage points of the normal
    distribution. Applied Statistics 37(3), 477–484.
    """
    prob = _floats(p)
    out = np.full_like(prob, np.nan)
    q = prob - 0.5
    central = np.abs(q) <= 0.425
    if central.any():
        qc = q[central]
        r = 0.180625 - qc * qc
        out[central] = qc * _horner(_CENTRAL_NUM, r) / _horner(_CENTRAL_DEN, r)
    tails = ~central & (prob > 0.0) & (prob < 1.0)
    if tails.any():
        qt = q[tails]
        r = np.sqrt(-np.log(np.where(qt < 0.0, prob[tails], 1.0 - prob[tails])))
        near = r <= 5.0
        x = np.empty_like(r)
        rn = r[near] - 1.6
        x[near] = _horner(_NEAR_NUM, rn) / _horner(_NEAR_DEN, rn)
        rf = r[~near] - 5.0
        x[~near] = _horner(_FAR_NUM, rf) / _horner(_FAR_DEN, rf)
        out[tails] = np.where(qt < 0.0, -x, x)
    return out


# --- Student's t ---------------------------------------------------------------------

_TINY = 1e-300


def _lgamma(values: FloatArray) -> FloatArray:
    # numpy has no log-gamma; these are called once per distinct argument, not per step.
    return np.array([math.lgamma(v) for v in values.tolist()], np.float64)


def _beta_cf(a: FloatArray, b: FloatArray, x: FloatArray) -> FloatArray:
    """The continued fraction of the regularised incomplete beta (modified Lentz), per
    entry, each stopping where :func:`~liveeval.metrics.interval._beta_cf` stops."""
    c = np.ones_like(x)
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / np.where(np.abs(d) > _TINY, d, _TINY)
    h = d.copy()
    active = np.ones(x.shape, dtype=np.bool_)
    for m in range(1, 500):
        m2 = 2 * m
        step = np.ones_like(x)
        for num in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + num * d
            d = 1.0 / np.where(np.abs(d) > _TINY, d, _TINY)
            c = 1.0 + num / c
            c = np.where(np.abs(c) > _TINY, c, _TINY)
            h = np.where(active, h * (d * c), h)
            step = d * c
        active &= ~(np.abs(step - 1.0) < 1e-15)
        if not active.any():
            break
    return h


def _t_tail(t: FloatArray, a: FloatArray, log_norm: FloatArray, df: FloatArray) -> FloatArray:
    """P(|T_df| > t) = I_x(df/2, 1/2) with x = df / (df + t²); ``log_norm`` is
    log Γ(a + ½) − log Γ(a) − log Γ(½) for a = df/2."""
    x = df / (df + t * t)
    b = np.full_like(x, 0.5)
    out = np.empty_like(x)
    out[x <= 0.0] = 0.0
    out[x >= 1.0] = 1.0
    inside = (x > 0.0) & (x < 1.0)
    xi, ai, bi = x[inside], a[inside], b[inside]
    log_front = log_norm[inside] + ai * np.log(xi) + bi * np.log1p(-xi)
    front = np.exp(log_front)
    direct = xi < (ai + 1.0) / (ai + bi + 2.0)
    value = np.empty_like(xi)
    if direct.any():
        value[direct] = front[direct] * _beta_cf(ai[direct], bi[direct], xi[direct]) / ai[direct]
    flip = ~direct
    if flip.any():
        value[flip] = 1.0 - front[flip] * _beta_cf(bi[flip], ai[flip], 1.0 - xi[flip]) / bi[flip]
    out[inside] = value
    return out


def _cornish_fisher(z: float, df: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The Cornish–Fisher expansion of the t quantile in powers of 1/df to the fifth
    (Abramowitz & Stegun 26.7.5 to g₄; g₅ from Hill 1970), and the size of its last
    term, which bounds the truncation error where it is small."""
    x = z
    g1 = (x**3 + x) / 4.0
    g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96.0
    g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384.0
    g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160.0
    g5 = (27 * x**11 + 339 * x**9 + 930 * x**7 - 1782 * x**5 - 765 * x**3 + 17955 * x) / 368640.0
    inv = 1.0 / df
    value: FloatArray = x + inv * (g1 + inv * (g2 + inv * (g3 + inv * (g4 + inv * g5))))
    last: FloatArray = np.abs(g5) * inv**5
    return value, last


# Where the expansion's fifth-order term is below this share of the quantile, the
# terms beyond it are smaller still by a factor ~z²/df and the expansion is the root to
# about 1e-14 (the scalar bisection's own rounding at large df is ~1e-12).
_EXPANSION_TERM = 1e-12


def t_quantile_array(confidence: float, df: npt.ArrayLike) -> FloatArray:
    """Two-sided Student-t quantiles, P(|T_df| ≤ t) = ``confidence``, for many ``df``.

    Formula: the root in t of I_{df/(df+t²)}(df/2, ½) = 1 − confidence (the regularised
    incomplete beta by its continued fraction, as
    :func:`~liveeval.metrics.interval.t_quantile`), found by Newton's method from the
    Cornish–Fisher expansion, safeguarded by bisection inside a bracket; where the
    expansion's fifth-order term is below 1e-12 of the quantile (df above ~200 at 95%),
    the expansion itself; the normal quantile beyond df = 10⁶, as the scalar function. Undefined (NaN) for df ≤ 0. Each
    distinct df is solved once.

    References
    ----------
    Abramowitz, M. & Stegun, I. A. (1964). Handbook of Mathematical Functions, 26.7.5.
    Press, W. H. et al. (2007). Numerical Recipes, 3rd ed., §6.4 and §6.14.
    """
    z = z_value(confidence)
    given = _floats(df)
    values, inverse = np.unique(given, return_inverse=True)
    out = np.full_like(values, np.nan)
    out[values > 1e6] = z
    solve = (values > 0.0) & (values <= 1e6)
    if solve.any():
        # The normal quantile of the tail the root search uses (1 − confidence, halved):
        # from 0.5 + confidence/2 it would differ by 1e-11 at a confidence of 0.999999.
        z_tail = -float(normal_quantile((1.0 - confidence) / 2.0)[0])
        expansion, last = _cornish_fisher(z_tail, values[solve])
        out[solve] = expansion
        newton = last > _EXPANSION_TERM * z_tail
        if newton.any():
            at = np.flatnonzero(solve)[newton]
            out[at] = _t_roots(confidence, z, values[at], expansion[newton])
    result: FloatArray = out[inverse.reshape(-1)].reshape(given.shape)
    return result


def _t_roots(confidence: float, z: float, df: FloatArray, start: FloatArray) -> FloatArray:
    tail = 1.0 - confidence
    a = df / 2.0
    lg_a = _lgamma(a)
    lg_ab = _lgamma(a + 0.5)
    log_norm = lg_ab - lg_a - math.lgamma(0.5)
    # log of the t density's constant: Γ((df+1)/2) / (√(df π) Γ(df/2))
    log_density = lg_ab - lg_a - 0.5 * np.log(df * math.pi)

    def excess(t: FloatArray, at: BoolArray) -> FloatArray:
        """P(|T| > t) − tail for the entries ``at``: the function whose root is sought."""
        return _t_tail(t, a[at], log_norm[at], df[at]) - tail

    # A bracket as the scalar function's: [0, hi] with P(|T| > hi) ≤ tail.
    lo = np.zeros_like(df)
    hi = np.full_like(df, max(z * 4.0, 1.0))
    wide = excess(hi, np.ones(df.shape, np.bool_)) > 0.0
    while wide.any():
        hi[wide] *= 2.0
        wide[wide] = excess(hi[wide], wide) > 0.0
    t = np.where((start > lo) & (start < hi), start, 0.5 * (lo + hi))
    active = np.ones(df.shape, dtype=np.bool_)
    for _ in range(100):
        ta, nu = t[active], df[active]
        e = excess(ta, active)
        above = e > 0.0  # the tail is still too heavy: the root lies further out
        lo_a = np.where(above, ta, lo[active])
        hi_a = np.where(above, hi[active], ta)
        lo[active], hi[active] = lo_a, hi_a
        density = np.exp(log_density[active] - (nu + 1.0) / 2.0 * np.log1p(ta * ta / nu))
        step = e / (2.0 * density)
        nxt = ta + step
        # Quadratic convergence: once a step is this small the iterate is the root to
        # the rounding of the tail probability itself.
        done = (np.abs(step) <= 1e-14 * ta) | (e == 0.0)
        # A Newton step that leaves the bracket (or is NaN) is replaced by bisection.
        bad = ~done & ~((nxt > lo_a) & (nxt < hi_a))
        nxt = np.where(bad, 0.5 * (lo_a + hi_a), nxt)
        t[active] = nxt
        active[np.flatnonzero(active)[done]] = False
        if not active.any():
            break
    return t


def t_mean_array(
    total: npt.ArrayLike,
    total_sq: npt.ArrayLike,
    n: npt.ArrayLike,
    confidence: float = 0.95,
    *,
    total_cu: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Student-t intervals for many means from their running sums, skew-corrected where
    the sum of cubes is known.

    As :func:`~liveeval.metrics.interval.t_mean`, per entry: mean x̄ = Σx/n, s² the
    unbiased variance, t the Student quantile on n − 1 degrees of freedom
    (:func:`t_quantile_array`); without the cubes (``total_cu`` None, or NaN in an
    entry) or with s = 0, x̄ ± t s/√n; with them, Hall's (1992) cubic transformation
    g(T) = T + aT² + a²T³/3 + b (a = γ̂/(3√n), b = γ̂/(6√n), γ̂ the sample skewness),
    limits x̄ − s g⁻¹(±t)/√n. Undefined (NaN limits) for n < 2.

    References
    ----------
    Hall, P. (1992). On the removal of skewness by transformation. JRSS B 54(1),
    221–228.
    """
    s1 = _floats(total)
    s2 = _floats(total_sq)
    size = _floats(n)
    cubes = np.full_like(size, np.nan) if total_cu is None else _floats(total_cu)
    lower = np.full_like(size, np.nan)
    upper = np.full_like(size, np.nan)
    ok = size >= 2
    if not ok.any():
        return lower, upper
    s1, s2, cubes, size = s1[ok], s2[ok], cubes[ok], size[ok]
    mean = s1 / size
    var = np.maximum(s2 / size - mean * mean, 0.0) * size / (size - 1.0)
    sd = np.sqrt(var)
    t = t_quantile_array(confidence, size - 1.0)
    root_n = np.sqrt(size)
    half = t * sd / root_n
    lo, up = mean - half, mean + half
    skewed = np.isfinite(cubes) & (sd != 0.0)
    if skewed.any():
        m, s, r, tt = mean[skewed], sd[skewed], root_n[skewed], t[skewed]
        nn = size[skewed]
        m3 = cubes[skewed] / nn - 3.0 * m * s2[skewed] / nn + 2.0 * m**3
        gamma = m3 / s**3
        ga = gamma / (3.0 * r)
        gb = gamma / (6.0 * r)
        inverse = _hall_inverse(ga, gb)
        lo[skewed] = m - s * inverse(tt) / r
        up[skewed] = m - s * inverse(-tt) / r
    lower[ok], upper[ok] = lo, up
    return lower, upper


def _hall_inverse(a: FloatArray, b: FloatArray) -> Callable[[FloatArray], FloatArray]:
    """g⁻¹ of Hall's transformation, entry by entry (linear where a is negligible)."""
    tiny = np.abs(a) < 1e-12
    safe_a = np.where(tiny, 1.0, a)

    def inverse(y: FloatArray) -> FloatArray:
        v = 1.0 + 3.0 * safe_a * (y - b)
        cubic = (np.copysign(np.abs(v) ** (1.0 / 3.0), v) - 1.0) / safe_a
        out: FloatArray = np.where(tiny, y - b, cubic)
        return out

    return inverse
