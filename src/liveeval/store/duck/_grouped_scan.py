"""Grouped statistics by a scan of the events, every group in the same few queries.

Windows that do not fall on the rollups' 15-minute buckets (a 5-minute sparkline, a
window cut inside a bucket) are read from the events. The statistics of every group
— (model, version, segment, window) — come from three GROUP BYs over the scope, not
three queries per group: a per-group read cost ~20 ms a query, so 13 models × 13
windows took seconds on a store of a thousand events. Each group's statistics equal
:func:`.aggregate.aggregate` over a scope naming the group (tests compare the two).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pyarrow.compute as pc

from ...metrics import LatencySketch, ScoreDistribution
from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT, DEFAULT_RESOLUTION
from ..interface import Scope, StoreStats
from ..labels import ResolvedLabels, resolve_labels
from .aggregate import (
    _LABELLED,
    LABELLED_CELL_NAMES,
    LABELLED_CELL_SUMS,
    _multiclass,
    _where,
    assemble,
    unmatched_outcomes,
)

__all__ = ["grouped_scan"]

_EPOCH = datetime(1970, 1, 1)
Labels = Mapping[str, tuple[tuple[Label, ...] | None, Label | None]]


def _no_scores(positive: list[str]) -> ScoreDistribution | None:
    return None


@dataclass
class _Group:
    """One group's pieces as the three queries return them."""

    predictions: int = 0
    failed: int = 0
    latency: LatencySketch | None = None
    cells: list[dict[str, Any]] = field(default_factory=list)
    scores: Callable[[list[str]], ScoreDistribution | None] = _no_scores


def grouped_scan(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    labels: Labels,
    by: Sequence[str],
    seconds: float | None,
    unmatched: int | None,
) -> dict[str, dict[tuple[Any, ...], StoreStats]]:
    """Per model of ``labels`` (its classes and positive class), the statistics of each
    group of ``by`` and time bucket of ``seconds`` (aligned to the Unix epoch; the
    bucket's start is the key's last value) that has predictions in ``scope`` (whose
    model is ignored). Keys as :func:`.aggregate.grouped_aggregate`'s."""
    models = sorted(labels)
    out: dict[str, dict[tuple[Any, ...], StoreStats]] = {m: {} for m in models}
    if not models:
        return out
    p_where, p_params = _where(scope, "p", models)
    l_where, l_params = _where(scope, "l", models)
    keys = ["model", *by]
    if seconds is not None:
        keys.append("w")

    def key_columns(alias: str) -> str:
        columns = [f"{alias}.{c} AS g_{c}" for c in ("model", *by)]
        if seconds is not None:
            columns.append(f"CAST(floor(epoch({alias}.ts) / {seconds!r}) AS BIGINT) AS g_w")
        return ", ".join(columns)

    names = [f"g_{c}" for c in keys]
    groups = _predictions(cur, key_columns("p"), names, p_where, p_params)
    if not groups:
        return out
    if unmatched is None:
        unmatched = unmatched_outcomes(cur)  # store-wide: once, not once per group
    _cells(cur, key_columns("l"), names, l_where, l_params, groups)
    _scores(cur, key_columns("l"), names, l_where, l_params, groups)
    shared = _scope_labels(cur, l_where, l_params, labels)
    ordered = sorted(groups, key=lambda g: tuple((v is None, str(v)) for v in g))
    for group in ordered:
        piece = groups[group]
        model = str(group[0])
        narrowed, key = _narrowed(scope, model, by, group[1:], seconds)
        classes, pos_label = labels[model]
        exact = piece.predictions - piece.failed <= DEFAULT_EXACT_LIMIT
        out[model][key] = assemble(
            piece.cells,
            piece.scores,
            piece.latency,
            (piece.predictions, piece.failed, unmatched),
            classes=classes,
            pos_label=pos_label,
            exact=exact,
            resolution=DEFAULT_RESOLUTION,
            exact_limit=DEFAULT_EXACT_LIMIT,
            multiclass=partial(_multiclass, cur, _where(narrowed, "l")),
            shared=shared[model],
        )
    return out


