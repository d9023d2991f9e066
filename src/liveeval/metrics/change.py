"""Change detection with a stated false-alarm rate: a mixture Shiryaev–Roberts e-detector.

A live drop detector looks again every time a batch of labels arrives. Each look
``t`` brings the counts of one batch: ``x_t`` successes in ``n_t`` trials (for
recall, the true positives among the positives of the batch), or one bounded value
rescaled to [0, 1] with ``n_t = 1``. Before a change the rate is at least ``p0``
(for a drop; at most ``p0`` for a rise); after it, ``p1 < p0``.

For an alternative ``p1`` the likelihood ratio of a batch

    Λ_t(p1) = (p1 / p0)^x_t · ((1 − p1) / (1 − p0))^(n_t − x_t)

has conditional mean at most 1 for every rate p ≥ p0 (p ≤ p0 for a rise), so it is
an e-value against the whole composite null; for values in [0, 1] rather than 0/1
the same holds by convexity (the sub-Bernoulli argument, Howard et al. 2020, Prob.
Surveys 17). The Shiryaev–Roberts statistic

    R_t = (R_{t−1} + 1) · Λ_t,   R_0 = 0,

sums the e-processes started at every look, so ``R_t − t`` is a supermartingale before
any change and, by optional stopping, the first ``t`` with ``R_t ≥ 1/alpha`` has mean
at least ``1/alpha`` (Pollak 1987; the e-detector of Shin, Ramdas & Rinaldo 2024,
"E-detectors: a nonparametric framework for sequential change detection", NEJSDS).
The mean of the statistics of several alternatives is again such a statistic, so the
detector mixes a grid of drop sizes and needs no single guess of the size of the drop.

The guarantee is stated in **looks**: at most one false alarm per ``1/alpha`` looks on
average (the average run length, ARL, is at least ``1/alpha``) however long the stream.
A look that brings at least ``m`` samples makes that one false alarm per ``m/alpha``
samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Direction",
    "ShiryaevRoberts",
    "change_alternatives",
]

Direction = Literal["drop", "rise"]
FloatArray = npt.NDArray[np.float64]

# Drop sizes of the mixture, as multiples of the smallest change worth an alert.
_GRID = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
_EDGE = 1e-3
# How far above the alarm level each statistic may climb: a drop that lasts a day must
# not take a day of good data to clear. Capping above the level never moves the first
# crossing, so the ARL bound is untouched.
_CAP = math.log(100.0)

# Re-anchor the unrolled sums of update_many every this many looks (bounds the size of
# the cumulative sums, and so their rounding, on long stable runs).
_ANCHOR_EVERY = 512
# After the cap binds, this many looks are taken one at a time (a statistic at its cap
# would bind again at nearly every look, each time ending a vectorised stretch).
_SCALAR_AFTER_CAP = 16


@dataclass
class _Anchor:
    """Where :meth:`ShiryaevRoberts.update_many` unrolls from, per alternative: the log
    statistic at the anchor, the cumulative log-likelihood ratio since (``c``), the log
    of ``Σ exp(−c)`` over the looks since (``a``), the CUSUM at the anchor (``w``, its
    walk is ``w + c``) and the walk's running minimum, at most 0 (``low``), and the
    looks taken since."""

    log_r: FloatArray
    c: FloatArray
    a: FloatArray
    w: FloatArray
    low: FloatArray
    looks: int = 0


def change_alternatives(baseline: float, direction: Direction, min_change: float) -> FloatArray:
    """Post-change rates of the mixture: ``baseline ∓ min_change · 2^j`` (j = 0 … 5),
    those inside (0.001, 0.999).

    Raises
    ------
    ValueError
        for a baseline outside (0, 1), a non-positive ``min_change``, or when no
        alternative fits (a baseline already at the bound the change moves towards).
    """
    if not 0.0 < baseline < 1.0:
        raise ValueError(f"baseline must be in (0, 1), got {baseline!r}")
    if not min_change > 0.0:
        raise ValueError(f"min_change must be positive, got {min_change!r}")
    sign = -1.0 if direction == "drop" else 1.0
    alts = np.array([baseline + sign * min_change * g for g in _GRID], dtype=np.float64)
    alts = alts[(alts > _EDGE) & (alts < 1.0 - _EDGE)]
    if alts.size == 0:
        raise ValueError(
            f"no {direction} of at least {min_change:g} from {baseline:g} stays inside (0, 1)"
        )
    return alts


@dataclass
class ShiryaevRoberts:
    """A one-sided mixture Shiryaev–Roberts detector on batches of counts.

    Parameters
    ----------
    baseline:
        ``p0``: the null is "rate ≥ p0" for a drop, "rate ≤ p0" for a rise (on the
        [0, 1] scale).
    direction:
        ``"drop"`` or ``"rise"``.
    alpha:
        The alarm level is ``1/alpha``: before any change the mean number of looks to a
        false alarm is at least ``1/alpha``.
    min_change:
        The smallest change worth detecting (absolute, on the [0, 1] scale); the
        mixture covers it and 2, 4 … 32 times it.

    Notes
    -----
    ``update(x, n)`` costs O(number of alternatives); :meth:`update_many` takes a whole
    run of looks in numpy and gives the same statistic to rounding. Along with the
    statistic the detector keeps a CUSUM per alternative (``S = max(0, S + log Λ)``) to
    say where the change most likely began: the evidence of an alarm counts the
    samples since then. Reference: Pollak (1987), Ann. Statist. 15(2); Shin, Ramdas &
    Rinaldo (2024), NEJSDS, "E-detectors".

    Examples
    --------
    >>> d = ShiryaevRoberts(0.9, "drop", alpha=0.001)
    >>> any(d.update(90, 100) for _ in range(50))
    False
    >>> any(d.update(70, 100) for _ in range(10))
    True
    """

    baseline: float
    direction: Direction = "drop"
    alpha: float = 0.001
    min_change: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.direction not in ("drop", "rise"):
            raise ValueError(f"direction must be 'drop' or 'rise', got {self.direction!r}")
        self.alternatives = change_alternatives(self.baseline, self.direction, self.min_change)
        p0 = self.baseline
        # Plain floats for update(): a handful of alternatives, updated once per look,
        # where numpy's per-call overhead would cost ten times the arithmetic.
        alts = [float(p) for p in self.alternatives]
        self._log_hit = [math.log(p / p0) for p in alts]
        self._log_miss = [math.log1p(-p) - math.log1p(-p0) for p in alts]
        self._hit = np.array(self._log_hit)
        self._miss = np.array(self._log_miss)
        self.threshold = math.log(1.0 / self.alpha)
        self._log_k = math.log(len(alts))
        self._cap = self.threshold + self._log_k + _CAP
        self.log_r: list[float] = []
        self.cusum: list[float] = []
        # Sums since each alternative's CUSUM last left zero (where the change began).
        self._since: list[list[float]] = []
        self._anchor: _Anchor | None = None
        self._scalar_left = 0
        self.looks = 0
        self.reset()

    @property
    def statistic(self) -> float:
        """log of the mixture statistic, the mean over alternatives of R_t (−inf at start)."""
        return self._mixture(self.log_r)

    def _mixture(self, log_r: Sequence[float]) -> float:
        top = max(log_r)
        if top == -math.inf:
            return -math.inf
        return top + math.log(sum(math.exp(v - top) for v in log_r)) - self._log_k

    @property
    def alarmed(self) -> bool:
        return self.statistic >= self.threshold

    def update(self, successes: float, trials: float) -> bool:
        """Take one look's counts; returns whether the statistic is at or above the
        alarm level after it.

        Raises
        ------
        ValueError
            unless ``0 ≤ successes ≤ trials``.
        """
        if not (trials >= 0.0 and 0.0 <= successes <= trials * (1.0 + 1e-12)):
            raise ValueError(
                f"need 0 <= successes <= trials, got successes={successes!r}, trials={trials!r}"
            )
        n = float(trials)
        self._step(min(float(successes), n), n)
        self._anchor = None
        self.looks += 1
        return self.alarmed

    def _step(self, x: float, n: float) -> bool:
        """The recursion for one look (the reference :meth:`update_many` is checked
        against); returns whether the cap bound."""
        cap = self._cap
        capped = False
        for k, (hit, miss) in enumerate(zip(self._log_hit, self._log_miss, strict=True)):
            llr = x * hit + (n - x) * miss
            r = self.log_r[k]
            # log(exp(r) + 1), stable on both sides
            grown = (r + math.log1p(math.exp(-r)) if r > 0.0 else math.log1p(math.exp(r))) + llr
            capped |= grown > cap
            self.log_r[k] = min(grown, cap)
            since = self._since[k]
            if self.cusum[k] <= 0.0:  # the change may begin at this look
                since[0] = since[1] = since[2] = 0.0
            self.cusum[k] = max(self.cusum[k] + llr, 0.0)
            since[0] += x
            since[1] += n
            since[2] += 1.0
        return capped

    def update_many(
        self,
        successes: npt.ArrayLike,
        trials: npt.ArrayLike,
        *,
        until_alarm: bool = False,
    ) -> int:
        """Take a run of looks at once (numpy); returns how many were taken: all of
        them, or with ``until_alarm`` those up to and including the first after which
        the statistic is at or above the alarm level.

        Per alternative, with ``ℓ_t = log Λ_t`` and ``C_t = ℓ_1 + … + ℓ_t`` since an
        anchor where ``R = R_a``, the recursion ``R_t = (R_{t−1} + 1) Λ_t`` unrolls to

            log R_t = C_t + log(R_a + Σ_{s=1…t} exp(−C_{s−1})),

        a cumulative sum and a cumulative log-sum-exp; the CUSUM ``S_t = max(0, S_{t−1}
        + ℓ_t)`` is the walk ``W_t = S_a + C_t`` minus its running minimum (capped at 0).
        The cap is applied afterwards: at the first look where any alternative exceeds
        it the run is cut there, capped, and the next looks go through :meth:`update`'s
        recursion until the cap has not bound for a while. Anchors sit at fixed looks
        (every 512, and after those one-at-a-time stretches), so a run fed in any
        batches gives bitwise the same statistic and CUSUM as fed at once (and, for
        whole-number counts, the same sums since the change); against :meth:`update`
        look by look the statistic agrees to rounding (tested: ≤ 1e-9 relative on
        ``R``, the same alarms).

        Raises
        ------
        ValueError
            unless ``0 ≤ successes ≤ trials`` for every look, or when the two differ in
            length.
        """
        xs = np.asarray(successes, dtype=np.float64).ravel()
        ns = np.asarray(trials, dtype=np.float64).ravel()
        if xs.shape != ns.shape:
            raise ValueError(
                f"successes and trials must have the same length, got {xs.size} and {ns.size}"
            )
        # Also false for NaN, and for negative trials (x ≥ 0 > n·(1 + ε)).
        ok = (xs >= 0.0) & (xs <= ns * (1.0 + 1e-12))
        if not ok.all():
            i = int(np.argmin(ok))
            raise ValueError(
                f"need 0 <= successes <= trials, got successes={float(xs[i])!r}, "
                f"trials={float(ns[i])!r} at look {i}"
            )
        xs = np.minimum(xs, ns)
        total = xs.size
        i = 0
        while i < total:
            if self._scalar_left > 0:
                bound = self._step(float(xs[i]), float(ns[i]))
                self._scalar_left = _SCALAR_AFTER_CAP if bound else self._scalar_left - 1
                self.looks += 1
                i += 1
                if until_alarm and self.alarmed:
                    return i
                continue
            anchor = self._anchor or _Anchor(
                np.array(self.log_r),
                np.zeros(len(self.log_r)),
                np.full(len(self.log_r), -np.inf),
                np.array(self.cusum),
                np.zeros(len(self.log_r)),
            )
            j = min(total, i + _ANCHOR_EVERY - anchor.looks)
            i = self._stretch(anchor, xs[i:j], ns[i:j], until_alarm, i)
            if until_alarm and i < j:
                return i
            if until_alarm and self.alarmed:
                return i
        return total

    def _stretch(
        self, anchor: _Anchor, xs: FloatArray, ns: FloatArray, until_alarm: bool, offset: int
    ) -> int:
        """Take ``xs``/``ns`` from ``anchor`` (vectorised) until the cap binds or, with
        ``until_alarm``, the first alarm; returns ``offset`` plus the looks taken."""
        k, m = len(self.log_r), xs.size
        llr = self._hit[:, None] * xs + self._miss[:, None] * (ns - xs)  # [alternative, look]
        c = np.add.accumulate(np.concatenate((anchor.c[:, None], llr), axis=1), axis=1)
        terms = np.concatenate((anchor.a[:, None], np.negative(c[:, :-1])), axis=1)
        a = np.logaddexp.accumulate(terms, axis=1)[:, 1:]
        log_r = c[:, 1:] + np.logaddexp(anchor.log_r[:, None], a)
        top = log_r.max(axis=0)
        stop = m - 1
        over = np.zeros(0, dtype=bool)
        high = top >= self.threshold  # the cap is above the threshold
        if high.any():
            over = top > self._cap
            if over.any():
                stop = int(np.argmax(over))
            if until_alarm:
                # The mixture is at most its largest alternative: only those looks can
                # alarm, decided by the same statistic as `alarmed`.
                for t in np.flatnonzero(high[: stop + 1]).tolist():
                    column = np.minimum(log_r[:, t], self._cap).tolist()
                    if self._mixture(column) >= self.threshold:
                        stop = t
                        break
        # The CUSUM: the walk from S at the anchor, less its running minimum (≤ 0).
        w = c[:, 1 : stop + 2] + anchor.w[:, None]
        low = np.minimum.accumulate(np.minimum(w, anchor.low[:, None]), axis=1)
        cusum = w - low
        # Sums since each alternative's CUSUM last left zero, at the last look taken:
        # the change may begin at look t when the CUSUM before it is 0.
        zero = np.concatenate((np.array(self.cusum)[:, None], cusum[:, :-1]), axis=1) <= 0.0
        last = (stop - np.argmax(zero[:, ::-1], axis=1)).tolist()
        sums = np.zeros((2, stop + 2))
        np.cumsum(np.stack((xs[: stop + 1], ns[: stop + 1])), axis=1, out=sums[:, 1:])
        total_x, total_n = sums[:, stop + 1].tolist()
        begun = sums[:, last].T.tolist()
        reset = zero[np.arange(k), last].tolist()
        for j in range(k):
            since = self._since[j]
            if reset[j]:
                bx, bn = begun[j]
                self._since[j] = [total_x - bx, total_n - bn, float(stop + 1 - last[j])]
            else:
                self._since[j] = [since[0] + total_x, since[1] + total_n, since[2] + stop + 1]
        self.log_r = np.minimum(log_r[:, stop], self._cap).tolist()
        self.cusum = cusum[:, stop].tolist()
        self.looks += stop + 1
        taken = anchor.looks + stop + 1
        if over.size and over[stop]:
            self._anchor = None
            self._scalar_left = _SCALAR_AFTER_CAP
        elif taken >= _ANCHOR_EVERY:
            self._anchor = None
        else:
            # Copies of the columns: views would keep the whole stretch's arrays alive.
            self._anchor = _Anchor(
                anchor.log_r,
                c[:, stop + 1].copy(),
                a[:, stop].copy(),
                anchor.w,
                low[:, stop].copy(),
                taken,
            )
        return offset + stop + 1

    def since_change(self) -> tuple[float, float, int, float]:
        """(successes, trials, looks) since the most likely start of the change, and
        the post-change rate it was measured against (the alternative whose CUSUM is
        largest)."""
        k = max(range(len(self.cusum)), key=self.cusum.__getitem__)
        alt = float(self.alternatives[k])
        if self.cusum[k] <= 0.0:
            return (0.0, 0.0, 0, alt)
        x, n, looks = self._since[k]
        return (x, n, int(looks), alt)

    def run(self, successes: Sequence[float], trials: Sequence[float]) -> list[int]:
        """Feed a whole stream of looks, restarting after each alarm (a renewal, as a
        monitor that resets once the alarm is handled); returns the looks (0-based)
        that alarmed."""
        alarms: list[int] = []
        xs = np.asarray(successes, dtype=np.float64)
        ns = np.asarray(trials, dtype=np.float64)
        if xs.shape != ns.shape:
            raise ValueError(
                f"successes and trials must have the same length, got {xs.size} and {ns.size}"
            )
        i = 0
        while i < xs.size:
            i += self.update_many(xs[i:], ns[i:], until_alarm=True)
            if self.alarmed:
                alarms.append(i - 1)
                self.reset()
        return alarms

    def copy(self) -> ShiryaevRoberts:
        """An independent detector in the same state (a checkpoint to resume from)."""
        other = object.__new__(ShiryaevRoberts)
        other.__dict__.update(self.__dict__)
        other.log_r = list(self.log_r)
        other.cusum = list(self.cusum)
        other._since = [list(s) for s in self._since]
        # The anchor's arrays are never written in place: sharing them is safe.
        return other

    def reset(self) -> None:
        """Start again from no evidence (after an alarm was handled)."""
        k = len(self._log_hit)
        self.log_r = [-math.inf] * k
        self.cusum = [0.0] * k
        self._since = [[0.0, 0.0, 0.0] for _ in range(k)]
        self._anchor = None
        self._scalar_left = 0
        self.looks = 0
