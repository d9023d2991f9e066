"""Every model's grouped statistics as columns, in one read: the dashboard's overview.

:func:`.window_arrays.rollup_grouped_arrays` answers one model; this module answers
many models with one query per rollup table (model first in the key), the groups of
all models numbered once and every table's rows placed by group in numpy, and the
server-wide unmatched-outcomes count read once. Each model's labels are resolved over
its own rows (as its own read resolves them), so each model's :class:`GroupedArrays`
equals ``grouped_statistic_arrays(Scope(model, since, until), by, every=every, ...)``
of that model alone. ``scores=False`` leaves the score lists out (the largest part of
the read; no ranking or loss metric then), as
:meth:`~liveeval.store.StatisticsSource.models_grouped_statistics` does.

Groups that are not binary windows with labelled pairs are assembled as the grouped
read assembles them (``GroupedArrays.other``). Off the bucket grid the grouped read's
scans are converted (``GroupedArrays.of``: correct, not faster).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...metrics import LossSums, ScoreDistribution
from ...metrics.labels import Label
from ..interface import SCORE_BINS, GroupedArrays, Scope, StoreStats
from ..labels import ResolvedLabels, resolve_labels
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
from ._window_sql import add_rows, list_matrix, rollup_where, scores_table, unaligned, window_key
from .aggregate import assemble, unmatched_outcomes
from .windows import _key, binned_distribution, models_grouped

__all__ = ["models_grouped_arrays"]

Labels = Mapping[str, tuple[tuple[Label, ...] | None, Label | None]]


def models_grouped_arrays(
    cur: duckdb.DuckDBPyConnection,
    labels: Labels,
    by: Sequence[str],
    every: timedelta,
    since: datetime | None,
    until: datetime | None,
    *,
    scores: bool = True,
) -> dict[str, GroupedArrays]:
    """:meth:`~liveeval.store.interface.ModelArraysSource.models_grouped_statistic_arrays`
    on a DuckDB connection (every model of ``labels``; one without predictions in the
    range has no groups)."""
    scope = Scope("", since, until)
    if unaligned(scope, every) is not None:
        found = models_grouped(cur, labels, by, every, since, until, scores=scores)
        return {m: GroupedArrays.of(found[m]) for m in sorted(labels)}
    models = sorted(labels)
    empty = {m: GroupedArrays.of({}) for m in models}
    if not models:
        return empty
    where, params = rollup_where(scope, models=models)
    group = [{"version": "r.version", "segment": "r.seg"}[c] + f" AS g_{c}" for c in by]
    names = ["g_model", *(f"g_{c}" for c in by), "w"]
    select = ", ".join(["r.model AS g_model", *group, f"{window_key(every)} AS w"])
    counts = cur.sql(
        f"SELECT {select}, sum(predictions)::BIGINT AS predictions, "
        f"sum(failed)::BIGINT AS failed, {LATENCY_SUMS} "
        f"FROM rollup_counts r WHERE {where} GROUP BY ALL HAVING sum(predictions) > 0",
        params=params,
    ).to_arrow_table()
    if counts.num_rows == 0:
        return empty
    unmatched = unmatched_outcomes(cur)
    # Groups numbered by model, then as each model's own read orders them.
    raw = list(zip(*(counts.column(n).to_pylist() for n in names), strict=True))
    keyed = [_key(k[1:], by, every, scope) for k in raw]
    order = sorted(
        range(len(raw)),
        key=lambda i: (raw[i][0], tuple((v is None, str(v)) for v in keyed[i])),
    )
    g_count = len(order)
    at = np.array(order, dtype=np.int64)
    group_of_row = np.empty(g_count, np.int64)
    group_of_row[at] = np.arange(g_count)
    group_model = [str(raw[i][0]) for i in order]
    count_keys = _joined(counts, names)

    def numbers(table: pa.Table) -> IntVector:
        """Each row's group number (-1 for a group without predictions)."""
        if table.num_rows == 0:
            return np.zeros(0, np.int64)
        found = pc.index_in(_joined(table, names), value_set=count_keys)
        row = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return np.where(row >= 0, group_of_row[np.maximum(row, 0)], -1).astype(np.int64)

    predictions = counts.column("predictions").to_numpy().astype(np.int64)[at]
    failed = counts.column("failed").to_numpy().astype(np.int64)[at]
    totals = latency_totals(counts, at, g_count)

    lat_rows = cur.sql(
        f"SELECT {select}, k, sum(n)::DOUBLE AS n FROM rollup_latency r WHERE {where} GROUP BY ALL",
        params=params,
    ).to_arrow_table()
    keys = sketch_keys(lat_rows, numbers(lat_rows))

    cells = cur.sql(
        f"SELECT {select}, label AS t, predicted AS pl, {CELL_SUMS}, bool_and(vbin) AS vbin "
        f"FROM rollup_cells r WHERE {where} GROUP BY ALL",
        params=params,
    ).to_arrow_table()
    cell_group = numbers(cells)
    # Each model's classes: every labelled pair's texts of the model in the range (as
    # its own read), whether or not the pair's window has predictions.
    texts: dict[str, set[str]] = {m: set() for m in models}
    for m, t, p in zip(
        cells.column("g_model").to_pylist(),
        cells.column("t").to_pylist(),
        cells.column("pl").to_pylist(),
        strict=True,
    ):
        if t and p:
            texts[m].update((t, p))
    resolved = {m: resolve_labels(texts[m], labels[m][0]) for m in models}
    facts = {m: _binary(resolved[m], labels[m][1]) for m in models}
    cells = cells.filter(pa.array(cell_group >= 0))
    cell_group = cell_group[cell_group >= 0]
    cell_model = cells.column("g_model").to_pylist()
    col = cell_columns(cells)
    values, values_binary = business_values(cells, col, cell_group, g_count)
    t_text, p_text, valid = label_texts(cells)
    t_index = np.array(
        [resolved[m].index.get(t, -1) for m, t in zip(cell_model, t_text, strict=True)], np.int64
    )
    p_index = np.array(
        [resolved[m].index.get(p, -1) for m, p in zip(cell_model, p_text, strict=True)], np.int64
    )
    is_pos = np.array([t in facts[m][2] for m, t in zip(cell_model, t_text, strict=True)], np.bool_)
    labelled = np.bincount(cell_group[valid], weights=col["n"][valid], minlength=g_count)
    labelled = np.rint(labelled).astype(np.int64)

    # The binary columns: groups with labelled pairs of a model whose read is binary.
    model_binary = np.array([facts[m][1] is not None for m in group_model], np.bool_)
    column = np.zeros(g_count, np.bool_)
    column[cell_group[valid]] = True
    column &= model_binary
    use = valid & column[cell_group]
    confusion = np.zeros((g_count, 2, 2))
    np.add.at(confusion, (cell_group[use], t_index[use], p_index[use]), col["n"][use])

    losses: list[LossSums | None] = [None] * g_count
    if scores:
        losses = loss_sums(col, is_pos, cell_group, use, column)

    distributions: list[ScoreDistribution | None] = [None] * g_count
    score_group = np.zeros(0, np.int64)
    score_text: list[str] = []
    matrix = np.zeros((0, SCORE_BINS), np.int64)
    if scores:
        table, grain = scores_table(scope, every)
        s_where, s_params = rollup_where(scope, grain=grain, models=models)
        s_select = ", ".join(["r.model AS g_model", *group, f"{window_key(every, grain)} AS w"])
        lists = cur.sql(
            f"SELECT {s_select}, label AS t, counts FROM {table} r WHERE {s_where} AND kind = 'l'",
            params=s_params,
        ).to_arrow_table()
        score_group = numbers(lists)
        score_text = lists.column("t").to_pylist()
        if lists.num_rows:
            matrix = list_matrix(lists.column("counts"), SCORE_BINS, native=True)
        side = np.array(
            [
                t in facts[m][2]
                for m, t in zip(lists.column("g_model").to_pylist(), score_text, strict=True)
            ],
            np.int64,
        )
        hit = (score_group >= 0) & column[np.maximum(score_group, 0)]
        dense = np.zeros((g_count * 2, SCORE_BINS), np.int64)
        add_rows(dense, (score_group * 2 + side)[hit], matrix[hit])
        dense3 = dense.reshape(g_count, 2, SCORE_BINS)
        for g in np.flatnonzero(column).tolist():
            distributions[g] = binned_distribution(dense3[g, 1], dense3[g, 0])
        for g in np.flatnonzero(column).tolist():
            if distributions[g] is None:
                losses[g] = None  # as the grouped read: no loss sums without scores

    other: dict[int, StoreStats] = {}
    rest = np.flatnonzero(~column).tolist()
    if rest:
        per_group = cells_by_group(cells, cell_group, rest)
        for g in rest:
            m = group_model[g]
            build: Callable[[list[str]], ScoreDistribution | None] = (
                _group_scores(np.flatnonzero(score_group == g), score_text, matrix)
                if scores
                else _no_scores
            )
            other[g] = assemble(
                per_group[g],
                build,
                GroupedArrays.sketch_of(totals[g], keys, g),
                (int(predictions[g]), int(failed[g]), unmatched),
                classes=labels[m][0],
                pos_label=labels[m][1],
                exact=False,
                resolution=SCORE_BINS,
                shared=resolved[m],
            )

    out = dict(empty)
    bounds = np.flatnonzero(np.r_[True, np.array(group_model[1:]) != np.array(group_model[:-1])])
    for lo, hi in zip(bounds.tolist(), [*bounds[1:].tolist(), g_count], strict=True):
        m = group_model[lo]
        model_labels, pos, _ = facts[m]
        a, b_ = np.searchsorted(keys[0], [lo, hi]).tolist()
        out[m] = GroupedArrays(
            tuple(keyed[i] for i in order[lo:hi]),
            predictions[lo:hi],
            failed[lo:hi],
            labelled[lo:hi],
            unmatched,
            values[lo:hi],
            values_binary[lo:hi],
            model_labels if pos is not None else (),
            pos,
            column[lo:hi],
            confusion[lo:hi],
            tuple(distributions[lo:hi]),
            tuple(losses[lo:hi]),
            totals[lo:hi],
            (keys[0][a:b_] - lo, keys[1][a:b_], keys[2][a:b_]),
            {g - lo: st for g, st in other.items() if lo <= g < hi},
        )
    return out


