"""Grouped statistics from the rollups as columns (:class:`~liveeval.store.GroupedArrays`).

The same four rollup reads as :func:`.windows.rollup_grouped` (counts, latency
buckets, confusion cells with their sums, labelled score lists), one query each, but
turned into arrays with one entry per group instead of a :class:`StoreStats` and an
:class:`Evaluation` per window: the groups are numbered once, each table's rows are
placed by group number in numpy, and the labels are resolved once for the whole read
(every group reports the read's classes, as in the grouped read). Groups that are not
binary windows with labelled pairs (no labels yet, a multiclass model, classes with a
note) are assembled as the grouped read assembles them, from the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...metrics import LossSums, ScoreDistribution
from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT
from ..interface import SCORE_BINS, GroupedArrays, Scope, ScoreHistogram, StoreStats
from ..labels import resolve_labels
from ._window_sql import (
    add_rows,
    check,
    list_matrix,
    rollup_where,
    scores_table,
    start,
    window_key,
)
from .aggregate import assemble, unmatched_outcomes
from .windows import _key, binned_distribution

__all__ = ["rollup_grouped_arrays"]

_CELLS = ("n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4", "vn", "vs", "vss")
IntVector = np.ndarray[Any, np.dtype[np.int64]]


def rollup_grouped_arrays(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    by: Sequence[str],
    every: timedelta,
    *,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    unmatched: int | None = None,
    latency: bool = True,
    histograms: bool = False,
) -> GroupedArrays:
    """:func:`.windows.rollup_grouped` as :class:`GroupedArrays` (the scope and windows
    on bucket boundaries; ``unmatched`` as there; ``latency=False``: no sketches;
    ``histograms``: also :func:`.windows.score_histograms` of the windows, from the
    same read, when not grouped by version or segment)."""
    check(scope, every)
    where, params = rollup_where(scope)
    group = [{"version": "r.version", "segment": "r.seg"}[c] + f" AS g_{c}" for c in by]
    names = [*(f"g_{c}" for c in by), "w"]
    select = ", ".join([*group, f"{window_key(every)} AS w"])
    counts = cur.sql(
        f"SELECT {select}, sum(predictions)::BIGINT AS predictions, "
        "sum(failed)::BIGINT AS failed, sum(lat_n)::DOUBLE AS lat_n, "
        "sum(lat_zeros)::DOUBLE AS lat_zeros, sum(lat_sum) AS lat_sum, "
        "sum(lat_sum2) AS lat_sum2, max(lat_max) AS lat_max "
        f"FROM rollup_counts r WHERE {where} GROUP BY ALL HAVING sum(predictions) > 0",
        params=params,
    ).to_arrow_table()
    if unmatched is None:
        unmatched = unmatched_outcomes(cur)
    raw = list(zip(*(counts.column(n).to_pylist() for n in names), strict=True))
    keyed = [_key(k, by, every, scope) for k in raw]
    order = sorted(range(len(raw)), key=lambda i: tuple((v is None, str(v)) for v in keyed[i]))
    number = {raw[i]: g for g, i in enumerate(order)}
    g_count = len(order)
    at = np.array(order, dtype=np.int64)
    predictions = counts.column("predictions").to_numpy().astype(np.int64)[at]
    failed = counts.column("failed").to_numpy().astype(np.int64)[at]
    totals = np.column_stack(
        [
            counts.column(c).to_numpy(zero_copy_only=False).astype(np.float64)[at]
            for c in ("lat_n", "lat_zeros", "lat_sum", "lat_sum2", "lat_max")
        ]
    ).reshape(g_count, 5)
    totals = np.where(np.isnan(totals) | (not latency), 0.0, totals)

    lat_rows = cur.sql(
        f"SELECT {select}, k, sum(n)::DOUBLE AS n FROM rollup_latency r WHERE {where} "
        f"{'' if latency else 'AND false '}GROUP BY ALL",
        params=params,
    ).to_arrow_table()
    lat_group = _numbers(lat_rows, names, number)
    lat_key = lat_rows.column("k").to_numpy().astype(np.int64)
    kept = lat_group >= 0
    lat_sort = np.lexsort((lat_key[kept], lat_group[kept]))
    sketch_keys = (
        lat_group[kept][lat_sort],
        lat_key[kept][lat_sort],
        lat_rows.column("n").to_numpy().astype(np.float64)[kept][lat_sort],
    )

    sums = ", ".join(
        f"sum({c})::BIGINT AS {c}" if c in ("n", "ns", "vn") else f"sum({c}) AS {c}" for c in _CELLS
    )
    cells = cur.sql(
        f"SELECT {select}, label AS t, predicted AS pl, {sums}, bool_and(vbin) AS vbin "
        f"FROM rollup_cells r WHERE {where} GROUP BY ALL",
        params=params,
    ).to_arrow_table()
    cell_group = _numbers(cells, names, number)
    # The read's classes: every labelled pair's texts in the scope (as the grouped read).
    scope_texts = {
        text
        for pair in zip(cells.column("t").to_pylist(), cells.column("pl").to_pylist(), strict=True)
        if all(pair)
        for text in pair
    }
    cells = cells.filter(pa.array(cell_group >= 0))
    cell_group = cell_group[cell_group >= 0]
    col = {c: cells.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in _CELLS}
    vbin = np.array([v is True for v in cells.column("vbin").to_pylist()], np.bool_)

    # Business values: the cells with values, as assemble() sums them.
    has_values = col["vn"] > 0
    values = (
        np.column_stack(
            [
                np.bincount(
                    cell_group, weights=np.where(has_values, col[c], 0.0), minlength=g_count
                )
                for c in ("vn", "vs", "vss")
            ]
        )
        .reshape(g_count, 3)
        .astype(np.float64)
    )
    values_binary = np.bincount(cell_group, weights=has_values & ~vbin, minlength=g_count) == 0

    # Labels, resolved once over every group's texts ('' is no label).
    t_text = ["" if v is None else str(v) for v in cells.column("t").to_pylist()]
    p_text = ["" if v is None else str(v) for v in cells.column("pl").to_pylist()]
    valid = np.array([bool(a) and bool(b) for a, b in zip(t_text, p_text, strict=True)], np.bool_)
    resolved = resolve_labels(scope_texts, classes)
    labels = resolved.labels
    t_index = np.array([resolved.index.get(t, -1) for t in t_text], np.int64)
    p_index = np.array([resolved.index.get(p, -1) for p in p_text], np.int64)
    labelled = np.bincount(cell_group[valid], weights=col["n"][valid], minlength=g_count)
    labelled = np.rint(labelled).astype(np.int64)

    # Every group of the read reports the read's classes (as the grouped read does, so
    # that windows merge); the columns are the groups with labelled pairs of a binary
    # model whose classes need no note.
    # Labels outside declared classes: the groups holding such a pair are assembled
    # (which leaves the pair out and says so), the others stay columns.
    outside = resolved.outside
    stray = np.zeros(len(t_text), np.bool_)
    if outside:
        stray[:] = [t in outside or p in outside for t, p in zip(t_text, p_text, strict=True)]
    labels = labels[: resolved.declared] if outside else labels
    pos = pos_label
    if pos is None and set(labels) in ({0, 1}, {-1, 1}):
        pos = 1
    binary_model = len(labels) == 2 and pos is not None and pos in labels
    column = np.zeros(g_count, np.bool_)
    if binary_model:
        column[cell_group[valid]] = True
        column[cell_group[valid & stray]] = False
    confusion = np.zeros((g_count, 2, 2))
    if binary_model:
        use = valid & column[cell_group]
        np.add.at(confusion, (cell_group[use], t_index[use], p_index[use]), col["n"][use])

    # Loss sums of the column groups: a positive row's -ln(s) and (1 - s)^2.
    losses: list[LossSums | None] = [None] * g_count
    pos_texts: list[str] = []
    if binary_model:
        pos_at = labels.index(pos)
        pos_texts = [t for t, i in resolved.index.items() if i == pos_at]
        is_pos = np.array([t in pos_texts for t in t_text], np.bool_)
        use = valid & column[cell_group]
        parts = {
            "ns": col["ns"],
            "ll": np.where(is_pos, col["nls"], col["nlq"]),
            "ll2": np.where(is_pos, col["nls2"], col["nlq2"]),
            "b": np.where(is_pos, col["q2"], col["s2"]),
            "b2": np.where(is_pos, col["q4"], col["s4"]),
        }
        summed = {
            k: np.bincount(cell_group[use], weights=v[use], minlength=g_count)
            for k, v in parts.items()
        }
        rows = np.rint(summed["ns"]).astype(np.int64).tolist()
        ll, ll2, b, b2 = (summed[k].tolist() for k in ("ll", "ll2", "b", "b2"))
        for g in np.flatnonzero(column).tolist():
            n = rows[g]
            if n:
                losses[g] = LossSums(float(n), float(n), n, ll[g], ll2[g], b[g], b2[g])

    # Labelled score lists per window and label text (and, for the estimates, every ok
    # prediction's: score_histograms from the same rows).
    table, grain = scores_table(scope, every)
    s_where, s_params = rollup_where(scope, grain=grain)
    s_select = ", ".join([*group, f"{window_key(every, grain)} AS w"])
    kinds = "kind IN ('p', 'l')" if histograms and not by else "kind = 'l'"
    both = cur.sql(
        f"SELECT {s_select}, kind, label AS t, counts FROM {table} r WHERE {s_where} AND {kinds}",
        params=s_params,
    ).to_arrow_table()
    # Masks on numpy copies of the columns, not filters of the table (a filter copies
    # every list).
    all_text = both.column("t").to_pylist()
    all_matrix = (
        list_matrix(both.column("counts"), SCORE_BINS, native=True)
        if both.num_rows
        else np.zeros((0, SCORE_BINS), np.int64)
    )
    found_histograms = None
    if histograms and not by:
        is_labelled = pc.equal(both.column("kind"), "l").to_numpy(zero_copy_only=False)
        found_histograms = _score_histograms(
            both.column("w").to_numpy(),
            is_labelled,
            all_text,
            all_matrix,
            classes,
            pos_label,
            every,
            scope,
        )
        labelled_rows = np.flatnonzero(is_labelled)
        score_group = _numbers(both, names, number)[labelled_rows]
        score_text = [all_text[i] for i in labelled_rows.tolist()]
        matrix = all_matrix[labelled_rows]
    else:
        score_group = _numbers(both, names, number)
        score_text = all_text
        matrix = all_matrix
    scores: list[ScoreDistribution | None] = [None] * g_count
    if binary_model:
        hit = (score_group >= 0) & column[np.maximum(score_group, 0)]
        side = np.array([t in pos_texts for t in score_text], np.int64)
        dense = np.zeros((g_count * 2, SCORE_BINS), np.int64)
        add_rows(dense, (score_group * 2 + side)[hit], matrix[hit])
        dense3 = dense.reshape(g_count, 2, SCORE_BINS)
        for g, dist in _distributions(dense3, column).items():
            scores[g] = dist
        for g in np.flatnonzero(column).tolist():
            if scores[g] is None:
                losses[g] = None  # as the grouped read: no loss sums without scores

    other: dict[int, StoreStats] = {}
    rest = np.flatnonzero(~column).tolist()
    if rest:
        cell_dicts = cells.to_pylist()
        per_group: dict[int, list[dict[str, Any]]] = {g: [] for g in rest}
        for i, g in enumerate(cell_group.tolist()):
            if g in per_group:
                c = cell_dicts[i]
                per_group[g].append({**c, "t": c["t"] or None, "pl": c["pl"] or None})
        for g in rest:
            other[g] = assemble(
                per_group[g],
                _score_lists(g, score_group, score_text, matrix),
                GroupedArrays.sketch_of(totals[g], sketch_keys, g),
                (int(predictions[g]), int(failed[g]), unmatched),
                classes=classes,
                pos_label=pos_label,
                exact=False,
                resolution=SCORE_BINS,
                shared=resolved,
            )
    return GroupedArrays(
        tuple(keyed[i] for i in order),
        predictions,
        failed,
        labelled,
        unmatched,
        values.astype(np.float64),
        values_binary,
        labels if binary_model else (),
        pos if binary_model else None,
        column,
        confusion,
        tuple(scores),
        tuple(losses),
        totals,
        sketch_keys,
        other,
        found_histograms,
    )


def _numbers(table: pa.Table, names: list[str], number: dict[tuple[Any, ...], int]) -> IntVector:
    """Each row's group number (-1 for a group without predictions)."""
    if table.num_rows == 0:
        return np.zeros(0, np.int64)
    if names == ["w"] and number:
        known = np.array([k[0] for k in number], np.int64)
        at = np.array(list(number.values()), np.int64)
        order = np.argsort(known)
        known, at = known[order], at[order]
        w = table.column("w").to_numpy().astype(np.int64)
        slot = np.minimum(np.searchsorted(known, w), known.size - 1)
        return np.where(known[slot] == w, at[slot], -1).astype(np.int64)
    keys = zip(*(table.column(n).to_pylist() for n in names), strict=True)
    return np.array([number.get(k, -1) for k in keys], np.int64)


