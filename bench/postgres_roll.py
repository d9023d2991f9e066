"""The PostgreSQL roll's cost per prediction under a steady stream of small writes.

``BENCH_WRITERS`` asyncio tasks (default 32) each write one prediction (two features)
through the engine's group commit and amend its latency, as the predict route does,
for ``BENCH_SECONDS`` (default 10) per run; the roll (``load.roll``) is timed. Runs
alternate the roller's spacing (``writer.ROLL_SPACING``: 4, this version's, and 0,
a roll every 0.25 s as before), each on a new database of one real PostgreSQL server
(``tests/pgserver.py``, fsync on). Prints writes per second, rolls, seconds spent
rolling per prediction and the share of the run the roller was busy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.pgserver import postgres_server  # noqa: E402

WRITERS = int(os.environ.get("BENCH_WRITERS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "4"))


def main() -> None:
    from liveeval.store import open_store
    from liveeval.store.postgres import writer

    spent = {"rolls": 0, "seconds": 0.0}
    roll = writer.roll

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = roll(*args, **kwargs)
        if out[0]:
            spent["rolls"] += 1
            spent["seconds"] += time.perf_counter() - started
        return out

    writer.roll = timed  # type: ignore[assignment]

    async def stream(engine: Any) -> int:
        written = 0
        stop = time.perf_counter() + SECONDS

        async def one(w: int) -> None:
            nonlocal written
            i = 0
            while time.perf_counter() < stop:
                ts = dt.datetime(2026, 11, 1) + dt.timedelta(seconds=written)
                key = f"w{w}-{i}"
                i += 1
                event = {
                    "id": key,
                    "model": "m",
                    "version": "v1",
                    "ts": ts,
                    "label": "1",
                    "score": 0.7,
                    "status": "ok",
                    "latency_total_s": 0.01,
                    "features": json.dumps({"a": 1.0, "b": "x"}),
                }
                await engine.write("predictions", [event])
                engine.amend_latency([(key, ts, 0.02)])
                written += 1

        await asyncio.gather(*[one(w) for w in range(WRITERS)])
        return written

    with postgres_server(durable=True) as pg:
        os.environ["PGPASSFILE"] = str(pg.passfile)
        for run in range(RUNS):
            spacing = 4.0 if run % 2 == 0 else 0.0
            writer.ROLL_SPACING = spacing
            spent.update(rolls=0, seconds=0.0)
            engine = open_store(pg.create_database(f"roll{run}"))
            started = time.perf_counter()
            written = asyncio.run(stream(engine))
            elapsed = time.perf_counter() - started
            rolls, seconds = spent["rolls"], spent["seconds"]
            engine.close()
            print(
                f"spacing {spacing:g}: {written / elapsed:,.0f} writes/s, {rolls} rolls, "
                f"{seconds / max(written, 1) * 1000:.2f} ms rolling per prediction, "
                f"roller busy {seconds / elapsed:.0%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
