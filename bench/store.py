"""Store benchmark: loading and aggregating events in the DuckDB engine, no server.

Run ``python bench/store.py [--rows N] [--out FILE]``. Measures, on a fresh store in a
temporary folder each run (median of ``--runs``):

- bulk load (``DuckStore.write_table``): N predictions with 4 numeric features as
  JSON (what ``liveeval serve`` writes), then their N outcomes (the join into
  ``labelled`` happens in the second load), into a new store (``_warm``: into one that
  already holds 20,000 labelled predictions, feature bins fixed); and the same with no
  features;
- the journal path (``DuckEngine.write_table`` of 100,000-row chunks, then a read
  that waits for the loader): acknowledged and loaded rates;
- ``statistics()`` over the N labelled binary events, and over N/5 labelled
  5-class events with probabilities.

``--rollups on|off|both`` (default ``both``): ``off`` loads as the store did before
rollups (no rollup upserts, the features exploded without returning their rows, pairs
joined straight into ``labelled``) by patching the loader in this process — a
reference measured in the same run, never a mode of the library. With ``both`` each
load benchmark runs both ways, alternating, and prints the ratio of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from liveeval.store import Scope  # noqa: E402
from liveeval.store.duck import store as duck_store  # noqa: E402
from liveeval.store.duck.engine import DuckEngine  # noqa: E402
from liveeval.store.duck.store import DuckStore  # noqa: E402


@contextlib.contextmanager
def without_rollups() -> Iterator[None]:
    """The loader as it was before rollups: no rollup maintenance, features exploded
    without ``RETURNING``, completed pairs inserted straight into ``labelled``."""
    maintain, insert, label = duck_store.maintain, duck_store.insert_features, DuckStore._label

    def plain_insert(con: Any, source: str, returning: str | None = None) -> None:
        insert(con, source)

    def plain_label(self: DuckStore, con: Any, tables: dict[str, pa.Table]) -> None:
        new_p, new_o = tables.get("predictions"), tables.get("outcomes")
        head = duck_store.LABELLED_INSERT
        if new_p is not None:
            con.execute(
                f"{head} FROM new_predictions p JOIN outcomes o ON o.prediction_id = p.id"
            ).fetchall()
        if new_o is not None:
            fresh = (
                " WHERE NOT EXISTS (SELECT 1 FROM new_predictions n WHERE n.id = o.prediction_id)"
                if new_p is not None
                else ""
            )
            con.execute(
                f"{head} FROM new_outcomes o JOIN predictions p ON p.id = o.prediction_id{fresh}"
            ).fetchall()

    duck_store.maintain = lambda *a, **k: None  # type: ignore[assignment]
    duck_store.insert_features = plain_insert  # type: ignore[assignment]
    DuckStore._label = plain_label  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        duck_store.maintain = maintain  # type: ignore[assignment]
        duck_store.insert_features = insert  # type: ignore[assignment]
        DuckStore._label = label  # type: ignore[method-assign]


TS = np.datetime64("2026-11-01T00:00:00", "us")


def predictions(n: int, seed: int, *, features: bool, classes: int = 2, prefix: str = "p"):
    rng = np.random.default_rng(seed)
    ids = [f"{prefix}{i}" for i in range(n)]
    y = rng.integers(0, classes, n) if classes > 2 else (rng.random(n) < 0.02).astype(np.int64)
    if classes == 2:
        s = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
        label = np.where(s >= 0.5, "1", "0")
        probas = pa.nulls(n, pa.list_(pa.float64()))
        score = pa.array(s)
    else:
        logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y]
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        label = np.argmax(p, axis=1).astype(str)
        probas = pa.FixedSizeListArray.from_arrays(pa.array(p.reshape(-1)), classes).cast(
            pa.list_(pa.float64())
        )
        score = pa.nulls(n, pa.float64())
    if features:
        x = rng.normal(size=(n, 4)).round(6)
        feats = pa.array(
            [
                f'{{"amount": {a}, "distance_km": {b}, "hour": {c}, "age": {d}}}'
                for a, b, c, d in x.tolist()
            ]
        )
    else:
        feats = pa.nulls(n, pa.string())
    table = pa.table(
        {
            "id": ids,
            "model": ["big"] * n,
            "version": ["v1"] * n,
            "ts": pa.array(np.full(n, TS)),
            "segment": pa.nulls(n, pa.string()),
            "features": feats,
            "label": label,
            "score": score,
            "probas": probas,
            "latency_model_s": pa.nulls(n, pa.float64()),
            "latency_total_s": rng.gamma(2.0, 0.005, n),
            "status": ["ok"] * n,
            "error_type": pa.nulls(n, pa.string()),
        }
    )
    outcomes = pa.table(
        {
            "prediction_id": ids,
            "label": y.astype(str),
            "value": pa.nulls(n, pa.float64()),
            "ts": pa.array(np.full(n, TS + np.timedelta64(1, "D"))),
        }
    )
    return table, outcomes


def bulk(n: int, features: bool, *, warm: bool = False) -> dict[str, float]:
    """One load of ``n`` predictions, then one of their outcomes. ``warm``: into a store
    that already holds 20,000 labelled predictions (feature bins fixed), as every bulk
    load after the first; otherwise a new store (its first load fixes the bins)."""
    p, o = predictions(n, 1, features=features)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckStore(Path(tmp) / "s.duckdb")
        if warm:
            wp, wo = predictions(20_000, 9, features=features, prefix="w")
            store.write_table("predictions", wp)
            store.write_table("outcomes", wo)
        t0 = time.perf_counter()
        store.write_table("predictions", p)
        t1 = time.perf_counter()
        store.write_table("outcomes", o)
        t2 = time.perf_counter()
        store.close()
    return {"predictions_s": t1 - t0, "outcomes_s": t2 - t1, "events_per_s": 2 * n / (t2 - t0)}


def journal(n: int) -> dict[str, float]:
    p, _ = predictions(n, 2, features=True)
    chunk = 100_000

    async def send(engine: DuckEngine) -> None:
        for start in range(0, n, chunk):
            await engine.write_table("predictions", p.slice(start, chunk))

    with tempfile.TemporaryDirectory() as tmp:
        engine = DuckEngine(Path(tmp) / "s.duckdb")
        t0 = time.perf_counter()
        asyncio.run(send(engine))
        t1 = time.perf_counter()
        assert engine.statistics(Scope("big")).predictions == n
        t2 = time.perf_counter()
        engine.close()
    return {"acknowledged_per_s": n / (t1 - t0), "loaded_per_s": n / (t2 - t0)}


def reads(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckStore(Path(tmp) / "s.duckdb")
        for kind, table in zip(
            ("predictions", "outcomes"), predictions(n, 3, features=False), strict=True
        ):
            store.write_table(kind, table)
        m = n // 5
        p, o = predictions(m, 4, features=False, classes=5, prefix="q")
        p = p.set_column(1, "model", pa.array(["multi"] * m))
        store.write_table("predictions", p)
        store.write_table("outcomes", o)
        store.close()
        engine = DuckEngine(Path(tmp) / "s.duckdb")
        out = {}
        for name, scope, classes in (
            ("binary", Scope("big"), None),
            ("multiclass", Scope("multi"), ("0", "1", "2", "3", "4")),
        ):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                stats = engine.statistics(scope, classes=classes)
                assert stats.evaluation is not None
                stats.evaluation.result()
                times.append(time.perf_counter() - t0)
            out[f"statistics_{name}_s"] = statistics.median(times)
        engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--rollups", choices=("on", "off", "both"), default="both")
    args = parser.parse_args()
    n = args.rows
    results: dict[str, dict[str, float]] = {}
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.rollups]
    for name, fn in (
        ("bulk_load_with_features", lambda: bulk(n, True)),
        ("bulk_load_with_features_warm", lambda: bulk(n, True, warm=True)),
        ("bulk_load_without_features", lambda: bulk(n, False)),
        ("journal_load_with_features", lambda: journal(n)),
        ("reads", lambda: reads(n)),
    ):
        if args.only and name not in args.only.split(","):
            continue
        runs: dict[bool, list[dict[str, float]]] = {m: [] for m in modes}
        for _ in range(args.runs):
            for mode in modes if name != "reads" else modes[:1]:
                with contextlib.nullcontext() if mode else without_rollups():
                    runs[mode].append(fn())
        for mode, done in runs.items():
            if not done:
                continue
            key = name if mode else f"{name}_no_rollups"
            results[key] = {k: statistics.median(r[k] for r in done) for k in done[0]}
            print(key, json.dumps({k: round(v, 3) for k, v in results[key].items()}), flush=True)
        if len(modes) == 2 and name != "reads":
            on, off = results[name], results[f"{name}_no_rollups"]
            ratios = {
                k: on[k] / off[k] if k.endswith("_s") else off[k] / on[k] for k in on if off[k]
            }
            results[f"{name}_ratio"] = ratios
            print(
                f"{name} with/without rollups (time ratio)",
                json.dumps({k: round(v, 2) for k, v in ratios.items()}),
                flush=True,
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