def _distributions(
    dense: np.ndarray[Any, Any], column: np.ndarray[Any, Any]
) -> dict[int, ScoreDistribution]:
    """:func:`_distribution` of every group of ``column`` from ``dense[g, side, bin]``
    (side 1 positive), with one ``nonzero`` over all groups."""
    total = dense[:, 0] + dense[:, 1]
    total[~column] = 0
    groups, keys = np.nonzero(total)
    if groups.size == 0:
        return {}
    pos = dense[groups, 1, keys].astype(np.float64)
    neg = dense[groups, 0, keys].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], groups.size]
    pos_sum = np.add.reduceat(pos, starts).tolist()
    neg_sum = np.add.reduceat(neg, starts).tolist()
    fkeys = keys.astype(np.float64)
    out = {}
    for i, (g, a, b) in enumerate(
        zip(groups[starts].tolist(), starts.tolist(), ends.tolist(), strict=True)
    ):
        out[g] = ScoreDistribution(
            SCORE_BINS,
            DEFAULT_EXACT_LIMIT,
            False,
            int(pos_sum[i] + neg_sum[i]),
            fkeys[a:b],
            pos[a:b],
            neg[a:b],
            pos_sum[i],
            neg_sum[i],
        )
    return out


def _score_lists(
    g: int, groups: IntVector, texts: list[str], matrix: np.ndarray[Any, Any]
) -> Callable[[list[str]], ScoreDistribution | None]:
    """Group ``g``'s score distribution as a function of its positive label texts."""
    rows = np.flatnonzero(groups == g).tolist()

    def build(positive: list[str]) -> ScoreDistribution | None:
        pos = np.zeros(SCORE_BINS, np.int64)
        neg = np.zeros(SCORE_BINS, np.int64)
        for i in rows:
            if texts[i] in positive:
                pos += matrix[i]
            else:
                neg += matrix[i]
        return binned_distribution(pos, neg)

    return build


