"""Features stored per feature: the loader's explode, and per-feature histograms.

A prediction's features arrive as one JSON object (text). The loader writes one row
per feature into ``features``, in the same transaction as the prediction: a number in
``num_value``; a string in ``str_value``; a boolean as ``"true"``/``"false"`` and a
nested object or list as its JSON text, in ``str_value`` too (they are categories for
a histogram); JSON ``null`` as a row with both null. A text that is not a JSON object
adds no rows; the prediction keeps it as received.

Histograms are GROUP BYs over ``features``: numbers into bins (equal-width over the
scope's range, or edges the caller gives, e.g. a reference window's), the other
values counted per category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ...errors import ValidationError
from ..interface import FeatureHistogram, Scope
from .aggregate import _where

__all__ = ["GENERIC_FEATURE_INSERT", "feature_histograms", "insert_features"]

_COLUMNS = "prediction_id, model, version, ts, segment, name, num_value, str_value"

# ``t`` is the JSON type of the value ``v``.
_TYPED = (
    "CASE WHEN t IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN TRY_CAST(v AS DOUBLE) END, "
    "CASE WHEN t = 'VARCHAR' THEN v ->> '$' "
    "WHEN t IN ('BOOLEAN', 'OBJECT', 'ARRAY') THEN CAST(v AS VARCHAR) END"
)

# Any object, any keys: one row per member from json_each. Robust but slow (a lateral
# call per prediction), so the loader uses it only for sparse or oddly keyed batches.
GENERIC_FEATURE_INSERT = (
    f"INSERT INTO features ({_COLUMNS}) "
    f"SELECT id, model, version, ts, segment, name, {_TYPED} FROM ("
    "SELECT p.id, p.model, p.version, p.ts, p.segment, j.key AS name, j.type AS t, "
    "j.value AS v FROM (SELECT * FROM {source} WHERE CASE WHEN json_valid(features) "
    "THEN json_type(features) END = 'OBJECT') p, json_each(p.features) j)"
)

# The keys of a batch known in advance: one parse per prediction extracts every
# member at once, and unnest pairs each key with its value.
_KEYED_FEATURE_INSERT = (
    f"INSERT INTO features ({_COLUMNS}) "
    f"SELECT id, model, version, ts, segment, name, {_TYPED} FROM ("
    "SELECT *, json_type(v) AS t FROM ("
    "SELECT p.id, p.model, p.version, p.ts, p.segment, unnest(?::VARCHAR[]) AS name, "
    "unnest(try(json_extract(p.features, ?::VARCHAR[]))) AS v "
    "FROM {source} p WHERE p.features IS NOT NULL) WHERE v IS NOT NULL)"
)

# The keyed form builds rows x keys candidates; beyond this sparsity json_each is cheaper.
_MIN_DENSITY = 0.25
_MAX_KEYS = 512


def insert_features(
    con: duckdb.DuckDBPyConnection, source: str, returning: str | None = None
) -> pa.Table | None:
    """Explode the features of the predictions in relation ``source`` into ``features``
    (inside the caller's transaction). With ``returning`` (columns of ``features``),
    the inserted rows' columns come back as an Arrow table (None when no prediction
    had features)."""
    row = con.execute(
        f"SELECT list(DISTINCT k), count(k), (SELECT count(features) FROM {source}) "
        f"FROM (SELECT unnest(try(json_keys(features))) AS k FROM {source} "
        "WHERE features IS NOT NULL)"
    ).fetchall()
    keys: list[str] = (row[0][0] or []) if row else []
    present, objects = (int(row[0][1]), int(row[0][2])) if row else (0, 0)
    if not keys:
        return None
    dense = present >= _MIN_DENSITY * objects * len(keys)
    plain = all(k and '"' not in k and "\\" not in k for k in keys)
    if dense and plain and len(keys) <= _MAX_KEYS:
        paths = [f'$."{k}"' for k in keys]
        sql, params = _KEYED_FEATURE_INSERT.format(source=source), [keys, paths]
    else:
        sql, params = GENERIC_FEATURE_INSERT.format(source=source), []
    if returning is None:
        con.execute(sql, params).fetchall()
        return None
    rows: pa.Table = con.sql(f"{sql} RETURNING {returning}", params=params).to_arrow_table()
    return rows


def feature_histograms(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    names: Sequence[str] | None = None,
    *,
    bins: int = 10,
    edges: Mapping[str, Sequence[float]] | None = None,
    max_categories: int = 50,
) -> dict[str, FeatureHistogram]:
    """Per-feature histograms of the predictions in ``scope``; see
    :meth:`liveeval.store.StatisticsSource.feature_histograms`."""
    if bins < 1:
        raise ValidationError(f"bins must be a positive integer, got {bins!r}")
    if max_categories < 0:
        raise ValidationError(f"max_categories must be 0 or more, got {max_categories!r}")
    given = {name: _checked_edges(name, e) for name, e in (edges or {}).items()}
    where, params = _where(scope, "f")
    if names is not None:
        where += " AND f.name IN (SELECT unnest(?::VARCHAR[]))"
        params = [*params, list(names)]
    finite = "isfinite(f.num_value)"
    totals = cur.execute(
        f"SELECT f.name, count(*), count(*) FILTER (WHERE {finite}), "
        f"count(*) FILTER (WHERE f.str_value IS NULL AND NOT coalesce({finite}, false)), "
        f"min(f.num_value) FILTER (WHERE {finite}), max(f.num_value) FILTER (WHERE {finite}), "
        "count(f.str_value) "
        f"FROM features f WHERE {where} GROUP BY f.name",
        params,
    ).fetchall()
    if not totals:
        return {}
    bin_edges: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for name, _, numbers, _, low, high, _ in totals:
        if name in given:
            bin_edges[name] = given[name]
        elif numbers:
            bin_edges[name] = _equal_width(float(low), float(high), bins)
    counts = _numeric_counts(cur, where, params, bin_edges)
    categories = _categories(cur, where, params, max_categories)
    out: dict[str, FeatureHistogram] = {}
    for name, rows, _, missing, _, _, strings in sorted(totals, key=lambda r: str(r[0])):
        e = bin_edges.get(name)
        per_bin = counts.get(name, {})
        b = 0 if e is None else e.size - 1
        top = categories.get(name, {})
        out[name] = FeatureHistogram(
            name=name,
            rows=int(rows),
            missing=int(missing),
            edges=() if e is None else tuple(e.tolist()),
            counts=tuple(per_bin.get(i + 1, 0) for i in range(b)),
            below=per_bin.get(0, 0),
            above=per_bin.get(b + 1, 0),
            categories=top,
            other=int(strings) - sum(top.values()),
        )
    return out


def _checked_edges(name: str, edges: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.isfinite(e).all() or (np.diff(e) <= 0).any():
        raise ValidationError(
            f"bin edges for feature {name!r} must be at least two finite, increasing "
            f"numbers; got {list(edges)!r}"
        )
    return e


def _equal_width(low: float, high: float, bins: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """numpy.histogram's edges for ``bins`` over [low, high] (±0.5 when they are equal)."""
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges: np.ndarray[Any, np.dtype[np.float64]] = np.linspace(low, high, bins + 1)
    if not np.isfinite(edges).all():
        # high - low overflows near the float limits; interpolate without the difference.
        t = np.arange(bins + 1) / bins
        edges = (1 - t) * low + t * high
        edges[0], edges[-1] = low, high
    if (np.diff(edges) <= 0).any():
        edges = np.array([low, high])  # a range too narrow to split: one bin
    return edges


