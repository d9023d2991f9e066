"""The event schema and its migrations.

Each migration is applied once, in order, inside a transaction, and recorded in
``schema_migrations``; opening a store runs the ones it has not seen. Events are
append-only and idempotent by id (checked by the store before an event is
journalled; see :mod:`liveeval.store.idindex`): a repeated event is stored once and a
different event under an existing id is a conflict.

Labels are stored as their JSON text (``1``, ``"fraud"``, ``true``) so that their
type survives the round trip; probabilities of a multiclass model are a list
aligned with the model's declared classes.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from .features import insert_features
from .references import REFERENCES_TABLE
from .rollup import (
    HOURLY_FEATURE_TABLES,
    PROBA_TABLES,
    ROLLUP_TABLES,
    backfill,
    backfill_hourly_features,
    backfill_probas,
)

__all__ = ["BACKFILLS", "MIGRATIONS", "SCHEMA_VERSION", "migrate"]

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
    (
        2,
        "idempotency in memory and a write-ahead journal: no primary keys or digests; "
        "labelled pairs joined once on arrival; journal position",
        # Primary keys made every bulk load ~2.5x slower and every small transaction
        # slower still; uniqueness is now enforced by the store's id index before the
        # journal append (see liveeval.store.idindex). ``labelled`` holds each
        # prediction joined with its outcome, written when the second of the two
        # arrives, so reads never join ten million rows with ten million rows.
        """
        CREATE TABLE predictions_v2 (
            id VARCHAR NOT NULL,
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
            error_type VARCHAR
        );
        INSERT INTO predictions_v2 SELECT * EXCLUDE (digest) FROM predictions;
        DROP TABLE predictions;
        ALTER TABLE predictions_v2 RENAME TO predictions;
        CREATE TABLE outcomes_v2 (
            prediction_id VARCHAR NOT NULL,
            label VARCHAR,
            value DOUBLE,
            ts TIMESTAMP NOT NULL
        );
        INSERT INTO outcomes_v2 SELECT * EXCLUDE (digest) FROM outcomes;
        DROP TABLE outcomes;
        ALTER TABLE outcomes_v2 RENAME TO outcomes;
        CREATE TABLE deployments_v2 (
            id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL
        );
        INSERT INTO deployments_v2 SELECT * EXCLUDE (digest) FROM deployments;
        DROP TABLE deployments;
        ALTER TABLE deployments_v2 RENAME TO deployments;
        CREATE TABLE labelled (
            prediction_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            segment VARCHAR,
            status VARCHAR NOT NULL,
            predicted VARCHAR,
            score DOUBLE,
            label VARCHAR,
            value DOUBLE
        );
        INSERT INTO labelled
            SELECT p.id, p.model, p.version, p.ts, p.segment, p.status, p.label, p.score,
                   o.label, o.value
            FROM predictions p JOIN outcomes o ON o.prediction_id = p.id;
        CREATE TABLE journal_state (segment INTEGER NOT NULL, "offset" BIGINT NOT NULL);
        INSERT INTO journal_state VALUES (0, 0);
        """,
    ),
    (
        3,
        "features stored per feature (a long table); class probabilities kept with "
        "labelled pairs; features kept as received text",
        # Per-feature histograms (drift) and multiclass ROC-AUC and log loss are then
        # GROUP BYs over one table each. ``predictions.features`` becomes VARCHAR: a
        # JSON column re-parses every text on insert, and a text DuckDB cannot parse
        # would stop the loader; the long table is the typed view of it.
        """
        ALTER TABLE predictions ALTER COLUMN features SET DATA TYPE VARCHAR;
        CREATE TABLE features (
            prediction_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            segment VARCHAR,
            name VARCHAR NOT NULL,
            num_value DOUBLE,
            str_value VARCHAR
        );
        ALTER TABLE labelled ADD COLUMN probas DOUBLE[];
        UPDATE labelled SET probas = p.probas
            FROM predictions p
            WHERE p.id = labelled.prediction_id AND p.probas IS NOT NULL;
        """,
    ),
    (
        4,
        "rollups: sufficient statistics per 15-minute bucket of prediction time, kept "
        "as events load; fixed feature bins",
        # Windowed reads (counts, confusion cells, score and feature histograms, label
        # delays) merge these rows instead of scanning events; see store/duck/rollup.py.
        ROLLUP_TABLES,
    ),
    (
        5,
        "alert history: every state change of every alert",
        # Not an event: written by the server's own rule engine, directly (no journal),
        # and read back at start so that open alerts survive a restart.
        """
        CREATE TABLE alert_events (
            alert_id VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            version VARCHAR,
            segment VARCHAR,
            metric VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            body VARCHAR NOT NULL
        );
        """,
    ),
    (
        6,
        "references registered by name: an uploaded file reduced to histograms on the "
        "model's fixed feature bins",
        # One row per (model, name); the histograms as one JSON document (a few kB per
        # feature), read whole when drift compares with the reference.
        REFERENCES_TABLE,
    ),
    (
        7,
        "notifications outbox and action runs",
        # Kept by the monitor, updated in place (attempts, delivery, a run's end): not
        # events, so not journalled. A notification's key is its idempotency key.
        """
        CREATE TABLE notifications (
            key VARCHAR PRIMARY KEY,
            channel VARCHAR NOT NULL,
            alert_id VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            model VARCHAR,
            notice VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMP,
            last_error VARCHAR,
            delivered_at TIMESTAMP
        );
        CREATE TABLE action_runs (
            id VARCHAR PRIMARY KEY,
            action VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            alert_id VARCHAR,
            model VARCHAR,
            version VARCHAR,
            metric VARCHAR,
            reason VARCHAR,
            finished_at TIMESTAMP,
            exit_code INTEGER,
            duration_s DOUBLE,
            log_tail VARCHAR,
            rows_exported BIGINT
        );
        """,
    ),
    (
        8,
        "class-probability rollups: a multiclass model's probabilities per class in "
        "score bins, per 15-minute bucket and per hour",
        # Estimation before labels for multiclass models reads windows of these
        # (store/duck/class_windows.py); backfilled from the stored events.
        PROBA_TABLES,
    ),
    (
        9,
        "leases: which process evaluates alerts when several share the store",
        # The PostgreSQL engine's: replicas take turns by a row per lease. A DuckDB file
        # is held by one process, which holds every lease (the engine never reads it).
        """
        CREATE TABLE leases (
            name VARCHAR PRIMARY KEY,
            owner VARCHAR NOT NULL,
            expires TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        10,
        "latency sketch counts per hour",
        # The PostgreSQL engine's: its metrics read sums latency per hour, four times
        # fewer rows than per 15-minute bucket (store/postgres/load.py keeps it). The
        # DuckDB engine reads rollup_latency and never writes this table; its roll's
        # scratch database (a DuckDB) derives the hourly delta here before shipping it.
        """
        CREATE TABLE rollup_latency_hourly (
            model VARCHAR NOT NULL, version VARCHAR NOT NULL, seg VARCHAR NOT NULL,
            bucket BIGINT NOT NULL, k BIGINT NOT NULL, n BIGINT NOT NULL,
            PRIMARY KEY (model, version, seg, bucket, k)
        );
        """,
    ),
    (
        11,
        "feature rollups per hour: totals, bin lists and categories",
        # A live drift read of 30 days of hourly windows merged 2,880 buckets x features
        # of bin lists; per hour it merges 720 x features (store/duck/feature_windows.py
        # composes whole hours with 15-minute rows at a scope's edges). Kept by every
        # load beside the 15-minute rows; backfilled here by summing them per hour.
        HOURLY_FEATURE_TABLES,
    ),
]

# Data a migration derives from existing rows, run after its SQL in its transaction.
BACKFILLS: dict[int, Callable[[duckdb.DuckDBPyConnection], object]] = {
    3: lambda con: insert_features(con, "predictions"),
    4: lambda con: backfill(con, probas=False, hourly_features=False),
    8: backfill_probas,
    11: backfill_hourly_features,
}

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
            if version in BACKFILLS:
                BACKFILLS[version](con)
            con.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [version, description],
            ).fetchall()
            con.execute("COMMIT").fetchall()
        except Exception:
            con.execute("ROLLBACK").fetchall()
            raise
    return SCHEMA_VERSION
