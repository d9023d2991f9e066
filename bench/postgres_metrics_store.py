"""A PostgreSQL store of N labelled predictions for the metrics read, built once and reused.

``bench/postgres.py`` loads its metrics store through the engine (write, then the
roll), at ~4,000 events/s on this machine: 10M predictions and their outcomes would
take 80 minutes. This builds the same content directly: the events are generated as
``bench/postgres.py`` does (same seed, same distributions, 30 days), copied into
``predictions``, ``outcomes`` and ``labelled`` with ``COPY`` (indexes built after), and
the rollups are computed by the engine's own code — ``duck.rollup.maintain`` over each
chunk in the roll's scratch DuckDB, added to PostgreSQL by the roll's ``_ship`` — so the
rollup rows are those the roll would write for the same events.

The cluster lives in ``BENCH_PG_ROOT`` (default ``/tmp/liveeval-pg-metrics``) and is
kept: ``python bench/postgres_metrics_store.py build`` makes it (once), ``start`` /
``stop`` run it, ``url`` prints the store's location, ``compare BEFORE_SRC AFTER_SRC``
times the metrics read through the API of servers running two source trees (e.g.
``/work/main/src`` and this checkout's ``src``), alternating rounds (``BENCH_ROUNDS``,
default 4), each on its own copy of the store. ``BENCH_METRICS_EVENTS``
(default 10,000,000).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgserver import PostgresServer, _free_port, find_bindir  # noqa: E402

PG_ROOT = Path(os.environ.get("BENCH_PG_ROOT", "/tmp/liveeval-pg-metrics"))
EVENTS = int(os.environ.get("BENCH_METRICS_EVENTS", "10000000"))
CHUNK = 500_000


def server() -> PostgresServer:
    bindir = find_bindir()
    assert bindir is not None, "PostgreSQL binaries not found (scripts/ensure-postgresql.sh)"
    port_file = PG_ROOT / "port"
    if port_file.exists():
        port = int(port_file.read_text())
    else:
        PG_ROOT.mkdir(parents=True, exist_ok=True)
        os.chmod(PG_ROOT, 0o755)
        port = _free_port()
    return PostgresServer(bindir, PG_ROOT, port, durable=True)


def build() -> None:
    import psycopg
    import pyarrow as pa

    from liveeval.store import open_store
    from liveeval.store.duck import rollup
    from liveeval.store.postgres import load
    from liveeval.store.postgres.transfer import copy_in
    from liveeval.store.postgres.writer import _STAGING

    pg = server()
    if not (PG_ROOT / "data").exists():
        pg.init()
    (PG_ROOT / "port").write_text(str(pg.port))
    pg.start()
    location = pg.create_database("metrics")
    open_store(location).close()  # the schema, by the engine's migrations
    n = EVENTS
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    scratch = load.Scratch()
    with psycopg.connect(pg.url("metrics")) as conn:
        conn.autocommit = True
        for table in _STAGING:
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}")
        # Indexes are built once at the end (the engine's own definitions, see schema.py).
        conn.execute("ALTER TABLE predictions DROP CONSTRAINT predictions_pkey")
        conn.execute("ALTER TABLE outcomes DROP CONSTRAINT outcomes_pkey")
        conn.execute("ALTER TABLE labelled DROP CONSTRAINT labelled_pkey")
        conn.execute("DROP INDEX predictions_model_ts")
        conn.execute("DROP INDEX labelled_model_ts")
        conn.autocommit = False
        pair_schema = load._pairs_schema(scratch)
        con = scratch.con
        con.execute("BEGIN TRANSACTION").fetchall()
        for start_row in range(0, n, CHUNK):
            size = min(CHUNK, n - start_row)
            y = rng.random(size) < 0.02
            s = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
            ids = [f"m{start_row + i}" for i in range(size)]
            ts = np.datetime64("2026-10-01T00:00:00", "us") + (
                rng.integers(0, 30 * 86400, size) * 1_000_000
            ).astype("timedelta64[us]")
            latency = rng.gamma(2.0, 0.005, size)
            predicted = np.where(s >= 0.5, "1", "0")
            actual = np.where(y, "1", "0")
            outcome_ts = np.full(size, np.datetime64("2026-11-02T00:00:00", "us"))
            predictions = load._layout(
                "predictions",
                pa.table(
                    {
                        "id": ids,
                        "model": ["big"] * size,
                        "version": ["v1"] * size,
                        "ts": pa.array(ts),
                        "label": predicted,
                        "score": s,
                        "latency_total_s": latency,
                        "status": ["ok"] * size,
                    }
                ),
            )
            outcomes = load._layout(
                "outcomes",
                pa.table({"prediction_id": ids, "label": actual, "ts": pa.array(outcome_ts)}),
            )
            pairs = pa.table(
                {
                    "prediction_id": ids,
                    "model": ["big"] * size,
                    "version": ["v1"] * size,
                    "ts": pa.array(ts),
                    "segment": pa.nulls(size, pa.string()),
                    "status": ["ok"] * size,
                    "predicted": predicted,
                    "score": s,
                    "label": actual,
                    "value": pa.nulls(size, pa.float64()),
                    "probas": pa.nulls(size, pa.list_(pa.float64())),
                    "outcome_ts": pa.array(outcome_ts),
                },
                schema=pair_schema,
            )
            with conn.cursor() as cur:
                t0 = time.perf_counter()
                copy_in(cur, "predictions", predictions)
                copy_in(cur, "outcomes", outcomes)
                copy_in(cur, "labelled", pairs)
                load._count(cur, {"predictions": size, "outcomes": size, "labelled": size})
            conn.commit()
            t1 = time.perf_counter()
            # The rollups accumulate in the scratch DuckDB (the DuckDB engine's upserts)
            # and go to PostgreSQL once, at the end.
            con.register("new_predictions", predictions)
            con.register("new_pairs", pairs)
            rollup.maintain(con, "new_predictions", "new_pairs", None, None)
            con.unregister("new_predictions")
            con.unregister("new_pairs")
            print(
                f"loaded {start_row + size:,} ({time.perf_counter() - started:.0f} s; copy "
                f"{t1 - t0:.1f} s, rollups {time.perf_counter() - t1:.1f} s)",
                flush=True,
            )
        with conn.cursor() as cur:
            load._ship(cur, scratch, None)
        conn.commit()
        con.execute("ROLLBACK").fetchall()
        conn.autocommit = True
        conn.execute("ALTER TABLE predictions ADD PRIMARY KEY (id)")
        conn.execute("ALTER TABLE outcomes ADD PRIMARY KEY (prediction_id)")
        conn.execute("ALTER TABLE labelled ADD PRIMARY KEY (prediction_id)")
        conn.execute("CREATE INDEX predictions_model_ts ON predictions (model, ts)")
        conn.execute("CREATE INDEX labelled_model_ts ON labelled (model, ts)")
        conn.execute("VACUUM ANALYZE")
    scratch.close()
    print(f"built {n:,} in {time.perf_counter() - started:.0f} s: {location}", flush=True)


def reads(location: str, src: str, count: int = 6) -> list[float]:
    """Seconds of ``count`` metrics reads of model ``big`` through the API of a new
    ``liveeval serve`` on ``location`` running the sources in ``src`` (the first read
    is a new server's)."""
    import json
    import urllib.request

    sys.path.insert(0, str(ROOT / "bench" / "server"))
    import run as server_bench  # bench/server/run.py

    port = server_bench.free_port()
    proc = server_bench.start(
        [sys.executable, "-m", "liveeval", "serve", "--store", location, "--port", str(port)],
        {"PYTHONPATH": src},
    )
    times = []
    try:
        server_bench.wait(f"http://127.0.0.1:{port}/healthz", timeout=600)
        for _ in range(count):
            started = time.perf_counter()
            body = json.loads(
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v1/models/big/metrics", timeout=600
                ).read()
            )
            times.append(time.perf_counter() - started)
        assert body["labelled"] == EVENTS, body["labelled"]
    finally:
        server_bench.stop(proc)
    return times


