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
import pyarrow as pa
import pyarrow.compute as pc

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

__all__ = [
    "Scope",
    "StoreStats",
    "aggregate",
    "decode_label",
    "encode_label",
    "unmatched_outcomes",
]

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
    unmatched: int | None = None,
) -> StoreStats:
    """The sufficient statistics of ``scope``, computed by the database.

    ``unmatched`` may pass a recent count of outcomes without a prediction (a full
    anti-join over the store, which callers may cache).
    """
    where, params = scope.where()
    row = cur.execute(
        f"SELECT count(*), count(*) FILTER (WHERE p.status <> 'ok') FROM predictions p WHERE {where}",
        params,
    ).fetchone()
    predictions, failed = (int(row[0]), int(row[1])) if row else (0, 0)
    unmatched = unmatched_outcomes(cur) if unmatched is None else unmatched
    latency = _latency(cur, where, params)
    if pos_label is None:
        # Infer the positive class up front (1 for {0, 1}) so the join runs once.
        seen = {
            decode_label(r[0])
            for r in cur.execute(
                f"SELECT DISTINCT p.label FROM predictions p WHERE {where} AND p.label IS NOT NULL "
                "UNION SELECT DISTINCT label FROM outcomes WHERE label IS NOT NULL",
                params,
            ).fetchall()
        }
        candidates = set(_labels(seen, classes))
        if candidates in ({0, 1}, {-1, 1}):
            pos_label = 1
    pos = None if pos_label is None else encode_label(pos_label)
    rows = _joined_statistics(
        cur, where, params, pos, exact=predictions - failed <= exact_limit, resolution=resolution
    )
    cells = [(r["t"], r["pl"], r["n"]) for r in rows if r["set"] == "cells" and r["t"] and r["pl"]]
    score_table = next(r["table"] for r in rows if r["set"] == "scores")
    value_sets = [r for r in rows if r["set"] == "cells"]
    values = (
        int(sum(r["vn"] for r in value_sets)),
        float(sum(r["vs"] for r in value_sets)),
        float(sum(r["vss"] for r in value_sets)),
        all(r["vbin"] for r in value_sets if r["vn"]),
    )
    labelled = sum(int(c[2]) for c in cells)
    observed = {decode_label(t) for t, _, _ in cells} | {decode_label(p) for _, p, _ in cells}
    labels = _labels(observed, classes)
    if not labels:
        return StoreStats(None, predictions, failed, 0, unmatched, (), [], values)
    if pos_label is None and set(labels) in ({0, 1}, {-1, 1}):
        pos_label = 1
        pos = encode_label(pos_label)
        rows = _joined_statistics(
            cur,
            where,
            params,
            pos,
            exact=predictions - failed <= exact_limit,
            resolution=resolution,
        )
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
        exact = predictions - failed <= exact_limit
        dist = _distribution(score_table, pos or "", exact, resolution, exact_limit)
        if dist is not None:
            scores = [dist]
            loss_rows = [r for r in rows if r["set"] == "cells" and r["ln"]]
            n = int(sum(r["ln"] for r in loss_rows))
            if n:
                losses = LossSums(
                    float(n),
                    float(n),
                    n,
                    float(sum(r["ll"] for r in loss_rows)),
                    float(sum(r["ll2"] for r in loss_rows)),
                    float(sum(r["b"] for r in loss_rows)),
                    float(sum(r["b2"] for r in loss_rows)),
                )
    evaluation = Evaluation(
        labels, pos_label if binary else None, cm, scores, None, losses, latency
    )
    evaluation.predictions = predictions
    evaluation.failures = failed
    return StoreStats(evaluation, predictions, failed, labelled, unmatched, labels, [], values)


