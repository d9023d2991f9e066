"""Where a predict request's wall time goes on the PostgreSQL store (issue 12).

Starts a durable PostgreSQL cluster (``tests/pgserver.py``'s binaries and ``initdb``,
fsync on, ``track_wal_io_timing`` on), then, in alternating rounds, the bare FastAPI
reference and ``liveeval serve`` *with timestamps along the write path* (the second
mode of this script, ``--serve``, patches the PostgreSQL writer's functions in the
server process; nothing in ``src`` changes), and drives each with wrk at
``TRACE_CONNECTIONS`` for ``TRACE_DURATION`` after a 3-s warm-up. For every answered
prediction after the warm-up the server records (``time.perf_counter``, medians):

- ``arr>call``: arrival (``liveeval.api.arrival``) → ``GroupWriter.write`` called (the
  event loop's queue and the request's own work: validation, the model, the event);
- ``call>hand``: → handed to the writer threads (at the end of the loop's turn);
- ``hand>start``: → a writer thread took its group;
- ``start>exec0``: → the group's statement built (``store_small`` called);
- ``exec0>exec1``: the statement's round trip in autocommit: execution, COMMIT, WAL flush;
- ``exec1>res``: → the request's coroutine resumed on the event loop;
- ``arr>res``: arrival → resumed (the answer is then encoded and sent).

and each group's size, and how many writer threads were busy when it started.
PostgreSQL's ``pg_stat_wal`` gives the WAL flushes (``wal_sync``) per answered request
and their mean duration (for ``open_*`` methods the flush is inside the write and not
counted).

Configurations (``TRACE_CONFIGS``, JSON list; default below) set server parameters
(``ALTER SYSTEM`` + reload before the round, e.g. ``wal_sync_method``, ``commit_delay``)
or environment variables of the traced server (``TRACE_SWITCH``: the GIL switch
interval; ``TRACE_LINGER``: the roller's fixed pause, seconds). Diagnostics only: a
configuration with ``synchronous_commit = off`` shows what the WAL flush costs, never
a setting for liveeval. ``{"name": "duck"}`` serves a DuckDB store instead (no trace).

Run: ``.venv/bin/python bench/postgres_trace.py`` (needs Debian's ``wrk`` and
PostgreSQL); ``TRACE_ROUNDS`` (default 2), ``TRACE_OUT`` (default
``bench/results/postgres_trace.json``). Busy-machine figures: compare within a round.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIGS = [
    {"name": "reference"},
    {"name": "liveeval", "label": "fdatasync (default)", "pg": {"wal_sync_method": "fdatasync"}},
    {"name": "liveeval", "label": "open_datasync", "pg": {"wal_sync_method": "open_datasync"}},
]


# -- the traced server (``--serve``) ----------------------------------------------------


def serve(argv: list[str]) -> None:
    """``liveeval serve argv`` with the write path's timestamps; a report of the requests
    answered after ``TRACE_WARM`` seconds is rewritten to ``TRACE_FILE`` every second."""
    import liveeval.service.predict as predict
    from liveeval.store.postgres import writer as w

    marks: dict[str, dict[str, float]] = {}
    done: list[dict[str, float]] = []
    local = threading.local()
    busy = [False] * (w.WRITERS + 1)
    write, hand_over, commit_group = (
        w.GroupWriter.write,
        w.GroupWriter._hand_over,
        w.GroupWriter._commit_group,
    )
    store_small, amend = w.store_small, predict._amend

    async def traced_write(self: Any, kind: str, events: list[dict[str, Any]]) -> Any:
        marks[events[0]["id"]] = {"call": time.perf_counter()}
        return await write(self, kind, events)

    def traced_hand_over(self: Any) -> None:
        t = time.perf_counter()
        for _, events, _ in self._pending:
            marks.get(events[0].get("id"), {})["hand"] = t
        hand_over(self)

    def traced_commit_group(self: Any, group: list[Any]) -> None:
        t = time.perf_counter()
        local.group = group
        me = self._threads.index(threading.current_thread())
        for _, events, _ in group:
            m = marks.get(events[0].get("id"), {})
            m.update(start=t, size=len(group), busy=sum(busy))
        busy[me] = True
        try:
            commit_group(self, group)
        finally:
            busy[me] = False

    def traced_store_small(cur: Any, batches: Any, owner: str) -> Any:
        t0 = time.perf_counter()
        out = store_small(cur, batches, owner)
        t1 = time.perf_counter()
        for _, events, _ in local.group:
            marks.get(events[0].get("id"), {}).update(exec0=t0, exec1=t1)
        return out

    def traced_amend(service: Any, events: Any, outcomes: Any, started: float) -> None:
        m = marks.pop(events[0]["id"], None)
        if m is not None:
            m.update(arr=started, res=time.perf_counter())
            done.append(m)
        amend(service, events, outcomes, started)

    w.GroupWriter.write = traced_write  # type: ignore[method-assign]
    w.GroupWriter._hand_over = traced_hand_over  # type: ignore[method-assign]
    w.GroupWriter._commit_group = traced_commit_group  # type: ignore[method-assign]
    w.store_small = traced_store_small
    predict._amend = traced_amend
    if os.environ.get("TRACE_SWITCH"):
        interval = float(os.environ["TRACE_SWITCH"])
        set_interval = sys.setswitchinterval
        sys.setswitchinterval = lambda _: set_interval(interval)
    if os.environ.get("TRACE_LINGER"):
        w.LINGER_SECONDS = w.MAX_LINGER_SECONDS = float(os.environ["TRACE_LINGER"])

    def reporter() -> None:
        started, warm = time.perf_counter(), float(os.environ.get("TRACE_WARM", "4"))
        while True:
            time.sleep(1.0)
            if time.perf_counter() - started < warm:
                done.clear()
                continue
            Path(os.environ["TRACE_FILE"]).write_text(json.dumps(summary(list(done))))

    threading.Thread(target=reporter, daemon=True).start()
    sys.argv = ["liveeval", "serve", *argv]
    from liveeval.cli import main

    main()


def summary(done: list[dict[str, float]]) -> dict[str, float | None]:
    def q(a: str, b: str, p: float = 50) -> float | None:
        v = sorted(m[b] - m[a] for m in done if a in m and b in m)
        return round(1000 * v[int(p / 100 * (len(v) - 1))], 3) if v else None

    steps = ("arr>call", "call>hand", "hand>start", "start>exec0", "exec0>exec1", "exec1>res")
    out: dict[str, float | None] = {s: q(*s.split(">")) for s in (*steps, "arr>res")}
    out["arr>res p90"] = q("arr", "res", 90)
    out["exec0>exec1 p90"] = q("exec0", "exec1", 90)
    if done:
        out["group_mean"] = round(statistics.mean(m.get("size", 0) for m in done), 2)
        out["writers_busy_at_start"] = round(statistics.mean(m.get("busy", 0) for m in done), 2)
    out["n"] = len(done)
    return out


# -- the driver -------------------------------------------------------------------------


def _start_cluster() -> Any:
    from tests.pgserver import PostgresServer, _free_port, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (scripts/ensure-postgresql.sh)")
    root = Path(tempfile.mkdtemp(prefix="liveeval-pgtrace-"))
    os.chmod(root, 0o755)
    pg = PostgresServer(bindir, root, _free_port(), True)
    pg.init()
    options = (
        f"-p {pg.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
        "-c max_connections=200 -c shared_buffers=128MB -c log_min_messages=fatal "
        "-c track_wal_io_timing=on"
    )
    pg._run("pg_ctl", "-D", str(pg.data), "-o", options, "-l", str(root / "log"), "-w", "start")
    return pg


def _configure(pg: Any, settings: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET ALL")
        for name, value in settings.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)


def _wal(pg: Any, reset: bool = False) -> tuple[int, float]:
    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as conn:
        if reset:
            conn.execute("SELECT pg_stat_reset_shared('wal')")
            return 0, 0.0
        row = conn.execute("SELECT wal_sync, wal_sync_time FROM pg_stat_wal").fetchone()
        assert row is not None
        return int(row[0]), float(row[1])


def drive() -> None:
    sys.path.insert(0, str(ROOT / "bench" / "server"))
    sys.path.insert(0, str(ROOT))
    import run as server_bench  # bench/server/run.py: wrk, start, model

    connections = int(os.environ.get("TRACE_CONNECTIONS", "8"))
    duration = os.environ.get("TRACE_DURATION", "8s")
    rounds = int(os.environ.get("TRACE_ROUNDS", "2"))
    configs = json.loads(os.environ.get("TRACE_CONFIGS", json.dumps(DEFAULT_CONFIGS)))
    src = str(ROOT / "src")
    results: list[dict[str, Any]] = []
    pg = _start_cluster()
    os.environ["PGPASSFILE"] = str(pg.passfile)
    tmp = Path(tempfile.mkdtemp(prefix="liveeval-pgtrace-run-"))
    try:
        model = server_bench.model(tmp)
        for r in range(rounds):
            for i, config in enumerate(configs if r % 2 == 0 else configs[::-1]):
                _configure(pg, config.get("pg", {}))
                port = server_bench.free_port()
                env = {**config.get("env", {}), "PYTHONPATH": src}
                trace = tmp / f"trace-{r}-{i}.json"
                if config["name"] == "reference":
                    cmd = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
                    cmd += ["--log-level", "warning", "--no-access-log"]
                    env["BENCH_MODEL"] = str(model)
                    proc = server_bench.start(cmd, env, server_bench.HERE)
                    ready = f"http://127.0.0.1:{port}/docs"
                else:
                    if config["name"] == "duck":
                        store = str(tmp / f"duck-{r}-{i}.duckdb")
                        cmd = [sys.executable, "-m", "liveeval", "serve"]
                    else:
                        store = pg.create_database(f"trace_{r}_{i}")
                        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve"]
                        env.update(TRACE_FILE=str(trace), TRACE_WARM="4")
                    cmd += ["--model", f"fraud={model}", "--store", store, "--port", str(port)]
                    proc = server_bench.start(cmd, env)
                    ready = f"http://127.0.0.1:{port}/healthz"
                try:
                    server_bench.wait(ready, timeout=120)
                    url = f"http://127.0.0.1:{port}/v1/models/fraud/predict"
                    began = time.perf_counter()
                    server_bench.DURATION = "3s"
                    server_bench.wrk(url, "predict.lua", connections)
                    server_bench.DURATION = duration
                    time.sleep(max(0.0, 4.5 - (time.perf_counter() - began)))
                    _wal(pg, reset=True)
                    measured = server_bench.wrk(url, "predict.lua", connections)
                    syncs, sync_ms = _wal(pg)
                    time.sleep(1.5)
                    traced = json.loads(trace.read_text()) if trace.exists() else None
                finally:
                    server_bench.stop(proc)
                answered = measured["rps"] * float(duration.rstrip("s"))
                row = {
                    "round": r,
                    "config": config.get("label", config["name"]),
                    "connections": connections,
                    "rps": measured["rps"],
                    "p50_ms": measured["p50_ms"],
                    "p99_ms": measured["p99_ms"],
                    "wal_flushes_per_request": round(syncs / max(answered, 1), 3),
                    "wal_flush_ms": round(sync_ms / syncs, 3) if syncs else None,
                    "load": round(os.getloadavg()[0], 1),
                    "trace": traced,
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    finally:
        pg.stop("immediate")
        shutil.rmtree(pg.root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    out = Path(os.environ.get("TRACE_OUT", ROOT / "bench" / "results" / "postgres_trace.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2:])
    else:
        drive()
