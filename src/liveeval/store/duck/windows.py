"""Reads over the rollups (:mod:`.rollup`): any window that is a whole number of
15-minute buckets is a merge of small rows, never a scan of events.

A scope whose ``since``/``until`` are not on bucket boundaries, or a window length
that is not a multiple of the bucket, cannot be answered from the rollups: grouped
statistics then fall back to the scan of :func:`.aggregate.grouped_aggregate` (same
answers, slower); the histogram and delay reads refuse with a
:class:`~liveeval.errors.ValidationError` that names the boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ...metrics import LatencySketch, ScoreDistribution
from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT
from ..interface import SCORE_BINS, LabelDelays, Scope, ScoreHistogram, ScoreWindows, StoreStats
from ..labels import ResolvedLabels, resolve_labels
from ._group_columns import CELL_SUMS
from ._grouped_scan import grouped_scan
from ._window_sql import (
    BUCKET,
    SCORE_LISTS,
    check,
    list_matrix,
    rollup_where,
    scores_table,
    start,
    summed_rows,
    unaligned,
    window_key,
)
from .aggregate import assemble, unmatched_outcomes
from .feature_windows import feature_bins, feature_window_arrays, feature_windows
from .rollup import DELAY_EDGES

__all__ = [
    "BUCKET",
    "BinnedScores",
    "binned_scores",
    "feature_bins",
    "feature_window_arrays",
    "feature_windows",
    "label_delays",
    "models_grouped",
    "rollup_grouped",
    "rollup_grouped_models",
    "score_histograms",
    "score_window_arrays",
    "unaligned",
]


def _codes(table: pa.Table, columns: Sequence[str]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """One integer per distinct combination of ``columns`` (for splitting a table)."""
    parts = [pc.cast(table.column(c), pa.string()) for c in columns]
    parts = [pc.fill_null(p, "\x00null") for p in parts]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    codes: np.ndarray[Any, np.dtype[np.int64]] = (
        pc.dictionary_encode(joined).combine_chunks().indices.to_numpy().astype(np.int64)
    )
    return codes


def _split(table: pa.Table, columns: Sequence[str]) -> dict[tuple[Any, ...], pa.Table]:
    """Rows of ``table`` per distinct value of ``columns`` (zero-copy slices)."""
    if table.num_rows == 0:
        return {}
    codes = _codes(table, columns)
    order = np.argsort(codes, kind="stable")
    table = table.take(pa.array(order))
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], codes.size]
    keys = table.select(list(columns)).take(pa.array(starts)).to_pylist()
    return {
        tuple(k[c] for c in columns): table.slice(int(a), int(b - a))
        for k, a, b in zip(keys, starts.tolist(), ends.tolist(), strict=True)
    }


def rollup_grouped(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    by: Sequence[str],
    every: timedelta | None,
    *,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
    unmatched: int | None = None,
) -> dict[tuple[Any, ...], StoreStats]:
    """Statistics per group of ``by`` and window of ``every`` from the rollups (the scope
    and windows on bucket boundaries). Keys as :func:`.aggregate.grouped_aggregate`'s;
    ``unmatched`` as :func:`.aggregate.aggregate`'s.

    Scores are in ``SCORE_BINS`` bins: ROC-AUC and average precision count the
    positive–negative pairs that share a bin as ties (exact when no two distinct scores
    share a bin).
    """
    labels = {scope.model: (classes, pos_label)}
    return rollup_grouped_models(cur, scope, labels, by, every, unmatched=unmatched)[scope.model]


def rollup_grouped_models(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
    by: Sequence[str],
    every: timedelta | None,
    *,
    unmatched: int | None = None,
    scores: bool = True,
) -> dict[str, dict[tuple[Any, ...], StoreStats]]:
    """:func:`rollup_grouped` for every model of ``labels`` (its classes and positive
    label) over ``scope``'s range (``scope.model`` is not read): one query per rollup
    table for all of them, and the server-wide unmatched-outcomes count once. A model
    without predictions in the range maps to ``{}``. ``scores=False`` leaves the
    score distributions out (and their read, the largest)."""
    check(scope, every)
    models = sorted(labels)
    out: dict[str, dict[tuple[Any, ...], StoreStats]] = {m: {} for m in models}
    if not models:
        return out
    where, params = rollup_where(scope, models=models)
    group = [{"version": "r.version", "segment": "r.seg"}[c] + f" AS g_{c}" for c in by]
    keys = ["r.model AS g_model", *group, f"{window_key(every)} AS w"]
    names = ["g_model", *(f"g_{c}" for c in by), "w"]
    select = ", ".join(keys)
    counts = cur.sql(
        f"SELECT {select}, sum(predictions)::BIGINT AS predictions, "
        "sum(failed)::BIGINT AS failed, sum(lat_n)::BIGINT AS lat_n, "
        "sum(lat_zeros)::BIGINT AS lat_zeros, sum(lat_sum) AS lat_sum, "
        "sum(lat_sum2) AS lat_sum2, max(lat_max) AS lat_max "
        f"FROM rollup_counts r WHERE {where} GROUP BY ALL HAVING sum(predictions) > 0",
        params=params,
    ).to_arrow_table()
    if counts.num_rows == 0:
        return out
    latency = _split(
        cur.sql(
            f"SELECT {select}, k, sum(n)::BIGINT AS n FROM rollup_latency r WHERE {where} "
            "GROUP BY ALL ORDER BY k",
            params=params,
        ).to_arrow_table(),
        names,
    )
    cells = _split(
        cur.sql(
            f"SELECT {select}, label AS t, predicted AS pl, {CELL_SUMS}, bool_and(vbin) AS vbin "
            f"FROM rollup_cells r WHERE {where} GROUP BY ALL",
            params=params,
        ).to_arrow_table(),
        names,
    )
    lists: dict[tuple[Any, ...], Callable[[list[str]], ScoreDistribution | None]] = {}
    if scores:
        table, grain = scores_table(scope, every)
        s_where, s_params = rollup_where(scope, grain=grain, models=models)
        s_select = ", ".join(["r.model AS g_model", *group, f"{window_key(every, grain)} AS w"])
        lists = _score_lists(
            cur.sql(
                f"SELECT {s_select}, label AS t, counts FROM {table} r "
                f"WHERE {s_where} AND kind = 'l'",
                params=s_params,
            ).to_arrow_table(),
            names,
        )
    if unmatched is None:
        unmatched = unmatched_outcomes(cur)
    shared = _model_labels(cells, labels)
    for row in counts.to_pylist():
        key = tuple(row[n] for n in names)
        model = str(key[0])
        classes, pos_label = labels[model]
        window_cells = [
            {
                **c,
                "t": c["t"] or None,
                "pl": c["pl"] or None,
            }
            for c in (cells[key].to_pylist() if key in cells else [])
        ]
        out[model][_key(key[1:], by, every, scope)] = assemble(
            window_cells,
            lists.get(key, _no_scores),
            _latency(row, latency.get(key)),
            (int(row["predictions"]), int(row["failed"]), unmatched),
            classes=classes,
            pos_label=pos_label,
            exact=False,
            resolution=SCORE_BINS,
            shared=shared[model],
        )
    return {
        model: dict(sorted(got.items(), key=lambda kv: tuple((v is None, str(v)) for v in kv[0])))
        for model, got in out.items()
    }


def _model_labels(
    cells: Mapping[tuple[Any, ...], pa.Table],
    labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
) -> dict[str, ResolvedLabels]:
    """Each model's classes over all of its windows and groups (keys start with the
    model), so every window reports the same classes and the windows merge."""
    texts: dict[str, set[str]] = {m: set() for m in labels}
    for key, table in cells.items():
        pairs = zip(table.column("t").to_pylist(), table.column("pl").to_pylist(), strict=True)
        texts[str(key[0])].update(text for pair in pairs if all(pair) for text in pair)
    return {m: resolve_labels(texts[m], labels[m][0]) for m in labels}


def binned_distribution(
    pos: np.ndarray[Any, Any], neg: np.ndarray[Any, Any]
) -> ScoreDistribution | None:
    """A window's labelled score distribution from its positive and negative counts per
    score bin (None without any)."""
    keys = np.flatnonzero(pos + neg)
    if keys.size == 0:
        return None
    p, n = pos[keys].astype(np.float64), neg[keys].astype(np.float64)
    return ScoreDistribution(
        SCORE_BINS,
        DEFAULT_EXACT_LIMIT,
        False,
        int(p.sum() + n.sum()),
        keys.astype(np.float64),
        p,
        n,
        float(p.sum()),
        float(n.sum()),
    )


def models_grouped(
    cur: duckdb.DuckDBPyConnection,
    labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
    by: Sequence[str],
    every: timedelta,
    since: datetime | None,
    until: datetime | None,
    *,
    scores: bool = True,
) -> dict[str, dict[tuple[Any, ...], StoreStats]]:
    """:meth:`~liveeval.store.StatisticsSource.models_grouped_statistics` on a DuckDB
    connection: from the rollups in one read when the range and windows are on bucket
    boundaries, else one scan of every model (the unmatched count read once either way;
    a scan keeps the scores whatever ``scores`` says)."""
    scope = Scope("", since, until)
    if unaligned(scope, every) is None:
        return rollup_grouped_models(cur, scope, labels, by, every, scores=scores)
    return grouped_scan(cur, scope, labels, by, every.total_seconds(), None)


def _no_scores(positive: list[str]) -> ScoreDistribution | None:
    return None


def _score_lists(
    table: pa.Table, names: list[str]
) -> dict[tuple[Any, ...], Callable[[list[str]], ScoreDistribution | None]]:
    """Per group: a function of the positive label texts giving the labelled pairs'
    score distribution, from the per-bucket lists of counts (merged in numpy)."""
    if table.num_rows == 0:
        return {}
    counts = list_matrix(table.column("counts"), SCORE_BINS)
    texts = table.column("t").to_pylist()
    rows: dict[tuple[Any, ...], dict[str, np.ndarray[Any, np.dtype[np.int64]]]] = {}
    keys = zip(*(table.column(n).to_pylist() for n in names), strict=True)
    for i, key in enumerate(keys):
        per_text = rows.setdefault(key, {})
        t = texts[i]
        per_text[t] = counts[i] if t not in per_text else per_text[t] + counts[i]

    def distribution(
        per_text: dict[str, np.ndarray[Any, np.dtype[np.int64]]],
    ) -> Callable[[list[str]], ScoreDistribution | None]:
        def build(positive: list[str]) -> ScoreDistribution | None:
            zero = np.zeros(SCORE_BINS, dtype=np.int64)
            pos = sum((c for t, c in per_text.items() if t in positive), zero)
            neg = sum((c for t, c in per_text.items() if t not in positive), zero)
            return binned_distribution(pos, neg)

        return build

    return {key: distribution(per_text) for key, per_text in rows.items()}


def _key(
    key: tuple[Any, ...], by: Sequence[str], every: timedelta | None, scope: Scope
) -> tuple[Any, ...]:
    values: list[Any] = []
    for column, value in zip(by, key, strict=False):
        values.append((value[1:] or None) if column == "segment" and value else value)
        if column == "segment" and value == "":
            values[-1] = None
    if every is not None:
        values.append(start(int(key[-1]), every, scope))
    return tuple(values)


def _latency(row: dict[str, Any], keys: pa.Table | None) -> LatencySketch | None:
    if not row["lat_n"]:
        return None
    sketch = LatencySketch()
    if keys is not None:
        sketch.keys = keys.column("k").to_numpy().astype(np.int64)
        sketch.counts = keys.column("n").to_numpy().astype(np.float64)
    sketch.zeros = int(row["lat_zeros"])
    sketch.count = int(row["lat_n"])
    sketch.total = float(row["lat_sum"])
    sketch.total_sq = float(row["lat_sum2"])
    sketch.maximum = float(row["lat_max"])
    return sketch


def score_histograms(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    *,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
) -> dict[datetime, ScoreHistogram]:
    """A binary model's score histograms per window (one, keyed by ``scope.since`` or
    the epoch, when ``every`` is None)."""
    check(scope, every)
    table, grain = scores_table(scope, every)
    where, params = rollup_where(scope, grain=grain)
    rows = cur.sql(
        f"SELECT {window_key(every, grain)} AS w, kind, label, {SCORE_LISTS} AS counts "
        f"FROM {table} r WHERE {where} AND label <> ''",
        params=params,
    ).to_arrow_table()
    if rows.num_rows == 0:
        return {}
    binned = binned_scores(
        rows.column("w").to_numpy(),
        pc.equal(rows.column("kind"), "l").to_numpy(zero_copy_only=False),
        rows.column("label").to_pylist(),
        list_matrix(rows.column("counts"), SCORE_BINS, native=True),
        classes=classes,
        pos_label=pos_label,
        model=scope.model,
    )
    return binned.histograms(every, scope)


@dataclass(frozen=True)
class BinnedScores:
    """Score lists summed per window: ``dense[i, kind, side]`` holds window
    ``windows[i]``'s counts per score bin, kind 0 every ok prediction by predicted
    label and kind 1 the labelled pairs by actual label, side 1 the positive class;
    ``positive`` the label texts counted on that side, ``texts`` all that were counted."""

    windows: np.ndarray[Any, np.dtype[np.int64]]
    dense: np.ndarray[Any, np.dtype[np.int64]]
    positive: frozenset[str]
    # The label texts counted (the others were left out).
    texts: frozenset[str]

    def histograms(self, every: timedelta | None, scope: Scope) -> dict[datetime, ScoreHistogram]:
        """:func:`score_histograms`' answer: one :class:`ScoreHistogram` per window."""
        return {
            start(win, every, scope): ScoreHistogram(self.dense[i, 0], self.dense[i, 1])
            for i, win in enumerate(self.windows.tolist())
        }


