"""Performance of a multiclass classifier estimated from its class probabilities.

One-vs-rest. For class ``i`` a window is a binary score histogram whose "positive" is
class ``i``: each row's probability of class ``i`` in ``SCORE_BINS`` bins, split by
whether the row was predicted ``i``, with the labels that have arrived counted as
``y == i`` or not. Each class gets its own calibration map (isotonic only where it
lowers the held-out Brier score, see :mod:`liveeval.monitor.calibration`) and the
binary estimator's expected counts ``E[TP_i]``, ``E[FP_i]``, ``E[FN_i]``. Then

    accuracy          = Σ_i E[TP_i] / n
    precision, recall, F1 = macro averages over the model's classes of the per-class
                        values (a class with nothing predicted or no expected
                        positives counts 0, as scikit-learn's ``zero_division``)
    E[C[i, j]]        = Σ_b predicted[i, j, b] · p_i(b)   (actual i, predicted j)

Intervals: draw ``r`` of every class's estimator (its ``r``-th bootstrap map and a
label draw from it) is combined draw by draw. ``TP_i`` counts rows predicted ``i``,
disjoint across classes, so the label draws of different classes are independent as
they are in truth; the classes' maps are bootstrapped independently although they
come from the same reference rows (their dependence is ignored — coverage is checked
by simulation in ``tests/monitor/test_multiclass.py`` and docs/estimation.md).

The histograms keep each class's probability on its own, not a row's whole vector, so
the calibrated probabilities of a row need not sum to 1 (NannyML's multiclass CBPE
calibrates one-vs-rest per class too). ROC-AUC is not estimated: liveeval reports no
realized multiclass ROC-AUC to compare it with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ..metrics.classification import average_of, fbeta_of, precision_of, recall_of
from ..metrics.interval import BOOTSTRAP_SEED
from ..metrics.result import MetricResult
from ..store.interface import SCORE_BINS, ClassScoreHistograms
from .assumption import AssumptionCheck
from .estimate import METHOD, PerformanceEstimator, WindowEstimate
from .histogram import score_bins

__all__ = [
    "MULTICLASS_ESTIMATED_METRICS",
    "ClassScoreHistograms",
    "MulticlassEstimate",
    "MulticlassEstimator",
    "class_score_histograms",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MULTICLASS_ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1")


def _class_codes(values: npt.ArrayLike, column: str, n: int, k: int, missing: bool) -> IntArray:
    """Class indices in [0, k); -1 for a missing label (NaN or -1) when ``missing``."""
    a = np.asarray(values)
    if a.shape != (n,):
        raise ValidationError(
            f"expected {n} values, one per row, got shape {a.shape}", column=column
        )
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        if nan.any() and not missing:
            raise ValidationError(
                "is NaN; every row needs a class index", column=column, row=int(np.argmax(nan))
            )
        whole = np.where(nan, -1.0, a)
        if (whole != np.round(whole)).any():
            row = int(np.flatnonzero(whole != np.round(whole))[0])
            raise ValidationError(
                f"{a[row].item()!r} is not a class index in [0, {k})", column=column, row=row
            )
        codes = whole.astype(np.int64)
    elif a.dtype.kind in "iu":
        codes = a.astype(np.int64)
    else:
        raise ValidationError(
            f"class indices must be integers in [0, {k}), got dtype {a.dtype}", column=column
        )
    low = -1 if missing else 0
    bad = (codes < low) | (codes >= k)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{a[row].item()!r} is not a class index in [0, {k})"
            + (" (or -1/NaN for no label yet)" if missing else ""),
            column=column,
            row=row,
        )
    return codes


def class_score_histograms(
    window: npt.ArrayLike,
    n_windows: int,
    probas: npt.ArrayLike,
    *,
    y_pred: npt.ArrayLike | None = None,
    y_true: npt.ArrayLike | None = None,
) -> list[ClassScoreHistograms]:
    """One :class:`ClassScoreHistograms` per window, from row arrays, in one pass.

    Parameters
    ----------
    window:
        Each row's window, an integer in ``[0, n_windows)``.
    n_windows:
        Number of windows (histograms returned, empty ones included).
    probas:
        ``(n, k)`` class probabilities in [0, 1], columns in the model's class order.
    y_pred:
        Each row's predicted class index; the largest probability's when None.
    y_true:
        Each row's actual class index; -1 or NaN for rows without a label yet; None
        when no row is labelled.

    Raises
    ------
    ValidationError
        For a probability outside [0, 1] or not a number, a class index out of range,
        windows out of range, or arrays of different lengths.
    """
    p = np.asarray(probas, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValidationError(
            f"probas must be an (n, k) array with k >= 2 classes, got shape {p.shape}",
            column="probas",
        )
    n, k = p.shape
    try:
        bins = score_bins(p.reshape(-1)).reshape(n, k)
    except ValidationError as exc:  # name the row and class, not the flattened index
        at = exc.row or 0
        raise ValidationError(
            f"{exc.detail} (probability of class {at % k})", column="probas", row=at // k
        ) from None
    w = np.asarray(window)
    if w.shape != (n,) or (n and not np.issubdtype(w.dtype, np.integer)):
        raise ValidationError(
            f"windows must be {n} integers, one per row, got {w.dtype} of shape {w.shape}",
            column="window",
        )
    if n and (int(w.min()) < 0 or int(w.max()) >= n_windows):
        bad = int(np.flatnonzero((w < 0) | (w >= n_windows))[0])
        raise ValidationError(
            f"window {int(w[bad])} is outside [0, {n_windows})", column="window", row=bad
        )
    w = w.astype(np.int64)
    pred = (
        np.argmax(p, axis=1).astype(np.int64)
        if y_pred is None
        else _class_codes(y_pred, "y_pred", n, k, missing=False)
    )
    cls = np.arange(k, dtype=np.int64)
    wi = w[:, None] * k + cls[None, :]  # (n, k): window × class whose probability is binned
    predicted = np.bincount(
        ((wi * k + pred[:, None]) * SCORE_BINS + bins).reshape(-1),
        minlength=n_windows * k * k * SCORE_BINS,
    ).reshape(n_windows, k, k, SCORE_BINS)
    labelled = np.zeros((n_windows, k, 2, SCORE_BINS), dtype=np.int64)
    hit = np.zeros_like(labelled)
    known_cm = np.zeros((n_windows, k, k), dtype=np.int64)
    if y_true is not None:
        t = _class_codes(y_true, "y_true", n, k, missing=True)
        known = t >= 0
        is_class = (t[known, None] == cls[None, :]).astype(np.int64)
        at = ((wi[known] * 2 + is_class) * SCORE_BINS + bins[known]).reshape(-1)
        size = n_windows * k * 2 * SCORE_BINS
        labelled = np.bincount(at, minlength=size).reshape(labelled.shape)
        mine = (pred[known, None] == cls[None, :]).reshape(-1)
        hit = np.bincount(at[mine], minlength=size).reshape(labelled.shape)
        known_cm = np.bincount(
            (w[known] * k + t[known]) * k + pred[known], minlength=n_windows * k * k
        ).reshape(known_cm.shape)
    return [
        ClassScoreHistograms(
            predicted[i].astype(np.int64),
            labelled[i].astype(np.int64),
            hit[i].astype(np.int64),
            known_cm[i].astype(np.int64),
        )
        for i in range(n_windows)
    ]


@dataclass(frozen=True)
class MulticlassEstimate:
    """Estimated metrics of one window of a multiclass model (see the module docstring).

    ``confusion[i][j]`` is the expected number of predictions of class ``j`` whose
    actual class is ``i``. ``per_class`` holds each class's one-vs-rest estimate.
    ``trusted``/``reason`` as for binary estimates: False when a class's calibration
    check failed or its scores lie where the reference barely reaches.
    """

    n: int
    confusion: tuple[tuple[float, ...], ...] | None
    metrics: Mapping[str, MetricResult]
    calibration: tuple[str, ...]
    trusted: bool = True
    reason: str | None = None
    per_class: tuple[WindowEstimate, ...] = field(default=(), repr=False)

    def to_dict(
        self, metric: Callable[[MetricResult], dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """As JSON; ``metric`` writes each metric (default ``MetricResult.to_dict``)."""
        write = metric or MetricResult.to_dict
        return {
            "n": self.n,
            "confusion": None if self.confusion is None else [list(r) for r in self.confusion],
            "metrics": {k: write(v) for k, v in self.metrics.items()},
            "calibration": list(self.calibration),
            "trusted": self.trusted,
            "reason": self.reason,
        }


def _statistic(name: str, c: FloatArray) -> FloatArray:
    """The engine's multiclass metric of confusion matrices ``c`` (..., k, k)."""
    if name == "accuracy":
        out: FloatArray = np.trace(c, axis1=-2, axis2=-1) / c.sum(axis=(-2, -1))
        return out
    per_class = {"precision": precision_of, "recall": recall_of}.get(name)
    values = per_class(c) if per_class is not None else fbeta_of(c, 1.0)
    return average_of(values, c, "macro")


