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

import math
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ...metrics import ConfusionMatrix, Evaluation, LatencySketch, LossSums, ScoreDistribution
from ...metrics.evaluation import TOP_LABEL_RESOLUTION as TOP
from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT, DEFAULT_RESOLUTION
from ..interface import Scope, StoreStats
from ..labels import ResolvedLabels, resolve_labels

__all__ = ["aggregate", "assemble", "grouped_aggregate", "unmatched_outcomes"]

EPS = float(np.finfo(np.float64).eps)

# Scores outside [0, 1] (NaN included) and non-finite business values are never
# accepted, but a store written before that rule may hold them: such a row counts in
# the confusion matrix and not in score or value statistics.
_LABELLED = (
    "(SELECT * REPLACE (CASE WHEN score BETWEEN 0 AND 1 THEN score END AS score, "
    "CASE WHEN isfinite(value) THEN value END AS value) FROM labelled)"
)


_S = f"greatest(least(l.score, {1 - EPS!r}), {EPS!r})"
_Q = f"greatest(least(1 - l.score, {1 - EPS!r}), {EPS!r})"
# A confusion cell's count with its class-independent loss and business-value sums,
# over labelled pairs ``l`` (named by LABELLED_CELL_NAMES, after the actual and predicted label).
LABELLED_CELL_SUMS = f"""count(*),
    count(l.score), coalesce(sum(-ln({_S})), 0), coalesce(sum(ln({_S}) * ln({_S})), 0),
    coalesce(sum(-ln({_Q})), 0), coalesce(sum(ln({_Q}) * ln({_Q})), 0),
    coalesce(sum(l.score * l.score), 0), coalesce(sum(power(l.score, 4)), 0),
    coalesce(sum(power(1 - l.score, 2)), 0), coalesce(sum(power(1 - l.score, 4)), 0),
    count(l.value), coalesce(sum(l.value), 0), coalesce(sum(l.value * l.value), 0),
    coalesce(bool_and(l.value IN (0, 1)), true)"""
LABELLED_CELL_NAMES = (
    *("t", "pl", "n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4"),
    *("vn", "vs", "vss", "vbin"),
)


def _where(
    scope: Scope, alias: str = "p", models: Sequence[str] | None = None
) -> tuple[str, list[Any]]:
    """The WHERE clause of ``scope`` (of ``models`` instead of its model when given)."""
    if models is None:
        clauses = [f"{alias}.model = ?"]
        params: list[Any] = [scope.model]
    else:
        clauses = [f"{alias}.model IN ({', '.join('?' * len(models))})"]
        params = list(models)
    for column, value, op in (
        ("ts", scope.since, ">="),
        ("ts", scope.until, "<"),
        ("version", scope.version, "="),
        ("segment", scope.segment, "="),
    ):
        if value is not None:
            clauses.append(f"{alias}.{column} {op} ?")
            params.append(value)
    if scope.segment_is_null:
        clauses.append(f"{alias}.segment IS NULL")
    return " AND ".join(clauses), params


def aggregate(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    *,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    unmatched: int | None = None,
    shared: ResolvedLabels | None = None,
) -> StoreStats:
    """The sufficient statistics of ``scope``, computed by the database. ``unmatched``:
    the store-wide count of outcomes without a prediction, when the caller knows it
    (an engine whose tables here hold only the scope's rows); ``shared`` as
    :func:`assemble`'s."""
    where, params = _where(scope, "p")
    latency, predictions, failed = _predictions(cur, where, params)
    if unmatched is None:
        unmatched = unmatched_outcomes(cur)
    exact = predictions - failed <= exact_limit
    cells, scores = _labelled_statistics(
        cur, _where(scope, "l"), exact=exact, resolution=resolution
    )
    multiclass = partial(_multiclass, cur, _where(scope, "l"))
    return assemble(
        cells,
        scores,
        latency,
        (predictions, failed, unmatched),
        classes=classes,
        pos_label=pos_label,
        exact=exact,
        resolution=resolution,
        exact_limit=exact_limit,
        multiclass=multiclass,
        shared=shared,
    )


