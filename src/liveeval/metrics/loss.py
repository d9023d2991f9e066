"""Log loss and Brier score as running sums.

Both are means of a per-row loss, so the statistic is the (weighted) sum of the
loss, of its square and of its cube; the interval is Student's t for a mean,
corrected for skewness by Hall's (1992) transformation when the cubes are known
(a few overconfident mistakes give log loss a long right tail, and a symmetric
interval then misses on the side that flatters the model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .interval import t_mean
from .result import MetricResult

__all__ = ["LossSums", "row_losses", "row_sums"]

FloatArray = npt.NDArray[np.float64]
EPS = float(np.finfo(np.float64).eps)
# Below this many rows even the skew-corrected t interval of a loss mean can
# miss on the flattering side well above 2.5% (docs/coverage.md).
SMALL_N = 30
# The skewness correction shrinks as 1/sqrt(n); beyond this many rows it moves a
# limit by under 0.5% of the half-width for a skewness up to 10, and is skipped.
SKEW_LIMIT = 250_000


def row_sums(matrix: FloatArray) -> FloatArray:
    """Row sums of a tall, narrow matrix.

    ``sum(axis=1)`` over a handful of columns is numpy's slow case (tens of ms per
    million rows); a matrix-vector product does the same additions in a few.
    """
    sums: FloatArray = matrix @ np.ones(matrix.shape[1])
    return sums


def row_losses(true_codes: npt.ArrayLike, proba: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-row log loss and Brier score.

    ``proba`` has one column per class. As in scikit-learn, probabilities are
    clipped to [eps, 1 - eps] and renormalised before the log is taken; the
    Brier score is Σ_c (p_c − y_c)², halved for two classes so that it equals
    the binary (y − p)².
    """
    t = np.asarray(true_codes, dtype=np.int64)
    rows = np.arange(t.shape[0])
    p_true = proba[rows, t]
    if proba.shape[1] == 2:
        # Each binary row is (1 - p, p): the clipped pair already sums to 1.
        brier = (1.0 - p_true) ** 2
    else:
        # Σ_c (p_c − y_c)² = Σ_c p_c² − 2 p_true + 1, without a copy of the matrix.
        brier = np.einsum("ij,ij->i", proba, proba) - 2.0 * p_true + 1.0
    # Renormalising by the unclipped row sum differs from scikit-learn's clipped
    # sum by at most k·eps, far below any tolerance that matters.
    p_true = np.clip(p_true, EPS, 1.0 - EPS) / row_sums(proba)
    return -np.log(p_true), brier


def _plus(rows_a: int, a: float | None, rows_b: int, b: float | None) -> float | None:
    """Sum of two optional cube sums; no rows means a known 0, else None is unknown."""
    a = 0.0 if rows_a == 0 else a
    b = 0.0 if rows_b == 0 else b
    return None if a is None or b is None else a + b


