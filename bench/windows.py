"""Windowed reads from the rollups: a live monitor's read of a big store, no server.

Run ``python bench/windows.py [--rows N] [--runs R] [--out FILE]``. The store (one
binary model, ``--features`` numeric features, predictions spread evenly over 30 days,
80% of them labelled 1 minute to 3 days later) is generated once into ``bench/data/``
through the store's own bulk load (``DuckStore.write_table`` in 1M-row batches, the
rollups maintained by every load) and reused; its load rate is recorded when it is
built.

Timed (median of ``--runs``, warm process, store opened once): the read a monitor
makes of 30 days in hourly windows — ``grouped_statistics(every=1h)`` (counts,
confusion matrices, loss sums, latency, score distributions per window),
``score_histograms(every=1h)``, ``feature_windows(every=1h)`` for every feature
(720 windows × 20 histograms) and its columnar form ``feature_window_arrays`` — each
and together, plus ``label_delays``; and the **full reads through the service**, what
``GET /v1/models/fraud/windows?size=1h`` and ``GET /v1/models/fraud/drift?window=1h``
(reference: the first 7 days) answer before JSON encoding: ``windows_of`` and
``drift_of`` over the same 30 days.

``--store FILE`` reads an existing store instead of building one; ``--src DIR`` takes
liveeval from another source tree (an earlier commit, for a before/after in the same
run); ``--encode`` also times the JSON encoding of the two service answers, FastAPI's
way for a route returning a dict and with pydantic-core (what the routes now do).
``service_windows_cached_s`` is the windows read again with the results of its last
read kept (``WindowResults``, what the server does): nothing changed between reads, so
it is the best case; each window that gained labels since is computed again. Every
timing also has its median CPU time (``…_cpu_s``). ``--cold`` forgets the drift read's
kept latest-window measurements, and its kept grid cells of the latest window, before
each run (what a read costs while the latest window still takes predictions);
``--first`` forgets everything the drift read keeps, the reference's bootstrap
replicates included (a server's first read).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
_SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv else str(ROOT / "src")
sys.path.insert(0, _SRC)

from liveeval.service.drift import drift_of  # noqa: E402
from liveeval.service.monitoring import windows_of  # noqa: E402
from liveeval.store import Scope  # noqa: E402
from liveeval.store.duck.engine import DuckEngine  # noqa: E402
from liveeval.store.duck.store import DuckStore  # noqa: E402

START = dt.datetime(2026, 10, 1)
DAYS = 30
CHUNK = 1_000_000
MODEL = "fraud"


def chunk(start: int, n: int, total: int, features: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(start)
    span_us = DAYS * 86_400 * 1_000_000
    index = np.arange(start, start + n, dtype=np.int64)
    ts = np.datetime64(START, "us") + (index * (span_us // total)).astype("timedelta64[us]")
    y = (rng.random(n) < 0.02).astype(np.int64)
    score = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
    # Features drift slowly over the month: mean moves by 0.3 sd.
    drift = (0.3 * index / total)[:, None]
    x = (rng.normal(size=(n, features)) + drift).round(5)
    names = [f"f{i:02d}" for i in range(features)]
    texts = [
        "{" + ", ".join(f'"{k}": {v}' for k, v in zip(names, row, strict=True)) + "}"
        for row in x.tolist()
    ]
    ids = [f"p{i}" for i in range(start, start + n)]
    predictions = pa.table(
        {
            "id": ids,
            "model": pa.array([MODEL] * n),
            "version": pa.array(["v1"] * n),
            "ts": pa.array(ts),
            "segment": pa.nulls(n, pa.string()),
            "features": pa.array(texts),
            "label": np.where(score >= 0.5, "1", "0"),
            "score": score,
            "probas": pa.nulls(n, pa.list_(pa.float64())),
            "latency_model_s": pa.nulls(n, pa.float64()),
            "latency_total_s": rng.gamma(2.0, 0.005, n),
            "status": pa.array(["ok"] * n),
            "error_type": pa.nulls(n, pa.string()),
        }
    )
    labelled = rng.random(n) < 0.8
    delay = rng.uniform(60, 3 * 86_400, n).astype(np.int64) * 1_000_000
    outcomes = pa.table(
        {
            "prediction_id": pa.array(ids).filter(pa.array(labelled)),
            "label": pa.array(y.astype(str)[labelled]),
            "value": pa.nulls(int(labelled.sum()), pa.float64()),
            "ts": pa.array((ts + delay.astype("timedelta64[us]"))[labelled]),
        }
    )
    return predictions, outcomes


def build(path: Path, n: int, features: int) -> dict[str, float]:
    path.parent.mkdir(parents=True, exist_ok=True)
    store = DuckStore(path)
    loaded = {"predictions": 0.0, "outcomes": 0.0, "generate": 0.0}
    try:
        for at in range(0, n, CHUNK):
            t0 = time.perf_counter()
            p, o = chunk(at, min(CHUNK, n - at), n, features)
            t1 = time.perf_counter()
            store.write_table("predictions", p)
            t2 = time.perf_counter()
            store.write_table("outcomes", o)
            t3 = time.perf_counter()
            loaded["generate"] += t1 - t0
            loaded["predictions"] += t2 - t1
            loaded["outcomes"] += t3 - t2
            print(f"  loaded {at + len(p):,} predictions ({t2 - t1:.1f} s, +{t3 - t2:.1f} s)")
    finally:
        store.close()
    return {
        "rows": n,
        "features": features,
        "predictions_load_s": loaded["predictions"],
        "outcomes_load_s": loaded["outcomes"],
        "predictions_per_s": n / loaded["predictions"],
        "store_bytes": path.stat().st_size,
    }


def reads(
    path: Path,
    runs: int,
    features: int,
    dump: Path | None = None,
    only: str | None = None,
    encode: bool = False,
    cold: bool = False,
    first: bool = False,
) -> dict[str, float]:
    engine = DuckEngine(path)
    scope = Scope(MODEL, since=START, until=START + dt.timedelta(days=DAYS))
    hour = dt.timedelta(hours=1)
    names = [f"f{i:02d}" for i in range(features)]
    parts = {
        "grouped_statistics_s": lambda: engine.grouped_statistics(scope, every=hour),
        "score_histograms_s": lambda: engine.score_histograms(scope, hour),
        "feature_windows_s": lambda: engine.feature_windows(scope, hour, names),
        "label_delays_s": lambda: engine.label_delays(scope),
        "service_windows_s": lambda: windows_of(
            engine, MODEL, "1h", since=scope.since, until=scope.until, pos_label=1
        ),
        "service_drift_s": lambda: drift_of(
            engine,
            MODEL,
            reference=f"{START.isoformat()}/{(START + dt.timedelta(days=7)).isoformat()}",
            window="1h",
            since=scope.since,
            until=scope.until,
            pos_label=1,
        ),
    }
    if encode:
        # JSON encoding of the two answers as the routes do it: FastAPI's path for a
        # route returning a dict (validation against dict[str, Any], then json.dumps in
        # JSONResponse) and the routes' pydantic-core encoding (api.monitoring._json).
        import asyncio
        from typing import Any

        import pydantic_core
        from fastapi.responses import JSONResponse
        from fastapi.routing import serialize_response
        from fastapi.utils import create_model_field

        field = create_model_field(name="Response_x", type_=dict[str, Any], mode="serialization")
        # The answers are read when their encoding is first timed, after the reads'
        # timings, so that --encode does not change what the reads measure (with both
        # answers held during the reads, the windows read measured 2.5-2.8 s against
        # 0.6-0.9 s without --encode in one session; cause not established).
        bodies: dict[str, Any] = {}

        def body(n: str) -> Any:
            if n not in bodies:
                bodies[n] = parts[f"service_{n}_s"]()
            return bodies[n]

        def fastapi_path(body: dict[str, Any]) -> bytes:
            content = asyncio.run(
                serialize_response(field=field, response_content=body, is_coroutine=True)
            )
            return bytes(JSONResponse(content).body)

        for n in ("windows", "drift"):
            parts[f"service_{n}_encode_fastapi_s"] = lambda n=n: fastapi_path(body(n))
            parts[f"service_{n}_encode_pydantic_core_s"] = lambda n=n: pydantic_core.to_json(
                body(n)
            )
    try:  # sources before the windows' results were kept between reads have none
        from liveeval.monitor import WindowResults

        kept = WindowResults()
        parts["service_windows_cached_s"] = lambda: windows_of(
            engine, MODEL, "1h", since=scope.since, until=scope.until, pos_label=1, cache=kept
        )
    except ImportError:
        pass
    if hasattr(engine, "feature_window_arrays"):
        parts["feature_window_arrays_s"] = lambda: engine.feature_window_arrays(scope, hour, names)
    out: dict[str, float] = {}
    try:
        windows = parts["grouped_statistics_s"]()
        assert len(windows) == DAYS * 24, len(windows)
        assert len(parts["feature_windows_s"]()) == DAYS * 24
        if dump is not None:
            # The answers themselves, to compare two source trees' (e.g. with cmp).
            dump.mkdir(parents=True, exist_ok=True)
            for name in ("service_windows_s", "service_drift_s"):
                text = json.dumps(parts[name](), sort_keys=True, default=str)
                (dump / f"{name[: -len('_s')]}.json").write_text(text)
        for name, fn in parts.items():
            if only is not None and not name.startswith(only):
                continue
            times, cpu = [], []
            if "_encode_" in name or "_cached_" in name:
                fn()  # reads the answer once, untimed (the cached read: its first read)
            for _ in range(runs):
                if cold or first:
                    import liveeval.service.drift as service_drift

                    getattr(service_drift, "_MEASURED", {}).clear()
                    try:  # sources before the grid cells were kept keep none
                        from liveeval.service import _drift_kept

                        if first:
                            import liveeval.metrics.drift as metrics_drift

                            _drift_kept.forget_grids()
                            metrics_drift._REFERENCE_REPLICATES.clear()
                        else:
                            _drift_kept.forget_latest()
                    except ImportError:
                        pass
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            out[name] = statistics.median(times)
            # CPU time of this process (DuckDB's threads included): on a busy machine
            # it moves far less than the wall clock.
            out[name[: -len("_s")] + "_cpu_s"] = statistics.median(cpu)
        together = []
        for _ in range(runs if only is None else 0):
            t0 = time.perf_counter()
            for name in ("grouped_statistics_s", "score_histograms_s", "feature_windows_s"):
                parts[name]()
            together.append(time.perf_counter() - t0)
        if together:
            out["monitor_read_s"] = statistics.median(together)
        both = []
        for _ in range(runs if only is None else 0):
            t0 = time.perf_counter()
            parts["service_windows_s"]()
            parts["service_drift_s"]()
            both.append(time.perf_counter() - t0)
        if both:
            out["service_windows_and_drift_s"] = statistics.median(both)
        out["windows"] = float(len(windows))
    finally:
        engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--store", type=Path, help="an existing store to read")
    parser.add_argument("--src", help="liveeval's source tree (default: this one)")
    parser.add_argument("--dump", type=Path, help="write the service answers as JSON here")
    parser.add_argument("--only", help="time only the reads whose name starts so (e.g. service)")
    parser.add_argument(
        "--encode", action="store_true", help="also time the JSON encoding of the service answers"
    )
    parser.add_argument(
        "--cold", action="store_true", help="drift: forget kept measurements before each run"
    )
    parser.add_argument(
        "--first",
        action="store_true",
        help="drift: forget everything kept before each run (a process's first read)",
    )
    args = parser.parse_args()
    path = args.store or ROOT / "bench" / "data" / f"windows-{args.rows}-{args.features}.duckdb"
    results: dict[str, dict[str, float]] = {}
    if not path.exists():
        print(f"building {path} (once)", flush=True)
        results["build"] = build(path, args.rows, args.features)
        print("build", json.dumps({k: round(v, 3) for k, v in results["build"].items()}))
    results["reads"] = reads(
        path, args.runs, args.features, args.dump, args.only, args.encode, args.cold, args.first
    )
    print("reads", json.dumps({k: round(v, 4) for k, v in results["reads"].items()}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
