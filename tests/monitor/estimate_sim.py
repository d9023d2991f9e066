"""Simulated streams where the truth is known, for the estimation tests and docs.

A stream: a labelled reference drawn from one score distribution, then windows whose
score distribution changes (covariate shift: Beta laws with varying parameters)
while P(y | score) = ``link(score)`` stays — or changes (``window_link``: concept
shift). For each window the estimate's interval is compared with the metric the
window's true labels give.

Run ``python tests/monitor/estimate_sim.py`` for the figures in docs/estimation.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from liveeval.monitor import PerformanceEstimator, score_histogram
from liveeval.monitor.estimate import ESTIMATED_METRICS

Link = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def realized(
    y: npt.NDArray[np.int64], score: npt.NDArray[np.float64], pred: npt.NDArray[np.int64]
) -> dict[str, float | None]:
    """The metrics a window's labels give (None where undefined)."""
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    n = len(y)
    pos = tp + fn
    out: dict[str, float | None] = {"accuracy": (n - fp - fn) / n}
    out["precision"] = tp / (tp + fp) if tp + fp else None
    out["recall"] = tp / pos if pos else None
    out["f1"] = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None
    if 0 < pos < n:
        # Mann–Whitney with average ranks (scores are continuous: ties are rare).
        order = np.argsort(score, kind="stable")
        ranks = np.empty(n)
        ranks[order] = np.arange(1, n + 1)
        s_sorted = score[order]
        # average ranks over ties
        _, start, counts = np.unique(s_sorted, return_index=True, return_counts=True)
        if (counts > 1).any():
            avg = start + (counts + 1) / 2.0
            ranks[order] = np.repeat(avg, counts)
        out["roc_auc"] = (ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * (n - pos))
    else:
        out["roc_auc"] = None
    return out


@dataclass
class Coverage:
    """Hits and windows per (window size, metric), and the misses on each side: below
    (the realized value under the lower limit — the estimate was optimistic, the side
    that would give a false PASS) and above; windows not trusted; checks."""

    hits: dict[tuple[int, str], int] = field(default_factory=dict)
    total: dict[tuple[int, str], int] = field(default_factory=dict)
    undefined: dict[tuple[int, str], int] = field(default_factory=dict)
    below: dict[tuple[int, str], int] = field(default_factory=dict)
    above: dict[tuple[int, str], int] = field(default_factory=dict)
    # (reference, window size, metric, side) per counted window: side "in", "below"
    # or "above" (for Monte-Carlo errors between references)
    cells: list[tuple[int, int, str, str]] = field(default_factory=list)
    untrusted: int = 0
    windows: int = 0
    methods: list[str] = field(default_factory=list)
    abs_error: dict[str, list[float]] = field(default_factory=dict)

    def _sum(self, counts: dict[tuple[int, str], int], metric: str, size: int | None) -> int:
        return sum(v for k, v in counts.items() if k[1] == metric and size in (None, k[0]))

    def rate(self, metric: str, size: int | None = None) -> float:
        total = self.count(metric, size)
        return self._sum(self.hits, metric, size) / total if total else float("nan")

    def miss(self, side: str, metric: str, size: int | None = None) -> float:
        """Share of the windows whose realized value fell ``side`` ("below" or
        "above") the interval."""
        total = self.count(metric, size)
        counts = self.below if side == "below" else self.above
        return self._sum(counts, metric, size) / total if total else float("nan")

    def count(self, metric: str, size: int | None = None) -> int:
        return self._sum(self.total, metric, size)

    def table(self, sizes: Sequence[int]) -> str:
        lines = ["| window rows | " + " | ".join(ESTIMATED_METRICS) + " |"]
        lines.append("|---" * (len(ESTIMATED_METRICS) + 1) + "|")
        for size in sizes:
            cells = [f"{self.rate(m, size):.1%} ({self.count(m, size)})" for m in ESTIMATED_METRICS]
            lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
        for size in sizes:
            cells = [
                f"{self.miss('below', m, size):.1%} / {self.miss('above', m, size):.1%}"
                for m in ESTIMATED_METRICS
            ]
            lines.append(f"| misses below / above, {size:,} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def simulate(
    link: Link,
    *,
    reference_size: int,
    reference_beta: tuple[float, float],
    window_sizes: Sequence[int],
    references: int,
    windows_per_reference: int,
    window_a: tuple[float, float],
    window_b: tuple[float, float],
    seed: int = 0,
    replicates: int = 200,
    draws: int = 400,
    window_link: Link | None = None,
) -> Coverage:
    rng = np.random.default_rng(seed)
    out = Coverage()
    truth = window_link or link
    for ref in range(references):
        s = rng.beta(*reference_beta, reference_size)
        y = (rng.random(reference_size) < link(s)).astype(np.int64)
        est = PerformanceEstimator.fit_arrays(
            y, s, replicates=replicates, draws=draws, seed=int(rng.integers(1 << 31))
        )
        out.methods.append(est.calibration.method)
        # Every window of this reference first (the same random stream as drawing
        # and estimating them one by one), then one estimate_many call: the replicate
        # maps' masses of all of them in one matrix product.
        drawn = []
        for size in window_sizes:
            for _ in range(windows_per_reference):
                a, b = rng.uniform(*window_a), rng.uniform(*window_b)
                sw = rng.beta(a, b, size)
                yw = (rng.random(size) < truth(sw)).astype(np.int64)
                drawn.append((size, sw, yw))
        estimates = est.estimate_many([score_histogram(sw) for _, sw, _ in drawn])
        for (size, sw, yw), e in zip(drawn, estimates, strict=True):
            pred = (sw >= 0.5).astype(np.int64)
            out.windows += 1
            out.untrusted += not e.trusted
            for m, value in realized(yw, sw, pred).items():
                res = e.metrics[m]
                key = (size, m)
                if value is None or res.lower is None or res.upper is None:
                    out.undefined[key] = out.undefined.get(key, 0) + 1
                    continue
                hit = res.lower - 1e-12 <= value <= res.upper + 1e-12
                out.total[key] = out.total.get(key, 0) + 1
                out.hits[key] = out.hits.get(key, 0) + hit
                side = "in" if hit else "below" if value < res.lower else "above"
                if side != "in":
                    counts = out.below if side == "below" else out.above
                    counts[key] = counts.get(key, 0) + 1
                out.cells.append((ref, size, m, side))
                assert res.value is not None
                out.abs_error.setdefault(m, []).append(abs(res.value - value))
    return out


