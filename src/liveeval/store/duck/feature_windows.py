"""Feature histograms per window from the rollups, on the fixed bins of each
(model, feature) (:mod:`.rollup_features`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ..interface import FeatureHistogram, FeatureWindows, Scope
from ._window_sql import add_rows, check, list_matrix, rollup_where, start, window_key
from .aggregate import _where as scan_where
from .rollup_features import FEATURE_BINS, FEATURE_WIDTH, fixed_edges

__all__ = ["feature_bins", "feature_window_arrays", "feature_windows"]


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
    return feature_window_arrays(
        cur, scope, every, names, max_categories=max_categories
    ).histograms()


def feature_window_arrays(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    names: Sequence[str] | None = None,
    *,
    max_categories: int = 50,
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
    where, params = rollup_where(scope, segments=False)
    if names is not None:
        where += " AND r.name IN (SELECT unnest(?::VARCHAR[]))"
        params = [*params, list(names)]
    w = window_key(every)
    totals = cur.sql(
        f"SELECT {w} AS w, name, rows, missing, strings, bins FROM rollup_features r "
        f"WHERE {where} ORDER BY w, name",
        params=params,
    ).to_arrow_table()
    if totals.num_rows == 0:
        return FeatureWindows.empty()
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
        "QUALIFY row_number() OVER (PARTITION BY w, name ORDER BY n DESC, value) <= ? "
        "ORDER BY name",
        params=[*params, max_categories],
    ).to_arrow_table()
    return _arrays(totals, scanned, categories, edges, every, scope)


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
    valid = pc.is_valid(totals.column("bins"))
    binned = totals.filter(valid)
    if binned.num_rows:
        at = valid.to_numpy(zero_copy_only=False)
        add_rows(dense, cell[at], list_matrix(binned.column("bins"), FEATURE_WIDTH, native=True))
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