class MulticlassEstimator:
    """Estimates a multiclass model's accuracy and macro precision, recall and F1 per
    window from its class probabilities; one :class:`PerformanceEstimator` per class."""

    def __init__(self, per_class: Sequence[PerformanceEstimator]) -> None:
        if len(per_class) < 2:
            raise ValidationError(
                f"a multiclass estimator needs at least 2 classes, got {len(per_class)}",
                column="classes",
            )
        self.per_class = tuple(per_class)
        self.confidence = self.per_class[0].confidence

    @property
    def k(self) -> int:
        return len(self.per_class)

    @classmethod
    def fit(
        cls,
        reference: ClassScoreHistograms,
        *,
        confidence: float = 0.95,
        replicates: int = 200,
        draws: int = 400,
        seed: int = BOOTSTRAP_SEED,
    ) -> MulticlassEstimator:
        """Calibrate each class one-vs-rest on ``reference``'s labelled rows."""
        return cls(
            [
                PerformanceEstimator.fit(
                    reference.one_vs_rest(i),
                    confidence=confidence,
                    replicates=replicates,
                    draws=draws,
                    seed=seed + 7919 * i,
                )
                for i in range(reference.k)
            ]
        )

    @classmethod
    def fit_arrays(
        cls,
        y_true: npt.ArrayLike,
        probas: npt.ArrayLike,
        *,
        confidence: float = 0.95,
        replicates: int = 200,
        draws: int = 400,
        seed: int = BOOTSTRAP_SEED,
    ) -> MulticlassEstimator:
        """Calibrate on reference class indices and probabilities (see
        :func:`class_score_histograms`)."""
        n = len(np.asarray(y_true))
        ref = class_score_histograms(np.zeros(n, dtype=np.int64), 1, probas, y_true=y_true)[0]
        return cls.fit(ref, confidence=confidence, replicates=replicates, draws=draws, seed=seed)

    def check(
        self,
        labelled: ClassScoreHistograms | Sequence[ClassScoreHistograms],
        *,
        alpha: float = 0.01,
        min_labels: int = 50,
    ) -> tuple[AssumptionCheck, ...]:
        """Each class's calibration check (:meth:`PerformanceEstimator.check`) at
        ``alpha / k`` (Bonferroni), so the family errs at most at ``alpha``."""
        windows = [labelled] if isinstance(labelled, ClassScoreHistograms) else list(labelled)
        return tuple(
            est.check(
                [w.one_vs_rest(i) for w in windows], alpha=alpha / self.k, min_labels=min_labels
            )
            for i, est in enumerate(self.per_class)
        )

    def estimate(
        self,
        window: ClassScoreHistograms,
        *,
        check: Sequence[AssumptionCheck] | None = None,
        use_labels: bool = False,
    ) -> MulticlassEstimate:
        """Estimated accuracy and macro precision, recall and F1 of ``window``.

        ``use_labels`` counts the labels the window already has and estimates the
        rest, so that the estimate equals the realized value once every label is in.
        Undefined with no predictions.
        """
        return self.estimate_many([window], check=check, use_labels=use_labels)[0]

    def estimate_many(
        self,
        windows: Sequence[ClassScoreHistograms],
        *,
        check: Sequence[AssumptionCheck] | None = None,
        use_labels: bool = False,
    ) -> list[MulticlassEstimate]:
        """:meth:`estimate` of every window with the same checks."""
        for w in windows:
            if w.k != self.k:
                raise ValidationError(
                    f"the window has {w.k} classes, the estimator was fitted on {self.k}",
                    column="window",
                )
        checks = list(check) if check is not None else [None] * self.k
        per_class = [
            est.estimate_many(
                [w.one_vs_rest(i) for w in windows], check=checks[i], use_labels=use_labels
            )
            for i, est in enumerate(self.per_class)
        ]
        return [
            self._combine(w, tuple(per_class[i][j] for i in range(self.k)))
            for j, w in enumerate(windows)
        ]

    def _combine(
        self, window: ClassScoreHistograms, parts: tuple[WindowEstimate, ...]
    ) -> MulticlassEstimate:
        calibration = tuple(p.calibration for p in parts)
        untrusted = [(i, p) for i, p in enumerate(parts) if not p.trusted]
        trusted = not untrusted
        reason = None
        if untrusted:
            i, p = untrusted[0]
            reason = f"class {i}: {p.reason}"
        n = window.n
        if n == 0 or any(p.confusion is None for p in parts):
            undefined = {
                m: MetricResult.undefined(m, "undefined: no predictions in the window", n=0)
                for m in MULTICLASS_ESTIMATED_METRICS
            }
            return MulticlassEstimate(0, None, undefined, calibration, trusted, reason, parts)
        tp = np.array([p.confusion.tp for p in parts if p.confusion is not None])
        size = min(len(p.draws["tp"]) for p in parts)
        tp_r = np.stack([p.draws["tp"][:size] for p in parts], axis=1)  # (draws, k)
        expected, draws = self._confusions(window, tp, tp_r)
        alpha = 1.0 - self.confidence
        note = "estimated before labels (one-vs-rest calibration per class: " + ", ".join(
            sorted(set(calibration))
        )
        metrics: dict[str, MetricResult] = {}
        for m in MULTICLASS_ESTIMATED_METRICS:
            value = float(_statistic(m, expected))
            lo, hi = np.quantile(_statistic(m, draws), [alpha / 2.0, 1.0 - alpha / 2.0])
            metrics[m] = MetricResult(
                m,
                value,
                min(float(lo), value),
                max(float(hi), value),
                n,
                self.confidence,
                METHOD + "; one-vs-rest per class" + ("" if m == "accuracy" else ", macro"),
                note=note + ")",
            )
        confusion = tuple(tuple(float(v) for v in row) for row in expected)
        return MulticlassEstimate(n, confusion, metrics, calibration, trusted, reason, parts)

    def _confusions(
        self, window: ClassScoreHistograms, tp: FloatArray, tp_r: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """The expected confusion matrix and one matrix per draw.

        Column ``j`` (predictions of class ``j``): its diagonal is class ``j``'s
        estimated TP (labels already in counted as they are); the errors still
        unknown, ``n_j − TP_j − known errors``, are shared among the other classes in
        proportion to their calibrated probability mass over the column,
        ``Σ_b predicted[i, j, b] · p_i(b)`` — multinomially in each draw, so that a
        wrong prediction is at once a false positive of ``j`` and a false negative of
        its actual class, as it is in the realized matrix.
        """
        k = self.k
        rng = np.random.default_rng(self.per_class[0].seed + 104729)
        known = window.labelled_confusion.astype(np.float64)
        n_col = np.array([float(window.predicted[j, j].sum()) for j in range(k)])
        mass = np.array(
            [
                [
                    float(window.predicted[i, j] @ self.per_class[i].calibration.probability)
                    for j in range(k)
                ]
                for i in range(k)
            ]
        )
        expected = known.copy()
        draws = np.broadcast_to(known, (len(tp_r), k, k)).copy()
        for j in range(k):
            others = np.flatnonzero(np.arange(k) != j)
            share = mass[others, j]
            share = share / share.sum() if share.sum() > 0 else np.full(k - 1, 1.0 / (k - 1))
            known_errors = known[others, j].sum()
            unknown = max(n_col[j] - tp[j] - known_errors, 0.0)
            expected[j, j] = tp[j]
            expected[others, j] += unknown * share
            drawn = np.clip(np.rint(n_col[j] - tp_r[:, j] - known_errors), 0, None)
            draws[:, j, j] = tp_r[:, j]
            draws[:, others, j] += rng.multinomial(drawn.astype(np.int64), share)
        return expected, draws
