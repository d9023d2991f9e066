"""The alert loop's cycles: what a cycle keeps between evaluations (the bucket counts
read once for every model, each series' detector checkpoint) never changes an answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from liveeval.config import LoggedModel, ServerConfig
from liveeval.monitor.rules import parse_alerts
from liveeval.service import Service
from liveeval.service.alerting import AlertEngine
from liveeval.store import encode_label
from liveeval.store.interface import BucketCountSource

START = datetime(2026, 3, 1)

RULES = [
    {"name": "acc", "metric": "accuracy", "window": "1h", "reference": "first:600"},
    {"name": "recall-v", "metric": "recall", "version": "*", "window": "1h",
     "reference": "first:300", "min_samples": 40},
    {"name": "prec-2h", "metric": "precision", "window": "2h", "reference": "first:300",
     "min_samples": 60},
    {"name": "failed", "metric": "failed_prediction_rate", "window": "1h",
     "condition": "rise", "reference": "first:500"},
    {"name": "ctr", "metric": "click_through_rate", "window": "1h", "reference": "first:400"},
    {"name": "spec-range", "metric": "specificity", "window": "1h",
     "reference": "2026-03-01T00:00:00/2026-03-02T00:00:00"},
    {"name": "recall-floor", "metric": "recall", "window": "1h", "condition": "< 0.8",
     "mode": "sequential"},
    {"name": "p95", "metric": "latency_p95_seconds", "window": "1h", "condition": "rise",
     "reference": "first:500"},
    {"name": "acc-low", "metric": "accuracy", "version": "*", "window": "6h",
     "condition": "< 0.8"},
    {"name": "coverage", "metric": "label_coverage", "window": "1h", "condition": "< 0.5"},
]  # fmt: skip


def _config(store: str) -> ServerConfig:
    return ServerConfig(
        store=store,
        logged=[LoggedModel("a", (0, 1), 1), LoggedModel("b", (0, 1), 1)],
        alerts=parse_alerts({"rules": RULES, "profile_rules": False}, "test"),
    )


def _service(store: str) -> Service:
    service = Service(_config(store))
    service.run_alerts = False
    service.start()
    return service


def _hours(service: Service, first: int, last: int, *, labelled_until: int | None = None) -> None:
    """Predictions of hours [first, last) for both models; outcomes for those before
    ``labelled_until`` (and late outcomes for earlier hours that had none)."""
    for m, model in enumerate(("a", "b")):
        rng = np.random.default_rng(100 * first + m)
        predictions, outcomes = [], []
        for hour in range(first, last):
            accuracy = 0.9 if hour < 80 else 0.75  # the drop
            for i in range(25):
                y = int(rng.random() < 0.3)
                pred = y if rng.random() < accuracy else 1 - y
                ts = START + timedelta(hours=hour, seconds=60 * i)
                pid = f"{model}-{hour}-{i}"
                failed = rng.random() < (0.02 if hour < 90 else 0.08)
                predictions.append(
                    {"id": pid, "model": model, "version": f"v{hour // 50}", "ts": ts,
                     "label": None if failed else encode_label(pred),
                     "status": "error" if failed else "ok",
                     "error_type": "boom" if failed else None,
                     "latency_model_s": float(rng.gamma(2.0, 0.01 if hour < 85 else 0.02))}
                )  # fmt: skip
                if labelled_until is None or hour < labelled_until:
                    outcomes.append(
                        {"prediction_id": pid, "label": encode_label(y), "ts": ts,
                         "value": float(rng.random() < 0.1)}
                    )  # fmt: skip
        service.store.commit("predictions", predictions)
        if outcomes:
            service.store.commit("outcomes", outcomes)


def _late_outcomes(service: Service, first: int, last: int) -> None:
    for m, model in enumerate(("a", "b")):
        rng = np.random.default_rng(7 + m)
        outcomes = []
        for hour in range(first, last):
            for i in range(25):
                y = int(rng.random() < 0.3)
                ts = START + timedelta(hours=hour, seconds=60 * i)
                outcomes.append(
                    {"prediction_id": f"{model}-{hour}-{i}", "label": encode_label(y),
                     "ts": ts + timedelta(hours=5), "value": float(rng.random() < 0.1)}
                )  # fmt: skip
        service.store.commit("outcomes", outcomes)


def _answers(engine: AlertEngine, now: datetime) -> dict[tuple[Any, ...], Any]:
    return {
        (rule.name, scope.model, scope.version, scope.segment): (
            verdict.holds,
            verdict.summary,
            verdict.evidence,
        )
        for rule, scope, verdict in engine.verdicts(now)
    }


@pytest.mark.slow
def test_incremental_cycles_equal_a_fresh_evaluation_even_after_a_restart(tmp_path):
    path = str(tmp_path / "cycle.duckdb")
    service = _service(path)
    engine = service.alert_engine()
    # Day by day over six days; the last hours' outcomes arrive late (inside the part
    # each cycle reads again), after the cycle that first saw their predictions.
    _hours(service, 0, 100, labelled_until=96)
    first = _answers(engine, START + timedelta(hours=100, minutes=7))
    _late_outcomes(service, 96, 100)
    _hours(service, 100, 130, labelled_until=126)
    _answers(engine, START + timedelta(hours=130, minutes=20))
    _late_outcomes(service, 126, 130)
    _hours(service, 130, 150)
    now = START + timedelta(hours=150, minutes=3)
    incremental = _answers(engine, now)
    assert any(key[0] == "acc" and v[0] is True for key, v in incremental.items())
    assert {k[0] for k in incremental} == {r["name"] for r in RULES}
    assert {k[2] for k in incremental if k[0] == "recall-v"} == {"v0", "v1", "v2"}
    assert len(first) == len(incremental) - 2  # two more versions' series later
    assert _answers(engine, now) == incremental  # nothing new: the same answers
    later = now + timedelta(hours=2)  # the boundaries move on, no new data
    moved = _answers(engine, later)
    assert _answers(engine, later) == moved
    service.stop()

    restarted = _service(path)  # the state rebuilt from the store alone
    fresh = _answers(restarted.alert_engine(), now)
    fresh_later = _answers(AlertEngine(restarted), later)
    restarted.stop()
    assert fresh == incremental
    assert fresh_later == moved


@pytest.mark.slow
def test_the_bucket_count_path_gives_the_answers_of_the_statistics_path(tmp_path):
    service = _service(str(tmp_path / "paths.duckdb"))
    _hours(service, 0, 120)
    # A model no config declares (its classes unknown): read the slow way on both paths.
    rng = np.random.default_rng(9)
    ids = [f"c{i}" for i in range(600)]
    service.store.commit("predictions", [
        {"id": pid, "model": "c", "version": "v1", "ts": START + timedelta(minutes=10 * i),
         "label": encode_label(int(rng.random() < 0.3)), "status": "ok"}
        for i, pid in enumerate(ids)
    ])  # fmt: skip
    service.store.commit("outcomes", [
        {"prediction_id": pid, "label": encode_label(int(rng.random() < 0.3)),
         "ts": START + timedelta(minutes=10 * i)}
        for i, pid in enumerate(ids)
    ])  # fmt: skip
    now = START + timedelta(hours=120)
    assert isinstance(service.store, BucketCountSource)
    fast = _answers(service.alert_engine(), now)
    statistics_only = AlertEngine(service)
    statistics_only.bucket_counts = False
    slow = _answers(statistics_only, now)
    service.stop()
    assert fast.keys() == slow.keys()
    assert {key[1] for key in fast} == {"a", "b", "c"}
    # Its looks share the read's label set (each window reports the classes of the
    # whole read), so every rule, its latency rule too, reads it on both paths.
    assert statistics_only.errors == {}
    assert ("p95", "c") in {key[:2] for key in slow}
    for key, answer in fast.items():
        assert answer == slow[key], key