def one_sided_bound(windows: int) -> float:
    """Bound on each one-sided miss rate of a 95% estimate's interval: 5% (half the
    10% that the coverage target of at least 90% allows) plus two Monte-Carlo
    standard errors of a rate of 5% over ``windows`` (as docs/coverage.md's goal is
    read within two MC standard errors)."""
    return 0.05 + 2.0 * math.sqrt(0.05 * 0.95 / windows)


def calibrated(s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return s


def overconfident(s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A monotone but uncalibrated model: P(y | s) = s^2.5."""
    return s**2.5


# The streams of the tests and docs: (name, link, reference Beta, window a, window b).
STREAMS: dict[str, dict[str, object]] = {
    "calibrated, covariate shift": dict(
        link=calibrated, reference_beta=(1.5, 2.5), window_a=(0.8, 3.0), window_b=(1.5, 5.0)
    ),
    "calibrated, few positives": dict(
        link=calibrated, reference_beta=(0.6, 6.0), window_a=(0.4, 0.9), window_b=(5.0, 10.0)
    ),
    "monotone, uncalibrated (s^2.5)": dict(
        link=overconfident, reference_beta=(1.5, 2.5), window_a=(0.8, 3.0), window_b=(1.5, 5.0)
    ),
}


if __name__ == "__main__":  # pragma: no cover - the docs' figures
    import json
    import sys

    sizes = (200, 1000, 10000)
    names = sys.argv[1:] or list(STREAMS)
    for name in names:
        cov = simulate(
            reference_size=5000,
            window_sizes=sizes,
            references=100,
            windows_per_reference=5,
            seed=7,
            **STREAMS[name],  # type: ignore[arg-type]
        )
        print(
            f"\n{name}: calibration chosen {sorted(set(cov.methods))}, "
            f"{cov.untrusted} of {cov.windows} windows not trusted"
        )
        print(cov.table(sizes))
        print("cells:", json.dumps(cov.cells))