def binned_scores(
    w: np.ndarray[Any, Any],
    labelled: np.ndarray[Any, Any],
    texts: Sequence[str],
    matrix: np.ndarray[Any, Any],
    *,
    classes: tuple[Label, ...] | None,
    pos_label: Label | None,
    model: str,
) -> BinnedScores:
    """Score-list rows (window number ``w``, kind ``l`` where ``labelled``, label text,
    counts per bin) summed per window, kind and side: what :func:`score_histograms`
    answers, for its own read and for :func:`.window_arrays.rollup_grouped_arrays`'
    score query. Rows without a label text are left out, and so are rows labelled
    outside a declared binary model's classes (an outcome whose label is no class,
    accepted before its prediction was seen, is an extra class in the confusion
    matrix; a score histogram has only the positive and the negative side).

    Raises
    ------
    ValidationError
        unless the labels are a binary model's with a known positive class.
    """
    keep = np.fromiter((bool(t) for t in texts), np.bool_, len(texts))
    distinct = sorted({t for t in texts if t})
    sides: list[str] = []
    if distinct:
        kept, sides = _score_sides(distinct, model, classes, pos_label)
        if kept is not None:
            inside = set(kept)
            keep &= np.fromiter((t in inside for t in texts), np.bool_, len(texts))
            distinct = kept
    if not distinct:
        empty = np.zeros((0, 2, 2, SCORE_BINS), np.int64)
        return BinnedScores(np.zeros(0, np.int64), empty, frozenset(), frozenset())
    positive = frozenset(sides)
    side = np.fromiter((t in positive for t in texts), np.bool_, len(texts))
    windows, at = np.unique(np.asarray(w)[keep], return_inverse=True)
    slot = (at.reshape(-1) * 2 + labelled[keep]) * 2 + side[keep]
    dense = summed_rows(slot.astype(np.int64), matrix[keep], windows.size * 4)
    return BinnedScores(
        windows.astype(np.int64),
        dense.reshape(windows.size, 2, 2, SCORE_BINS),
        positive,
        frozenset(distinct),
    )


