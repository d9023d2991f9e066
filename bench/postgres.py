"""The PostgreSQL store under load (busy-machine figures need the same-run reference).

- predict with full logging at 8 and 64 connections: ``liveeval serve --store
  postgresql://…`` against the bare FastAPI reference (``bench/server/bare_app.py``),
  alternating rounds, ratio within each round;
- batched ingestion: a table of predictions sent as Arrow by the Python client,
  events per second acknowledged (committed);
- the metrics read over N stored labelled predictions (rollups), through the API.

A real PostgreSQL server is started for the run (Debian's binaries, fsync on) with
``tests/pgserver.py``. Environment: ``BENCH_DURATION`` (wrk ``-d``, default 10s),
``BENCH_ROUNDS`` (default 3), ``BENCH_INGEST_ROWS`` (default 1,000,000),
``BENCH_METRICS_EVENTS`` (labelled predictions for the metrics read, default
10,000,000), ``BENCH_OUT`` (default ``bench/results/postgres.json``),
``BENCH_BEFORE_SRC`` (predict and ingest: a liveeval from these sources, e.g. the main
checkout's ``src``, measured in every round too, on its own database: a same-run
before/after), ``BENCH_UNBATCHED`` (predict: ``1`` also measures liveeval with
``batch = false`` in every round, each request through the model alone as the
reference does: what full logging costs by itself).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench" / "server"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.pgserver import postgres_server  # noqa: E402

import run as server_bench  # noqa: E402  (bench/server/run.py: wrk, start, model)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
INGEST_ROWS = int(os.environ.get("BENCH_INGEST_ROWS", "1000000"))
METRICS_EVENTS = int(os.environ.get("BENCH_METRICS_EVENTS", "10000000"))
# Another source tree (e.g. the main checkout's src) measured in the same rounds as
# "before": a same-run before/after of a change to the server.
BEFORE_SRC = os.environ.get("BENCH_BEFORE_SRC", "")
# Also liveeval with each request predicted alone (its model declared batch = false).
UNBATCHED = os.environ.get("BENCH_UNBATCHED", "") == "1"


def timed_metrics_reads(port: int, count: int, labelled: int) -> list[float]:
    """Seconds of ``count`` reads of model ``big``'s metrics from the server on ``port``,
    checking that each answer counts ``labelled`` labelled predictions."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        url = f"http://127.0.0.1:{port}/v1/models/big/metrics"
        body = json.loads(urllib.request.urlopen(url, timeout=600).read())
        times.append(time.perf_counter() - started)
        assert body["labelled"] == labelled, body["labelled"]
    return times


def _unbatched_config(model_path: Path) -> Path:
    """A liveeval.toml serving the model as ``fraud`` with ``batch = false``."""
    config = model_path.parent / "unbatched.toml"
    config.write_text(
        f'[[models]]\nname = "fraud"\npath = "{model_path}"\nbatch = false\n', encoding="utf-8"
    )
    return config


