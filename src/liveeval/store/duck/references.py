"""References registered by name: kept as histograms in one table (schema v5).

A reference is an uploaded file reduced to what drift reads: per feature its histogram
on the model's fixed bins (or by category), per numeric feature its count, sum and sum
of squares, and for a binary model its scores in ``SCORE_BINS`` bins and its predicted
and actual labels. One JSON document per (model, name) — a few kB per feature — so a
PostgreSQL engine keeps the same row in a ``jsonb`` column.

Fixing a feature's bins from a reference (:func:`fix_bins`) is a write to the rollups'
``feature_bins``: the feature's numbers stored so far are binned at once, in the same
transaction, as a freeze does (:mod:`.rollup`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from ...errors import ConflictError
from ..interface import FeatureHistogram, StoredReference
from .rollup import _NAMED, _add_bins

__all__ = [
    "REFERENCES_TABLE",
    "delete_reference",
    "fix_bins",
    "list_references",
    "load_reference",
    "save_reference",
]

REFERENCES_TABLE = """
CREATE TABLE model_references (model VARCHAR NOT NULL, name VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL, rows BIGINT NOT NULL, body VARCHAR NOT NULL,
    PRIMARY KEY (model, name));
"""


def fix_bins(
    con: duckdb.DuckDBPyConnection, model: str, proposed: Mapping[str, Sequence[float]]
) -> dict[str, tuple[float, ...]]:
    """Inside the caller's transaction: keep the fixed edges a feature has, give the
    proposed ones to features without, and bin their stored numbers."""
    names = sorted(proposed)
    if not names:
        return {}
    held = dict(
        con.execute(
            "SELECT name, edges FROM feature_bins WHERE model = ? "
            "AND name IN (SELECT unnest(?::VARCHAR[]))",
            [model, names],
        ).fetchall()
    )
    new = [n for n in names if n not in held]
    if new:
        con.execute(
            "INSERT INTO feature_bins SELECT ?, unnest(?::VARCHAR[]), unnest(?::DOUBLE[][])",
            [model, new, [[float(x) for x in proposed[n]] for n in new]],
        ).fetchall()
        _add_bins(con, "features", _NAMED, [[model] * len(new), new])
    out = {str(n): tuple(float(x) for x in e) for n, e in held.items()}
    out.update({n: tuple(float(x) for x in proposed[n]) for n in new})
    return out


def _histogram_json(h: FeatureHistogram) -> dict[str, Any]:
    return {
        "rows": h.rows,
        "missing": h.missing,
        "edges": list(h.edges),
        "counts": list(h.counts),
        "below": h.below,
        "above": h.above,
        "categories": h.categories,
        "other": h.other,
    }


def _encode(ref: StoredReference) -> str:
    return json.dumps(
        {
            "features": {name: _histogram_json(h) for name, h in ref.features.items()},
            "moments": {name: list(m) for name, m in ref.moments.items()},
            "scores": None if ref.scores is None else list(ref.scores),
            "predicted": ref.predicted,
            "labels": ref.labels,
            "columns": ref.columns,
        },
        separators=(",", ":"),
    )


def _decode(model: str, name: str, created: datetime, rows: int, body: str) -> StoredReference:
    doc = json.loads(body)
    features = {
        n: FeatureHistogram(
            name=n,
            rows=int(h["rows"]),
            missing=int(h["missing"]),
            edges=tuple(float(x) for x in h["edges"]),
            counts=tuple(int(x) for x in h["counts"]),
            below=int(h["below"]),
            above=int(h["above"]),
            categories={str(k): int(v) for k, v in h["categories"].items()},
            other=int(h["other"]),
        )
        for n, h in doc["features"].items()
    }
    moments = {n: (int(m[0]), float(m[1]), float(m[2])) for n, m in doc["moments"].items()}
    scores = doc.get("scores")
    return StoredReference(
        model=model,
        name=name,
        rows=rows,
        features=features,
        moments=moments,
        scores=None if scores is None else tuple(int(x) for x in scores),
        predicted=doc.get("predicted"),
        labels=doc.get("labels"),
        columns={str(k): str(v) for k, v in doc.get("columns", {}).items()},
        created=created.replace(tzinfo=UTC),
    )


def save_reference(
    con: duckdb.DuckDBPyConnection, ref: StoredReference, *, replace: bool
) -> datetime:
    """Inside the caller's transaction: insert (or, with ``replace``, overwrite) the row."""
    taken = con.execute(
        "SELECT created FROM model_references WHERE model = ? AND name = ?", [ref.model, ref.name]
    ).fetchall()
    if taken and not replace:
        raise ConflictError(
            f"model {ref.model!r} already has a reference named {ref.name!r} (registered "
            f"{taken[0][0].isoformat()}Z); upload again with replace=true to overwrite it, "
            "or choose another name"
        )
    created = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        "INSERT OR REPLACE INTO model_references VALUES (?, ?, ?, ?, ?)",
        [ref.model, ref.name, created, ref.rows, _encode(ref)],
    ).fetchall()
    return created.replace(tzinfo=UTC)


def load_reference(cur: duckdb.DuckDBPyConnection, model: str, name: str) -> StoredReference | None:
    rows = cur.execute(
        "SELECT created, rows, body FROM model_references WHERE model = ? AND name = ?",
        [model, name],
    ).fetchall()
    if not rows:
        return None
    created, n, body = rows[0]
    return _decode(model, name, created, int(n), body)


def list_references(cur: duckdb.DuckDBPyConnection, model: str) -> list[StoredReference]:
    rows = cur.execute(
        "SELECT name, created, rows, body FROM model_references WHERE model = ? ORDER BY name",
        [model],
    ).fetchall()
    return [_decode(model, str(name), created, int(n), body) for name, created, n, body in rows]


def delete_reference(con: duckdb.DuckDBPyConnection, model: str, name: str) -> bool:
    found = con.execute(
        "DELETE FROM model_references WHERE model = ? AND name = ? RETURNING name", [model, name]
    ).fetchall()
    return bool(found)
