"""The DuckDB store: one file, nothing to start.

Writes come in batches (see :mod:`liveeval.store.writer`) and each batch is one
transaction. Reads use their own cursors, so aggregation queries run beside writes
(DuckDB's MVCC gives them a consistent snapshot).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from .events import SCHEMAS, content_schema, digest_sql, events_table, id_field
from .schema import migrate

__all__ = ["DuckStore", "WriteOutcome"]


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one event of a batch."""

    status: Literal["stored", "duplicate", "conflict"]
    key: str | None = None
    detail: str | None = None


class DuckStore:
    """Events in a DuckDB file (or ``":memory:"``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path)
        self._lock = threading.Lock()
        self.schema_version = migrate(self._con)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for reads, safe to use from another thread."""
        return self._con.cursor()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # -- writes -------------------------------------------------------------------

    def write(self, kind: str, events: Sequence[dict[str, Any]]) -> list[WriteOutcome]:
        """Write a batch of event dicts; see :meth:`write_table`."""
        return self.write_table(kind, events_table(kind, events))

    def write_table(self, kind: str, table: pa.Table) -> list[WriteOutcome]:
        """Write a batch in one transaction; one outcome per row, in order.

        A row whose id is already stored with the same content is a ``duplicate``
        (stored once); with different content it is a ``conflict`` and is not
        written. The content digest is computed inside DuckDB (md5 over every
        field), so large batches never loop in Python.
        """
        if kind not in SCHEMAS:
            raise ValueError(f"unknown event kind {kind!r}")
        key = id_field(kind)
        n = table.num_rows
        if n == 0:
            return []
        columns = [f.name for f in content_schema(kind)]
        table = table.select(columns).cast(content_schema(kind))
        if key is None:
            with self._lock:
                self._transaction(
                    lambda con: con.execute(
                        f"INSERT INTO {kind} SELECT * FROM incoming"
                    ).fetchall(),
                    table,
                )
            return [WriteOutcome("stored")] * n
        keys = table.column(key).to_pylist()
        first: dict[str, int] = {}
        repeats = []
        for i, k in enumerate(keys):
            if k in first:
                repeats.append(i)
            else:
                first[k] = i
        unique = table if not repeats else table.take(sorted(first.values()))
        expr = digest_sql(kind)

        def run(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict[str, bool], list[str]]:
            inserted = {
                r[0]
                for r in con.execute(
                    f"INSERT OR IGNORE INTO {kind} SELECT *, {expr} FROM incoming RETURNING {key}"
                ).fetchall()
            }
            missing = [k for k in first if k not in inserted]
            same: dict[str, bool] = {}
            if missing:
                same = dict(
                    con.execute(
                        f"SELECT i.{key}, {digest_sql(kind, 'i.')} = s.digest "
                        f"FROM incoming i JOIN {kind} s ON s.{key} = i.{key} "
                        f"WHERE i.{key} IN (SELECT unnest(?::VARCHAR[]))",
                        [missing],
                    ).fetchall()
                )
            # Digests of in-batch repeats, to tell repeats from conflicts.
            batch_digests = (
                [r[0] for r in con.execute(f"SELECT {expr} FROM all_incoming").fetchall()]
                if repeats
                else []
            )
            return inserted, same, batch_digests

        with self._lock:
            inserted, same, batch_digests = self._transaction(
                run, unique, table if repeats else None
            )
        out: list[WriteOutcome] = []
        for i, k in enumerate(keys):
            if first[k] != i:
                equal = batch_digests[i] == batch_digests[first[k]]
                out.append(
                    WriteOutcome(
                        "duplicate" if equal else "conflict",
                        k,
                        None
                        if equal
                        else f"{key} {k!r} appears twice in this batch with different content",
                    )
                )
            elif k in inserted:
                out.append(WriteOutcome("stored", k))
            elif same.get(k):
                out.append(WriteOutcome("duplicate", k))
            else:
                out.append(
                    WriteOutcome(
                        "conflict", k, f"{key} {k!r} is already stored with different content"
                    )
                )
        return out

    def _transaction(
        self, body: Any, incoming: pa.Table, everything: pa.Table | None = None
    ) -> Any:
        con = self._con
        con.register("incoming", incoming)
        if everything is not None:
            con.register("all_incoming", everything)
        try:
            # Every result is fetched: DuckDB refuses further work on a connection
            # that still holds an unfinished result.
            con.execute("BEGIN TRANSACTION").fetchall()
            try:
                result = body(con)
                con.execute("COMMIT").fetchall()
            except Exception:
                con.execute("ROLLBACK").fetchall()
                raise
        finally:
            con.unregister("incoming")
            if everything is not None:
                con.unregister("all_incoming")
        return result

    def count(self, kind: str) -> int:
        row = self.cursor().execute(f"SELECT count(*) FROM {kind}").fetchone()
        return int(row[0]) if row else 0
