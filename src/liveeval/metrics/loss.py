"""Log loss and Brier score as running sums.

Both are means of a per-row loss, so the statistic is the (weighted) sum of the
loss and of its square; the interval is the normal one for a mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .interval import normal_mean
from .result import MetricResult

__all__ = ["LossSums", "row_losses"]

FloatArray = npt.NDArray[np.float64]
EPS = float(np.finfo(np.float64).eps)


def row_losses(true_codes: npt.ArrayLike, proba: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-row log loss and Brier score.

    ``proba`` has one column per class. As in scikit-learn, probabilities are
    clipped to [eps, 1 - eps] and renormalised before the log is taken; the
    Brier score is Σ_c (p_c − y_c)², halved for two classes so that it equals
    the binary (y − p)².
    """
    t = np.asarray(true_codes, dtype=np.int64)
    rows = np.arange(t.shape[0])
    clipped = np.clip(proba, EPS, 1.0 - EPS)
    if proba.shape[1] == 2:
        # Each binary row is (1 - p, p): the clipped pair already sums to 1.
        p_true = clipped[rows, t] / (clipped[:, 0] + clipped[:, 1])
        brier = (1.0 - proba[rows, t]) ** 2
    else:
        p_true = clipped[rows, t] / clipped.sum(axis=1)
        onehot_gap = proba.copy()
        onehot_gap[rows, t] -= 1.0
        brier = np.einsum("ij,ij->i", onehot_gap, onehot_gap)
    return -np.log(p_true), brier


@dataclass(eq=False)
class LossSums:
    """Weighted sums of per-row log loss and Brier score and their squares."""

    weight: float = 0.0
    weight_sq: float = 0.0
    rows: int = 0
    log_loss: float = 0.0
    log_loss_sq: float = 0.0
    brier: float = 0.0
    brier_sq: float = 0.0

    def update_binary(
        self,
        is_positive: npt.NDArray[np.bool_],
        score: FloatArray,
        weight: FloatArray | None = None,
    ) -> LossSums:
        """Add binary rows from P(positive) without building a two-column array."""
        a = np.clip(score, EPS, 1.0 - EPS)
        b = np.clip(1.0 - score, EPS, 1.0 - EPS)
        log_loss = -np.log(np.where(is_positive, a, b) / (a + b))
        gap = is_positive - score
        return self._add(log_loss, gap * gap, weight)

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
        else:
            self.weight += float(weight.sum())
            self.weight_sq += float(np.dot(weight, weight))
            self.log_loss += float(np.dot(weight, log_loss))
            self.log_loss_sq += float(np.dot(weight, log_loss * log_loss))
            self.brier += float(np.dot(weight, brier))
            self.brier_sq += float(np.dot(weight, brier * brier))
        self.rows += int(log_loss.shape[0])
        return self

    def merge(self, other: LossSums) -> LossSums:
        return LossSums(
            self.weight + other.weight,
            self.weight_sq + other.weight_sq,
            self.rows + other.rows,
            self.log_loss + other.log_loss,
            self.log_loss_sq + other.log_loss_sq,
            self.brier + other.brier,
            self.brier_sq + other.brier_sq,
        )

    def _mean(self, name: str, total: float, total_sq: float, confidence: float) -> MetricResult:
        if self.weight <= 0:
            return MetricResult.undefined(
                name, "undefined: no rows", confidence=confidence, higher_is_better=False
            )
        n_eff = self.weight**2 / self.weight_sq if self.weight_sq > 0 else 0.0
        # Scale weighted sums to the effective sample size for the variance.
        scale = n_eff / self.weight
        lower, upper = normal_mean(total * scale, total_sq * scale, n_eff, confidence)
        value = total / self.weight
        method = "normal (CLT) on the mean per-row loss"
        if np.isnan(lower):
            lower, upper, method = value, value, "none (one row)"
        return MetricResult(
            name,
            value,
            max(lower, 0.0),
            upper,
            self.rows,
            confidence,
            method,
            higher_is_better=False,
        )

    def results(self, confidence: float = 0.95) -> dict[str, MetricResult]:
        return {
            "log_loss": self._mean("log_loss", self.log_loss, self.log_loss_sq, confidence),
            "brier": self._mean("brier", self.brier, self.brier_sq, confidence),
        }
