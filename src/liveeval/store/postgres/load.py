"""The write (events, counts, a queue row) and the roll (pairs and rollups).

A write is acknowledged when it committed; it is small:

- **Idempotency is the database's.** A group of small writes is one statement in
  autocommit (:func:`store_small`: each kind's events as one JSON parameter typed by
  ``json_populate_recordset``, ``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id``
  per kind, the counts and the queue row as CTEs). A
  large batch (:func:`store`) whose ids are all new is one ``COPY`` into the table
  under a savepoint; when an id is stored already, the batch goes through a temporary
  table and the same ``INSERT … ON CONFLICT``. Either way the unique index decides,
  across replicas, which write stores an id; a row not stored was already stored (or
  is being stored by a concurrent transaction, which the insert waits for) and is
  compared with the stored row, the timestamp and latencies aside, to answer
  ``duplicate`` or ``conflict`` — the DuckDB engine's rule.
- Event counts go to ``store_counts``, and the stored prediction and outcome ids to
  one ``rollup_queue`` row, in the same transaction.
- **Pairs are completed exactly once, by the roll.** Under READ COMMITTED two
  transactions storing the two halves of a pair at the same time do not see each
  other's row. Each roll runs after its loads committed and joins the pairs among its
  queued ids whose halves are both stored (``INSERT INTO labelled … ON CONFLICT DO
  NOTHING RETURNING``): of the rolls of a pair's two halves, the later sees both, and
  when both do the unique key of ``labelled`` lets exactly one insert the pair (and
  add it to the rollups and to the count of labelled pairs). No trigger: the rule
  stays in one place, in Python.

**The roll** (:func:`roll`, a background thread of each replica, see :mod:`.writer`)
takes queue rows ``FOR UPDATE SKIP LOCKED``, explodes the predictions' features into
``features``, adds the rows to the rollups and deletes the queue rows, in one
transaction, so every queued load is rolled exactly once. The rollup deltas are
computed by the DuckDB engine's own code (``duck.rollup``) in an in-process DuckDB
scratch database holding only the batch (and the feature state it needs), then added
to PostgreSQL's rollups with ``INSERT … ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n``
(lists added element-wise). Sums commute, so the result does not depend on which
replica rolled first. The feature state (category registry, fixed bins, numbers
counted before bins are fixed) is read and changed under a transaction-level advisory
lock per model. Reads wait until the queue holds nothing older than the read
(:func:`.reads.settle`), so a read sees the rollups of every acknowledged event.

Keys are written in sorted order, table by table in a fixed order, so concurrent
transactions take row locks in one global order; a deadlock the server still reports
is retried by the caller.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..duck import rollup
from ..duck.features import insert_features
from ..duck.rollup import HOUR
from ..duck.schema import migrate as duck_migrate
from ..events import SCHEMAS, content_schema, events_table, id_field
from ..interface import BatchOutcome, WriteOutcome
from .transfer import copy_in, copy_out, text_array

__all__ = [
    "FAST_ROWS",
    "KIND_ORDER",
    "ROLL_ROWS",
    "Events",
    "Scratch",
    "roll",
    "store",
    "store_small",
]

KIND_ORDER = ("predictions", "outcomes", "deployments", "resource_samples")
# pg_advisory_xact_lock(FEATURE_LOCK, hashtext(model)): one writer of a model's feature state.
FEATURE_LOCK = 0x6C76
# store_counts rows per kind: a transaction adds to slot (backend pid mod SLOTS), so that
# replicas rarely wait for one another on a counter row.
SLOTS = 8
# Queue rows (write transactions) a roll takes at most.
ROLL_ROWS = 500

_FEATURE_ROWS = "prediction_id, model, version, ts, segment, name, num_value, str_value"
_PAIR_COLUMNS = (
    "prediction_id, model, version, ts, segment, status, predicted, score, label, value, "
    "probas, outcome_ts"
)

# The rollup tables a load adds to, in the order they are written (a global lock order),
# with how a stored value merges with an added one (default: addition).
_ROLLUPS: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
    ("rollup_counts", ("model", "version", "seg", "bucket"), {"lat_max": "greatest"}),
    ("rollup_latency", ("model", "version", "seg", "bucket", "k"), {}),
    ("rollup_latency_hourly", ("model", "version", "seg", "bucket", "k"), {}),
    ("rollup_cells", ("model", "version", "seg", "bucket", "label", "predicted"), {"vbin": "and"}),
    ("rollup_scores", ("model", "version", "seg", "bucket", "kind", "label"), {"counts": "list"}),
    (
        "rollup_scores_hourly",
        ("model", "version", "seg", "bucket", "kind", "label"),
        {"counts": "list"},
    ),
    ("rollup_delays", ("model", "version", "seg", "bucket", "bin"), {}),
    ("rollup_features", ("model", "version", "bucket", "name"), {"bins": "list"}),
    ("rollup_feature_categories", ("model", "version", "bucket", "name", "value"), {}),
    *(
        (
            t,
            ("model", "version", "seg", "bucket", "kind", "width", "label", "predicted", "cls"),
            {"counts": "list"},
        )
        for t in ("rollup_probas", "rollup_probas_hourly")
    ),
]
_SCRATCH_STATE = ("feature_bins", "feature_pending", "feature_categories")


def _merge(table: str, column: str, how: str | None) -> str:
    old, new = f"{table}.{column}", f"EXCLUDED.{column}"
    if how == "greatest":
        return f"greatest({old}, {new})"
    if how == "and":
        return f"{old} AND {new}"
    if how == "list":
        return (
            f"CASE WHEN {old} IS NULL THEN {new} WHEN {new} IS NULL THEN {old} ELSE "
            f"ARRAY(SELECT a + b FROM unnest({old}, {new}) WITH ORDINALITY AS u(a, b, i) "
            "ORDER BY i) END"
        )
    return f"{old} + {new}"


class Scratch:
    """An in-process DuckDB with the store's schema, empty between loads: each load
    fills it with its batch inside a transaction that is rolled back at the end."""

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET enable_progress_bar = false").fetchall()
        duck_migrate(self.con)
        self.schemas = {
            name: self.con.sql(f"SELECT * FROM {name} LIMIT 0").to_arrow_table().schema
            for name in (*[r[0] for r in _ROLLUPS], *_SCRATCH_STATE, "features", "predictions")
        }

    def close(self) -> None:
        self.con.close()


def _content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("ts", "latency_model_s", "latency_total_s")}


# A batch of at least this many rows, without an id twice, is copied straight into its
# table (one COPY, no staging, no ON CONFLICT); a stored id makes that COPY fail and the
# batch takes the staged path instead.
FAST_ROWS = 1000
# Columns that may differ between two sendings of one event (DuckDB engine's rule).
_NOT_CONTENT = ("ts", "latency_model_s", "latency_total_s")


def _compared(kind: str) -> str:
    return ", ".join(c for c in content_schema(kind).names if c not in _NOT_CONTENT)


def _accept(cur: Any, kind: str, table: pa.Table) -> tuple[BatchOutcome, pa.Table | None]:
    """Store the rows of ``table`` whose id is new: the outcome of each row, and the
    rows stored (None for kinds without ids).

    A large batch of new ids is one ``COPY`` into the table, sorted by id, under a
    savepoint; when an id is stored already (the ``COPY`` fails on the unique index), or
    for a small batch, the rows go through a temporary table and ``INSERT … ON CONFLICT
    DO NOTHING``, and only the ids *not* stored come back; those are compared with the
    stored rows in PostgreSQL (the content, the time and latencies aside), so a retried
    batch moves one list of conflicting ids, not rows.
    """
    key = id_field(kind)
    n = table.num_rows
    if key is None:
        copy_in(cur, kind, table, binary=True)
        return BatchOutcome.all_stored(None, n), None
    column = table.column(key)
    unique = len(pc.unique(column)) == n
    if unique and n >= FAST_ROWS and _copied(cur, kind, table, key):
        return BatchOutcome.all_stored(column.to_pylist(), n), table
    keys = column.to_pylist()
    first: dict[str, int] = {}
    if unique:
        candidates = table
    else:
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        candidates = table.take(pa.array(sorted(first.values()), pa.int64()))
    copy_in(cur, f"in_{kind}", candidates, binary=True)
    columns = ", ".join(content_schema(kind).names)
    row = cur.execute(
        f"WITH ins AS (INSERT INTO {kind} ({columns}) SELECT {columns} FROM in_{kind} "
        f"ORDER BY {key} ON CONFLICT ({key}) DO NOTHING RETURNING {key} AS id) "
        f"SELECT array(SELECT c.{key} FROM in_{kind} c WHERE NOT EXISTS "
        f"(SELECT 1 FROM ins WHERE ins.id = c.{key}))"
    ).fetchone()
    assert row is not None
    missed = pa.array(row[0], pa.string())
    if not len(missed) and unique:
        return BatchOutcome.all_stored(keys, n), table
    differ = pa.array([], pa.string())
    if len(missed):
        # A new statement: it sees rows a concurrent writer committed meanwhile (the
        # insert waited for them). The rows this transaction inserted equal themselves,
        # so the ids whose stored content differs are the conflicts.
        compared = _compared(kind)
        row = cur.execute(
            f"SELECT count(*), coalesce(array_agg(c.{key}) FILTER (WHERE "
            f"ROW(c.{compared.replace(', ', ', c.')}) IS DISTINCT FROM "
            f"ROW(p.{compared.replace(', ', ', p.')})), ARRAY[]::text[]) FROM in_{kind} c "
            f"JOIN {kind} p ON p.{key} = c.{key}"
        ).fetchone()
        assert row is not None
        if int(row[0]) != candidates.num_rows:
            # An id neither inserted nor found: cannot happen under READ COMMITTED (the
            # insert waited for the other writer); refuse rather than guess.
            raise RuntimeError(f"{kind}: a {key} was neither inserted nor found")
        differ = pa.array(row[1], pa.string())
    was_stored = _mask(column, missed)
    status = was_stored.astype(np.int8)  # 1: a duplicate of a stored event
    details: dict[int, str] = {}
    for i in np.flatnonzero(_mask(column, differ)).tolist():
        status[i] = 2
        details[i] = f"{key} {keys[i]!r} is already stored with different content"
    if not unique:
        # Later occurrences of an id in this batch: as the first when the same.
        repeats = [i for i, k in enumerate(keys) if first[k] != i]
        rows = table.take(pa.array(repeats, pa.int64())).to_pylist()
        for i, content in zip(repeats, rows, strict=True):
            k = keys[i]
            if _content(content) == _content(table.slice(first[k], 1).to_pylist()[0]):
                status[i] = max(status[first[k]], 1)
                if first[k] in details:
                    details[i] = details[first[k]]
            else:
                status[i] = 2
                details[i] = (
                    f"{key} {k!r} is already stored with different content"
                    if was_stored[i]
                    else f"{key} {k!r} appears twice in this batch with different content"
                )
    stored_ids = candidates.column(key)
    stored = candidates.filter(pc.invert(pc.is_in(stored_ids, value_set=missed)))
    return BatchOutcome(keys, status, details), stored


def _mask(column: pa.ChunkedArray, values: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which rows of ``column`` hold one of ``values``."""
    if not len(values):
        return np.zeros(len(column), dtype=bool)
    found = pc.is_in(column, value_set=values)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _copied(cur: Any, kind: str, table: pa.Table, key: str) -> bool:
    """Copy ``table`` (new ids only, or nothing) into ``kind`` under a savepoint: False,
    and nothing written, when one of its ids is stored already."""
    psycopg = _psycopg()
    # A retried batch is seen at once (its first ids are stored), before sending it all.
    sample = table.column(key).slice(0, 32).to_pylist()
    if cur.execute(f"SELECT 1 FROM {kind} WHERE {key} = ANY(%s) LIMIT 1", [sample]).fetchone():
        return False
    column = table.column(key)
    # A part of a large batch (writer._halves) comes sorted already.
    ordered = table if _ascending(column) else table.take(pc.sort_indices(column))
    cur.execute("SAVEPOINT liveeval_copy")
    try:
        copy_in(cur, kind, ordered, binary=True)
    except psycopg.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT liveeval_copy")
        return False
    cur.execute("RELEASE SAVEPOINT liveeval_copy")
    return True


