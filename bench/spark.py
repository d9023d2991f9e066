"""The Spark engine against the local path and DuckDB, on the same 10M-row binary log.

Each configuration runs in its own process (a SparkSession's master is fixed when its
JVM starts): it starts (the session's start is timed apart), warms up on a small file
(timed apart too: the first report starts the Python workers and compiles the plans),
then times ``REPEATS`` full reports on the log of ``bench/data.py`` (10,000,000 rows,
binary, a logistic score). Reported: the median seconds, and rows per second per core
(``rows / seconds / cores``; ``local[N]`` uses N cores).

- ``local``: ``liveeval.evaluate(path, …)`` in-process (Arrow read, numpy validation and
  statistics), one core for most of it.
- ``duckdb[N]``: the DuckDB engine's shape of the same statistics — two GROUP BYs over
  the Parquet file (confusion cells; the 2^20-bin score histogram), ``threads = N`` —
  not a report, the aggregation alone (the lower bound of a SQL-only path).
- ``spark local[N]``: ``liveeval.evaluate(path, engine="spark", …)``: both passes and
  the report.

Run with ``.venv/bin/python bench/spark.py [--rows N] [--repeats R]``; the figures of
the last run are in bench/README.md. On a shared machine, quote ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, statistics, sys, time
mode, path, small, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
kw = dict(label="y_true", score="y_score")
times = []
if mode == "local":
    from liveeval.analysis import evaluate
    evaluate(small, **kw)
    for _ in range(repeats):
        t = time.perf_counter()
        doc = evaluate(path, **kw).to_dict()
        times.append(time.perf_counter() - t)
    out = {"auc": doc["metrics"]["roc_auc"]["value"]}
elif mode.startswith("duckdb"):
    import duckdb
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET threads = {int(mode[6:])}")
    src = f"read_parquet('{path}')"
    for _ in range(repeats + 1):
        t = time.perf_counter()
        cells = con.execute(f"SELECT y_true, y_score >= 0.5, count(*) FROM {src} GROUP BY ALL").fetchall()
        hist = con.sql(
            f"SELECT y_true, least(floor(y_score * 1048576), 1048575) AS k, count(*) FROM {src} GROUP BY ALL"
        ).to_arrow_table()
        times.append(time.perf_counter() - t)
    times = times[1:]
    out = {"histogram_rows": hist.num_rows}
else:
    from liveeval.analysis import evaluate
    from liveeval.engines.spark import spark_session
    t = time.perf_counter()
    spark_session(mode, shuffle_partitions=4, config={
        "spark.sql.files.maxPartitionBytes": str(8 * 1024 * 1024),
        "spark.driver.memory": "2g",
    })
    start = time.perf_counter() - t
    t = time.perf_counter()
    evaluate(small, engine="spark", **kw)
    first = time.perf_counter() - t
    for _ in range(repeats):
        t = time.perf_counter()
        doc = evaluate(path, engine="spark", **kw).to_dict()
        times.append(time.perf_counter() - t)
    out = {
        "auc": doc["metrics"]["roc_auc"]["value"],
        "session_start_s": start,
        "first_report_s": first,  # the 20,000-row warm-up: Python workers, JIT, codegen
    }
print(json.dumps({"times": times, **out}))
"""


def _run(mode: str, path: Path, small: Path, repeats: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(small), str(repeats)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="comma-separated configurations, e.g. local,local[2]")
    args = parser.parse_args()
    from data import binary

    path = binary(args.rows)
    small = binary(20_000)
    rows = args.rows
    only = set(args.only.split(",")) if args.only else None
    configurations = [
        ("local", 1),
        ("duckdb1", 1),
        ("duckdb2", 2),
        ("local[1]", 1),
        ("local[2]", 2),
    ]
    results = {}
    for mode, cores in configurations:
        if only is not None and mode not in only:
            continue
        r = _run(mode, path, small, args.repeats)
        seconds = statistics.median(r["times"])  # type: ignore[arg-type]
        results[mode] = {**r, "median_s": seconds, "rows_per_s_per_core": rows / seconds / cores}
        print(
            f"{mode:10s} cores={cores}  median {seconds:8.2f} s  "
            f"{rows / seconds / cores:12,.0f} rows/s/core  {r}",
            flush=True,
        )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "spark.json").write_text(json.dumps(results, indent=2) + "\n")
    if "local" in results:
        for mode, r in results.items():
            print(
                f"{mode}: {results['local']['median_s'] / r['median_s']:.2f}x the local path's speed"
            )


if __name__ == "__main__":
    main()
