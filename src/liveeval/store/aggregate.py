"""Sufficient statistics computed inside the database, turned into an Evaluation.

Every query is a GROUP BY, so metrics over millions of events move only counts into
Python: confusion-matrix cells, score histogram bins, loss sums and latency-sketch
buckets. Quality statistics read ``labelled``, where the store writes each prediction
joined with its outcome once, when the second of the two arrives; no read joins
events. The sums do not depend on which class is positive, so the positive class can
be inferred after the one pass. The SQL is plain, so a PostgreSQL store can run the
same shape.
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
) -> StoreStats:
    """The sufficient statistics of ``scope``, computed by the database."""
    where, params = scope.where("p")
    latency, predictions, failed = _predictions(cur, where, params)
    unmatched = unmatched_outcomes(cur)
    exact = predictions - failed <= exact_limit
    cells, scores = _labelled_statistics(cur, scope.where("l"), exact=exact, resolution=resolution)
    value_cells = [c for c in cells if c["vn"]]
    values = (
        int(sum(c["vn"] for c in value_cells)),
        float(sum(c["vs"] for c in value_cells)),
        float(sum(c["vss"] for c in value_cells)),
        all(c["vbin"] for c in value_cells),
    )
    cells = [c for c in cells if c["t"] is not None and c["pl"] is not None]
    labelled = sum(int(c["n"]) for c in cells)
    observed = {decode_label(c["t"]) for c in cells} | {decode_label(c["pl"]) for c in cells}
    labels = _labels(observed, classes)
    if not labels:
        return StoreStats(None, predictions, failed, 0, unmatched, (), [], values)
    if pos_label is None and set(labels) in ({0, 1}, {-1, 1}):
        pos_label = 1
    binary = len(labels) == 2 and pos_label is not None and pos_label in labels
    k = len(labels)
    index = {encode_label(label): i for i, label in enumerate(labels)}
    counts = np.zeros((k, k))
    for c in cells:
        counts[index[c["t"]], index[c["pl"]]] += c["n"]
    cm = ConfusionMatrix(labels, counts, counts.copy())
    distributions: list[ScoreDistribution] | None = None
    losses: LossSums | None = None
    if binary:
        pos = encode_label(pos_label)
        dist = _distribution(scores, pos, exact, resolution, exact_limit)
        if dist is not None:
            distributions = [dist]
            losses = _losses(cells, pos)
    evaluation = Evaluation(
        labels, pos_label if binary else None, cm, distributions, None, losses, latency
    )
    evaluation.predictions = predictions
    evaluation.failures = failed
    return StoreStats(evaluation, predictions, failed, labelled, unmatched, labels, [], values)


def unmatched_outcomes(cur: duckdb.DuckDBPyConnection) -> int:
    """Outcomes whose prediction has not been seen (yet), over the whole store: every
    outcome not in a labelled pair (ids are unique, so the difference is exact)."""
    row = cur.execute(
        "SELECT (SELECT count(*) FROM outcomes) - (SELECT count(*) FROM labelled)"
    ).fetchall()
    return int(row[0][0]) if row else 0


def _losses(cells: list[dict[str, Any]], pos: str) -> LossSums | None:
    """Log loss and Brier sums for ``pos`` from the class-independent per-cell sums:
    a positive row's loss is -ln(s) and (1 - s)^2, a negative row's -ln(1 - s) and s^2."""
    n = sum(int(c["ns"]) for c in cells)
    if not n:
        return None
    ll = ll2 = b = b2 = 0.0
    for c in cells:
        positive = c["t"] == pos
        ll += c["nls"] if positive else c["nlq"]
        ll2 += c["nls2"] if positive else c["nlq2"]
        b += c["q2"] if positive else c["s2"]
        b2 += c["q4"] if positive else c["s4"]
    return LossSums(float(n), float(n), n, ll, ll2, b, b2)


def _predictions(
    cur: duckdb.DuckDBPyConnection, where: str, params: list[Any]
) -> tuple[LatencySketch | None, int, int]:
    """Prediction and failure counts and the latency sketch, from one scan."""
    sketch = LatencySketch()
    log_gamma = math.log(sketch.gamma)
    lat = "p.latency_total_s"
    rows = cur.execute(
        f"SELECT GROUPING(k), k, count(*), count(*) FILTER (WHERE p.status <> 'ok'), "
        f"count({lat}), count(*) FILTER (WHERE {lat} = 0), sum({lat}), "
        f"sum({lat} * {lat}), max({lat}) "
        f"FROM (SELECT p.status, p.latency_total_s, CASE WHEN {lat} > 0 THEN "
        f"CAST(ceil(ln({lat}) / {log_gamma!r}) AS BIGINT) END AS k "
        f"FROM predictions p WHERE {where}) p GROUP BY GROUPING SETS ((), (k))",
        params,
    ).fetchall()
    total = next(r for r in rows if r[0] == 1)
    predictions, failed = int(total[2]), int(total[3] or 0)
    if not total[4]:
        return None, predictions, failed
    buckets = sorted((int(r[1]), int(r[2])) for r in rows if r[0] == 0 and r[1] is not None)
    sketch.keys = np.array([b[0] for b in buckets], dtype=np.int64)
    sketch.counts = np.array([float(b[1]) for b in buckets])
    sketch.zeros = int(total[5])
    sketch.count = int(total[4])
    sketch.total = float(total[6])
    sketch.total_sq = float(total[7])
    sketch.maximum = float(total[8])
    return sketch, predictions, failed


def _labelled_statistics(
    cur: duckdb.DuckDBPyConnection,
    scoped: tuple[str, list[Any]],
    *,
    exact: bool,
    resolution: int,
) -> tuple[list[dict[str, Any]], pa.Table]:
    """Confusion cells with class-independent loss and business-value sums, and the
    score histogram (true label x score key), over labelled pairs of ok predictions.

    Two GROUP BYs rather than GROUPING SETS: the cells carry a dozen sums that a
    shared pass would also compute for every histogram bin.
    """
    where, params = scoped
    s = f"greatest(least(l.score, {1 - EPS!r}), {EPS!r})"
    q = f"greatest(least(1 - l.score, {1 - EPS!r}), {EPS!r})"
    cells_sql = f"""
        SELECT l.label, l.predicted, count(*),
               count(l.score), coalesce(sum(-ln({s})), 0), coalesce(sum(ln({s}) * ln({s})), 0),
               coalesce(sum(-ln({q})), 0), coalesce(sum(ln({q}) * ln({q})), 0),
               coalesce(sum(l.score * l.score), 0), coalesce(sum(power(l.score, 4)), 0),
               coalesce(sum(power(1 - l.score, 2)), 0), coalesce(sum(power(1 - l.score, 4)), 0),
               count(l.value), coalesce(sum(l.value), 0), coalesce(sum(l.value * l.value), 0),
               coalesce(bool_and(l.value IN (0, 1)), true)
        FROM labelled l WHERE {where} AND l.status = 'ok'
        GROUP BY l.label, l.predicted
    """
    names = (
        *("t", "pl", "n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4"),
        *("vn", "vs", "vss", "vbin"),
    )
    cells = [dict(zip(names, r, strict=True)) for r in cur.execute(cells_sql, params).fetchall()]
    key = "l.score" if exact else f"least(floor(l.score * {resolution}), {resolution - 1})"
    histogram_sql = f"""
        SELECT l.label AS t, {key} AS key, count(*) AS n
        FROM labelled l
        WHERE {where} AND l.status = 'ok' AND l.label IS NOT NULL
          AND l.predicted IS NOT NULL AND l.score IS NOT NULL
        GROUP BY ALL
    """
    # Arrow, not Python tuples: the histogram can have a million bins.
    scores = cur.sql(histogram_sql, params=params).to_arrow_table()
    return cells, scores


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
