"""Does the alert loop slow predict? `liveeval serve` with the loop off and on, same run.

    python bench/alerts_predict.py [--rounds 3] [--interval 1]

The model of bench/server (LogisticRegression, 4 features) served by `liveeval serve`
over a store that already holds 30 days of its hourly predictions with outcomes
(30 an hour), with the ten rules of bench/alerts_cycle.py. *Off*: `[alerts] evaluate
= false`; *on*: the loop evaluates every `--interval` seconds (1 s: sixty times the
default rate, the worst case). Each round copies the prefilled store, starts the
server, waits for its first cycle, and runs wrk (8 connections, `BENCH_DURATION`,
default 10 s) on predict; off and on alternate. Prints the medians and the per-round
ratio on / off; writes bench/results/alerts_predict.json. Busy machine: quote ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "server"))  # its run.py, before bench/run.py

from alerts_cycle import rules_for  # noqa: E402
from liveeval.config import LoggedModel, ServerConfig  # noqa: E402
from liveeval.service import Service  # noqa: E402
from liveeval.store import encode_label  # noqa: E402
from run import free_port, model, start, stop, wait, wrk  # noqa: E402


def prefill(path: Path, per_hour: int = 30) -> None:
    service = Service(ServerConfig(store=str(path), logged=[LoggedModel("fraud", (0, 1), 1)]))
    service.run_alerts = False
    service.start()
    rng = np.random.default_rng(0)
    start_ts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    start_ts -= timedelta(days=30)
    predictions, outcomes = [], []
    for hour in range(30 * 24):
        for i in range(per_hour):
            y = int(rng.random() < 0.3)
            pred = y if rng.random() < 0.85 else 1 - y
            ts = start_ts + timedelta(hours=hour, seconds=i)
            pid = f"pre-{hour}-{i}"
            predictions.append({"id": pid, "model": "fraud", "version": "v1", "ts": ts,
                                "label": encode_label(pred), "status": "ok"})  # fmt: skip
            outcomes.append({"prediction_id": pid, "label": encode_label(y), "ts": ts})
    service.store.commit("predictions", predictions)
    service.store.commit("outcomes", outcomes)
    service.stop()


def _toml_value(value: object) -> str:
    return json.dumps(value)


def config(folder: Path, model_path: Path, evaluate: bool, interval: float) -> Path:
    lines = [
        "[[models]]",
        'name = "fraud"',
        f"path = {_toml_value(str(model_path))}",
        "",
        "[alerts]",
        f"interval_seconds = {interval}",
        f"evaluate = {'true' if evaluate else 'false'}",
        "profile_rules = false",
    ]
    for rule in rules_for("fraud"):
        lines += ["", "[[alerts.rules]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in rule.items()]
    path = folder / f"liveeval-{'on' if evaluate else 'off'}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="liveeval-alerts-predict-"))
    try:
        model_path = model(folder)
        seed = folder / "seed.duckdb"
        prefill(seed)
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                store = folder / f"{mode}.duckdb"
                shutil.rmtree(folder / f"{mode}.duckdb.journal", ignore_errors=True)
                shutil.copy(seed, store)
                if (folder / "seed.duckdb.journal").exists():
                    shutil.copytree(
                        folder / "seed.duckdb.journal", folder / f"{mode}.duckdb.journal"
                    )
                cfg = config(folder, model_path, mode == "on", args.interval)
                port = free_port()
                server = start(
                    [sys.executable, "-m", "liveeval", "serve", "--config", str(cfg),
                     "--store", str(store), "--port", str(port)]
                )  # fmt: skip
                try:
                    wait(f"http://127.0.0.1:{port}/healthz")
                    time.sleep(5)  # the first cycle reads the 30 days whole
                    result = wrk(
                        f"http://127.0.0.1:{port}/v1/models/fraud/predict", "predict.lua", 8
                    )
                finally:
                    stop(server)
                runs[mode].append(result)
                print(mode, result, flush=True)
        ratios = [on["rps"] / off["rps"] for off, on in zip(runs["off"], runs["on"], strict=True)]
        summary = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "interval_seconds": args.interval,
            "off_rps_median": median(r["rps"] for r in runs["off"]),
            "on_rps_median": median(r["rps"] for r in runs["on"]),
            "ratio_per_round": ratios,
            "ratio_median": median(ratios),
            "off_p99_ms_median": median(r["p99_ms"] for r in runs["off"]),
            "on_p99_ms_median": median(r["p99_ms"] for r in runs["on"]),
            "runs": runs,
        }
        out = HERE / "results" / "alerts_predict.json"
        out.write_text(json.dumps(summary, indent=2))
        print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