def compare(before_src: str, after_src: str, rounds: int) -> None:
    """Metrics reads by two source trees in alternating rounds, each on its own copy of
    the store (the later schema cannot be read by the earlier code)."""
    import psycopg

    pg = server()
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'metrics_after'").fetchone():
            conn.execute('CREATE DATABASE "metrics_after" TEMPLATE "metrics"')
    stores = {
        "before": (before_src, pg.url("metrics")),
        "after": (after_src, pg.url("metrics_after")),
    }
    runs: dict[str, list[float]] = {"before": [], "after": []}
    for r in range(rounds):
        for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
            src, location = stores[name]
            times = reads(location, src)
            runs[name].extend(times[1:])
            print(
                f"round {r} {name}: first {times[0]:.2f} s, then "
                + ", ".join(f"{t:.2f}" for t in times[1:]),
                flush=True,
            )
    for name, times in runs.items():
        print(
            f"{name}: median {np.median(times):.3f} s over {len(times)} warm reads "
            f"(min {min(times):.3f}, max {max(times):.3f})"
        )


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "url"
    if what == "build":
        build()
    if what == "compare":
        compare(sys.argv[2], sys.argv[3], int(os.environ.get("BENCH_ROUNDS", "4")))
        return
    pg = server()
    if what == "start":
        pg.start()
    elif what == "stop":
        pg.stop()
    print(pg.url("metrics"))


if __name__ == "__main__":
    main()
