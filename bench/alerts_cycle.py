"""One alert evaluation cycle: models × rules over 30 days of hourly looks.

    python bench/alerts_cycle.py [--models 2] [--per-hour 50]

Each model gets 30 days of hourly predictions with outcomes, and ten rules: sequential
drops of accuracy, recall, precision, specificity, NPV (reference the first 2,000
labels) and of accuracy and recall per version, a rise of the failed-prediction rate,
and window thresholds on accuracy and label coverage. Times the first cycle (reads
every series whole), the next two with no new data, then two after one more hour of
traffic for every model with the late labels of the six hours before it (the part
each cycle reads again); in-memory DuckDB store; busy machine. Each cycle's process CPU
time is printed too (the store's threads included): steadier than the wall clock on a
loaded machine.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from liveeval.config import LoggedModel, ServerConfig
from liveeval.monitor.rules import parse_alerts
from liveeval.service import Service
from liveeval.store import encode_label


def rules_for(model: str) -> list[dict]:
    seq = {"model": model, "window": "1h", "reference": "first:2000"}
    out = [
        {"name": f"{model}-{m}", "metric": m, **seq}
        for m in ("accuracy", "recall", "precision", "specificity", "negative_predictive_value")
    ]
    out += [
        {"name": f"{model}-{m}-v", "metric": m, "version": "*", **seq}
        for m in ("accuracy", "recall")
    ]
    out.append({"name": f"{model}-failed", "metric": "failed_prediction_rate", **seq})
    out.append({"name": f"{model}-acc-low", "metric": "accuracy", "model": model,
                "condition": "< 0.7", "window": "6h"})  # fmt: skip
    out.append({"name": f"{model}-coverage", "metric": "label_coverage", "model": model,
                "condition": "< 0.5", "window": "1h"})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--per-hour", type=int, default=50)
    args = parser.parse_args()
    models = [f"m{i}" for i in range(args.models)]
    rules = [r for m in models for r in rules_for(m)]
    config = ServerConfig(
        store=":memory:",
        logged=[LoggedModel(m, (0, 1), 1) for m in models],
        alerts=parse_alerts({"rules": rules}, "bench"),
    )
    service = Service(config)
    service.run_alerts = False
    service.start()
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0, tzinfo=None) - timedelta(days=30)
    late: list[dict] = []

    def traffic(model: str, hours: range, withhold_from: int) -> None:
        predictions, outcomes = [], []
        for hour in hours:
            for i in range(args.per_hour):
                y = int(rng.random() < 0.3)
                pred = y if rng.random() < 0.85 else 1 - y
                ts = start + timedelta(hours=hour, seconds=i)
                pid = f"{model}-{hour}-{i}"
                predictions.append({"id": pid, "model": model, "version": f"v{hour // 240}",
                                    "ts": ts, "label": encode_label(pred), "status": "ok"})  # fmt: skip
                outcome = {"prediction_id": pid, "label": encode_label(y), "ts": ts}
                (late if hour >= withhold_from else outcomes).append(outcome)
        service.store.commit("predictions", predictions)
        if outcomes:
            service.store.commit("outcomes", outcomes)

    # 30 days; the last 6 hours' labels arrive later, with the next hour's traffic.
    for model in models:
        traffic(model, range(30 * 24), 30 * 24 - 6)
    service.store.count("predictions")
    engine = service.alert_engine()
    times: list[float] = []
    cpu: list[float] = []

    def cycle(at: datetime) -> None:
        t, c = time.perf_counter(), time.process_time()
        engine.evaluate(at)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)

    for _ in range(3):
        cycle(now)
    # One more hour of traffic for every model, and the late labels of the last 6 hours.
    held, late[:] = list(late), []
    for model in models:
        traffic(model, range(30 * 24, 30 * 24 + 1), 10**9)
    service.store.commit("outcomes", held)
    service.store.count("predictions")
    for _ in range(2):
        cycle(now + timedelta(hours=1))
    service.stop()
    print(
        f"{args.models} models x 10 rules, 30 days hourly, {args.per_hour}/hour: "
        f"first cycle {times[0]:.2f} s; next cycles {times[1]:.2f} s, {times[2]:.2f} s; "
        f"after one more hour of traffic and 6 hours of late labels {times[3]:.2f} s, "
        f"then {times[4]:.2f} s (busy machine); process CPU time "
        + ", ".join(f"{c:.2f}" for c in cpu)
        + " s"
    )


if __name__ == "__main__":
    main()
