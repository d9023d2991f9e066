"""Speed and memory of liveeval's full report against scikit-learn, on this machine.

Every measurement runs in a fresh Python process (as the CLI would), repeated, and
the median is reported; peak memory is the process's maximum RSS. Reproduce with
``make bench`` (or ``.venv/bin/python bench/run.py [--evidently PYTHON]``); results go to
``bench/results/latest.json`` and are printed as the table in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
REPEATS = 5

LIVEEVAL_BINARY = """
import json, resource, sys, time
t0 = time.perf_counter()
import liveeval
report = liveeval.evaluate(sys.argv[1], label="y_true", score="y_score")
doc = report.to_dict()
elapsed = time.perf_counter() - t0
assert len(doc["metrics"]) >= 15
print(json.dumps({"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "metrics": {k: doc["metrics"][k]["value"]
                              for k in ("accuracy", "recall", "roc_auc", "average_precision", "log_loss")}}))
"""

# liveeval times include importing liveeval and reading the Parquet file; the
# reference is timed on arrays already in memory, so the comparison favours it.
SKLEARN_BINARY = """
import json, sys, time
import pyarrow.parquet as pq
from sklearn import metrics as m
t = pq.read_table(sys.argv[1])
y = t.column("y_true").to_numpy(); s = t.column("y_score").to_numpy()
t0 = time.perf_counter()
pred = (s >= 0.5).astype(y.dtype)
m.confusion_matrix(y, pred)
m.precision_recall_fscore_support(y, pred, average="binary")
acc = m.accuracy_score(y, pred)
auc = m.roc_auc_score(y, s)
ap = m.average_precision_score(y, s)
ll = m.log_loss(y, s)
m.brier_score_loss(y, s)
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed,
                  "metrics": {"accuracy": acc, "roc_auc": auc, "average_precision": ap, "log_loss": ll}}))
"""

LIVEEVAL_MULTICLASS = """
import json, resource, sys, time
t0 = time.perf_counter()
import liveeval
report = liveeval.evaluate(sys.argv[1], label="y_true", proba_prefix="p_")
doc = report.to_dict()
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "metrics": {k: doc["metrics"][k]["value"] for k in ("accuracy", "f1_macro", "roc_auc", "log_loss")}}))
"""

# The same in-process, after one warm-up call: what a notebook or a server sees.
LIVEEVAL_WARM = """
import json, sys, time
import liveeval
kwargs = json.loads(sys.argv[2])
liveeval.evaluate(sys.argv[1], **kwargs).to_dict()
times = []
for _ in range(5):
    t0 = time.perf_counter()
    liveeval.evaluate(sys.argv[1], **kwargs).to_dict()
    times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": sorted(times)[2]}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(code: str, *args: str, repeats: int = REPEATS) -> dict:
    runs = [_run(code, *args) for _ in range(repeats)]
    return {
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "runs_seconds": [round(r["seconds"], 4) for r in runs],
        "peak_rss_mb": max(r.get("peak_rss_mb", 0.0) for r in runs),
        "metrics": runs[0]["metrics"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--evidently",
        metavar="PYTHON",
        help="an interpreter with evidently installed (kept out of the project's environment)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import data

    binary = str(data.binary())
    multiclass = str(data.multiclass())
    results: dict[str, object] = {"machine": {"python": platform.python_version(), "cpus": 2}}
    print("binary, 10,000,000 rows: liveeval full report (fresh process each run) …", flush=True)
    ours = _median(LIVEEVAL_BINARY, binary)
    print("binary, 10,000,000 rows: scikit-learn reference …", flush=True)
    ref = _median(SKLEARN_BINARY, binary)
    warm = _run(LIVEEVAL_WARM, binary, json.dumps({"label": "y_true", "score": "y_score"}))
    results["binary_10m"] = {
        "liveeval": ours,
        "liveeval_warm_median_seconds": warm["seconds"],
        "sklearn": ref,
        "speedup_vs_sklearn": ref["median_seconds"] / ours["median_seconds"],
        "speedup_vs_sklearn_warm": ref["median_seconds"] / warm["seconds"],
    }
    print("multiclass, 1,000,000 rows × 5 classes …", flush=True)
    mc = _median(LIVEEVAL_MULTICLASS, multiclass)
    mc_warm = _run(LIVEEVAL_WARM, multiclass, json.dumps({"label": "y_true", "proba_prefix": "p_"}))
    results["multiclass_1m"] = {"liveeval": mc, "liveeval_warm_median_seconds": mc_warm["seconds"]}
    if args.evidently:
        print("binary, 1,000,000 rows: liveeval vs Evidently ClassificationPreset …", flush=True)
        small = str(data.binary(1_000_000))
        ours_1m = _median(LIVEEVAL_BINARY, small, repeats=3)
        warm_1m = _run(LIVEEVAL_WARM, small, json.dumps({"label": "y_true", "score": "y_score"}))
        runs = [
            json.loads(
                subprocess.run(
                    [args.evidently, str(HERE / "evidently_ref.py"), small, "1000000"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )["seconds"]
            for _ in range(3)
        ]
        results["binary_1m_vs_evidently"] = {
            "liveeval": ours_1m,
            "liveeval_warm_median_seconds": warm_1m["seconds"],
            "evidently_median_seconds": statistics.median(runs),
            "evidently_runs_seconds": [round(r, 3) for r in runs],
            "speedup_vs_evidently": statistics.median(runs) / ours_1m["median_seconds"],
            "speedup_vs_evidently_warm": statistics.median(runs) / warm_1m["seconds"],
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    b = results["binary_10m"]
    print()
    print(
        "| benchmark | liveeval median (fresh process) | warm median | peak RSS | reference median | speed-up |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| binary 10M rows, full report | {ours['median_seconds']:.2f} s | {warm['seconds']:.2f} s | "
        f"{ours['peak_rss_mb']:,.0f} MB | scikit-learn {ref['median_seconds']:.2f} s | "
        f"{b['speedup_vs_sklearn']:.1f}× ({b['speedup_vs_sklearn_warm']:.1f}× warm) |"
    )
    print(
        f"| 5-class 1M rows, full report | {mc['median_seconds']:.2f} s | {mc_warm['seconds']:.3f} s | "
        f"{mc['peak_rss_mb']:,.0f} MB | — | — |"
    )
    if "binary_1m_vs_evidently" in results:
        e = results["binary_1m_vs_evidently"]
        print(
            f"| binary 1M rows, full report | {e['liveeval']['median_seconds']:.2f} s | "
            f"{e['liveeval_warm_median_seconds']:.3f} s | {e['liveeval']['peak_rss_mb']:,.0f} MB | "
            f"Evidently ClassificationPreset {e['evidently_median_seconds']:.2f} s | "
            f"{e['speedup_vs_evidently']:.0f}× ({e['speedup_vs_evidently_warm']:.0f}× warm) |"
        )


if __name__ == "__main__":
    main()
