"""Prometheus exposition: request counters and latency histograms, and gauges of each
model's live quality over the configured window.

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms);
every app gets its own registry, so tests and several apps in one process never
share state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..metrics.registry import metric_names

__all__ = ["LATENCY_BUCKETS", "Telemetry", "TelemetryObserver"]

# 100 µs to 26 s, each bound √2 times the last (37 buckets): a quantile read from the
# histogram (PromQL's histogram_quantile interpolates within a bucket) is within one
# bucket, at most a factor √2, of the true one, from sub-millisecond predictions on an
# idle server to tens of seconds under overload.
LATENCY_BUCKETS = tuple(float(f"{1e-4 * 2 ** (k / 2):.4g}") for k in range(37))


# The gauges derive from the metric catalogue: every metric declared `live`.
QUALITY = metric_names(live=True)


class _QualityCollector(Collector):
    """Computes quality gauges from the store at scrape time, cached for a few seconds."""

    def __init__(self, compute: Callable[[], list[dict[str, Any]]], ttl: float) -> None:
        self.compute = compute
        self.ttl = ttl
        self._cached: list[dict[str, Any]] = []
        self._at = -float("inf")
        self._lock = threading.Lock()

    def describe(self) -> list[GaugeMetricFamily]:
        # Without this the registry would call collect() at registration, querying
        # an empty store and caching the empty answer.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl:
                try:
                    self._cached = self.compute()
                except Exception:
                    # A scrape must never fail because of stored data: keep the last
                    # gauges, log the bug, and let the counters through.
                    logging.getLogger("liveeval").exception("computing live quality failed")
                self._at = time.monotonic()
            rows = self._cached
        families = {
            name: GaugeMetricFamily(
                f"liveeval_model_{name}",
                f"Live {name} of the model over the configured window",
                labels=["model", "version"],
            )
            for name in (*QUALITY, "label_coverage")
        }
        labelled = GaugeMetricFamily(
            "liveeval_model_labelled_predictions",
            "Predictions with ground truth in the window",
            labels=["model", "version"],
        )
        effect = GaugeMetricFamily(
            "liveeval_feature_drift_effect",
            "Drift effect size of a feature, the score, the predicted label or the label in the "
            "last full window against the 7 days before it (numbers: Wasserstein-1 / "
            "reference SD; categories: Jensen-Shannon distance)",
            labels=["model", "version", "feature"],
        )
        drifted = GaugeMetricFamily(
            "liveeval_feature_drifted",
            "1 when the drift call says drifted (effect above its threshold and significant "
            "after Benjamini-Hochberg), else 0; absent with too few rows",
            labels=["model", "version", "feature"],
        )
        for row in rows:
            key = [row["model"], row["version"]]
            for name, family in families.items():
                value = row.get(name)
                if value is not None:
                    family.add_metric(key, value)
            labelled.add_metric(key, row.get("labelled", 0))
            for name, value, called in row.get("drift", ()):
                effect.add_metric([*key, name], value)
                drifted.add_metric([*key, name], 1.0 if called else 0.0)
        yield from families.values()
        yield labelled
        yield effect
        yield drifted


class _AlertCollector(Collector):
    """One gauge per open alert (pending or firing), read from the engine's memory."""

    def __init__(self, open_alerts: Callable[[], list[dict[str, Any]]]) -> None:
        self.open_alerts = open_alerts

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "liveeval_alert_state",
            "1 for every open alert, by rule, scope, severity and state (pending or firing)",
            labels=["alert_id", "rule", "model", "version", "segment", "severity", "state"],
        )
        try:
            rows = self.open_alerts()
        except Exception:
            logging.getLogger("liveeval").exception("reading open alerts failed")
            rows = []
        for row in rows:
            labels = [str(row.get(k) or "") for k in
                      ("alert_id", "rule", "model", "version", "segment", "severity", "state")]  # fmt: skip
            family.add_metric(labels, 1.0)
        yield family


class Telemetry:
    """The metrics one server exposes on ``/metrics``."""

    def __init__(
        self,
        quality: Callable[[], list[dict[str, Any]]],
        ttl: float = 10.0,
        alerts: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.predictions = Counter(
            "liveeval_predictions_total",
            "Predictions logged, served or ingested",
            ["model", "version", "status"],
            registry=self.registry,
        )
        self.outcomes = Counter(
            "liveeval_outcomes_total",
            "Outcomes (ground truth) stored, by whether their prediction was known",
            ["matched"],
            registry=self.registry,
        )
        self.duplicate_outcomes = Counter(
            "liveeval_outcomes_duplicate_total",
            "Outcomes received again (retries of stored ones; stored once)",
            registry=self.registry,
        )
        self.events = Counter(
            "liveeval_ingested_events_total",
            "Events received by kind and result (stored, duplicate, conflict)",
            ["kind", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "liveeval_prediction_latency_seconds",
            "Total prediction latency: served predictions from the request's arrival to "
            "its answer sent (after the commit); ingested ones as reported",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_latency = Histogram(
            "liveeval_model_latency_seconds",
            "Time spent inside the model",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "liveeval_http_requests_total",
            "HTTP requests by route and status code",
            ["route", "code"],
            registry=self.registry,
        )
        self.registry.register(_QualityCollector(quality, ttl))
        if alerts is not None:
            self.registry.register(_AlertCollector(alerts))


class TelemetryObserver:
    """The service's :class:`~liveeval.service.Observer`, counting into :class:`Telemetry`."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.t = telemetry
        # prometheus_client's labels() costs a few microseconds per call; the label
        # sets repeat, so their children are kept here.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: str, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = getattr(self.t, metric).labels(*labels)
            if len(self._children) < 100_000:
                self._children[key] = child
        return child

    def events(self, kind: str, result: str, count: int) -> None:
        self._child("events", kind, result).inc(count)

    def predictions(self, model: str, version: str, status: str, count: int) -> None:
        self._child("predictions", model, version, status).inc(count)

    def latency(
        self, model: str, version: str, total: float | None, in_model: float | None
    ) -> None:
        if total is not None:
            self._child("latency", model, version).observe(total)
        if in_model is not None:
            self._child("model_latency", model, version).observe(in_model)

    def outcomes(self, matched: bool, count: int) -> None:
        self.t.outcomes.labels("true" if matched else "false").inc(count)

    def duplicate_outcomes(self, count: int) -> None:
        self.t.duplicate_outcomes.inc(count)
