"""The event schema and its migrations.

Each migration is applied once, in order, inside a transaction, and recorded in
``schema_migrations``; opening a store runs the ones it has not seen. Events are
append-only and idempotent by id: ``digest`` is a hash of an event's content, so a
repeated event is recognised as the same (stored once) and a different event under
an existing id as a conflict.

Labels are stored as their JSON text (``1``, ``"fraud"``, ``true``) so that their
type survives the round trip; probabilities of a multiclass model are a list
aligned with the model's declared classes.
"""

from __future__ import annotations

import duckdb

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "events: predictions, outcomes, deployments, resource samples",
        """
        CREATE TABLE predictions (
            id VARCHAR PRIMARY KEY,
            model VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            segment VARCHAR,
            features JSON,
            label VARCHAR,
            score DOUBLE,
            probas DOUBLE[],
            latency_model_s DOUBLE,
            latency_total_s DOUBLE,
            status VARCHAR NOT NULL,
            error_type VARCHAR,
            digest VARCHAR NOT NULL
        );
        CREATE TABLE outcomes (
            prediction_id VARCHAR PRIMARY KEY,
            label VARCHAR,
            value DOUBLE,
            ts TIMESTAMP NOT NULL,
            digest VARCHAR NOT NULL
        );
        CREATE TABLE deployments (
            id VARCHAR PRIMARY KEY,
            model VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL,
            digest VARCHAR NOT NULL
        );
        CREATE TABLE resource_samples (
            ts TIMESTAMP NOT NULL,
            process VARCHAR NOT NULL,
            cpu_percent DOUBLE NOT NULL,
            rss_bytes BIGINT NOT NULL
        );
        """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations this database has not seen; returns the schema version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP DEFAULT now())"
    ).fetchall()
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0]
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"the store's schema is version {current}, newer than this liveeval knows "
            f"({SCHEMA_VERSION}); upgrade liveeval"
        )
    for version, description, sql in MIGRATIONS:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION").fetchall()
        try:
            con.execute(sql).fetchall()
            con.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [version, description],
            ).fetchall()
            con.execute("COMMIT").fetchall()
        except Exception:
            con.execute("ROLLBACK").fetchall()
            raise
    return SCHEMA_VERSION