def _ascending(column: pa.ChunkedArray) -> bool:
    """Whether the (distinct, non-null) values of ``column`` are in ascending order."""
    if len(column) < 2:
        return True
    flat = column.combine_chunks()
    after = pc.greater(flat.slice(1), flat.slice(0, len(flat) - 1))
    return bool(pc.all(after).as_py())


def _psycopg() -> Any:
    import psycopg

    return psycopg


def _join_pairs(cur: Any, scratch: Scratch, seqs: list[int]) -> pa.Table:
    """Join into ``labelled`` the pairs whose two halves are stored, among the ids of
    the queued loads ``seqs`` (their predictions and outcomes); the pairs joined now
    (one ``COPY`` of the insert's ``RETURNING``: the ids never travel).

    A pair's halves committed by two transactions are each queued: each roll sees the
    halves committed before its statement began, so of the two rolls at least the
    later sees both, and the unique key of ``labelled`` lets one insert win (a
    concurrent insert of the same pair waits for the first and then does nothing).
    """
    schema = _pairs_schema(scratch)
    # The outcomes first (materialised): a batch of predictions whose outcomes have not
    # come probes only the outcomes' key, not 100,000 predictions as well.
    return copy_out(
        cur,
        "WITH c AS MATERIALIZED (SELECT DISTINCT c.id FROM rollup_queue q, "
        "unnest(q.predictions || q.pairs) AS c(id) WHERE q.seq = ANY(%s)), "
        "o AS MATERIALIZED (SELECT o.* FROM c JOIN outcomes o ON o.prediction_id = c.id) "
        f"INSERT INTO labelled ({_PAIR_COLUMNS}) SELECT p.id, p.model, p.version, p.ts, "
        "p.segment, p.status, p.label, p.score, o.label, o.value, p.probas, o.ts "
        "FROM o JOIN predictions p ON p.id = o.prediction_id ORDER BY p.id "
        f"ON CONFLICT (prediction_id) DO NOTHING RETURNING {_select_for(schema)}",
        [seqs],
        schema,
    )