def _score_sides(
    texts: list[str], model: str, classes: tuple[Label, ...] | None, pos_label: Label | None
) -> tuple[list[str] | None, list[str]]:
    """Of the score rows' label texts: those of the model's two sides when some must be
    left out (else None), and those of the positive side.

    Raises
    ------
    ValidationError
        for a model that is not binary or whose positive class is unknown.
    """
    resolved = resolve_labels(texts, classes)
    labels = resolved.labels
    kept = None
    if classes is not None and len(classes) == 2 and len(labels) > 2:
        # An outcome whose label is no class (accepted before its prediction was seen)
        # is an extra class in the confusion matrix; a score histogram has only the
        # positive and the negative side, so its rows are left out here.
        texts = kept = [t for t in texts if resolved.index[t] < 2]
        labels = labels[:2]
        if not kept:
            return kept, []
    if pos_label is None and (set(labels) <= {0, 1} or set(labels) <= {-1, 1}):
        pos_label = 1
    if pos_label is None or len(labels) > 2:
        raise ValidationError(
            f"score histograms need a binary model with a known positive class; model "
            f"{model!r} has labels {list(labels)!r} (give pos_label)"
        )
    return kept, [t for t in texts if labels[resolved.index[t]] == pos_label]


def _kept(rows: pa.Table, kept: list[str] | None) -> pa.Table:
    if kept is None:
        return rows
    return rows.filter(pc.is_in(rows.column("label"), pa.array(kept, pa.string())))


