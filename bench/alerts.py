"""Drop detection: false alarms on a stable stream and delay after a concept change,
liveeval's e-detector beside river's ADWIN and Page–Hinkley on the same streams.

    python bench/alerts.py [--seeds 50] [--river bench/data/venv-river/bin/python]

Streams (``stream``): 200,000 labelled predictions of a logistic concept on five
features, scored by a model trained before any change (it predicts with the
pre-change coefficients). *Stable*: the concept never changes (accuracy ≈ 0.798,
recall ≈ 0.656). *Change*: at prediction 100,000 the concept moves (one coefficient
shrinks, another appears): accuracy falls to ≈ 0.768, recall to ≈ 0.614.

liveeval evaluates every 100 labels (a look); the reference is the first 5,000
labelled predictions; alpha = 0.001 and min_samples = 100, so the stated budget is at
most one false alarm per 1,000 looks = 100,000 labels. Each alarm restarts the
detector (a renewal, as after an alert is handled). river's detectors take every
sample's error indicator (accuracy: 1 when the prediction is wrong; recall: 1 per
missed positive) with their default settings, in their own virtual environment
(``make bench-alerts`` creates it). Delay: labelled predictions from the change to
the first alarm at or after it (for recall, the detectors see only positives; delays
are still counted in all labelled predictions). Alarms before the change count as
false alarms.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROWS = 200_000
CHANGE_AT = 100_000
LOOK = 100
REFERENCE = 5_000
W = np.array([1.5, -1.0, 0.8, 0.5, 0.0])
W_AFTER = np.array([1.5, -1.0, 0.2, 0.5, 0.5])
B = -1.0


def stream(seed: int, change: bool) -> tuple[np.ndarray, np.ndarray]:
    """(y, predicted) of one stream, booleans."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, W.size))
    logits = x @ W + B
    if change:
        logits[CHANGE_AT:] = x[CHANGE_AT:] @ W_AFTER + B
    y = rng.random(ROWS) < 1.0 / (1.0 + np.exp(-logits))
    predicted = (x @ W + B) > 0.0
    return y, predicted


def look_counts(y: np.ndarray, predicted: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Successes and trials of ``metric`` per look of 100 labelled predictions."""
    blocks = y.size // LOOK
    yb = y[: blocks * LOOK].reshape(blocks, LOOK)
    pb = predicted[: blocks * LOOK].reshape(blocks, LOOK)
    if metric == "accuracy":
        return (yb == pb).sum(axis=1).astype(float), np.full(blocks, float(LOOK))
    return (yb & pb).sum(axis=1).astype(float), yb.sum(axis=1).astype(float)


def liveeval_alarms(
    y: np.ndarray, predicted: np.ndarray, metric: str, reference: int = REFERENCE
) -> list[int]:
    """Labelled-prediction indices (end of the look) at which liveeval alarmed."""
    from liveeval.metrics.change import ShiryaevRoberts
    from liveeval.metrics.interval import wilson
    from liveeval.monitor.drop import DropTest

    test = DropTest(metric)
    x, n = look_counts(y, predicted, metric)
    ref = reference // LOOK
    lower, _ = wilson(x[:ref].sum(), n[:ref].sum(), 1.0 - 2.0 * test.reference_alpha)
    detector = ShiryaevRoberts(lower, "drop", test.alpha, test.min_change)
    looks = detector.run(x[ref:].tolist(), n[ref:].tolist())
    return [(ref + i + 1) * LOOK for i in looks]


def summarise(alarms: dict[str, list[list[int]]], seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, runs in alarms.items():
        kind = key.split("/")[0]
        if kind == "stable":
            total = sum(len(r) for r in runs)
            out[key] = {
                "false_alarms": total,
                "labels": seeds * ROWS,
                "per_100k_labels": total / (seeds * ROWS) * 100_000,
                "streams_with_any": sum(bool(r) for r in runs),
            }
        else:
            before = sum(sum(1 for a in r if a <= CHANGE_AT) for r in runs)
            delays = [next((a - CHANGE_AT for a in r if a > CHANGE_AT), None) for r in runs]
            found = np.array([d for d in delays if d is not None], dtype=float)
            out[key] = {
                "false_alarms_before_change": before,
                "detected": int(found.size),
                "streams": seeds,
                "delay_median": float(np.median(found)) if found.size else None,
                "delay_p95": float(np.percentile(found, 95)) if found.size else None,
                "delay_max": float(found.max()) if found.size else None,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--river", help="python of a venv with river installed")
    parser.add_argument("--reference", type=int, default=REFERENCE, help="reference labels")
    parser.add_argument("--out", default="bench/results/alerts.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"settings": {"rows": ROWS, "change_at": CHANGE_AT, "look": LOOK,
                                            "reference": args.reference, "seeds": args.seeds}}  # fmt: skip
    alarms: dict[str, list[list[int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        started = time.perf_counter()
        for kind in ("stable", "change"):
            for seed in range(args.seeds):
                y, predicted = stream(seed, kind == "change")
                for metric in ("accuracy", "recall"):
                    key = f"{kind}/{metric}/liveeval"
                    alarms.setdefault(key, []).append(
                        liveeval_alarms(y, predicted, metric, args.reference)
                    )
                path = Path(tmp) / f"{kind}-{seed}.npz"
                np.savez(path, y=y, predicted=predicted)
                files.append((kind, seed, str(path)))
        results["liveeval_seconds"] = time.perf_counter() - started
        if args.river:
            started = time.perf_counter()
            proc = subprocess.run(
                [args.river, str(Path(__file__).with_name("alerts_river.py"))],
                input=json.dumps(files),
                capture_output=True,
                text=True,
                check=True,
            )
            results["river_seconds"] = time.perf_counter() - started
            for key, runs in json.loads(proc.stdout).items():
                alarms[key] = runs
    results["summary"] = summarise(alarms, args.seeds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