_PAIRS_SCHEMA: pa.Schema | None = None


def _pairs_schema(scratch: Scratch) -> pa.Schema:
    global _PAIRS_SCHEMA
    if _PAIRS_SCHEMA is None:
        scratch.con.execute(rollup.PAIRS_TABLE).fetchall()
        _PAIRS_SCHEMA = scratch.con.sql("SELECT * FROM new_pairs LIMIT 0").to_arrow_table().schema
        scratch.con.execute("DROP TABLE new_pairs").fetchall()
    return _PAIRS_SCHEMA


def _select_for(schema: pa.Schema, table: str = "") -> str:
    # ``table`` qualifies the columns where a join would make a name ambiguous.
    q = f"{table}." if table else ""
    return ", ".join(
        f"array_to_string({q}{f.name}, ',')" if pa.types.is_list(f.type) else f"{q}{f.name}"
        for f in schema
    )


def _feature_state(cur: Any, scratch: Scratch, features: pa.Table) -> dict[str, set[Any]]:
    """Lock the batch's models' feature state and copy it into the scratch database,
    with every stored number of the features whose bins this batch will fix; what was
    there before (to tell what the load adds)."""
    con = scratch.con
    models = sorted(set(features.column("model").to_pylist()))
    for model in models:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [FEATURE_LOCK, model])
    before: dict[str, set[Any]] = {}
    for name in _SCRATCH_STATE:
        schema = scratch.schemas[name]
        rows = copy_out(
            cur, f"SELECT {_select_for(schema)} FROM {name} WHERE model = ANY(%s)", [models], schema
        )
        _insert(con, name, rows)
        key = ("model", "name", "value") if name == "feature_categories" else ("model", "name")
        before[name] = set(zip(*(rows.column(c).to_pylist() for c in key), strict=True))
    # Features this batch brings to the freeze threshold: their stored numbers too.
    due = con.execute(
        "SELECT f.model, f.name FROM (SELECT model, name, count(*) AS n FROM features "
        "WHERE isfinite(num_value) GROUP BY ALL) f "
        "LEFT JOIN feature_pending p ON p.model = f.model AND p.name = f.name "
        "ANTI JOIN feature_bins e ON e.model = f.model AND e.name = f.name "
        "WHERE f.n + coalesce(p.pending, 0) >= ?",
        [rollup.FREEZE_VALUES],
    ).fetchall()
    if due:
        schema = scratch.schemas["features"]
        stored = copy_out(
            cur,
            f"SELECT {_select_for(schema, 'f')} FROM features f JOIN unnest(%s::text[], %s::text[]) "
            "AS d(model, name) ON d.model = f.model AND d.name = f.name "
            "WHERE f.num_value NOT IN ('NaN', 'Infinity', '-Infinity')",
            [[d[0] for d in due], [d[1] for d in due]],
            schema,
        )
        _insert(con, "features", stored)
    return before


