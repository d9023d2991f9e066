"""Reads over the rollups (:mod:`.rollup`): any window that is a whole number of
15-minute buckets is a merge of small rows, never a scan of events.

A scope whose ``since``/``until`` are not on bucket boundaries, or a window length
that is not a multiple of the bucket, cannot be answered from the rollups: grouped
statistics then fall back to the scan of :func:`.aggregate.grouped_aggregate` (same
answers, slower); the histogram and delay reads refuse with a
:class:`~liveeval.errors.ValidationError` that names the boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ...metrics import LatencySketch, ScoreDistribution
from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT
from ..interface import SCORE_BINS, FeatureHistogram, LabelDelays, Scope, ScoreHistogram, StoreStats
from ..labels import resolve_labels
from .aggregate import assemble, unmatched_outcomes
from .rollup import BUCKET_SECONDS, DELAY_EDGES, FEATURE_BINS, FEATURE_WIDTH, HOUR, fixed_edges

__all__ = [
    "BUCKET",
    "feature_bins",
    "feature_windows",
    "label_delays",
    "rollup_grouped",
    "score_histograms",
    "unaligned",
]

BUCKET = timedelta(seconds=BUCKET_SECONDS)
_EPOCH = datetime(1970, 1, 1)
_CELLS = ("n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4", "vn", "vs", "vss")


def _seconds(ts: datetime) -> float:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return (ts - _EPOCH).total_seconds()


def unaligned(scope: Scope, every: timedelta | None) -> str | None:
    """Why the rollups cannot answer ``scope`` in windows of ``every`` (None if they can)."""
    if every is not None:
        seconds = every.total_seconds()
        if seconds <= 0 or seconds % BUCKET_SECONDS:
            return f"window {every} is not a multiple of the {BUCKET} bucket"
    for name, ts in (("since", scope.since), ("until", scope.until)):
        if ts is not None and _seconds(ts) % BUCKET_SECONDS:
            return f"{name} {ts.isoformat()} is not on a {BUCKET} boundary"
    return None


def _check(scope: Scope, every: timedelta | None) -> None:
    reason = unaligned(scope, every)
    if reason is not None:
        raise ValidationError(
            f"{reason}: windows are read from rollups of {BUCKET} buckets of prediction "
            "time (UTC, from the Unix epoch); give whole buckets"
        )


def _where(
    scope: Scope, *, segments: bool = True, grain: int = BUCKET_SECONDS
) -> tuple[str, list[Any]]:
    clauses = ["r.model = ?"]
    params: list[Any] = [scope.model]
    if scope.version is not None:
        clauses.append("r.version = ?")
        params.append(scope.version)
    if segments and scope.segment is not None:
        clauses.append("r.seg = ?")
        params.append("|" + scope.segment)
    if segments and scope.segment_is_null:
        clauses.append("r.seg = ''")
    if scope.since is not None:
        clauses.append("r.bucket >= ?")
        params.append(int(_seconds(scope.since)) // grain)
    if scope.until is not None:
        clauses.append("r.bucket < ?")
        params.append(int(_seconds(scope.until)) // grain)
    return " AND ".join(clauses), params


def _window(every: timedelta | None, grain: int = BUCKET_SECONDS) -> str:
    if every is None:
        return "0"
    return f"CAST(floor(r.bucket / {int(every.total_seconds()) // grain}) AS BIGINT)"


def _scores_table(scope: Scope, every: timedelta | None) -> tuple[str, int]:
    """Score lists are also kept per hour: the hourly table when the windows allow."""
    times = [t for t in (scope.since, scope.until) if t is not None]
    if (every is None or every.total_seconds() % HOUR == 0) and all(
        _seconds(t) % HOUR == 0 for t in times
    ):
        return "rollup_scores_hourly", HOUR
    return "rollup_scores", BUCKET_SECONDS


def _start(w: int, every: timedelta | None, scope: Scope) -> datetime:
    if every is None:
        return scope.since or _EPOCH
    return _EPOCH + w * every


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
    _check(scope, every)
    where, params = _where(scope)
    group = [{"version": "r.version", "segment": "r.seg"}[c] + f" AS g_{c}" for c in by]
    keys = [*group, f"{_window(every)} AS w"]
    names = [*(f"g_{c}" for c in by), "w"]
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
        return {}
    latency = _split(
        cur.sql(
            f"SELECT {select}, k, sum(n)::BIGINT AS n FROM rollup_latency r WHERE {where} "
            "GROUP BY ALL ORDER BY k",
            params=params,
        ).to_arrow_table(),
        names,
    )
    sums = ", ".join(
        f"sum({c})::BIGINT AS {c}" if c in ("n", "ns", "vn") else f"sum({c}) AS {c}" for c in _CELLS
    )
    cells = _split(
        cur.sql(
            f"SELECT {select}, label AS t, predicted AS pl, {sums}, bool_and(vbin) AS vbin "
            f"FROM rollup_cells r WHERE {where} GROUP BY ALL",
            params=params,
        ).to_arrow_table(),
        names,
    )
    table, grain = _scores_table(scope, every)
    s_where, s_params = _where(scope, grain=grain)
    s_select = ", ".join([*group, f"{_window(every, grain)} AS w"])
    scores = _score_lists(
        cur.sql(
            f"SELECT {s_select}, label AS t, counts FROM {table} r WHERE {s_where} AND kind = 'l'",
            params=s_params,
        ).to_arrow_table(),
        names,
    )
    if unmatched is None:
        unmatched = unmatched_outcomes(cur)
    out: dict[tuple[Any, ...], StoreStats] = {}
    for row in counts.to_pylist():
        key = tuple(row[n] for n in names)
        window_cells = [
            {
                **c,
                "t": c["t"] or None,
                "pl": c["pl"] or None,
            }
            for c in (cells[key].to_pylist() if key in cells else [])
        ]
        out[_key(key, by, every, scope)] = assemble(
            window_cells,
            scores.get(key, _no_scores),
            _latency(row, latency.get(key)),
            (int(row["predictions"]), int(row["failed"]), unmatched),
            classes=classes,
            pos_label=pos_label,
            exact=False,
            resolution=SCORE_BINS,
        )
    return dict(sorted(out.items(), key=lambda kv: tuple((v is None, str(v)) for v in kv[0])))


def _no_scores(positive: list[str]) -> ScoreDistribution | None:
    return None


def _score_lists(
    table: pa.Table, names: list[str]
) -> dict[tuple[Any, ...], Callable[[list[str]], ScoreDistribution | None]]:
    """Per group: a function of the positive label texts giving the labelled pairs'
    score distribution, from the per-bucket lists of counts (merged in numpy)."""
    if table.num_rows == 0:
        return {}
    counts = _matrix(table.column("counts"), SCORE_BINS)
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

        return build

    return {key: distribution(per_text) for key, per_text in rows.items()}


def _add_rows(
    out: np.ndarray[Any, np.dtype[np.int64]],
    at: np.ndarray[Any, np.dtype[np.int64]],
    rows: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    """``out[at[i]] += rows[i]`` for every i (a sort and ``reduceat``: ``np.add.at`` on
    rows is several times slower)."""
    if at.size == 0:
        return
    order = np.argsort(at, kind="stable")
    at = at[order]
    starts = np.flatnonzero(np.r_[True, at[1:] != at[:-1]])
    out[at[starts]] += np.add.reduceat(rows[order], starts, axis=0)


def _matrix(column: pa.ChunkedArray, width: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """A column of equal-length integer lists as a (rows, width) matrix."""
    values = pc.list_flatten(column.combine_chunks()).to_numpy(zero_copy_only=False)
    matrix: np.ndarray[Any, np.dtype[np.int64]] = values.astype(np.int64).reshape(-1, width)
    return matrix


def _key(
    key: tuple[Any, ...], by: Sequence[str], every: timedelta | None, scope: Scope
) -> tuple[Any, ...]:
    values: list[Any] = []
    for column, value in zip(by, key, strict=False):
        values.append((value[1:] or None) if column == "segment" and value else value)
        if column == "segment" and value == "":
            values[-1] = None
    if every is not None:
        values.append(_start(int(key[-1]), every, scope))
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
    _check(scope, every)
    table, grain = _scores_table(scope, every)
    where, params = _where(scope, grain=grain)
    rows = cur.sql(
        f"SELECT {_window(every, grain)} AS w, kind, label, counts "
        f"FROM {table} r WHERE {where} AND label <> ''",
        params=params,
    ).to_arrow_table()
    if rows.num_rows == 0:
        return {}
    texts = pc.unique(rows.column("label")).to_pylist()
    resolved = resolve_labels(texts, classes)
    labels = resolved.labels
    if pos_label is None and (set(labels) <= {0, 1} or set(labels) <= {-1, 1}):
        pos_label = 1
    if pos_label is None or len(labels) > 2:
        raise ValidationError(
            f"score histograms need a binary model with a known positive class; model "
            f"{scope.model!r} has labels {list(labels)!r} (give pos_label)"
        )
    positive = [t for t in texts if labels[resolved.index[t]] == pos_label]
    windows, at = np.unique(rows.column("w").to_numpy(), return_inverse=True)
    k = pc.is_in(rows.column("label"), pa.array(positive, pa.string())).to_numpy(
        zero_copy_only=False
    )
    kind = pc.equal(rows.column("kind"), "l").to_numpy(zero_copy_only=False)
    slot = (at * 2 + kind.astype(np.int64)) * 2 + k.astype(np.int64)
    flat = np.zeros((windows.size * 4, SCORE_BINS), dtype=np.int64)
    _add_rows(flat, slot, _matrix(rows.column("counts"), SCORE_BINS))
    dense = flat.reshape(windows.size, 2, 2, SCORE_BINS)
    return {
        _start(int(win), every, scope): ScoreHistogram(dense[i, 0], dense[i, 1])
        for i, win in enumerate(windows.tolist())
    }


def label_delays(cur: duckdb.DuckDBPyConnection, scope: Scope) -> LabelDelays:
    """Outcome-minus-prediction times of the pairs in ``scope`` (by prediction time)."""
    _check(scope, None)
    where, params = _where(scope)
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


def feature_bins(cur: duckdb.DuckDBPyConnection, model: str) -> dict[str, tuple[float, ...]]:
    """The fixed bin edges of every numeric feature of ``model``: frozen ones, and for
    features with fewer stored numbers than the freeze threshold, the edges the same
    rule gives over the numbers stored so far (they may still change)."""
    frozen = dict(
        cur.execute("SELECT name, edges FROM feature_bins WHERE model = ?", [model]).fetchall()
    )
    pending = [
        r[0]
        for r in cur.execute(
            "SELECT p.name FROM feature_pending p ANTI JOIN feature_bins e "
            "ON e.model = p.model AND e.name = p.name WHERE p.model = ?",
            [model],
        ).fetchall()
    ]
    out = {str(name): tuple(float(x) for x in edges) for name, edges in frozen.items()}
    if pending:
        levels = [i / FEATURE_BINS for i in range(FEATURE_BINS + 1)]
        for name, quantiles in cur.execute(
            "SELECT name, quantile_disc(num_value, ?::DOUBLE[]) FROM features "
            "WHERE model = ? AND name IN (SELECT unnest(?::VARCHAR[])) AND isfinite(num_value) "
            "GROUP BY ALL",
            [levels, model, pending],
        ).fetchall():
            out[str(name)] = tuple(fixed_edges(quantiles))
    return dict(sorted(out.items()))


def feature_windows(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    names: Sequence[str] | None = None,
    *,
    max_categories: int = 50,
) -> dict[datetime, dict[str, FeatureHistogram]]:
    """Feature histograms per window on the fixed bins (:func:`feature_bins`), from the
    rollups; a feature whose bins are not frozen yet is binned from ``features``."""
    _check(scope, every)
    if scope.segment is not None or scope.segment_is_null:
        raise ValidationError(
            "feature histograms are kept per model, version and time bucket, not per "
            f"segment; use feature_histograms for segment {scope.segment!r}"
        )
    if max_categories < 0:
        raise ValidationError(f"max_categories must be 0 or more, got {max_categories!r}")
    where, params = _where(scope, segments=False)
    if names is not None:
        where += " AND r.name IN (SELECT unnest(?::VARCHAR[]))"
        params = [*params, list(names)]
    w = _window(every)
    totals = cur.sql(
        f"SELECT {w} AS w, name, rows, missing, strings, bins FROM rollup_features r WHERE {where}",
        params=params,
    ).to_arrow_table()
    if totals.num_rows == 0:
        return {}
    edges = feature_bins(cur, scope.model)
    frozen = {
        r[0]
        for r in cur.execute(
            "SELECT name FROM feature_bins WHERE model = ?", [scope.model]
        ).fetchall()
    }
    wanted = set(totals.column("name").to_pylist())
    provisional = sorted(n for n in wanted if n in edges and n not in frozen)
    scanned = _scan_bins(cur, scope, every, provisional, edges) if provisional else None
    categories = cur.sql(
        f"SELECT w, name, value, n FROM (SELECT {w} AS w, name, value, sum(n)::BIGINT AS n "
        f"FROM rollup_feature_categories r WHERE {where} GROUP BY ALL) "
        "QUALIFY row_number() OVER (PARTITION BY w, name ORDER BY n DESC, value) <= ?",
        params=[*params, max_categories],
    ).fetchall()
    return _histograms(totals, scanned, categories, edges, every, scope)


def _scan_bins(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    names: list[str],
    edges: dict[str, tuple[float, ...]],
) -> pa.Table:
    """Bin codes per window from ``features`` for features whose bins are provisional."""
    from .aggregate import _where as scan_where

    where, params = scan_where(scope, "f")
    w = "0" if every is None else f"CAST(floor(epoch(f.ts) / {every.total_seconds()!r}) AS BIGINT)"
    return cur.sql(
        f"SELECT {w} AS w, f.name, CAST(CASE WHEN f.num_value = e.edges[len(e.edges)] "
        "THEN len(e.edges) - 1 ELSE len(list_filter(e.edges, lambda x: x <= f.num_value)) "
        "END AS INTEGER) AS code, count(*)::BIGINT AS n FROM features f JOIN "
        "(SELECT unnest(?::VARCHAR[]) AS name, unnest(?::DOUBLE[][]) AS edges) e "
        f"ON e.name = f.name WHERE {where} AND isfinite(f.num_value) GROUP BY ALL",
        params=[names, [list(edges[n]) for n in names], *params],
    ).to_arrow_table()


_BINS = pa.schema(
    [("w", pa.int64()), ("name", pa.string()), ("code", pa.int32()), ("n", pa.int64())]
)


def _histograms(
    totals: pa.Table,
    scanned: pa.Table | None,
    categories: list[tuple[Any, ...]],
    edges: dict[str, tuple[float, ...]],
    every: timedelta | None,
    scope: Scope,
) -> dict[datetime, dict[str, FeatureHistogram]]:
    names = sorted(set(totals.column("name").to_pylist()))
    slot = {n: i for i, n in enumerate(names)}
    windows, wi = np.unique(totals.column("w").to_numpy(), return_inverse=True)
    ni = np.array([slot[n] for n in totals.column("name").to_pylist()], dtype=np.int64)
    cell = wi * len(names) + ni
    size = windows.size * len(names)
    sums = {
        c: np.bincount(cell, weights=totals.column(c).to_numpy(), minlength=size).astype(np.int64)
        for c in ("rows", "missing", "strings")
    }
    dense = np.zeros((size, FEATURE_WIDTH), dtype=np.int64)
    binned = totals.filter(pc.is_valid(totals.column("bins")))
    if binned.num_rows:
        at = pc.is_valid(totals.column("bins")).to_numpy(zero_copy_only=False)
        _add_rows(dense, cell[at], _matrix(binned.column("bins"), FEATURE_WIDTH))
    if scanned is not None and scanned.num_rows:
        sw = np.searchsorted(windows, scanned.column("w").to_numpy())
        sn = np.array([slot[n] for n in scanned.column("name").to_pylist()], dtype=np.int64)
        np.add.at(
            dense,
            (sw * len(names) + sn, scanned.column("code").to_numpy().astype(np.int64)),
            scanned.column("n").to_numpy().astype(np.int64),
        )
    tops: dict[tuple[int, str], dict[str, int]] = {}
    for win, name, value, n in categories:
        tops.setdefault((int(win), name), {})[value] = int(n)
    out: dict[datetime, dict[str, FeatureHistogram]] = {}
    starts = [_start(int(w), every, scope) for w in windows.tolist()]
    shapes = []
    for name in names:
        e = edges.get(name, ())
        shapes.append((tuple(e), max(len(e) - 1, 0)))
    rows, missing, strings = (sums[c].tolist() for c in ("rows", "missing", "strings"))
    matrix = dense.tolist()
    k = len(names)
    for c in np.flatnonzero(sums["rows"]).tolist():
        w, i = divmod(c, k)
        name = names[i]
        e, b = shapes[i]
        counts = matrix[c]
        top = tops.get((int(windows[w]), name), {})
        window = out.get(starts[w])
        if window is None:
            window = out[starts[w]] = {}
        window[name] = FeatureHistogram(
            name,
            rows[c],
            missing[c],
            e,
            tuple(counts[1 : b + 1]),
            counts[0] if b else 0,
            counts[b + 1] if b else 0,
            top,
            strings[c] - sum(top.values()) if top else strings[c],
        )
    return out
