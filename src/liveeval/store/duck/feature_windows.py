"""Feature histograms per window from the rollups, on the fixed bins of each
(model, feature) (:mod:`.rollup_features`).

With ``hourly`` (an engine that keeps the hourly feature rollups, schema v11) and
windows of whole hours, the hours a scope covers whole are read from the hourly
tables and only the partial hours at its edges from the 15-minute ones: the same
counts (every hour row is the sum of its four bucket rows), four times fewer rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ..interface import FeatureHistogram, FeatureWindows, Scope
from ._rollup_sql import BUCKET_SECONDS, HOUR
from ._window_sql import _seconds, add_rows, check, list_matrix, rollup_where, start, window_key
from .aggregate import _where as scan_where
from .rollup_features import FEATURE_BINS, FEATURE_WIDTH, fixed_edges

__all__ = ["feature_bins", "feature_window_arrays", "feature_windows"]


def feature_bins(cur: duckdb.DuckDBPyConnection, model: str) -> dict[str, tuple[float, ...]]:
    """The fixed bin edges of every numeric feature of ``model``: frozen ones, and for
    features with fewer stored numbers than the freeze threshold, the edges the same
    rule gives over the numbers stored so far (they may still change)."""
    return _bins(cur, model)[0]


def _bins(
    cur: duckdb.DuckDBPyConnection, model: str
) -> tuple[dict[str, tuple[float, ...]], set[str]]:
    """:func:`feature_bins`, and the names of the features whose bins are frozen."""
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
    return dict(sorted(out.items())), {str(name) for name in frozen}


def feature_windows(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    names: Sequence[str] | None = None,
    *,
    max_categories: int = 50,
    hourly: bool = False,
) -> dict[datetime, dict[str, FeatureHistogram]]:
    """Feature histograms per window on the fixed bins (:func:`feature_bins`), from the
    rollups; a feature whose bins are not frozen yet is binned from ``features``.
    ``hourly``: the source keeps the hourly feature rollups (see the module's text)."""
    return feature_window_arrays(
        cur, scope, every, names, max_categories=max_categories, hourly=hourly
    ).histograms()


def feature_window_arrays(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    names: Sequence[str] | None = None,
    *,
    max_categories: int = 50,
    hourly: bool = False,
) -> FeatureWindows:
    """:func:`feature_windows` as arrays with a window axis (:class:`FeatureWindows`)."""
    check(scope, every)
    if scope.segment is not None or scope.segment_is_null:
        raise ValidationError(
            "feature histograms are kept per model, version and time bucket, not per "
            f"segment; use feature_histograms for segment {scope.segment!r}"
        )
    if max_categories < 0:
        raise ValidationError(f"max_categories must be 0 or more, got {max_categories!r}")
    parts = _parts(scope, every, names, hourly)
    totals = cur.sql(
        " UNION ALL ".join(
            f"SELECT {w} AS w, name, rows, missing, strings, bins FROM rollup_features{t} r "
            f"WHERE {where}"
            for t, w, where, _ in parts
        ),
        params=[p for *_, params in parts for p in params],
    ).to_arrow_table()
    if totals.num_rows == 0:
        return FeatureWindows.empty()
    edges, frozen = _bins(cur, scope.model)
    wanted = set(totals.column("name").to_pylist())
    provisional = sorted(n for n in wanted if n in edges and n not in frozen)
    scanned = _scan_bins(cur, scope, every, provisional, edges) if provisional else None
    rows = " UNION ALL ".join(
        f"SELECT {w} AS w, name, value, n FROM rollup_feature_categories{t} r WHERE {where}"
        for t, w, where, _ in parts
    )
    categories = cur.sql(
        f"SELECT w, name, value, n FROM (SELECT w, name, value, sum(n)::BIGINT AS n "
        f"FROM ({rows}) GROUP BY ALL) "
        "QUALIFY row_number() OVER (PARTITION BY w, name ORDER BY n DESC, value) <= ? "
        "ORDER BY name",
        params=[*(p for *_, params in parts for p in params), max_categories],
    ).to_arrow_table()
    return _arrays(totals, scanned, categories, edges, every, scope)


def _parts(
    scope: Scope, every: timedelta | None, names: Sequence[str] | None, hourly: bool
) -> list[tuple[str, str, str, list[Any]]]:
    """The rollup rows of ``scope`` as (table suffix, window key, WHERE, parameters):
    the 15-minute table alone, or with ``hourly`` and windows of whole hours the hourly
    table for the hours the scope covers whole and the 15-minute one for the buckets of
    partial hours at its edges."""
    named = " AND r.name IN (SELECT unnest(?::VARCHAR[]))" if names is not None else ""
    extra = [list(names)] if names is not None else []

    def part(
        suffix: str, grain: int, lo: int | None, hi: int | None
    ) -> tuple[str, str, str, list[Any]]:
        where, params = rollup_where(replace(scope, since=None, until=None), segments=False)
        for op, bound in ((">=", lo), ("<", hi)):
            if bound is not None:
                where += f" AND r.bucket {op} ?"
                params.append(bound)
        return suffix, window_key(every, grain), where + named, [*params, *extra]

    lo, hi = (
        None if t is None else int(_seconds(t)) // BUCKET_SECONDS
        for t in (scope.since, scope.until)
    )
    per_hour = HOUR // BUCKET_SECONDS
    if not hourly or (every is not None and every.total_seconds() % HOUR):
        return [part("", BUCKET_SECONDS, lo, hi)]
    # Whole hours: from the first hour starting at or after ``since`` to the last ending
    # at or before ``until``.
    h_lo = None if lo is None else -(-lo // per_hour)
    h_hi = None if hi is None else hi // per_hour
    if h_lo is not None and h_hi is not None and h_lo >= h_hi:
        return [part("", BUCKET_SECONDS, lo, hi)]
    out = [part("_hourly", HOUR, h_lo, h_hi)]
    if lo is not None and h_lo is not None and lo < h_lo * per_hour:
        out.append(part("", BUCKET_SECONDS, lo, h_lo * per_hour))
    if hi is not None and h_hi is not None and h_hi * per_hour < hi:
        out.append(part("", BUCKET_SECONDS, h_hi * per_hour, hi))
    return out


def _scan_bins(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    names: list[str],
    edges: dict[str, tuple[float, ...]],
) -> pa.Table:
    """Bin codes per window from ``features`` for features whose bins are provisional."""
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


def _arrays(
    totals: pa.Table,
    scanned: pa.Table | None,
    categories: pa.Table,
    edges: dict[str, tuple[float, ...]],
    every: timedelta | None,
    scope: Scope,
) -> FeatureWindows:
    names = sorted(set(totals.column("name").to_pylist()))
    slot = {n: i for i, n in enumerate(names)}
    k = len(names)
    windows, wi = np.unique(totals.column("w").to_numpy(), return_inverse=True)
    ni = _slots(totals.column("name"), slot)
    cell = wi * k + ni
    size = windows.size * k
    sums = {
        c: np.bincount(cell, weights=totals.column(c).to_numpy(), minlength=size)
        .astype(np.int64)
        .reshape(windows.size, k)
        for c in ("rows", "missing", "strings")
    }
    dense = np.zeros((size, FEATURE_WIDTH), dtype=np.int64)
    lists = totals.column("bins")
    if lists.null_count == 0:  # every row has numbers' bins: no filter (a copy) needed
        add_rows(dense, cell, list_matrix(lists, FEATURE_WIDTH, native=True))
    else:
        valid = pc.is_valid(lists)
        binned = totals.filter(valid)
        if binned.num_rows:
            at = valid.to_numpy(zero_copy_only=False)
            add_rows(
                dense, cell[at], list_matrix(binned.column("bins"), FEATURE_WIDTH, native=True)
            )
    if scanned is not None and scanned.num_rows:
        sw = np.searchsorted(windows, scanned.column("w").to_numpy())
        sn = _slots(scanned.column("name"), slot)
        np.add.at(
            dense,
            (sw * k + sn, scanned.column("code").to_numpy().astype(np.int64)),
            scanned.column("n").to_numpy().astype(np.int64),
        )
    return FeatureWindows(
        tuple(start(int(w), every, scope) for w in windows.tolist()),
        tuple(names),
        tuple(tuple(edges.get(name, ())) for name in names),
        sums["rows"],
        sums["missing"],
        sums["strings"],
        dense.reshape(windows.size, k, FEATURE_WIDTH),
        _category_arrays(categories, names, windows),
    )


def _slots(column: pa.ChunkedArray, slot: dict[str, int]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The index in ``slot`` of every name of ``column`` (one lookup per distinct name)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    lookup = np.array([slot[n] for n in encoded.dictionary.to_pylist()], dtype=np.int64)
    out: np.ndarray[Any, np.dtype[np.int64]] = lookup[encoded.indices.to_numpy()]
    return out


def _category_arrays(
    table: pa.Table, names: list[str], windows: np.ndarray[Any, np.dtype[np.int64]]
) -> tuple[tuple[tuple[str, ...], np.ndarray[Any, np.dtype[np.int64]]], ...]:
    """Per feature: its kept categories' values and counts per window (rows ordered by
    name)."""
    empty: tuple[tuple[str, ...], np.ndarray[Any, np.dtype[np.int64]]] = (
        (),
        np.zeros((windows.size, 0), dtype=np.int64),
    )
    out = dict.fromkeys(names, empty)
    if table.num_rows:
        name_col = table.column("name").to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, name_col[1:] != name_col[:-1]])
        ends = np.r_[starts[1:], name_col.size]
        w_all = np.searchsorted(windows, table.column("w").to_numpy())
        n_all = table.column("n").to_numpy().astype(np.int64)
        value_all = table.column("value")
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            values, vi = np.unique(
                value_all.slice(a, b - a).to_numpy(zero_copy_only=False), return_inverse=True
            )
            counts = np.zeros((windows.size, values.size), dtype=np.int64)
            np.add.at(counts, (w_all[a:b], vi), n_all[a:b])
            out[str(name_col[a])] = (tuple(str(v) for v in values.tolist()), counts)
    return tuple(out[n] for n in names)