def assemble(
    cells: list[dict[str, Any]],
    scores: pa.Table | Callable[[list[str]], ScoreDistribution | None],
    latency: LatencySketch | None,
    totals: tuple[int, int, int],
    *,
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
    exact: bool,
    resolution: int,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    multiclass: Callable[..., Any] | None = None,
    shared: ResolvedLabels | None = None,
) -> StoreStats:
    """StoreStats from confusion cells with their sums (:func:`_labelled_statistics`'s
    names), the labelled score histogram (``t``, ``key``, ``n``; or a function of the
    positive class's label texts giving the score distribution), the latency sketch
    and (predictions, failed, unmatched outcomes). ``multiclass(index, k, exact,
    resolution, exact_limit)`` gives the probability statistics of a multiclass model;
    without it they are left out with a note. ``shared``: the labels of every group of
    a grouped read, so that each group reports the same classes (and the groups merge)
    even when one of them holds only some of the classes."""
    predictions, failed, unmatched = totals
    value_cells = [c for c in cells if c["vn"]]
    values = (
        int(sum(c["vn"] for c in value_cells)),
        float(sum(c["vs"] for c in value_cells)),
        float(sum(c["vss"] for c in value_cells)),
        all(c["vbin"] for c in value_cells),
    )
    cells = [c for c in cells if c["t"] is not None and c["pl"] is not None]
    labelled = sum(int(c["n"]) for c in cells)
    resolved = shared or resolve_labels([c["t"] for c in cells] + [c["pl"] for c in cells], classes)
    labels = resolved.labels
    index = resolved.index
    notes = list(resolved.notes)
    outside = resolved.outside
    if outside:
        # A declared model's metrics are about its classes: a pair holding a label
        # outside them (an outcome accepted before its prediction was seen, so never
        # checked) is left out of every metric and counted in a note, rather than
        # turning a binary model into a 3-class one (docs/labels.md).
        cells, notes = _inside(cells, resolved, classes or ())
        labelled = sum(int(c["n"]) for c in cells)
        labels = labels[: resolved.declared]
        index = {t: i for t, i in index.items() if t not in outside}
        if not isinstance(scores, pa.Table):
            scores = _without(scores, sorted(outside))
        else:
            scores = scores.filter(
                pc.invert(pc.is_in(scores.column("t"), pa.array(sorted(outside), pa.string())))
            )
    if not labels:
        # No class known yet (a model known only from its logs, before any outcome):
        # latency and failures need no label, so they are kept (Evaluation.served_only).
        served = Evaluation.served_only(latency, predictions, failed) if predictions else None
        return StoreStats(served, predictions, failed, 0, unmatched, (), [], values)
    if pos_label is None and set(labels) in ({0, 1}, {-1, 1}):
        pos_label = 1
    binary = len(labels) == 2 and pos_label is not None and pos_label in labels
    k = len(labels)
    counts = np.zeros((k, k))
    for c in cells:
        counts[index[c["t"]], index[c["pl"]]] += c["n"]
    cm = ConfusionMatrix(labels, counts, counts.copy())
    distributions: list[ScoreDistribution] | None = None
    top: ScoreDistribution | None = None
    losses: LossSums | None = None
    if binary:
        pos_texts = [t for t, i in index.items() if labels[i] == pos_label]
        dist = (
            _distribution(scores, pos_texts, exact, resolution, exact_limit)
            if isinstance(scores, pa.Table)
            else scores(pos_texts)
        )
        if dist is not None:
            distributions = [dist]
            losses = _losses(cells, set(pos_texts))
    elif multiclass is not None:
        distributions, top, losses = multiclass(index, len(labels), exact, resolution, exact_limit)
    else:
        notes.append(
            "ranking and loss metrics of a multiclass model are not kept per time bucket; "
            "read the window as a scope for them"
        )
    evaluation = Evaluation(
        labels, pos_label if binary else None, cm, distributions, top, losses, latency
    )
    evaluation.predictions = predictions
    evaluation.failures = failed
    return StoreStats(evaluation, predictions, failed, labelled, unmatched, labels, notes, values)


# A note names at most this many of the labels outside the classes.
_NAMED = 10