def _rows(
    cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any], width: int
) -> list[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(group key, the rest) of each row of ``sql``, whose first ``width`` columns are
    the key."""
    return [(tuple(r[:width]), tuple(r[width:])) for r in cur.execute(sql, params).fetchall()]


def _predictions(
    cur: duckdb.DuckDBPyConnection,
    columns: str,
    names: list[str],
    where: str,
    params: list[Any],
) -> dict[tuple[Any, ...], _Group]:
    """Each group's prediction and failure counts and latency sketch, in one scan
    (as :func:`.aggregate._predictions` for one scope)."""
    log_gamma = math.log(LatencySketch().gamma)
    lat = "p.latency_total_s"
    group = ", ".join(names)
    sql = (
        f"SELECT {group}, GROUPING(k), k, count(*), count(*) FILTER (WHERE p.status <> 'ok'), "
        f"count({lat}), count(*) FILTER (WHERE {lat} = 0), sum({lat}), "
        f"sum({lat} * {lat}), max({lat}) "
        f"FROM (SELECT {columns}, p.status, p.latency_total_s, CASE WHEN {lat} > 0 THEN "
        f"CAST(ceil(ln({lat}) / {log_gamma!r}) AS BIGINT) END AS k "
        f"FROM predictions p WHERE {where}) p GROUP BY GROUPING SETS (({group}), ({group}, k))"
    )
    rows = _rows(cur, sql, params, len(names))
    groups: dict[tuple[Any, ...], _Group] = {}
    buckets: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for key, r in rows:
        if r[0] == 1:
            piece = groups.setdefault(key, _Group())
            piece.predictions, piece.failed = int(r[2]), int(r[3] or 0)
            if r[4]:
                sketch = LatencySketch()
                sketch.zeros = int(r[5])
                sketch.count = int(r[4])
                sketch.total = float(r[6])
                sketch.total_sq = float(r[7])
                sketch.maximum = float(r[8])
                piece.latency = sketch
        elif r[1] is not None:
            buckets.setdefault(key, []).append((int(r[1]), int(r[2])))
    for key, piece in groups.items():
        if piece.latency is not None:
            found = sorted(buckets.get(key, []))
            piece.latency.keys = np.array([b[0] for b in found], dtype=np.int64)
            piece.latency.counts = np.array([float(b[1]) for b in found])
    return groups


def _cells(
    cur: duckdb.DuckDBPyConnection,
    columns: str,
    names: list[str],
    where: str,
    params: list[Any],
    groups: dict[tuple[Any, ...], _Group],
) -> None:
    """Each group's confusion cells with their loss and business-value sums."""
    sql = f"""
        SELECT {", ".join(names)}, l.label, l.predicted, {LABELLED_CELL_SUMS}
        FROM (SELECT {columns}, l.* FROM {_LABELLED} l WHERE {where} AND l.status = 'ok') l
        GROUP BY ALL
    """
    for key, r in _rows(cur, sql, params, len(names)):
        if key in groups:  # a labelled pair's prediction is in its group
            groups[key].cells.append(dict(zip(LABELLED_CELL_NAMES, r, strict=True)))


def _scores(
    cur: duckdb.DuckDBPyConnection,
    columns: str,
    names: list[str],
    where: str,
    params: list[Any],
    groups: dict[tuple[Any, ...], _Group],
) -> None:
    """Each group's labelled (label, score) counts, exact scores, as a function of the
    positive class's label texts giving its score distribution (binned for a group
    beyond the exact limit, with the one-scope read's formula)."""
    sql = f"""
        SELECT {", ".join(names)}, l.label AS t, l.score AS key, count(*) AS n
        FROM (SELECT {columns}, l.* FROM {_LABELLED} l WHERE {where} AND l.status = 'ok'
              AND l.label IS NOT NULL AND l.predicted IS NOT NULL AND l.score IS NOT NULL) l
        GROUP BY ALL
    """
    table = cur.sql(sql, params=params).to_arrow_table()
    if table.num_rows == 0:
        return
    texts = pc.dictionary_encode(table.column("t")).combine_chunks()
    codes = texts.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    code_of = {t: i for i, t in enumerate(texts.dictionary.to_pylist())}
    score = table.column("key").to_numpy().astype(np.float64)
    count = table.column("n").to_numpy().astype(np.float64)
    number = {key: i for i, key in enumerate(groups)}
    keys = zip(*(table.column(n).to_pylist() for n in names), strict=True)
    owner = np.array([number.get(k, -1) for k in keys], np.int64)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(groups) + 1))
    for i, piece in enumerate(groups.values()):
        rows = order[bounds[i] : bounds[i + 1]]
        if rows.size:
            exact = piece.predictions - piece.failed <= DEFAULT_EXACT_LIMIT
            piece.scores = _distribution(codes[rows], score[rows], count[rows], code_of, exact)