@dataclass(eq=False)
class LossSums:
    """Weighted sums of per-row log loss and Brier score, their squares and cubes.

    The cubes are ``None`` when unknown (a caller that builds the sums from
    elsewhere may have only the squares); the interval is then a plain t.
    """

    weight: float = 0.0
    weight_sq: float = 0.0
    rows: int = 0
    log_loss: float = 0.0
    log_loss_sq: float = 0.0
    brier: float = 0.0
    brier_sq: float = 0.0
    log_loss_cu: float | None = None
    brier_cu: float | None = None

    def update_binary(
        self,
        is_positive: npt.NDArray[np.bool_],
        score: FloatArray,
        weight: FloatArray | None = None,
    ) -> LossSums:
        """Add binary rows from P(positive) without building a two-column array.

        scikit-learn clips (1 - p, p) to [eps, 1 - eps] and renormalises; for a
        binary row the clipped pair sums to 1 within one ulp, so the
        renormalisation changes the log loss by less than 1e-15 and is skipped.
        Work happens in place on two temporaries: at 10 million rows every extra
        array costs more in page faults than in arithmetic.
        """
        p_true = np.where(is_positive, score, 1.0 - score)
        np.clip(p_true, EPS, 1.0 - EPS, out=p_true)
        np.log(p_true, out=p_true)
        np.negative(p_true, out=p_true)
        gap = np.subtract(is_positive, score)
        np.multiply(gap, gap, out=gap)
        return self._add(p_true, gap, weight)

    def update(
        self, true_codes: npt.ArrayLike, proba: FloatArray, weight: FloatArray | None = None
    ) -> LossSums:
        """Add rows in place (returns self)."""
        log_loss, brier = row_losses(true_codes, proba)
        return self._add(log_loss, brier, weight)

    def _add(self, log_loss: FloatArray, brier: FloatArray, weight: FloatArray | None) -> LossSums:
        if weight is None:
            self.weight += float(log_loss.shape[0])
            self.weight_sq += float(log_loss.shape[0])
            self.log_loss += float(log_loss.sum())
            self.log_loss_sq += float(np.dot(log_loss, log_loss))
            self.brier += float(brier.sum())
            self.brier_sq += float(np.dot(brier, brier))
            self._add_cubes(log_loss, brier, None)
        else:
            self.weight += float(weight.sum())
            self.weight_sq += float(np.dot(weight, weight))
            self.log_loss += float(np.dot(weight, log_loss))
            self.log_loss_sq += float(np.dot(weight, log_loss * log_loss))
            self.brier += float(np.dot(weight, brier))
            self.brier_sq += float(np.dot(weight, brier * brier))
            self._add_cubes(log_loss, brier, weight)
        self.rows += int(log_loss.shape[0])
        return self

    def _add_cubes(
        self, log_loss: FloatArray, brier: FloatArray, weight: FloatArray | None
    ) -> None:
        if self.rows == 0:
            self.log_loss_cu = self.brier_cu = 0.0
        if self.rows + log_loss.shape[0] > SKEW_LIMIT:
            # Past this size the skewness term is negligible and results ignore the
            # cubes, so skip a pass over every row (10M rows: ~60 ms).
            self.log_loss_cu = self.brier_cu = None
        if self.log_loss_cu is None or self.brier_cu is None:
            return  # unknown for rows added earlier; stays unknown
        sq = log_loss * log_loss
        if weight is not None:
            sq *= weight
        self.log_loss_cu += float(np.dot(sq, log_loss))
        np.multiply(brier, brier, out=sq)
        if weight is not None:
            sq *= weight
        self.brier_cu += float(np.dot(sq, brier))

    def merge(self, other: LossSums) -> LossSums:
        return LossSums(
            self.weight + other.weight,
            self.weight_sq + other.weight_sq,
            self.rows + other.rows,
            self.log_loss + other.log_loss,
            self.log_loss_sq + other.log_loss_sq,
            self.brier + other.brier,
            self.brier_sq + other.brier_sq,
            _plus(self.rows, self.log_loss_cu, other.rows, other.log_loss_cu),
            _plus(self.rows, self.brier_cu, other.rows, other.brier_cu),
        )

    def _mean(
        self, name: str, total: float, total_sq: float, total_cu: float | None, confidence: float
    ) -> MetricResult:
        if self.weight <= 0:
            return MetricResult.undefined(
                name, "undefined: no rows", confidence=confidence, higher_is_better=False
            )
        weighted = not np.isclose(self.weight, self.weight_sq)
        n_eff = self.weight**2 / self.weight_sq if self.weight_sq > 0 else 0.0
        # Scale weighted sums to the effective sample size for the variance.
        scale = n_eff / self.weight
        lower, upper = t_mean(
            total * scale,
            total_sq * scale,
            n_eff,
            confidence,
            total_cu=None if total_cu is None or self.rows > SKEW_LIMIT else total_cu * scale,
        )
        value = total / self.weight
        if np.isnan(lower):
            return MetricResult(
                name,
                value,
                None,
                None,
                self.rows,
                confidence,
                "no interval: one row",
                higher_is_better=False,
                weight_total=self.weight if weighted else None,
            )
        note = None
        if n_eff < SMALL_N:
            note = f"interval approximate: only {self.rows} rows for a mean of skewed losses"
        method = "Student t on the mean per-row loss" + (
            ", skew-corrected (Hall 1992)"
            if total_cu is not None and self.rows <= SKEW_LIMIT
            else ""
        )
        return MetricResult(
            name,
            value,
            max(lower, 0.0),
            max(upper, value),
            self.rows,
            confidence,
            method + ("; weighted: Kish effective n" if weighted else ""),
            higher_is_better=False,
            note=note,
            weight_total=self.weight if weighted else None,
        )

    def results(self, confidence: float = 0.95) -> dict[str, MetricResult]:
        return {
            "log_loss": self._mean(
                "log_loss", self.log_loss, self.log_loss_sq, self.log_loss_cu, confidence
            ),
            "brier": self._mean("brier", self.brier, self.brier_sq, self.brier_cu, confidence),
        }