def _joined(table: pa.Table, names: Sequence[str]) -> pa.Array:
    """One text per row from the group columns (for looking rows up by group)."""
    parts = [pc.cast(table.column(n), pa.string()) for n in names]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _binary(
    resolved: ResolvedLabels, pos_label: Label | None
) -> tuple[tuple[Label, ...], Label | None, set[str]]:
    """A model's classes, its positive class when its read is binary (else None) and the
    label texts of the positive class, as :func:`.window_arrays.rollup_grouped_arrays`
    decides them."""
    found = resolved.labels
    pos = pos_label
    if pos is None and set(found) in ({0, 1}, {-1, 1}):
        pos = 1
    binary = len(found) == 2 and pos is not None and pos in found and not resolved.notes
    if not binary:
        return found, None, set()
    at = found.index(pos)
    return found, pos, {t for t, i in resolved.index.items() if i == at}


def _no_scores(positive: list[str]) -> ScoreDistribution | None:
    return None


def _group_scores(
    rows: IntVector, texts: list[str], matrix: np.ndarray[Any, Any]
) -> Callable[[list[str]], ScoreDistribution | None]:
    """A group's labelled score distribution (its score lists ``rows``) as a function of
    the positive class's label texts (what :func:`.aggregate.assemble` asks)."""

    def build(positive: list[str]) -> ScoreDistribution | None:
        side = np.array([texts[i] in positive for i in rows.tolist()], np.bool_)
        pos = matrix[rows[side]].sum(axis=0, dtype=np.int64)
        neg = matrix[rows[~side]].sum(axis=0, dtype=np.int64)
        return binned_distribution(pos, neg)

    return build