def predict(
    location: str, model_path: Path, before: str = "", unbatched: str = ""
) -> dict[str, object]:
    rounds: list[dict[str, dict[int, dict[str, float]]]] = []
    for r in range(ROUNDS):
        order = ["reference", "liveeval"] if r % 2 == 0 else ["liveeval", "reference"]
        if BEFORE_SRC:
            order.insert(1, "before")
        if unbatched:
            order.insert(1, "unbatched")
        measured: dict[str, dict[int, dict[str, float]]] = {}
        for name in order:
            port = server_bench.free_port()
            if name == "reference":
                cmd = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
                cmd += ["--log-level", "warning", "--no-access-log"]
                proc = server_bench.start(cmd, {"BENCH_MODEL": str(model_path)}, server_bench.HERE)
                ready = f"http://127.0.0.1:{port}/docs"
            elif name == "unbatched":
                cmd = [sys.executable, "-m", "liveeval", "serve"]
                cmd += ["--config", str(_unbatched_config(model_path)), "--store", unbatched]
                cmd += ["--port", str(port)]
                proc = server_bench.start(cmd)
                ready = f"http://127.0.0.1:{port}/healthz"
            else:
                cmd = [sys.executable, "-m", "liveeval", "serve", "--model"]
                store = before if name == "before" else location
                cmd += [f"fraud={model_path}", "--store", store, "--port", str(port)]
                src = {"PYTHONPATH": BEFORE_SRC} if name == "before" else None
                proc = server_bench.start(cmd, src)
                ready = f"http://127.0.0.1:{port}/healthz"
            try:
                server_bench.wait(ready, timeout=120)
                url = f"http://127.0.0.1:{port}/v1/models/fraud/predict"
                server_bench.wrk(url, "predict.lua", 8)  # warm-up
                measured[name] = {
                    c: server_bench.wrk(url, "predict.lua", c) for c in server_bench.CONNECTIONS
                }
            finally:
                server_bench.stop(proc)
        rounds.append(measured)
        print(json.dumps(measured), flush=True)
    ratios: dict[str, dict[int, dict[str, object]]] = {}
    names = ["liveeval"] + (["before"] if BEFORE_SRC else []) + (["unbatched"] if unbatched else [])
    for name in names:
        ratios[name] = {}
        for c in server_bench.CONNECTIONS:
            values = [m[name][c]["rps"] / m["reference"][c]["rps"] for m in rounds]
            ratios[name][c] = {
                "median": float(np.median(values)),
                "min": min(values),
                "max": max(values),
                "rounds": [round(v, 3) for v in values],
            }
    return {
        "ratio": ratios["liveeval"],
        "before_ratio": ratios.get("before"),
        "unbatched_ratio": ratios.get("unbatched"),
        "rounds": rounds,
    }


def _rolled(location: str, timeout: float = 600.0) -> None:
    """Wait until the store at ``location`` has rolled every queued load, so that one
    server's roll does not run during the next measurement."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(location, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM rollup_queue").fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.2)


# One upload, in its own process so that "before" uses the client of its own sources
# too: the table is built first (not timed), then sent by ``log_prediction_table``.
_UPLOAD = """
import json, sys, time
import numpy as np, pyarrow as pa
from liveeval.client import Client
url, run, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7 + run)
table = pa.table(
    {
        "id": [f"i{run}-{i}" for i in range(n)],
        "model": ["batch"] * n,
        "version": ["v1"] * n,
        "ts": pa.array(np.full(n, np.datetime64("2026-11-01T00:00:00", "us"))),
        "label": (rng.random(n) < 0.1).astype(np.int64),
        "score": rng.random(n),
    }
)
with Client(url, timeout=600) as client:
    started = time.perf_counter()
    totals = client.log_prediction_table(table)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "stored": totals["stored"]}))
"""


def _upload(url: str, run: int, n: int, src: str) -> float:
    """Seconds the client from ``src`` takes to send ``n`` predictions to ``url``."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-c", _UPLOAD, url, str(run), str(n)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["stored"] == n, result
    return float(result["seconds"])


def ingest(location: str, before: str = "") -> dict[str, object]:
    """Batched ingestion: ``INGEST_ROWS`` predictions sent as Arrow by the Python client,
    three runs per server (events per second committed, and until the last is rolled
    into the statistics); with ``BENCH_BEFORE_SRC``, the other sources' server and
    client on its own database in alternating runs. Each run starts once the previous
    run's loads are rolled (the roll is not timed, and does not overlap the next
    run). Each upload runs in its own process (the table built before the clock
    starts)."""
    servers = {"liveeval": (location, None)}
    if BEFORE_SRC:
        servers["before"] = (before, {"PYTHONPATH": BEFORE_SRC})
    procs, urls = {}, {}
    try:
        for name, (store, env) in servers.items():
            port = server_bench.free_port()
            procs[name] = server_bench.start(
                [sys.executable, "-m", "liveeval", "serve", "--store", store, "--port", str(port)],
                env,
            )
            urls[name] = f"http://127.0.0.1:{port}"
            server_bench.wait(f"{urls[name]}/healthz", timeout=120)
        n = INGEST_ROWS
        rates: dict[str, list[float]] = {name: [] for name in servers}
        # Events per second until the last one is in the statistics (written and rolled).
        rolled: dict[str, list[float]] = {name: [] for name in servers}
        for run in range(3):
            order = list(servers) if run % 2 == 0 else list(servers)[::-1]
            for name in order:
                src = BEFORE_SRC if name == "before" else str(ROOT / "src")
                seconds = _upload(urls[name], run, n, src)
                rates[name].append(n / seconds)
                started = time.perf_counter()
                _rolled(servers[name][0])
                rolled[name].append(n / (seconds + time.perf_counter() - started))
                print(
                    f"ingest run {run} {name}: {rates[name][-1]:,.0f} events/s committed, "
                    f"{rolled[name][-1]:,.0f} events/s rolled",
                    flush=True,
                )
    finally:
        for proc in procs.values():
            server_bench.stop(proc)
    out: dict[str, object] = {
        "rows": n,
        "median_events_per_s_committed": float(np.median(rates["liveeval"])),
        "runs": [round(r) for r in rates["liveeval"]],
        "median_events_per_s_rolled": float(np.median(rolled["liveeval"])),
        "rolled_runs": [round(r) for r in rolled["liveeval"]],
    }
    if BEFORE_SRC:
        out["before_median_events_per_s_committed"] = float(np.median(rates["before"]))
        out["before_runs"] = [round(r) for r in rates["before"]]
        out["before_median_events_per_s_rolled"] = float(np.median(rolled["before"]))
        out["before_rolled_runs"] = [round(r) for r in rolled["before"]]
    return out


