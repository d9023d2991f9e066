"""Drift benchmark: 25 features (20 numeric, 5 categorical), reference vs current from Parquet.

The current file equals the reference's distribution except ``num_00``, shifted by 0.1
of its standard deviation: a good detector calls ``num_00`` and nothing else.

- liveeval: ``compare_files(ref, cur)`` in a fresh process per run (import, Parquet
  read, binning, every statistic with its bootstrap interval, the call, the JSON
  document); median of ``--repeats`` runs of wall and of CPU time (user + system: on
  a busy machine, wall time includes waiting for a core), peak RSS of the process.
- peers, each in its own virtual environment under ``bench/data/`` (never the
  project's): Evidently 0.7 ``DataDriftPreset``, NannyML 0.13 ``UnivariateDriftCalculator``
  (one chunk, its default Jensen–Shannon method), alibi-detect 0.13 ``TabularDrift``
  (KS + chi-square, Bonferroni). Their data is read into pandas/numpy before the clock
  starts (favouring them). See ``bench/drift_peers.py``.

Usage::

    .venv/bin/python bench/drift.py --rows 1000000 [--rows 10000000] [--repeats 3]
        [--evidently bench/data/venv-evidently/bin/python] [--nannyml …] [--alibi …]

Results go to ``bench/results/drift.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
DATA = HERE / "data"
RESULTS = HERE / "results"
NUMERIC = 20
CATEGORICAL = 5
SHIFT_SD = 0.1
CHUNK = 1_000_000

LIVEEVAL = """
import json, resource, sys, time
t0 = time.perf_counter()
from liveeval.monitor import compare_files
report = compare_files(sys.argv[1], sys.argv[2])
doc = report.to_dict()
elapsed = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
drifted = [c.name for c in report.columns if c.drifted]
print(json.dumps({"seconds": elapsed, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "found_shift": "num_00" in drifted,
                  "false_calls": [n for n in drifted if n != "num_00"]}))
"""


def _chunk(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for i in range(NUMERIC):
        kind = i % 4
        if kind == 0:
            v = rng.normal(0.0, 1.0, n)
            sd = 1.0
        elif kind == 1:
            v = rng.lognormal(3.0, 0.7, n)
            sd = float(np.sqrt((np.exp(0.49) - 1) * np.exp(6.0 + 0.49)))
        elif kind == 2:
            v = rng.uniform(-5.0, 5.0, n)
            sd = 10.0 / np.sqrt(12.0)
        else:
            v = rng.poisson(6.0, n).astype(np.float64)
            sd = np.sqrt(6.0)
        if i == 0:
            v = v + shift * sd
        cols[f"num_{i:02d}"] = pa.array(v)
    for j in range(CATEGORICAL):
        k = [3, 5, 12, 30, 50][j]
        probs = 1.0 / np.arange(1, k + 1)
        probs /= probs.sum()
        codes = rng.choice(k, size=n, p=probs).astype(np.int32)
        names = pa.array([f"c{j}_{v}" for v in range(k)])
        cols[f"cat_{j}"] = pa.DictionaryArray.from_arrays(pa.array(codes), names).cast(pa.string())
    return pa.table(cols)


def make_data(rows: int) -> tuple[Path, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, seed, shift in (("ref", 1, 0.0), ("cur", 2, SHIFT_SD)):
        path = DATA / f"drift_{rows}_{name}.parquet"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(seed)
        tmp = path.with_suffix(".tmp")
        writer = None
        for start in range(0, rows, CHUNK):
            table = _chunk(rng, min(CHUNK, rows - start), shift)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        tmp.rename(path)
    return paths[0], paths[1]


def _run(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    seconds = [r["seconds"] for r in runs]
    out = dict(runs[-1])
    out["seconds"] = statistics.median(seconds)
    if "cpu_seconds" in runs[0]:
        out["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in runs)
    out["runs_seconds"] = [round(s, 3) for s in seconds]
    if "peak_rss_mb" in runs[0]:
        out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evidently")
    parser.add_argument("--nannyml")
    parser.add_argument("--alibi")
    parser.add_argument("--peer-rows", type=int, default=1_000_000)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    sizes = args.rows or [1_000_000]
    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{__import__('os').cpu_count()} cores",
        "note": args.note,
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL, "shift_sd": SHIFT_SD},
        "liveeval": {},
        "peers": {},
    }
    src = str(HERE.parent / "src")
    for rows in sizes:
        ref, cur = make_data(rows)
        runs = []
        for _ in range(args.repeats):
            runs.append(
                _run(
                    [
                        sys.executable,
                        "-c",
                        f"import sys; sys.path.insert(0, {src!r})\n" + LIVEEVAL,
                        str(ref),
                        str(cur),
                    ]
                )
            )
        results["liveeval"][str(rows)] = _median(runs)
        print(
            f"liveeval {rows:>10,} rows: {json.dumps(results['liveeval'][str(rows)])}", flush=True
        )
    peer_script = str(HERE / "drift_peers.py")
    if any(getattr(args, p) for p in ("alibi", "nannyml", "evidently")):
        ref, cur = make_data(args.peer_rows)
    for peer in ("alibi", "nannyml", "evidently"):
        python = getattr(args, peer)
        if not python:
            continue
        runs = [_run([python, peer_script, peer, str(ref), str(cur)]) for _ in range(args.repeats)]
        results["peers"][peer] = {"rows": args.peer_rows, "date": results["date"], **_median(runs)}
        print(f"{peer} {args.peer_rows:,} rows: {json.dumps(results['peers'][peer])}", flush=True)
    previous = RESULTS / "drift.json"
    if previous.exists():  # peers not run now keep their last figures, with their date
        old = json.loads(previous.read_text())
        for peer, r in old.get("peers", {}).items():
            if peer not in results["peers"]:
                results["peers"][peer] = {**r, "date": r.get("date", old.get("date"))}
    base = results["liveeval"].get(str(args.peer_rows))
    if base:
        for r in results["peers"].values():
            r["liveeval_speedup"] = round(r["seconds"] / base["seconds"], 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "drift.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