def _inside(
    cells: list[dict[str, Any]], resolved: ResolvedLabels, classes: Sequence[Label]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The cells whose actual and predicted labels are both declared classes, and the
    note counting the labelled pairs left out (none when every pair is inside)."""
    outside = resolved.outside
    kept: list[dict[str, Any]] = []
    left: list[dict[str, Any]] = []
    for c in cells:
        (left if c["t"] in outside or c["pl"] in outside else kept).append(c)
    n = sum(int(c["n"]) for c in left)
    if not n:
        return kept, []
    found = {c[side] for c in left for side in ("t", "pl") if c[side] in outside}
    values = sorted({repr(resolved.labels[resolved.index[t]]) for t in found})
    named = ", ".join(values[:_NAMED])
    if len(values) > _NAMED:
        named += f" and {len(values) - _NAMED} more"
    pairs = "1 labelled pair holds" if n == 1 else f"{n} labelled pairs hold"
    return kept, [
        f"{pairs} a label outside the model's classes {list(classes)!r} ({named}): left "
        "out of every metric (an outcome sent before its prediction cannot be checked "
        "against the classes)"
    ]


def _without(
    scores: Callable[[list[str]], ScoreDistribution | None], outside: list[str]
) -> Callable[[list[str]], ScoreDistribution | None]:
    """A score-distribution function of the positive texts that leaves out the rows
    labelled ``outside``: such a function counts every text that is not positive as
    negative, so the negatives are read with ``outside`` counted positive instead."""

    def build(positive: list[str]) -> ScoreDistribution | None:
        first = scores(positive)
        if first is None:
            return None
        second = scores([*positive, *outside])
        if second is None:  # pragma: no cover - same rows, same keys
            return None
        keep = (first.positive + second.negative) > 0
        pos, neg = first.positive[keep], second.negative[keep]
        if not keep.any():
            return None
        return ScoreDistribution(
            first.resolution,
            first.exact_limit,
            first.is_exact,
            int(pos.sum() + neg.sum()),
            first.keys[keep],
            pos,
            neg,
            first.positive_sq,
            second.negative_sq,
        )

    return build


def unmatched_outcomes(cur: duckdb.DuckDBPyConnection) -> int:
    """Outcomes whose prediction has not been seen (yet), over the whole store: every
    outcome not in a labelled pair (ids are unique, so the difference is exact)."""
    row = cur.execute(
        "SELECT (SELECT count(*) FROM outcomes) - (SELECT count(*) FROM labelled)"
    ).fetchall()
    return int(row[0][0]) if row else 0


def _losses(cells: list[dict[str, Any]], pos: set[str]) -> LossSums | None:
    """Log loss and Brier sums for ``pos`` from the class-independent per-cell sums:
    a positive row's loss is -ln(s) and (1 - s)^2, a negative row's -ln(1 - s) and s^2."""
    n = sum(int(c["ns"]) for c in cells)
    if not n:
        return None
    ll = ll2 = b = b2 = 0.0
    for c in cells:
        positive = c["t"] in pos
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
    cells_sql = f"""
        SELECT l.label, l.predicted, {LABELLED_CELL_SUMS}
        FROM {_LABELLED} l WHERE {where} AND l.status = 'ok'
        GROUP BY l.label, l.predicted
    """
    rows = cur.execute(cells_sql, params).fetchall()
    cells = [dict(zip(LABELLED_CELL_NAMES, r, strict=True)) for r in rows]
    key = "l.score" if exact else f"least(floor(l.score * {resolution}), {resolution - 1})"
    histogram_sql = f"""
        SELECT l.label AS t, {key} AS key, count(*) AS n
        FROM {_LABELLED} l
        WHERE {where} AND l.status = 'ok' AND l.label IS NOT NULL
          AND l.predicted IS NOT NULL AND l.score IS NOT NULL
        GROUP BY ALL
    """
    # Arrow, not Python tuples: the histogram can have a million bins.
    scores = cur.sql(histogram_sql, params=params).to_arrow_table()
    return cells, scores


def _distribution(
    scores: pa.Table, pos: list[str], exact: bool, resolution: int, exact_limit: int
) -> ScoreDistribution | None:
    scores = scores.filter(
        pc.and_(pc.is_valid(scores.column("key")), pc.is_valid(scores.column("t")))
    )
    if scores.num_rows == 0:
        return None
    key = scores.column("key").to_numpy().astype(np.float64)
    count = scores.column("n").to_numpy().astype(np.float64)
    is_pos = pc.is_in(scores.column("t"), pa.array(pos, pa.string())).to_numpy(zero_copy_only=False)
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


def _multiclass(
    cur: duckdb.DuckDBPyConnection,
    scoped: tuple[str, list[Any]],
    index: dict[str, int],
    k: int,
    exact: bool,
    resolution: int,
    exact_limit: int,
) -> tuple[list[ScoreDistribution] | None, ScoreDistribution | None, LossSums | None]:
    """One-vs-rest score distributions per class, the top-label distribution and the
    loss sums, from the class probabilities kept with labelled pairs.

    ``probas`` is aligned with the classes (declared, else the sorted labels, as
    scikit-learn's ``classes_``); rows whose probabilities have another length or are
    not all in [0, 1] are left out of these statistics (never out of the counts).
    """
    where, params = scoped
    texts = list(index)
    valid = (
        f"l.status = 'ok' AND l.label IS NOT NULL AND l.predicted IS NOT NULL "
        f"AND len(l.probas) = {k} AND list_min(l.probas) >= 0 AND list_max(l.probas) <= 1"
    )
    codes = "(SELECT unnest(?::VARCHAR[]) AS text, unnest(?::INTEGER[]) AS code) m"
    code_params = [texts, [index[t] + 1 for t in texts]]
    if exact:
        # At most ``exact_limit`` rows, and exact keys are the distinct scores: a GROUP BY
        # would return about as many rows as it reads, so read them once instead and
        # summarise with the metrics' own vectorised updates.
        rows = cur.sql(
            f"SELECT m.code - 1 AS code, l.probas FROM labelled l JOIN {codes} "
            f"ON m.text = l.label WHERE {where} AND {valid}",
            params=[*code_params, *params],
        ).to_arrow_table()
        return _multiclass_exact(rows, k, resolution, exact_limit)
    # Beyond exact_limit rows: equal-width bins, so the GROUP BYs return at most
    # k x resolution rows whatever the number of pairs.
    key = f"least(floor(l.probas[c.i] * {resolution}), {resolution - 1})"
    per_class = cur.sql(
        f"SELECT l.label AS t, c.i AS cls, {key} AS key, count(*) AS n "
        f"FROM labelled l CROSS JOIN range(1, {k + 1}) AS c(i) "
        f"WHERE {where} AND {valid} GROUP BY ALL",
        params=params,
    ).to_arrow_table()
    # Only the pairs labelled with a class (``index`` leaves out the labels outside a
    # declared model's classes, as the confusion matrix does).
    per_class = per_class.filter(pc.is_in(per_class.column("t"), pa.array(texts, pa.string())))
    if per_class.num_rows == 0:
        return None, None, None
    distributions = []
    for c in range(k):
        part = per_class.filter(pc.equal(per_class.column("cls"), c + 1))
        pos = [t for t in texts if index[t] == c]
        dist = _distribution(part, pos, False, resolution, exact_limit)
        distributions.append(dist or ScoreDistribution(resolution, exact_limit))
    p_true = "l.probas[m.code]"
    if k == 2:
        brier = f"power(1 - {p_true}, 2)"
    else:
        brier = f"list_sum(list_transform(l.probas, lambda x: x * x)) - 2 * {p_true} + 1"
    top_key = f"least(floor(list_max(l.probas) * {TOP}), {TOP - 1})"
    rows = cur.sql(
        f"SELECT list_position(l.probas, list_max(l.probas)) = l.code AS t, {top_key} AS key, "
        f"count(*) AS n, sum(ll) AS ll, sum(ll * ll) AS ll2, sum(b) AS b, sum(b * b) AS b2 "
        f"FROM (SELECT l.*, m.code, -ln(greatest(least({p_true}, {1 - EPS!r}), {EPS!r}) "
        f"/ list_sum(l.probas)) AS ll, {brier} AS b "
        f"FROM labelled l JOIN {codes} ON m.text = l.label WHERE {where} AND {valid}) l "
        "GROUP BY ALL",
        params=[*code_params, *params],
    ).to_arrow_table()
    n = int(pc.sum(rows.column("n")).as_py() or 0)
    losses = LossSums(
        float(n),
        float(n),
        n,
        *(float(pc.sum(rows.column(c)).as_py() or 0.0) for c in ("ll", "ll2", "b", "b2")),
    )
    flags = rows.select(["t", "key", "n"]).set_column(
        0, "t", pc.cast(rows.column("t"), pa.string())
    )
    top = _distribution(flags, ["true"], False, TOP, exact_limit)
    return distributions, top, losses


def _multiclass_exact(
    rows: pa.Table, k: int, resolution: int, exact_limit: int
) -> tuple[list[ScoreDistribution] | None, ScoreDistribution | None, LossSums | None]:
    if rows.num_rows == 0:
        return None, None, None
    codes = rows.column("code").to_numpy().astype(np.int64)
    flat = pc.list_flatten(rows.column("probas").combine_chunks())
    proba = flat.to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, k)
    distributions = [
        ScoreDistribution(resolution, exact_limit).update(codes == c, proba[:, c], validated=True)
        for c in range(k)
    ]
    argmax = np.argmax(proba, axis=1)
    top = ScoreDistribution(TOP, exact_limit).update(
        argmax == codes, proba[np.arange(codes.size), argmax], validated=True
    )
    return distributions, top, LossSums().update(codes, proba)


def grouped_aggregate(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    by: Sequence[str] = (),
    *,
    every: timedelta | None = None,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    unmatched: int | None = None,
) -> dict[tuple[Any, ...], StoreStats]:
    """:func:`aggregate` per group of ``by`` (version, segment) and per time bucket of
    length ``every`` (aligned to the Unix epoch; the bucket's start is the last key).

    Every group in the same few GROUP BYs (:mod:`._grouped_scan`); each group equals
    what a scope naming it would give.
    """
    for column in by:
        if column not in ("version", "segment"):
            raise ValidationError(f"cannot group by {column!r}; use 'version' and/or 'segment'")
    if every is not None and every.total_seconds() <= 0:
        raise ValidationError(f"time bucket {every} must be positive")
    if not by and every is None:
        return {
            (): aggregate(cur, scope, classes=classes, pos_label=pos_label, unmatched=unmatched)
        }
    from ._grouped_scan import grouped_scan  # it builds on this module

    seconds = None if every is None else every.total_seconds()
    found = grouped_scan(cur, scope, {scope.model: (classes, pos_label)}, by, seconds, unmatched)
    return found[scope.model]