def metrics(location: str) -> dict[str, object]:
    import pyarrow as pa

    from liveeval.store import open_store

    n = METRICS_EVENTS
    engine = open_store(location)
    rng = np.random.default_rng(1)
    chunk = 500_000
    loaded = time.perf_counter()
    for start_row in range(0, n, chunk):
        size = min(chunk, n - start_row)
        y = rng.random(size) < 0.02
        s = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
        ids = [f"m{start_row + i}" for i in range(size)]
        # Spread over 30 days of 15-minute buckets, as a month of traffic.
        ts = np.datetime64("2026-10-01T00:00:00", "us") + (
            rng.integers(0, 30 * 86400, size) * 1_000_000
        ).astype("timedelta64[us]")
        engine._writer.commit_table(  # type: ignore[attr-defined]
            "predictions",
            pa.table(
                {
                    "id": ids,
                    "model": ["big"] * size,
                    "version": ["v1"] * size,
                    "ts": pa.array(ts),
                    "label": np.where(s >= 0.5, "1", "0"),
                    "score": s,
                    "latency_total_s": rng.gamma(2.0, 0.005, size),
                    "status": ["ok"] * size,
                }
            ),
        )
        engine._writer.commit_table(  # type: ignore[attr-defined]
            "outcomes",
            pa.table(
                {
                    "prediction_id": ids,
                    "label": np.where(y, "1", "0"),
                    "ts": pa.array(np.full(size, np.datetime64("2026-11-02T00:00:00", "us"))),
                }
            ),
        )
        print(f"loaded {start_row + size:,}", flush=True)
    engine._writer.settle(timeout=3600)  # type: ignore[attr-defined]
    load_seconds = time.perf_counter() - loaded
    engine.close()
    port = server_bench.free_port()
    proc = server_bench.start(
        [sys.executable, "-m", "liveeval", "serve", "--store", location, "--port", str(port)]
    )
    try:
        server_bench.wait(f"http://127.0.0.1:{port}/healthz", timeout=120)
        times = timed_metrics_reads(port, 5, n)
    finally:
        server_bench.stop(proc)
    return {
        "events": n,
        "load_seconds": load_seconds,
        "load_events_per_s": 2 * n / load_seconds,
        "median_seconds": float(np.median(times)),
        "runs_seconds": [round(t, 3) for t in times],
    }


def main() -> None:
    parts = set(os.environ.get("BENCH_PARTS", "predict,ingest,metrics").split(","))
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, postgres_server(durable=True) as pg:
        model_path = server_bench.model(Path(tmp))
        os.environ["PGPASSFILE"] = str(pg.passfile)
        if "predict" in parts:
            # "before" has its own database: the sources may differ in schema version.
            before = pg.create_database("predict_before") if BEFORE_SRC else ""
            unbatched = pg.create_database("predict_unbatched") if UNBATCHED else ""
            results["predict"] = predict(
                pg.create_database("predict"), model_path, before, unbatched
            )
        if "ingest" in parts:
            before = pg.create_database("ingest_before") if BEFORE_SRC else ""
            results["ingest"] = ingest(pg.create_database("ingest"), before)
        if "metrics" in parts:
            results["metrics"] = metrics(pg.create_database("metrics"))
    out = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "results" / "postgres.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