def _score_histograms(
    w: np.ndarray[Any, Any],
    labelled: np.ndarray[Any, Any],
    texts: list[str],
    matrix: np.ndarray[Any, Any],
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
    every: timedelta,
    scope: Scope,
) -> dict[datetime, ScoreHistogram] | None:
    """:func:`.windows.score_histograms` from its rows (window numbers ``w``, kind ``l``
    or ``p``, label text, counts); None where that read refuses (not a binary model
    with a known positive class)."""
    keep = np.array([bool(t) for t in texts], np.bool_)
    if not keep.any():
        return {}
    kept_texts = [t for t, k in zip(texts, keep.tolist(), strict=True) if k]
    distinct = sorted(set(kept_texts))
    resolved = resolve_labels(distinct, classes)
    labels = resolved.labels
    if classes is not None and len(classes) == 2 and len(labels) > 2:
        # As score_histograms: rows labelled outside a declared binary model's classes
        # (an early outcome's label) are left out.
        inside = {t for t in distinct if resolved.index[t] < 2}
        keep &= np.array([t in inside for t in texts], np.bool_)
        kept_texts = [t for t, k in zip(texts, keep.tolist(), strict=True) if k]
        distinct = sorted(inside)
        labels = labels[:2]
        if not keep.any():
            return {}
    if pos_label is None and (set(labels) <= {0, 1} or set(labels) <= {-1, 1}):
        pos_label = 1
    if pos_label is None or len(labels) > 2:
        return None
    positive = {t for t in distinct if labels[resolved.index[t]] == pos_label}
    windows, at = np.unique(w[keep], return_inverse=True)
    k = np.array([t in positive for t in kept_texts], np.int64)
    slot = (at.reshape(-1) * 2 + labelled[keep].astype(np.int64)) * 2 + k
    flat = np.zeros((windows.size * 4, SCORE_BINS), dtype=np.int64)
    add_rows(flat, slot, matrix[keep])
    dense = flat.reshape(windows.size, 2, 2, SCORE_BINS)
    return {
        start(int(win), every, scope): ScoreHistogram(dense[i, 0], dense[i, 1])
        for i, win in enumerate(windows.tolist())
    }