def unmatched_outcomes(cur: duckdb.DuckDBPyConnection) -> int:
    """Outcomes whose prediction has not been seen (yet), over the whole store."""
    row = cur.execute(
        "SELECT count(*) FROM outcomes o WHERE NOT EXISTS "
        "(SELECT 1 FROM predictions p WHERE p.id = o.prediction_id)"
    ).fetchall()
    return int(row[0][0]) if row else 0


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _joined_statistics(
    cur: duckdb.DuckDBPyConnection,
    where: str,
    params: list[Any],
    pos: str | None,
    *,
    exact: bool,
    resolution: int,
) -> list[dict[str, Any]]:
    """Every statistic of the joined predictions and outcomes in one pass over the join.

    GROUPING SETS gives the confusion cells (true × predicted label, with loss and
    business-value sums) and the score histogram (true label × score key) from a
    single scan, which matters at ten million events: the join is the cost.
    """
    labelled = "t IS NOT NULL AND pl IS NOT NULL AND s IS NOT NULL"
    if pos is None:
        is_pos = "NULL"
        ll = b = "NULL"
    else:
        is_pos = f"(t = '{_quote(pos)}')"
        p_true = f"CASE WHEN {is_pos} THEN s ELSE 1 - s END"
        ll = f"CASE WHEN {labelled} THEN -ln(greatest(least({p_true}, {1 - EPS!r}), {EPS!r})) END"
        b = f"CASE WHEN {labelled} THEN power(CASE WHEN {is_pos} THEN 1.0 ELSE 0.0 END - s, 2) END"
    key = "s" if exact else f"least(floor(s * {resolution}), {resolution - 1})"
    query = f"""
        WITH j AS (
            SELECT o.label AS t, p.label AS pl, p.score AS s, o.value AS v
            FROM predictions p JOIN outcomes o ON o.prediction_id = p.id
            WHERE {where} AND p.status = 'ok'
        ), x AS (
            SELECT t, pl, v, CASE WHEN {labelled} THEN {key} END AS key, {ll} AS ll, {b} AS b FROM j
        )
        SELECT GROUPING(pl) AS by_key, t, pl, key, count(*) AS n,
               count(ll), coalesce(sum(ll), 0), coalesce(sum(ll * ll), 0),
               coalesce(sum(b), 0), coalesce(sum(b * b), 0),
               count(v), coalesce(sum(v), 0), coalesce(sum(v * v), 0),
               coalesce(bool_and(v IN (0, 1)), true)
        FROM x
        GROUP BY GROUPING SETS ((t, pl), (t, key))
    """
    # Arrow, not Python tuples: the histogram set can have a million rows.
    relation = cur.sql(query, params=params)
    table = relation.to_arrow_table()
    columns = [
        "by_key",
        "t",
        "pl",
        "key",
        "n",
        "ln",
        "ll",
        "ll2",
        "b",
        "b2",
        "vn",
        "vs",
        "vss",
        "vbin",
    ]
    table = table.rename_columns(columns)
    by_key = table.column("by_key").to_numpy(zero_copy_only=False)
    cells = table.filter(pa.array(by_key == 0)).to_pylist()
    scores = table.filter(pa.array(by_key != 0)).select(["t", "key", "n"])
    out: list[dict[str, Any]] = [{"set": "cells", **row} for row in cells]
    out.append({"set": "scores", "table": scores})
    return out


def _distribution(
    scores: pa.Table, pos: str, exact: bool, resolution: int, exact_limit: int
) -> ScoreDistribution | None:
    scores = scores.filter(
        pc.and_(pc.is_valid(scores.column("key")), pc.is_valid(scores.column("t")))
    )
    if scores.num_rows == 0:
        return None
    key = scores.column("key").to_numpy().astype(np.float64)
    count = scores.column("n").to_numpy().astype(np.float64)
    is_pos = pc.equal(scores.column("t"), pos).to_numpy(zero_copy_only=False)
    keys, inverse = np.unique(key, return_inverse=True)
    positive = np.bincount(inverse, weights=count * is_pos, minlength=keys.size).astype(np.float64)
    negative = np.bincount(inverse, weights=count * ~is_pos, minlength=keys.size).astype(np.float64)
    return ScoreDistribution(
        resolution,
        exact_limit,
        exact,
        int(count.sum()),
        keys,
        positive,
        negative,
        float(positive.sum()),
        float(negative.sum()),
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