def _numeric_counts(
    cur: duckdb.DuckDBPyConnection,
    where: str,
    params: list[Any],
    edges: dict[str, np.ndarray[Any, np.dtype[np.float64]]],
) -> dict[str, dict[int, int]]:
    """Rows per bin code: 0 below the first edge, i in 1..b for bin i (the last one
    closed, as numpy's), b + 1 above the last edge."""
    if not edges:
        return {}
    names = list(edges)
    rows = cur.execute(
        "SELECT f.name, CASE WHEN f.num_value = e.edges[len(e.edges)] THEN len(e.edges) - 1 "
        "ELSE len(list_filter(e.edges, lambda x: x <= f.num_value)) END AS code, count(*) "
        "FROM features f JOIN (SELECT unnest(?::VARCHAR[]) AS name, "
        "unnest(?::DOUBLE[][]) AS edges) e ON e.name = f.name "
        f"WHERE {where} AND isfinite(f.num_value) GROUP BY ALL",
        [names, [edges[n].tolist() for n in names], *params],
    ).fetchall()
    out: dict[str, dict[int, int]] = {}
    for name, code, n in rows:
        out.setdefault(name, {})[int(code)] = int(n)
    return out


def _categories(
    cur: duckdb.DuckDBPyConnection, where: str, params: list[Any], limit: int
) -> dict[str, dict[str, int]]:
    """The ``limit`` most frequent categories of each feature (ties by value)."""
    if limit == 0:
        return {}
    rows = cur.execute(
        "SELECT name, value, n FROM (SELECT f.name, f.str_value AS value, count(*) AS n "
        f"FROM features f WHERE {where} AND f.str_value IS NOT NULL GROUP BY ALL) "
        "QUALIFY row_number() OVER (PARTITION BY name ORDER BY n DESC, value) <= ?",
        [*params, limit],
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for name, value, n in sorted(rows, key=lambda r: (r[0], -r[2], r[1])):
        out.setdefault(name, {})[value] = int(n)
    return out