def _distribution(
    codes: np.ndarray[Any, np.dtype[np.int64]],
    score: np.ndarray[Any, np.dtype[np.float64]],
    count: np.ndarray[Any, np.dtype[np.float64]],
    code_of: dict[str, int],
    exact: bool,
) -> Callable[[list[str]], ScoreDistribution | None]:
    """:func:`.aggregate._distribution` over one group's rows, as a function of the
    positive texts."""
    if not exact:
        score = np.minimum(np.floor(score * DEFAULT_RESOLUTION), DEFAULT_RESOLUTION - 1)
    keys, inverse = np.unique(score, return_inverse=True)

    def build(positive: list[str]) -> ScoreDistribution | None:
        is_pos = np.isin(codes, [code_of[t] for t in positive if t in code_of])
        pos = np.bincount(inverse, weights=count * is_pos, minlength=keys.size)
        neg = np.bincount(inverse, weights=count * ~is_pos, minlength=keys.size)
        return ScoreDistribution(
            DEFAULT_RESOLUTION,
            DEFAULT_EXACT_LIMIT,
            exact,
            int(count.sum()),
            keys,
            pos.astype(np.float64),
            neg.astype(np.float64),
            float(pos.sum()),
            float(neg.sum()),
        )

    return build


def _scope_labels(
    cur: duckdb.DuckDBPyConnection, where: str, params: list[Any], labels: Labels
) -> dict[str, ResolvedLabels]:
    """Per model, the classes of every labelled pair in the scope, for all its groups."""
    rows = cur.execute(
        f"SELECT DISTINCT l.model, l.label, l.predicted FROM labelled l WHERE {where} "
        "AND l.status = 'ok' AND l.label IS NOT NULL AND l.predicted IS NOT NULL",
        params,
    ).fetchall()
    texts: dict[str, set[str]] = {m: set() for m in labels}
    for model, label, predicted in rows:
        texts[model].update((label, predicted))
    return {m: resolve_labels(texts[m], labels[m][0]) for m in labels}


def _narrowed(
    scope: Scope, model: str, by: Sequence[str], group: tuple[Any, ...], seconds: float | None
) -> tuple[Scope, tuple[Any, ...]]:
    """The scope naming one group, and the group's key (its window's start last)."""
    narrowed = replace(scope, model=model)
    values = dict(zip(by, group, strict=False))
    key: list[Any] = list(group[: len(by)])
    if "version" in values:
        narrowed = replace(narrowed, version=values["version"])
    if "segment" in values:
        if values["segment"] is None:
            narrowed = replace(narrowed, segment_is_null=True)
        else:
            narrowed = replace(narrowed, segment=values["segment"])
    if seconds is not None:
        start = _EPOCH + timedelta(seconds=int(group[-1]) * seconds)
        end = start + timedelta(seconds=seconds)
        since = start if scope.since is None else max(start, scope.since)
        until = end if scope.until is None else min(end, scope.until)
        narrowed = replace(narrowed, since=since, until=until)
        key.append(start)
    return narrowed, tuple(key)
