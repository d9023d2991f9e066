"""Estimation before labels: liveeval's PerformanceEstimator against NannyML's CBPE.

    python bench/estimate.py                       # 1M rows in 30 windows, liveeval only
    python bench/estimate.py --rows 10000000       # 10M rows
    python bench/estimate.py --nannyml bench/data/venv-nannyml/bin/python

Data (fixed seed, written once under bench/data/): a labelled reference of 100,000
predictions with scores ~ Beta(1.5, 2.5), and an analysis log of ``--rows``
predictions in 30 equal windows whose score law drifts (covariate shift: Beta(a, b)
with a from 1.0 to 2.5 and b from 3.0 to 1.8) while P(y | score) = score^1.5 (a
monotone model that is not calibrated, so both tools must calibrate). The labels of
the analysis log are in the file, read only to compute the realized metrics.

Timed (each tool in a fresh process, median of ``--repeat`` runs, imports not timed):
reading the Parquet columns it needs, fitting on the reference, and estimating
accuracy, precision, recall, F1 and ROC-AUC with intervals for the 30 windows —
for liveeval including binning the raw scores into the store's score histograms.
NannyML 0.13's CBPE runs in its own virtual environment (never the project's), with
``chunk_number=30`` (the same 30 windows: the row count is a multiple of 30).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
DATA = HERE / "data"
RESULTS = HERE / "results"
WINDOWS = 30
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def generate(rows: int, seed: int = 9) -> tuple[Path, Path]:
    """The reference and analysis Parquet files (``rows`` rounded up to a multiple of 30)."""
    rows = -(-rows // WINDOWS) * WINDOWS
    ref_path = DATA / "estimate_reference_100000.parquet"
    path = DATA / f"estimate_analysis_{rows}.parquet"
    DATA.mkdir(parents=True, exist_ok=True)
    if not ref_path.exists():
        rng = np.random.default_rng(seed)
        s = rng.beta(1.5, 2.5, 100_000)
        y = (rng.random(100_000) < s**1.5).astype(np.int8)
        pred = (s >= 0.5).astype(np.int8)
        pq.write_table(pa.table({"score": s, "pred": pred, "y": y}), ref_path)
    if not path.exists():
        rng = np.random.default_rng([seed, rows])
        per = rows // WINDOWS
        t = np.repeat(np.arange(WINDOWS), per)
        a = np.linspace(1.0, 2.5, WINDOWS)[t]
        b = np.linspace(3.0, 1.8, WINDOWS)[t]
        s = rng.beta(a, b)
        y = (rng.random(rows) < s**1.5).astype(np.int8)
        pred = (s >= 0.5).astype(np.int8)
        ts = np.datetime64("2026-11-01T00:00:00") + (t * 3600).astype("timedelta64[s]")
        pq.write_table(
            pa.table({"ts": ts, "window": t.astype(np.int32), "score": s, "pred": pred, "y": y}),
            path,
            row_group_size=1_000_000,
        )
    return ref_path, path


def run_liveeval(ref_path: Path, path: Path) -> dict[str, Any]:
    """One timed liveeval run (called in a fresh process)."""
    from liveeval.monitor import PerformanceEstimator, score_histogram, score_histograms

    # pyarrow imports pandas at its first Parquet read when pandas is installed (0.7 s
    # here): an import, which is not timed, as NannyML's imports are not.
    try:
        import pandas  # noqa: F401
    except ImportError:
        pass
    start = time.perf_counter()
    cpu = time.process_time()
    ref = pq.read_table(ref_path, columns=["score", "y"])
    estimator = PerformanceEstimator.fit(
        score_histogram(ref["score"].to_numpy(), y_true=ref["y"].to_numpy())
    )
    fitted = time.perf_counter()
    table = pq.read_table(path, columns=["window", "score", "pred"])
    windows = score_histograms(
        table["window"].to_numpy(),
        WINDOWS,
        table["score"].to_numpy(),
        y_pred=table["pred"].to_numpy(),
    )
    binned = time.perf_counter()
    estimates = estimator.estimate_many(windows)
    end = time.perf_counter()
    return {
        "seconds": end - start,
        "cpu_seconds": time.process_time() - cpu,
        "fit_seconds": fitted - start,
        "read_and_bin_seconds": binned - fitted,
        "estimate_seconds": end - binned,
        "calibration": estimator.calibration.method,
        "calibration_reason": estimator.calibration.reason,
        "estimates": [
            {m: [e.metrics[m].value, e.metrics[m].lower, e.metrics[m].upper] for m in METRICS}
            for e in estimates
        ],
    }


def realized(path: Path) -> list[dict[str, float]]:
    """The metrics the analysis labels give, per window (untimed)."""
    t = pq.read_table(path, columns=["window", "score", "pred", "y"])
    w = t["window"].to_numpy()
    s = t["score"].to_numpy()
    p = t["pred"].to_numpy().astype(bool)
    y = t["y"].to_numpy().astype(bool)
    out = []
    for i in range(WINDOWS):
        m = w == i
        yi, pi, si = y[m], p[m], s[m]
        tp = int((yi & pi).sum())
        fp = int((~yi & pi).sum())
        fn = int((yi & ~pi).sum())
        n = len(yi)
        order = np.argsort(si)
        ranks = np.empty(n)
        ranks[order] = np.arange(1, n + 1)
        pos = int(yi.sum())
        out.append(
            {
                "accuracy": (n - fp - fn) / n,
                "precision": tp / (tp + fp),
                "recall": tp / (tp + fn),
                "f1": 2 * tp / (2 * tp + fp + fn),
                "roc_auc": float((ranks[yi].sum() - pos * (pos + 1) / 2) / (pos * (n - pos))),
            }
        )
    return out


def _fresh(cmd: list[str]) -> dict[str, Any]:
    # NannyML sends usage statistics unless told not to (no network here anyway).
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _compare(
    ours: list[dict[str, list[float | None]]],
    theirs: list[dict[str, list[float | None]]] | None,
    truth: list[dict[str, float]],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in METRICS:
        row: dict[str, Any] = {}
        for name, est in (("liveeval", ours), ("nannyml", theirs)):
            if est is None:
                continue
            vals = [(e[m][0], e[m][1], e[m][2], t[m]) for e, t in zip(est, truth, strict=True)]
            row[f"{name}_mean_abs_error"] = statistics.fmean(abs(v - r) for v, _, _, r in vals)
            row[f"{name}_coverage"] = statistics.fmean(
                lo is not None and hi is not None and lo <= r <= hi for _, lo, hi, r in vals
            )
            row[f"{name}_mean_half_width"] = statistics.fmean(
                (hi - lo) / 2 for _, lo, hi, _ in vals if lo is not None and hi is not None
            )
        if theirs is not None:
            row["mean_abs_difference"] = statistics.fmean(
                abs(a[m][0] - b[m][0]) for a, b in zip(ours, theirs, strict=True)
            )
        out[m] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nannyml", help="python of an environment with nannyml installed")
    parser.add_argument("--run", choices=["liveeval"], help=argparse.SUPPRESS)
    parser.add_argument("--ref", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS / "estimate.json"))
    args = parser.parse_args()
    if args.run == "liveeval":
        print(json.dumps(run_liveeval(Path(args.ref), Path(args.data))))
        return
    ref_path, path = generate(args.rows)
    truth = realized(path)
    ours = [
        _fresh(
            [
                sys.executable,
                __file__,
                "--run",
                "liveeval",
                "--ref",
                str(ref_path),
                "--data",
                str(path),
            ]
        )
        for _ in range(args.repeat)
    ]
    report: dict[str, Any] = {
        "rows": pq.read_metadata(path).num_rows,
        "windows": WINDOWS,
        "repeat": args.repeat,
        "liveeval": {
            "median_seconds": statistics.median(r["seconds"] for r in ours),
            "runs_seconds": [r["seconds"] for r in ours],
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in ours),
            "fit_seconds": statistics.median(r["fit_seconds"] for r in ours),
            "read_and_bin_seconds": statistics.median(r["read_and_bin_seconds"] for r in ours),
            "estimate_seconds": statistics.median(r["estimate_seconds"] for r in ours),
            "calibration": ours[0]["calibration"],
            "calibration_reason": ours[0]["calibration_reason"],
        },
    }
    theirs = None
    if args.nannyml:
        runs = [
            _fresh([args.nannyml, str(HERE / "estimate_nannyml.py"), str(ref_path), str(path)])
            for _ in range(args.repeat)
        ]
        theirs = runs[0]["estimates"]
        report["nannyml"] = {
            "version": runs[0]["version"],
            "median_seconds": statistics.median(r["seconds"] for r in runs),
            "runs_seconds": [r["seconds"] for r in runs],
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        }
        report["speedup"] = (
            report["nannyml"]["median_seconds"] / report["liveeval"]["median_seconds"]
        )
    report["comparison"] = _compare(ours[0]["estimates"], theirs, truth)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous[str(report["rows"])] = report
    out.write_text(json.dumps(previous, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
