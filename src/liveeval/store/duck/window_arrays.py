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
from datetime import timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ...metrics import LossSums, ScoreDistribution
from ...metrics.batch import BinCountDistributions
from ...metrics.labels import Label
from ..interface import SCORE_BINS, GroupedArrays, Scope, StoreStats
from ..labels import resolve_labels
from ._group_columns import (
    CELL_SUMS,
    LATENCY_SUMS,
    IntVector,
    business_values,
    cell_columns,
    cells_by_group,
    label_texts,
    latency_totals,
    loss_sums,
    sketch_keys,
)
from ._window_sql import (
    SCORE_LISTS,
    check,
    list_matrix,
    rollup_where,
    scores_table,
    summed_rows,
    window_key,
)
from .aggregate import assemble, unmatched_outcomes
from .windows import _key, binned_distribution, binned_scores

__all__ = ["rollup_grouped_arrays"]

# Without latency metrics the totals are not read (they would be zeroed).
_NO_LATENCY = ", ".join(
    f"0.0::DOUBLE AS {c}" for c in ("lat_n", "lat_zeros", "lat_sum", "lat_sum2", "lat_max")
)


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
        f"sum(failed)::BIGINT AS failed, {LATENCY_SUMS if latency else _NO_LATENCY} "
        f"FROM rollup_counts r WHERE {where} GROUP BY ALL HAVING sum(predictions) > 0",
        params=params,
    ).to_arrow_table()
    if unmatched is None:
        unmatched = unmatched_outcomes(cur)
    raw = list(zip(*(counts.column(n).to_pylist() for n in names), strict=True))
    keyed = [_key(k, by, every, scope) for k in raw]
    # The grouped read's order: by the keys' texts, the window start last. Window
    # starts are whole quarter hours whose texts have a fixed width, so their text
    # order is the order of the window numbers, which are compared instead.
    order = sorted(
        range(len(raw)),
        key=lambda i: (tuple((v is None, str(v)) for v in keyed[i][:-1]), raw[i][-1]),
    )
    number = {raw[i]: g for g, i in enumerate(order)}
    g_count = len(order)
    at = np.array(order, dtype=np.int64)
    predictions = counts.column("predictions").to_numpy().astype(np.int64)[at]
    failed = counts.column("failed").to_numpy().astype(np.int64)[at]
    totals = latency_totals(counts, at, g_count)

    lat_rows = cur.sql(
        f"SELECT {select}, k, sum(n)::DOUBLE AS n FROM rollup_latency r WHERE {where} "
        f"{'' if latency else 'AND false '}GROUP BY ALL",
        params=params,
    ).to_arrow_table()
    keys = sketch_keys(lat_rows, _numbers(lat_rows, names, number))

    cells = cur.sql(
        f"SELECT {select}, label AS t, predicted AS pl, {CELL_SUMS}, bool_and(vbin) AS vbin "
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
    col = cell_columns(cells)
    values, values_binary = business_values(cells, col, cell_group, g_count)

    # Labels, resolved once over every group's texts ('' is no label).
    t_text, p_text, valid = label_texts(cells)
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
        losses = loss_sums(col, is_pos, cell_group, valid & column[cell_group], column)

    # Score lists per window and label text: the labelled pairs' (kind 'l') and, for
    # the estimates, every ok prediction's (kind 'p'): score_histograms from the same
    # rows, whose labelled half also gives the windows' score distributions.
    table, grain = scores_table(scope, every)
    s_where, s_params = rollup_where(scope, grain=grain)
    s_select = ", ".join([*group, f"{window_key(every, grain)} AS w"])
    asked = histograms and not by
    kinds = "kind IN ('p', 'l')" if asked else "kind = 'l'"
    both = cur.sql(
        f"SELECT {s_select}, kind, label AS t, {SCORE_LISTS} AS counts FROM {table} r "
        f"WHERE {s_where} AND {kinds}",
        params=s_params,
    ).to_arrow_table()
    all_text = both.column("t").to_pylist()
    all_matrix = (
        list_matrix(both.column("counts"), SCORE_BINS, native=True)
        if both.num_rows
        else np.zeros((0, SCORE_BINS), np.int64)
    )
    is_labelled = (
        pc.equal(both.column("kind"), "l").to_numpy(zero_copy_only=False)
        if asked
        else np.ones(both.num_rows, np.bool_)
    )
    binned = None
    if asked:
        try:
            binned = binned_scores(
                both.column("w").to_numpy(),
                is_labelled,
                all_text,
                all_matrix,
                classes=classes,
                pos_label=pos_label,
                model=scope.model,
            )
        except ValidationError:
            binned = None  # not a binary model with a known positive class: no histograms
    labelled_rows = np.flatnonzero(is_labelled)
    score_group = _numbers(both, names, number)[labelled_rows]
    score_text = [all_text[i] for i in labelled_rows.tolist()]
    score_counts = None
    if binary_model:
        distinct = set(score_text)
        if binned is not None and all(
            t in binned.texts and (t in binned.positive) == (t in pos_texts) for t in distinct
        ):
            # The histograms' labelled half is every window's labelled counts per side.
            score_counts = _by_group(
                binned.dense[:, 1], _window_groups(binned.windows, number), g_count
            )
        else:
            side = np.array([t in pos_texts for t in score_text], np.int64)
            hit = (score_group >= 0) & column[np.maximum(score_group, 0)]
            at = (score_group * 2 + side)[hit]
            score_counts = summed_rows(at, all_matrix[labelled_rows[hit]], g_count * 2)
            score_counts = score_counts.reshape(g_count, 2, SCORE_BINS)
        scored = score_counts.any(axis=(1, 2))
        for g in np.flatnonzero(column & ~scored).tolist():
            losses[g] = None  # as the grouped read: no loss sums without scores
    scores: Sequence[ScoreDistribution | None] = (
        [None] * g_count if score_counts is None else BinCountDistributions(score_counts, column)
    )

    other: dict[int, StoreStats] = {}
    rest = np.flatnonzero(~column).tolist()
    if rest:
        matrix = all_matrix[labelled_rows]
        per_group = cells_by_group(cells, cell_group, rest)
        for g in rest:
            other[g] = assemble(
                per_group[g],
                _score_lists(g, score_group, score_text, matrix),
                GroupedArrays.sketch_of(totals[g], keys, g),
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
        values,
        values_binary,
        labels if binary_model else (),
        pos if binary_model else None,
        column,
        confusion,
        scores,
        tuple(losses),
        totals,
        keys,
        other,
        None if binned is None else binned.histograms(every, scope),
        score_counts,
    )


def _numbers(table: pa.Table, names: list[str], number: dict[tuple[Any, ...], int]) -> IntVector:
    """Each row's group number (-1 for a group without predictions)."""
    if table.num_rows == 0:
        return np.zeros(0, np.int64)
    if names == ["w"]:
        return _window_groups(table.column("w").to_numpy(), number)
    keys = zip(*(table.column(n).to_pylist() for n in names), strict=True)
    return np.array([number.get(k, -1) for k in keys], np.int64)


def _window_groups(w: np.ndarray[Any, Any], number: dict[tuple[Any, ...], int]) -> IntVector:
    """The group number of each window number ``w`` of a read not grouped by version or
    segment (-1 for a window without predictions)."""
    if not number or w.size == 0:
        return np.full(w.size, -1, np.int64)
    known = np.array([k[0] for k in number], np.int64)
    at = np.array(list(number.values()), np.int64)
    order = np.argsort(known)
    known, at = known[order], at[order]
    w = w.astype(np.int64)
    slot = np.minimum(np.searchsorted(known, w), known.size - 1)
    return np.where(known[slot] == w, at[slot], -1).astype(np.int64)


def _by_group(
    counts: np.ndarray[Any, Any], row_group: IntVector, g_count: int
) -> np.ndarray[Any, Any]:
    """``counts[r]`` placed at group ``row_group[r]`` (-1: none) of ``g_count`` groups:
    the rows themselves when they are the groups in order."""
    if len(row_group) == g_count and (row_group == np.arange(g_count)).all():
        return counts
    out = np.zeros((g_count, *counts.shape[1:]), np.int64)
    mine = row_group >= 0
    out[row_group[mine]] = counts[mine]
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