def _insert(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    con.register("incoming", rows)
    try:
        con.execute(f"INSERT INTO {name} SELECT * FROM incoming").fetchall()
    finally:
        con.unregister("incoming")


def _ship(cur: Any, scratch: Scratch, before: dict[str, set[Any]] | None) -> None:
    """Add the scratch database's rollups (this load's deltas) to PostgreSQL's, and write
    the feature state the load changed."""
    con = scratch.con
    # The latency delta per hour too (the metrics read sums hours; schema v10).
    con.execute(
        "INSERT INTO rollup_latency_hourly SELECT model, version, seg, "
        f"CAST(floor(bucket / {HOUR // rollup.BUCKET_SECONDS}) AS BIGINT), k, sum(n) "
        "FROM rollup_latency GROUP BY ALL"
    ).fetchall()
    sizes = con.execute(
        "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t, _, _ in _ROLLUPS)
    ).fetchall()[0]
    for (table, keys, merges), size in zip(_ROLLUPS, sizes, strict=True):
        if not size:
            continue
        schema = scratch.schemas[table]
        rows = con.sql(f"SELECT * FROM {table} ORDER BY {', '.join(keys)}").to_arrow_table()
        if rows.num_rows == 0:
            continue
        copy_in(cur, f"stage_{table}", rows)
        columns = ", ".join(schema.names)
        sets = ", ".join(
            f"{c} = {_merge(table, c, merges.get(c))}" for c in schema.names if c not in keys
        )
        cur.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM stage_{table} "
            f"ORDER BY {', '.join(keys)} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        )
    if before is None:
        return
    categories = con.execute(
        "SELECT model, name, value FROM feature_categories ORDER BY ALL"
    ).fetchall()
    new = [c for c in categories if c not in before["feature_categories"]]
    if new:
        cur.execute(
            "INSERT INTO feature_categories SELECT * FROM unnest(%s::text[], %s::text[], "
            "%s::text[]) ON CONFLICT DO NOTHING",
            [[c[0] for c in new], [c[1] for c in new], [c[2] for c in new]],
        )
    pending = con.execute(
        "SELECT model, name, pending FROM feature_pending ORDER BY ALL"
    ).fetchall()
    if pending:
        cur.execute(
            "INSERT INTO feature_pending SELECT * FROM unnest(%s::text[], %s::text[], "
            "%s::bigint[]) ON CONFLICT (model, name) DO UPDATE SET pending = EXCLUDED.pending",
            [[p[0] for p in pending], [p[1] for p in pending], [p[2] for p in pending]],
        )
    bins = con.execute("SELECT model, name, edges FROM feature_bins ORDER BY ALL").fetchall()
    for model, name, edges in bins:
        if (model, name) not in before["feature_bins"]:
            cur.execute(
                "INSERT INTO feature_bins VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [model, name, list(edges)],
            )


def _count(cur: Any, counts: dict[str, int]) -> None:
    kinds = sorted(k for k, n in counts.items() if n)
    if not kinds:
        return
    cur.execute(
        f"INSERT INTO store_counts SELECT k, pg_backend_pid() %% {SLOTS}, n FROM "
        "unnest(%s::text[], %s::bigint[]) AS t(k, n) ORDER BY k "
        "ON CONFLICT (kind, slot) DO UPDATE SET n = store_counts.n + EXCLUDED.n",
        [kinds, [counts[k] for k in kinds]],
    )


def store(
    cur: Any,
    batches: Sequence[tuple[str, pa.Table]],
    owner: str,
    loaded: list[tuple[int, pa.Table]] | None = None,
) -> tuple[list[BatchOutcome], bool]:
    """Write ``batches`` (kind, rows in the store's layout) inside the caller's
    transaction: the events, the counts, and one rollup queue row with the stored
    prediction and outcome ids (the roll joins the pairs they complete); one outcome
    per batch, and whether anything was queued for the rollups.

    ``loaded``: where to add the queue row's number and the predictions it stored
    (rows as stored), so that once the transaction committed the replica's own roll
    can take them from memory instead of reading them back (:func:`roll`)."""
    results: list[BatchOutcome | None] = [None] * len(batches)
    counts: dict[str, int] = {}
    queued: dict[str, pa.Array | pa.ChunkedArray] = {}
    rows: pa.Table | None = None
    for kind in KIND_ORDER:
        at = [i for i, (k, _) in enumerate(batches) if k == kind]
        if not at:
            continue
        tables = [_layout(kind, batches[i][1]) for i in at]
        whole = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        outcome, stored = _accept(cur, kind, whole)
        counts[kind] = whole.num_rows if stored is None else stored.num_rows
        if kind in ("predictions", "outcomes") and stored is not None and stored.num_rows:
            queued[kind] = stored.column(id_field(kind))
            if kind == "predictions":
                rows = stored
        start = 0
        for i, t in zip(at, tables, strict=True):
            n = t.num_rows
            results[i] = BatchOutcome(
                None if outcome.keys is None else outcome.keys[start : start + n],
                outcome.status[start : start + n],
                {j - start: d for j, d in outcome.details.items() if start <= j < start + n},
            )
            start += n
    _count(cur, counts)
    if queued:
        empty = pa.array([], pa.string())
        row = cur.execute(
            "INSERT INTO rollup_queue (owner, predictions, pairs) VALUES (%s, %s::text[], %s::text[]) "
            "RETURNING seq",
            [
                owner,
                text_array(queued.get("predictions", empty)),
                text_array(queued.get("outcomes", empty)),
            ],
        ).fetchone()
        if loaded is not None and rows is not None and row is not None:
            loaded.append((int(row[0]), rows))
    outcomes = [r if r is not None else BatchOutcome.all_stored(None, 0) for r in results]
    return outcomes, bool(queued)


_PG_TYPES = {"string": "text", "timestamp[us]": "timestamp", "double": "float8", "int64": "bigint"}


def _arrays(kind: str, table: pa.Table) -> tuple[list[str], list[str], list[Any]]:
    """The columns of ``table`` as array parameters for ``unnest``: the column names,
    the select list (lists arrive as text literals and are cast back) and the values,
    each column as one array literal (:func:`_array_text`)."""
    names, select, values = [], [], []
    for field in table.schema:
        column = table.column(field.name)
        names.append(field.name)
        if pa.types.is_list(field.type):
            items = [None] * len(column) if column.null_count == len(column) else _literals(column)
            values.append((_array_text(items), "text[]"))
            select.append(f"u.{field.name}::float8[]")
        else:
            values.append((_array_text(column.to_pylist()), _PG_TYPES[str(field.type)] + "[]"))
            select.append(f"u.{field.name}")
    return names, select, values


def _array_text(items: list[Any]) -> str:
    """A few values as one PostgreSQL array literal (``{"a",NULL,0.5}``), cast by the
    statement to the column's array type: psycopg adapts a list parameter element by
    element in Python, which for a group of a few events cost more than the rest of
    the write (0.85 ms against 0.13 ms for 13 columns of 3 rows). Strings and times are
    quoted with ``\\`` and ``"`` escaped; floats are written in their shortest
    round-trip form (``repr``), so the database holds exactly the value given."""
    out = []
    for v in items:
        if v is None:
            out.append("NULL")
        elif isinstance(v, str):
            out.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif isinstance(v, datetime):
            out.append('"' + v.isoformat(" ") + '"')
        elif isinstance(v, float | int) and not isinstance(v, bool):
            out.append(repr(v))
        else:
            raise TypeError(f"no array literal for {type(v).__name__}")
    return "{" + ",".join(out) + "}"


def _literals(column: pa.ChunkedArray) -> list[str | None]:
    from .transfer import _array_literal

    return list(_array_literal(column).to_pylist())


class Events:
    """A group's events of one kind as they came (dicts), with their JSON text: the
    whole group travels as **one** parameter and PostgreSQL makes the typed rows
    (``json_populate_recordset``), so the writer does no per-column work in Python.
    :meth:`of` answers None for events JSON cannot carry exactly (NaN, infinities,
    values of other types): those take the Arrow path."""

    __slots__ = ("rows", "text")

    def __init__(self, rows: list[dict[str, Any]], text: str) -> None:
        self.rows = rows
        self.text = text

    @classmethod
    def of(cls, kind: str, rows: list[dict[str, Any]]) -> Events | None:
        key = id_field(kind)
        if key is not None and not all(isinstance(r.get(key), str) for r in rows):
            return None
        try:
            text = _dumps(rows)
        except (TypeError, ValueError):
            return None
        return cls(rows, text)

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    def take(self, positions: list[int]) -> Events:
        rows = [self.rows[i] for i in positions]
        return Events(rows, _dumps(rows))


def _utc_text(value: Any) -> str:
    """A timestamp as JSON carries it: ISO text, UTC without zone (the store's); any
    other value is refused (:class:`TypeError`), so the events take the Arrow path."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return str(value.isoformat())
    raise TypeError(f"no JSON for {type(value).__name__}")


# Floats are written in their shortest round-trip form (``repr``), which PostgreSQL
# reads back to the same double; NaN and infinities are refused (not JSON).
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, default=_utc_text
)


def _dumps(rows: list[dict[str, Any]]) -> str:
    return str(_ENCODER.encode(rows))


def store_small(
    cur: Any, batches: Sequence[tuple[str, pa.Table | Events]], owner: str
) -> tuple[list[BatchOutcome], bool]:
    """Write a group of small batches in **one statement**, meant for autocommit (one
    round trip, and the statement's commit is the acknowledgement): each kind is an
    ``INSERT … ON CONFLICT DO NOTHING`` in a data-modifying CTE, and the counts and the
    rollup queue row are CTEs of the same statement. Event dicts (:class:`Events`)
    travel as one JSON parameter per kind, typed by PostgreSQL
    (``json_populate_recordset``); Arrow tables as array parameters, one per column.
    Only ids not stored are compared with the stored rows, in a second (read)
    statement, as in :func:`_accept`."""
    results: list[BatchOutcome | None] = [None] * len(batches)
    ctes: list[str] = []
    params: list[Any] = []
    plan: list[tuple[str, list[int], pa.Table | Events, list[str] | None, dict[str, int]]] = []
    for kind in KIND_ORDER:
        at = [i for i, (k, _) in enumerate(batches) if k == kind]
        if not at:
            continue
        parts = [batches[i][1] for i in at]
        key = id_field(kind)
        whole: pa.Table | Events
        if all(isinstance(p, Events) for p in parts):
            events = [p for p in parts if isinstance(p, Events)]
            whole = (
                events[0]
                if len(events) == 1
                else Events(
                    [r for p in events for r in p.rows],
                    "[" + ",".join(p.text[1:-1] for p in events if p.rows) + "]",
                )
            )
            keys = None if key is None else [r[key] for r in whole.rows]
        else:
            tables = [_layout(kind, _as_table(kind, p)) for p in parts]
            whole = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
            keys = None if key is None else whole.column(key).to_pylist()
        first: dict[str, int] = {}
        candidates = whole
        if keys is not None:
            for i, k in enumerate(keys):
                first.setdefault(k, i)
            if len(first) < len(keys):
                positions = sorted(first.values())
                candidates = (
                    whole.take(positions)
                    if isinstance(whole, Events)
                    else whole.take(pa.array(positions, pa.int64()))
                )
        if isinstance(candidates, Events):
            names = SCHEMAS[kind].names
            select = names
            source = f"json_populate_recordset(NULL::{kind}, %s::json) AS u"
            params.append(candidates.text)
        else:
            names, select, values = _arrays(kind, candidates)
            unnest = ", ".join(f"%s::{t}" for _, t in values)
            source = f"unnest({unnest}) AS u({', '.join(names)})"
            params.extend(v for v, _ in values)
        conflict = f"ORDER BY {key} ON CONFLICT ({key}) DO NOTHING RETURNING {key} AS id"
        ctes.append(
            f"ins_{kind} AS (INSERT INTO {kind} ({', '.join(names)}) SELECT {', '.join(select)} "
            f"FROM {source} " + (conflict if key is not None else "RETURNING 1 AS id") + ")"
        )
        plan.append((kind, at, whole, keys, first))
    kinds = [p[0] for p in plan]
    counted = sorted(kinds)
    ctes.append(
        "counted AS (INSERT INTO store_counts (kind, slot, n) SELECT k, "
        f"pg_backend_pid() %% {SLOTS}, n FROM (VALUES "
        + ", ".join(f"('{k}', (SELECT count(*) FROM ins_{k}))" for k in counted)
        + ") AS t(k, n) WHERE n > 0 ORDER BY k ON CONFLICT (kind, slot) DO UPDATE "
        "SET n = store_counts.n + EXCLUDED.n)"
    )
    pairs = [k for k in ("predictions", "outcomes") if k in kinds]
    if pairs:
        arrays = [
            f"array(SELECT id FROM ins_{k})" if k in kinds else "ARRAY[]::text[]"
            for k in ("predictions", "outcomes")
        ]
        ctes.append(
            f"queued AS (INSERT INTO rollup_queue (owner, predictions, pairs) SELECT %s, "
            f"{arrays[0]}, {arrays[1]} WHERE "
            + " OR ".join(f"EXISTS (SELECT 1 FROM ins_{k})" for k in pairs)
            + ")"
        )
        params.append(owner)
    outputs = [
        f"array(SELECT id FROM ins_{kind})" if keys is not None else "NULL::text[]"
        for kind, _, _, keys, _ in plan
    ]
    row = cur.execute(f"WITH {', '.join(ctes)} SELECT {', '.join(outputs)}", params).fetchone()
    assert row is not None
    queued = False
    for (kind, at, whole, keys, first), inserted in zip(plan, row, strict=True):
        n = whole.num_rows
        if keys is None:
            outcome = BatchOutcome.all_stored(None, n)
        else:
            fresh = set(inserted)
            queued = queued or (bool(fresh) and kind in ("predictions", "outcomes"))
            if len(fresh) == n:
                outcome = BatchOutcome.all_stored(keys, n)
            else:  # a duplicate or a conflict: compared as typed rows, as any batch
                table = _layout(kind, _as_table(kind, whole))
                outcome = _small_outcome(cur, kind, table, keys, first, fresh)
        start = 0
        for i in at:
            size = batches[i][1].num_rows
            results[i] = BatchOutcome(
                None if outcome.keys is None else outcome.keys[start : start + size],
                outcome.status[start : start + size],
                {j - start: d for j, d in outcome.details.items() if start <= j < start + size},
            )
            start += size
    outcomes = [r if r is not None else BatchOutcome.all_stored(None, 0) for r in results]
    return outcomes, queued


def _as_table(kind: str, batch: pa.Table | Events) -> pa.Table:
    return events_table(kind, batch.rows) if isinstance(batch, Events) else batch


def _small_outcome(
    cur: Any,
    kind: str,
    table: pa.Table,
    keys: list[str],
    first: dict[str, int],
    inserted: set[str],
) -> BatchOutcome:
    """Each row's outcome once the ids in ``inserted`` were stored: the others are
    compared with the stored rows (fetched; a few) or with their first occurrence."""
    key = id_field(kind)
    assert key is not None
    n = table.num_rows
    if len(inserted) == n:
        return BatchOutcome.all_stored(keys, n)
    existing = sorted(k for k in first if k not in inserted)
    stored: dict[str, dict[str, Any]] = {}
    if existing:
        names = content_schema(kind).names
        rows = cur.execute(
            f"SELECT {', '.join(names)} FROM {kind} WHERE {key} = ANY(%s)", [existing]
        ).fetchall()
        at = names.index(key)
        stored = {r[at]: _content(dict(zip(names, r, strict=True))) for r in rows}
    outcomes: list[WriteOutcome] = []
    contents = table.to_pylist()
    for i, k in enumerate(keys):
        if k in inserted and first[k] == i:
            outcomes.append(WriteOutcome("stored", k))
            continue
        content = _content(contents[i])
        if k in stored:
            same = stored[k] == content
            detail = f"{key} {k!r} is already stored with different content"
        elif k in inserted:
            same = _content(contents[first[k]]) == content
            detail = f"{key} {k!r} appears twice in this batch with different content"
        else:
            raise RuntimeError(f"{key} {k!r} was neither inserted nor found")
        outcomes.append(
            WriteOutcome("duplicate", k) if same else WriteOutcome("conflict", k, detail)
        )
    return BatchOutcome.of(outcomes)


def roll(
    cur: Any,
    scratch: Scratch,
    owner: str,
    amends: Sequence[tuple[str, datetime, float]],
    *,
    takeover_seconds: float,
    limit: int = ROLL_ROWS,
    loaded: MutableMapping[int, pa.Table] | None = None,
) -> tuple[int, list[tuple[str, datetime, float]]]:
    """Add queued loads to the rollups inside the caller's transaction (and explode
    their features): this replica's queue rows, and other replicas' older than
    ``takeover_seconds`` (a replica that stopped). Returns the number of queue rows
    done and the latency amendments kept for a later roll (those whose prediction may
    still be queued).

    ``loaded``: the predictions some committed queue rows stored, by queue row (the
    rows as :func:`store` wrote them), taken from memory (and removed from it); the
    others' are read back.
    The queued ids themselves stay in PostgreSQL (the pair join and the read-back
    select them from the queue rows), so a batch of 100,000 ids is never a Python
    list here."""
    queued = cur.execute(
        "SELECT seq FROM rollup_queue WHERE owner = %s "
        "OR created < now() - make_interval(secs => %s) ORDER BY seq LIMIT %s "
        "FOR UPDATE SKIP LOCKED",
        [owner, takeover_seconds, limit],
    ).fetchall()
    if not queued and not amends:
        return 0, []
    con = scratch.con
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        return _roll(cur, scratch, [int(q[0]) for q in queued], amends, limit, loaded or {})
    finally:
        con.execute("ROLLBACK").fetchall()
        for name in ("new_predictions", "new_pairs", "new_features", "amended_latency"):
            con.unregister(name)  # a name this load did not register is no error


def _roll(
    cur: Any,
    scratch: Scratch,
    queued: list[int],
    amends: Sequence[tuple[str, datetime, float]],
    limit: int,
    loaded: MutableMapping[int, pa.Table],
) -> tuple[int, list[tuple[str, datetime, float]]]:
    con = scratch.con
    pairs = _join_pairs(cur, scratch, queued) if queued else None
    if pairs is not None and pairs.num_rows:
        _count(cur, {"labelled": pairs.num_rows})
    kept = list(amends)
    new_p = None
    if queued:
        new_p = _queued_predictions(cur, scratch, queued, loaded)
        if kept:
            new_p, kept = _patched(cur, new_p, kept)
    feature_rows = None
    before = None
    if new_p is not None and new_p.num_rows:
        con.register("new_predictions", new_p)
        if new_p.column("features").null_count < new_p.num_rows:
            rows = insert_features(con, "new_predictions", _FEATURE_ROWS)
            if rows is not None and rows.num_rows:
                feature_rows = rows
                # Under the model's lock, before this batch's rows are in ``features``.
                before = _feature_state(cur, scratch, rows)
                copy_in(cur, "features", rows)
                con.register("new_features", rows)
    if pairs is not None and pairs.num_rows:
        con.register("new_pairs", pairs)
    rollup.maintain(
        con,
        "new_predictions" if new_p is not None and new_p.num_rows else None,
        "new_pairs" if pairs is not None and pairs.num_rows else None,
        "new_features" if feature_rows is not None else None,
        feature_rows,
    )
    # Amendments of predictions rolled earlier: only once this replica's queue is
    # drained, so that none of them is still waiting to be rolled.
    if kept and len(queued) < limit:
        _amend(cur, scratch, kept)
        kept = []
    _ship(cur, scratch, before)
    if queued:
        cur.execute("DELETE FROM rollup_queue WHERE seq = ANY(%s)", [queued])
    return len(queued), kept


def _queued_predictions(
    cur: Any, scratch: Scratch, queued: list[int], loaded: MutableMapping[int, pa.Table]
) -> pa.Table:
    """The predictions the queue rows ``queued`` stored: from ``loaded`` when there
    (taken out of it), else read back from PostgreSQL (one ``COPY``; each id is in one
    queue row)."""
    schema = scratch.schemas["predictions"]
    others = [seq for seq in queued if seq not in loaded]
    parts = [loaded.pop(seq).select(schema.names).cast(schema) for seq in queued if seq in loaded]
    if others:
        parts.append(
            copy_out(
                cur,
                f"SELECT {_select_for(schema, 'p')} FROM (SELECT DISTINCT unnest(predictions) "
                "AS id FROM rollup_queue WHERE seq = ANY(%s)) q JOIN predictions p ON p.id = q.id",
                [others],
                schema,
            )
        )
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _patched(
    cur: Any, rows: pa.Table, amends: list[tuple[str, datetime, float]]
) -> tuple[pa.Table, list[tuple[str, datetime, float]]]:
    """The amended latencies of predictions being rolled, applied to their rows (and
    stored); the amendments of other predictions."""
    mine = {(i, ts): seconds for i, ts, seconds in amends}
    ids = rows.column("id").to_pylist()
    stamps = rows.column("ts").to_pylist()
    latency = rows.column("latency_total_s").to_pylist()
    hit = []
    for at, key in enumerate(zip(ids, stamps, strict=True)):
        if key in mine:
            latency[at] = mine[key]
            hit.append(key)
    if not hit:
        return rows, amends
    cur.execute(
        "UPDATE predictions p SET latency_total_s = a.seconds FROM unnest(%s::text[], "
        "%s::timestamp[], %s::float8[]) AS a(id, ts, seconds) WHERE p.id = a.id AND p.ts = a.ts",
        [[k[0] for k in hit], [k[1] for k in hit], [mine[k] for k in hit]],
    )
    column = rows.schema.get_field_index("latency_total_s")
    rows = rows.set_column(column, "latency_total_s", pa.array(latency, pa.float64()))
    done = set(hit)
    return rows, [a for a in amends if (a[0], a[1]) not in done]


def _amend(cur: Any, scratch: Scratch, amends: Sequence[tuple[str, datetime, float]]) -> None:
    """Set ``latency_total_s`` of stored predictions (id, ts, seconds) and move their
    latency rollups, as the DuckDB engine does."""
    con = scratch.con
    amended = pa.table(
        {
            "id": pa.array([a[0] for a in amends], pa.string()),
            "ts": pa.array([a[1] for a in amends], pa.timestamp("us")),
            "seconds": pa.array([a[2] for a in amends], pa.float64()),
        }
    )
    schema = scratch.schemas["predictions"]
    select = ", ".join(
        "NULL" if f.name in ("features", "probas") else f"p.{f.name}" for f in schema
    )
    stored = copy_out(
        cur,
        f"SELECT {select} FROM predictions p JOIN unnest(%s::text[], %s::timestamp[]) "
        "AS a(id, ts) ON p.id = a.id AND p.ts = a.ts",
        [amended.column("id").to_pylist(), amended.column("ts").to_pylist()],
        schema,
    )
    if stored.num_rows == 0:
        return
    _insert(con, "predictions", stored)
    con.register("amended_latency", amended)
    low = pc.min(amended["ts"]).as_py()
    high = pc.max(amended["ts"]).as_py()
    rollup.amend_latency(con, "amended_latency", low, high)
    order = np.argsort(np.array(amended.column("id").to_pylist(), dtype=object))
    cur.execute(
        "UPDATE predictions p SET latency_total_s = a.seconds FROM unnest(%s::text[], "
        "%s::timestamp[], %s::float8[]) AS a(id, ts, seconds) WHERE p.id = a.id AND p.ts = a.ts",
        [
            [amends[i][0] for i in order],
            [amends[i][1] for i in order],
            [amends[i][2] for i in order],
        ],
    )


def _layout(kind: str, table: pa.Table) -> pa.Table:
    """``table`` in the store's columns for ``kind`` (missing ones null)."""
    schema = SCHEMAS[kind]
    if table.schema != schema:
        columns = [
            table.column(f.name).cast(f.type)
            if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type)
            for f in schema
        ]
        table = pa.Table.from_arrays(columns, schema=schema)
    return table
