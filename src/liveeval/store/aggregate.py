"""Sufficient statistics computed inside the database, turned into an Evaluation.

Every query is a GROUP BY over the joined predictions and outcomes, so metrics over
millions of events move only counts into Python: confusion-matrix cells, score
histogram bins, loss sums and latency-sketch buckets. The SQL is plain (no DuckDB
extensions beyond list functions), so a PostgreSQL store can run the same shape.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np

from ..metrics import (
    ConfusionMatrix,
    Evaluation,
    LatencySketch,
    LossSums,
    MetricResult,
    ScoreDistribution,
)
from ..metrics.interval import normal_mean, wilson
from ..metrics.labels import Label
from ..metrics.ranking import DEFAULT_EXACT_LIMIT, DEFAULT_RESOLUTION

__all__ = ["Scope", "StoreStats", "aggregate", "decode_label", "encode_label"]

EPS = float(np.finfo(np.float64).eps)


def encode_label(label: Any) -> str:
    """Labels are stored as JSON text so 1, "1" and true stay different."""
    return json.dumps(label)


def decode_label(text: str) -> Label:
    value: Label = json.loads(text)
    return value


@dataclass(frozen=True)
class Scope:
    """Which predictions: one model, optionally one version and segment, a time range."""

    model: str
    since: datetime | None = None
    until: datetime | None = None
    version: str | None = None
    segment: str | None = None

    def where(self, alias: str = "p") -> tuple[str, list[Any]]:
        clauses = [f"{alias}.model = ?"]
        params: list[Any] = [self.model]
        for column, value, op in (
            ("ts", self.since, ">="),
            ("ts", self.until, "<"),
            ("version", self.version, "="),
            ("segment", self.segment, "="),
        ):
            if value is not None:
                clauses.append(f"{alias}.{column} {op} ?")
                params.append(value)
        return " AND ".join(clauses), params


@dataclass
class StoreStats:
    """An Evaluation plus the counts a live view needs around it."""

    evaluation: Evaluation | None
    predictions: int
    failed: int
    labelled: int
    unmatched_outcomes: int
    labels: tuple[Label, ...] = ()
    notes: list[str] = field(default_factory=list)
    # Business outcomes (e.g. clicks): count, sum, sum of squares, all values 0 or 1.
    values: tuple[int, float, float, bool] = (0, 0.0, 0.0, False)

    def business_metrics(self, confidence: float = 0.95) -> dict[str, MetricResult]:
        """Mean business outcome (CLT interval), and the click-through rate (Wilson) when
        every value is 0 or 1."""
        n, total, total_sq, binary = self.values
        if n == 0:
            return {}
        lower, upper = normal_mean(total, total_sq, n, confidence)
        out = {
            "outcome_value_mean": MetricResult(
                "outcome_value_mean",
                total / n,
                None if math.isnan(lower) else lower,
                None if math.isnan(upper) else upper,
                n,
                confidence,
                "normal (CLT)",
            )
        }
        if binary:
            lo, hi = wilson(total, n, confidence)
            out["click_through_rate"] = MetricResult(
                "click_through_rate", total / n, lo, hi, n, confidence, "wilson"
            )
        return out

    @property
    def label_coverage(self) -> float | None:
        ok = self.predictions - self.failed
        return self.labelled / ok if ok > 0 else None


def _labels(observed: set[Label], declared: tuple[Label, ...] | None) -> tuple[Label, ...]:
    if declared:
        extra = [v for v in observed if v not in declared]
        return tuple(declared) + tuple(sorted(extra, key=str))
    try:
        return tuple(sorted(observed))  # type: ignore[type-var]
    except TypeError:
        return tuple(sorted(observed, key=str))


def aggregate(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    *,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
) -> StoreStats:
    """The sufficient statistics of ``scope``, computed by the database."""
    where, params = scope.where()
    row = cur.execute(
        f"SELECT count(*), count(*) FILTER (WHERE p.status <> 'ok') FROM predictions p WHERE {where}",
        params,
    ).fetchone()
    predictions, failed = (int(row[0]), int(row[1])) if row else (0, 0)
    unmatched_row = cur.execute(
        "SELECT count(*) FROM outcomes o WHERE NOT EXISTS "
        "(SELECT 1 FROM predictions p WHERE p.id = o.prediction_id)"
    ).fetchone()
    unmatched = int(unmatched_row[0]) if unmatched_row else 0
    joined = (
        f"FROM predictions p JOIN outcomes o ON o.prediction_id = p.id "
        f"WHERE {where} AND p.status = 'ok' AND o.label IS NOT NULL AND p.label IS NOT NULL"
    )
    cells = cur.execute(
        f"SELECT o.label, p.label, count(*) {joined} GROUP BY 1, 2", params
    ).fetchall()
    labelled = sum(int(c[2]) for c in cells)
    observed = {decode_label(t) for t, _, _ in cells} | {decode_label(p) for _, p, _ in cells}
    labels = _labels(observed, classes)
    latency = _latency(cur, where, params)
    value_row = cur.execute(
        "SELECT count(o.value), coalesce(sum(o.value), 0), coalesce(sum(o.value * o.value), 0), "
        "coalesce(bool_and(o.value IN (0, 1)), false) "
        f"FROM predictions p JOIN outcomes o ON o.prediction_id = p.id "
        f"WHERE {where} AND p.status = 'ok' AND o.value IS NOT NULL",
        params,
    ).fetchall()[0]
    values = (int(value_row[0]), float(value_row[1]), float(value_row[2]), bool(value_row[3]))
    if not labels:
        evaluation = None
        if latency is not None or predictions:
            evaluation = None
        return StoreStats(evaluation, predictions, failed, 0, unmatched, (), [], values)
    if pos_label is None and set(labels) in ({0, 1}, {-1, 1}):
        pos_label = 1
    binary = len(labels) == 2 and pos_label is not None and pos_label in labels
    k = len(labels)
    index = {encode_label(label): i for i, label in enumerate(labels)}
    counts = np.zeros((k, k))
    for t, p, c in cells:
        counts[index[t], index[p]] += c
    cm = ConfusionMatrix(labels, counts, counts.copy())
    scores: list[ScoreDistribution] | None = None
    losses: LossSums | None = None
    if binary:
        pos = encode_label(pos_label)
        dist = _histogram(
            cur,
            joined,
            params,
            "p.score",
            f"o.label = '{_quote(pos)}'",
            labelled,
            resolution,
            exact_limit,
        )
        if dist is not None:
            scores = [dist]
            losses = _binary_losses(cur, joined, params, pos)
    evaluation = Evaluation(
        labels, pos_label if binary else None, cm, scores, None, losses, latency
    )
    evaluation.predictions = predictions
    evaluation.failures = failed
    return StoreStats(evaluation, predictions, failed, labelled, unmatched, labels, [], values)


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _histogram(
    cur: duckdb.DuckDBPyConnection,
    joined: str,
    params: list[Any],
    score: str,
    is_positive: str,
    rows: int,
    resolution: int,
    exact_limit: int,
) -> ScoreDistribution | None:
    exact = rows <= exact_limit
    key = score if exact else f"least(floor({score} * {resolution}), {resolution - 1})"
    data = cur.execute(
        f"SELECT {key} AS k, {is_positive} AS y, count(*) AS n {joined} AND {score} IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY 1",
        params,
    ).fetchall()
    if not data:
        return None
    keys = np.array(sorted({float(r[0]) for r in data}))
    where_key = {v: i for i, v in enumerate(keys.tolist())}
    positive = np.zeros(len(keys))
    negative = np.zeros(len(keys))
    for k, y, n in data:
        (positive if y else negative)[where_key[float(k)]] += n
    return ScoreDistribution(
        resolution,
        exact_limit,
        exact,
        int(positive.sum() + negative.sum()),
        keys,
        positive,
        negative,
        float(positive.sum()),
        float(negative.sum()),
    )


def _binary_losses(
    cur: duckdb.DuckDBPyConnection, joined: str, params: list[Any], pos: str
) -> LossSums:
    p_true = f"CASE WHEN o.label = '{_quote(pos)}' THEN p.score ELSE 1 - p.score END"
    ll = f"-ln(greatest(least({p_true}, {1 - EPS!r}), {EPS!r}))"
    gap = f"(CASE WHEN o.label = '{_quote(pos)}' THEN 1.0 ELSE 0.0 END - p.score)"
    row = cur.execute(
        f"SELECT count(*), sum({ll}), sum({ll} * {ll}), sum({gap} * {gap}), "
        f"sum({gap} * {gap} * {gap} * {gap}) {joined} AND p.score IS NOT NULL",
        params,
    ).fetchone()
    if row is None or not row[0]:
        return LossSums()
    n = int(row[0])
    return LossSums(
        float(n), float(n), n, float(row[1]), float(row[2]), float(row[3]), float(row[4])
    )


def _latency(cur: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> LatencySketch | None:
    sketch = LatencySketch()
    log_gamma = math.log(sketch.gamma)
    totals = cur.execute(
        "SELECT count(*), count(*) FILTER (WHERE p.latency_total_s = 0), sum(p.latency_total_s), "
        f"sum(p.latency_total_s * p.latency_total_s), max(p.latency_total_s) FROM predictions p "
        f"WHERE {where} AND p.latency_total_s IS NOT NULL",
        params,
    ).fetchone()
    if not totals or not totals[0]:
        return None
    buckets = cur.execute(
        f"SELECT CAST(ceil(ln(p.latency_total_s) / {log_gamma!r}) AS BIGINT) AS k, count(*) "
        f"FROM predictions p WHERE {where} AND p.latency_total_s > 0 GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()
    sketch.keys = np.array([int(b[0]) for b in buckets], dtype=np.int64)
    sketch.counts = np.array([float(b[1]) for b in buckets])
    sketch.zeros = int(totals[1])
    sketch.count = int(totals[0])
    sketch.total = float(totals[2])
    sketch.total_sq = float(totals[3])
    sketch.maximum = float(totals[4])
    return sketch
