"""Simulated coverage of liveeval's 95% intervals.

Each setting is a known population (cell probabilities of a confusion matrix, or a
binormal score model with known AUC); we draw ``reps`` data sets from it with a
fixed seed, compute liveeval's interval on each, and count how often it covers
the population value. Run ``python -m tests.metrics.coverage_sim`` to print the
table that ``docs/coverage.md`` shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from liveeval.metrics import (
    ConfusionMatrix,
    LatencySketch,
    LossSums,
    ScoreDistribution,
    binary_metrics,
    roc_auc,
)
from liveeval.metrics.classification import fbeta_of, kappa_of, mcc_of

SEED = 20261122


@dataclass(frozen=True)
class Setting:
    metric: str
    description: str
    truth: float
    draw: Callable[[np.random.Generator], tuple[float | None, float | None]]


def _cm(counts: np.ndarray) -> ConfusionMatrix:
    c = np.asarray(counts, dtype=np.float64).reshape(2, 2)
    return ConfusionMatrix((0, 1), c, c.copy())


def _confusion_setting(
    metric: str, description: str, n: int, probs: list[float], truth: float
) -> Setting:
    """probs are the population shares of (TN, FP, FN, TP)."""

    def draw(rng: np.random.Generator) -> tuple[float | None, float | None]:
        m = binary_metrics(_cm(rng.multinomial(n, probs)), 1, only={metric})[metric]
        return m.lower, m.upper

    return Setting(metric, description, truth, draw)


def _fixed_positives(
    metric: str, description: str, pos: int, neg: int, tpr: float, tnr: float
) -> Setting:
    truth = {"recall": tpr, "specificity": tnr, "balanced_accuracy": (tpr + tnr) / 2}[metric]

    def draw(rng: np.random.Generator) -> tuple[float | None, float | None]:
        tp = rng.binomial(pos, tpr)
        tn = rng.binomial(neg, tnr)
        m = binary_metrics(_cm([tn, neg - tn, pos - tp, tp]), 1, only={metric})[metric]
        return m.lower, m.upper

    return Setting(metric, description, truth, draw)


def _population_value(metric: str, probs: list[float]) -> float:
    c = np.asarray(probs, dtype=np.float64).reshape(2, 2)
    if metric == "f1":
        return float(fbeta_of(c, 1.0)[1])
    if metric == "f2":
        return float(fbeta_of(c, 2.0)[1])
    if metric == "mcc":
        return float(mcc_of(c))
    if metric == "cohen_kappa":
        return float(kappa_of(c))
    if metric == "precision":
        return float(c[1, 1] / (c[1, 1] + c[0, 1]))
    if metric == "accuracy":
        return float(c[0, 0] + c[1, 1])
    raise KeyError(metric)


def _auc_setting(pos: int, neg: int, auc: float) -> Setting:
    d = math.sqrt(2) * NormalDist().inv_cdf(auc)

    def draw(rng: np.random.Generator) -> tuple[float | None, float | None]:
        y = np.r_[np.zeros(neg, bool), np.ones(pos, bool)]
        z = np.r_[rng.normal(0, 1, neg), rng.normal(d, 1, pos)]
        s = 1 / (1 + np.exp(-z))
        m = roc_auc(ScoreDistribution.from_arrays(y, s))
        return m.lower, m.upper

    return Setting("roc_auc", f"{pos} positives, {neg} negatives, binormal", auc, draw)


def _loss_setting(metric: str, n: int) -> Setting:
    # Calibrated scores from Beta(2, 5): y ~ Bernoulli(score).
    rng0 = np.random.default_rng(1)
    s_big = rng0.beta(2, 5, 2_000_000)
    if metric == "brier":
        truth = float(np.mean(s_big * (1 - s_big)))
    else:
        truth = float(np.mean(-(s_big * np.log(s_big) + (1 - s_big) * np.log(1 - s_big))))

    def draw(rng: np.random.Generator) -> tuple[float | None, float | None]:
        s = rng.beta(2, 5, n)
        y = rng.random(n) < s
        m = LossSums().update_binary(y, s).results()[metric]
        return m.lower, m.upper

    return Setting(metric, f"n={n}, calibrated Beta(2,5) scores", truth, draw)


def _latency_setting(n: int, q: float) -> Setting:
    truth = math.exp(-3 + 0.5 * NormalDist().inv_cdf(q))

    def draw(rng: np.random.Generator) -> tuple[float | None, float | None]:
        m = LatencySketch().update(rng.lognormal(-3, 0.5, n)).quantile(q)
        return m.lower, m.upper

    return Setting(f"latency_p{q * 100:g}_seconds", f"n={n}, lognormal", truth, draw)


def settings() -> list[Setting]:
    out = []
    for n, acc in ((50, 0.9), (1000, 0.98), (30, 0.7)):
        probs = [acc / 2, (1 - acc) / 2, (1 - acc) / 2, acc / 2]
        out.append(_confusion_setting("accuracy", f"n={n}, accuracy {acc}", n, probs, acc))
    # Precision among ~40 predicted positives.
    probs = [0.9, 0.03, 0.0, 0.07]
    out.append(
        _confusion_setting(
            "precision", "n=500, precision 0.7", 500, probs, _population_value("precision", probs)
        )
    )
    for pos, tpr in ((50, 0.9), (50, 0.5), (50, 0.98), (20, 0.95), (200, 0.12)):
        out.append(
            _fixed_positives(
                "recall",
                f"1% prevalence: {pos} positives of {pos * 100}, recall {tpr}",
                pos,
                pos * 99,
                tpr,
                0.99,
            )
        )
    out.append(
        _fixed_positives("specificity", "500 negatives, specificity 0.99", 50, 500, 0.8, 0.99)
    )
    out.append(
        _fixed_positives("balanced_accuracy", "50 positives, 4950 negatives", 50, 4950, 0.8, 0.95)
    )
    out.append(
        _fixed_positives("balanced_accuracy", "30 positives, 300 negatives", 30, 300, 0.95, 0.9)
    )
    for metric in ("f1", "f2", "mcc", "cohen_kappa"):
        for n, probs, label in (
            (200, [0.55, 0.1, 0.05, 0.3], "n=200, balanced-ish"),
            (5000, [0.985, 0.005, 0.003, 0.007], "n=5000, 1% prevalence"),
        ):
            out.append(
                _confusion_setting(metric, label, n, probs, _population_value(metric, probs))
            )
    out.append(_auc_setting(50, 4950, 0.85))
    out.append(_auc_setting(100, 100, 0.95))
    out.append(_auc_setting(30, 300, 0.75))
    out.append(_loss_setting("log_loss", 200))
    out.append(_loss_setting("brier", 200))
    out.append(_latency_setting(500, 0.95))
    out.append(_latency_setting(2000, 0.5))
    return out


def coverage(setting: Setting, reps: int, seed: int = SEED) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        lower, upper = setting.draw(rng)
        if lower is not None and upper is not None and lower <= setting.truth <= upper:
            hits += 1
    return hits / reps


def table(reps: int = 2000) -> list[tuple[str, str, float, float]]:
    return [(s.metric, s.description, s.truth, coverage(s, reps)) for s in settings()]


if __name__ == "__main__":
    rows = table()
    print("| metric | setting | true value | coverage |")
    print("|---|---|---|---|")
    for metric, description, truth, cov in rows:
        print(f"| {metric} | {description} | {truth:.4f} | {cov:.1%} |")
    print(f"\nmean coverage {np.mean([r[3] for r in rows]):.2%}, min {min(r[3] for r in rows):.1%}")