def score_window_arrays(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    *,
    classes: tuple[Label, ...] | None = None,
    pos_label: Label | None = None,
) -> ScoreWindows:
    """:func:`score_histograms` as :class:`ScoreWindows`: the predictions' score lists
    summed per window and side, the labelled pairs' lists only counted (``list_sum`` in
    the engine), no object per window."""
    check(scope, every)
    table, grain = scores_table(scope, every)
    where, params = rollup_where(scope, grain=grain)
    w = window_key(every, grain)
    predicted = cur.sql(
        f"SELECT {w} AS w, label, counts FROM {table} r "
        f"WHERE {where} AND label <> '' AND kind = 'p'",
        params=params,
    ).to_arrow_table()
    labelled = cur.sql(
        f"SELECT {w} AS w, label, CAST(list_sum(counts) AS BIGINT) AS n FROM {table} r "
        f"WHERE {where} AND label <> '' AND kind = 'l'",
        params=params,
    ).to_arrow_table()
    texts = sorted(
        {*pc.unique(predicted.column("label")).to_pylist()}
        | {*pc.unique(labelled.column("label")).to_pylist()}
    )
    empty = ScoreWindows(
        (),
        np.zeros((0, SCORE_BINS), np.int64),
        np.zeros((0, 2), np.int64),
        np.zeros((0, 2), np.int64),
    )
    if not texts:
        return empty
    kept, positive = _score_sides(texts, scope.model, classes, pos_label)
    predicted, labelled = _kept(predicted, kept), _kept(labelled, kept)
    if predicted.num_rows + labelled.num_rows == 0:
        return empty
    windows = np.unique(
        np.concatenate([predicted.column("w").to_numpy(), labelled.column("w").to_numpy()])
    )

    def sides(rows: pa.Table) -> np.ndarray[Any, np.dtype[np.int64]]:
        at = np.searchsorted(windows, rows.column("w").to_numpy())
        k = pc.is_in(rows.column("label"), pa.array(positive, pa.string()))
        out: np.ndarray[Any, np.dtype[np.int64]] = at * 2 + k.to_numpy(zero_copy_only=False).astype(
            np.int64
        )
        return out

    flat = summed_rows(
        sides(predicted),
        list_matrix(predicted.column("counts"), SCORE_BINS, native=True),
        windows.size * 2,
    )
    by_side = flat.reshape(windows.size, 2, SCORE_BINS)
    pairs = np.bincount(
        sides(labelled), weights=labelled.column("n").to_numpy(), minlength=windows.size * 2
    )
    return ScoreWindows(
        tuple(start(int(w), every, scope) for w in windows.tolist()),
        by_side.sum(axis=1),
        by_side.sum(axis=2),
        pairs.astype(np.int64).reshape(windows.size, 2),
    )


def label_delays(cur: duckdb.DuckDBPyConnection, scope: Scope) -> LabelDelays:
    """Outcome-minus-prediction times of the pairs in ``scope`` (by prediction time)."""
    check(scope, None)
    where, params = rollup_where(scope)
    rows = cur.execute(
        f"SELECT bin, sum(n) FROM rollup_delays r WHERE {where} GROUP BY ALL", params
    ).fetchall()
    counts = np.zeros(len(DELAY_EDGES), dtype=np.int64)
    early = 0
    for b, n in rows:
        if b < 0:
            early += int(n)
        else:
            counts[int(b)] += int(n)
    return LabelDelays(DELAY_EDGES, counts, early)
