"""The event schema in PostgreSQL, and its migrations under an advisory lock.

The tables are the DuckDB engine's (``store/duck/schema.py``, version
:data:`~liveeval.store.duck.schema.SCHEMA_VERSION`), with what several writers need:
primary keys on event ids (idempotency is the database's unique index, not an index
in one process's memory), ``pair_halves`` (where the two halves of a
prediction–outcome pair meet, see :mod:`.load`), the outcome's time kept with each
labelled pair, and ``store_counts`` (event counts kept as they load, so that counting
ten million events is a sum of a few rows).

Replicas that start together all call :func:`migrate`: the first takes a session
advisory lock and applies what is missing, one transaction per migration; the others
wait on the lock and then find nothing to do.
"""

from __future__ import annotations

from typing import Any

from ..duck.schema import SCHEMA_VERSION

__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "migrate"]

# pg_advisory_lock key for migrations ("liveeval" in ASCII, folded into a bigint).
MIGRATION_LOCK = 0x6C69766565766131

_KEY = "model TEXT NOT NULL, version TEXT NOT NULL, seg TEXT NOT NULL, bucket BIGINT NOT NULL"
_FKEY = "model TEXT NOT NULL, version TEXT NOT NULL, bucket BIGINT NOT NULL, name TEXT NOT NULL"

_V4 = f"""
CREATE TABLE predictions (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    ts TIMESTAMP NOT NULL, segment TEXT, features TEXT, label TEXT, score DOUBLE PRECISION,
    probas DOUBLE PRECISION[], latency_model_s DOUBLE PRECISION,
    latency_total_s DOUBLE PRECISION, status TEXT NOT NULL, error_type TEXT);
CREATE INDEX predictions_model_ts ON predictions (model, ts);
CREATE TABLE outcomes (
    prediction_id TEXT PRIMARY KEY, label TEXT, value DOUBLE PRECISION, ts TIMESTAMP NOT NULL);
CREATE TABLE deployments (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, ts TIMESTAMP NOT NULL,
    status TEXT NOT NULL);
CREATE TABLE resource_samples (
    ts TIMESTAMP NOT NULL, process TEXT NOT NULL, cpu_percent DOUBLE PRECISION NOT NULL,
    rss_bytes BIGINT NOT NULL);
CREATE TABLE pair_halves (
    id TEXT PRIMARY KEY, prediction BOOLEAN NOT NULL, outcome BOOLEAN NOT NULL);
CREATE TABLE labelled (
    prediction_id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    ts TIMESTAMP NOT NULL, segment TEXT, status TEXT NOT NULL, predicted TEXT,
    score DOUBLE PRECISION, label TEXT, value DOUBLE PRECISION, probas DOUBLE PRECISION[],
    outcome_ts TIMESTAMP);
CREATE INDEX labelled_model_ts ON labelled (model, ts);
CREATE TABLE features (
    prediction_id TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
    ts TIMESTAMP NOT NULL, segment TEXT, name TEXT NOT NULL, num_value DOUBLE PRECISION,
    str_value TEXT);
CREATE INDEX features_model_ts ON features (model, ts);
CREATE INDEX features_model_name ON features (model, name);
CREATE TABLE rollup_queue (
    seq BIGSERIAL PRIMARY KEY, owner TEXT NOT NULL, created TIMESTAMPTZ NOT NULL DEFAULT now(),
    predictions TEXT[] NOT NULL, pairs TEXT[] NOT NULL);
CREATE TABLE store_counts (
    kind TEXT NOT NULL, slot INTEGER NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, slot));
CREATE TABLE rollup_counts ({_KEY}, predictions BIGINT NOT NULL, failed BIGINT NOT NULL,
    labelled BIGINT NOT NULL, lat_n BIGINT NOT NULL, lat_zeros BIGINT NOT NULL,
    lat_sum DOUBLE PRECISION NOT NULL, lat_sum2 DOUBLE PRECISION NOT NULL,
    lat_max DOUBLE PRECISION, PRIMARY KEY (model, version, seg, bucket));
CREATE TABLE rollup_latency ({_KEY}, k BIGINT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, k));
CREATE TABLE rollup_cells ({_KEY}, label TEXT NOT NULL, predicted TEXT NOT NULL,
    n BIGINT NOT NULL, ns BIGINT NOT NULL, nls DOUBLE PRECISION NOT NULL,
    nls2 DOUBLE PRECISION NOT NULL, nlq DOUBLE PRECISION NOT NULL,
    nlq2 DOUBLE PRECISION NOT NULL, s2 DOUBLE PRECISION NOT NULL, s4 DOUBLE PRECISION NOT NULL,
    q2 DOUBLE PRECISION NOT NULL, q4 DOUBLE PRECISION NOT NULL, vn BIGINT NOT NULL,
    vs DOUBLE PRECISION NOT NULL, vss DOUBLE PRECISION NOT NULL, vbin BOOLEAN NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, label, predicted));
CREATE TABLE rollup_scores ({_KEY}, kind TEXT NOT NULL, label TEXT NOT NULL,
    counts INTEGER[] NOT NULL, PRIMARY KEY (model, version, seg, bucket, kind, label));
CREATE TABLE rollup_scores_hourly ({_KEY}, kind TEXT NOT NULL, label TEXT NOT NULL,
    counts INTEGER[] NOT NULL, PRIMARY KEY (model, version, seg, bucket, kind, label));
CREATE TABLE rollup_delays ({_KEY}, bin INTEGER NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, bin));
CREATE TABLE rollup_features ({_FKEY}, rows BIGINT NOT NULL, missing BIGINT NOT NULL,
    numbers BIGINT NOT NULL, strings BIGINT NOT NULL, other BIGINT NOT NULL, bins INTEGER[],
    PRIMARY KEY (model, version, bucket, name));
CREATE TABLE rollup_feature_categories ({_FKEY}, value TEXT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, bucket, name, value));
CREATE TABLE feature_pending (model TEXT NOT NULL, name TEXT NOT NULL,
    pending BIGINT NOT NULL, PRIMARY KEY (model, name));
CREATE TABLE feature_bins (model TEXT NOT NULL, name TEXT NOT NULL,
    edges DOUBLE PRECISION[] NOT NULL, PRIMARY KEY (model, name));
CREATE TABLE feature_categories (model TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (model, name, value));
"""

# The PostgreSQL schema starts at the DuckDB schema's version 4 (events, labelled pairs,
# features per feature, rollups); a later DuckDB migration gets its PostgreSQL twin here
# with the same number.
_V5 = """
CREATE TABLE alert_events (
    seq BIGSERIAL PRIMARY KEY, alert_id TEXT NOT NULL, rule TEXT NOT NULL, model TEXT NOT NULL,
    version TEXT, segment TEXT, metric TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, ts TIMESTAMP NOT NULL, body TEXT NOT NULL);
CREATE INDEX alert_events_alert ON alert_events (alert_id);
CREATE INDEX alert_events_model ON alert_events (model);
"""

_V6 = """
CREATE TABLE model_references (model TEXT NOT NULL, name TEXT NOT NULL,
    created TIMESTAMP NOT NULL, rows BIGINT NOT NULL, body JSONB NOT NULL,
    PRIMARY KEY (model, name));
"""

_V7 = """
CREATE TABLE notifications (
    key TEXT PRIMARY KEY, channel TEXT NOT NULL, alert_id TEXT NOT NULL, state TEXT NOT NULL,
    model TEXT, notice TEXT NOT NULL, created_at TIMESTAMP NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_attempt_at TIMESTAMP, last_error TEXT,
    delivered_at TIMESTAMP);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE TABLE action_runs (
    id TEXT PRIMARY KEY, action TEXT NOT NULL, status TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL, alert_id TEXT, model TEXT, version TEXT, metric TEXT,
    reason TEXT, finished_at TIMESTAMP, exit_code INTEGER, duration_s DOUBLE PRECISION,
    log_tail TEXT, rows_exported BIGINT);
"""

_PKEY = (
    f"{_KEY}, kind TEXT NOT NULL, width INTEGER NOT NULL, label TEXT NOT NULL, "
    "predicted TEXT NOT NULL, cls INTEGER NOT NULL, counts INTEGER[] NOT NULL, "
    "PRIMARY KEY (model, version, seg, bucket, kind, width, label, predicted, cls)"
)
# Not backfilled: events stored before v8 have no class-probability rollups (the
# DuckDB twin backfills; a PostgreSQL store is new enough that none held multiclass
# windows before).
_V8 = f"""
CREATE TABLE rollup_probas ({_PKEY});
CREATE TABLE rollup_probas_hourly ({_PKEY});
"""

# Several replicas share the outbox and the alert evaluation: a notification is claimed
# (``claimed_by`` until ``claimed_until``, database time) by the replica delivering it,
# and one replica at a time holds the ``alerts`` lease (see ledger.py).
_V9 = """
CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires TIMESTAMPTZ NOT NULL);
ALTER TABLE notifications ADD COLUMN claimed_by TEXT, ADD COLUMN claimed_until TIMESTAMPTZ;
"""

# The latency sketch's counts per hour (bucket = epoch seconds // 3600): a month's metrics
# read sums ~100,000 rows instead of ~400,000. Kept by the roll from the 15-minute delta
# (load.py); filled here from the 15-minute rows already stored.
_V10 = f"""
CREATE TABLE rollup_latency_hourly ({_KEY}, k BIGINT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, k));
INSERT INTO rollup_latency_hourly (model, version, seg, bucket, k, n)
    SELECT model, version, seg, floor(bucket / 4.0)::bigint, k, sum(n) FROM rollup_latency
    GROUP BY 1, 2, 3, 4, 5;
"""

# The DuckDB engine's hourly feature rollups (its v11). This engine keeps none yet: its
# roll ships only the tables of load._ROLLUPS, and its feature reads ask the 15-minute
# rows (correct, not faster). A no-op that keeps the version numbers matched; the
# tables come with the roll that fills them.
_V11 = "SELECT 1"

MIGRATIONS: list[tuple[int, str, str]] = [
    (4, "events, labelled pairs, features and rollups (the DuckDB schema v4)", _V4),
    # Not events: small tables written and updated in place (alert_events keeps the
    # order of insertion in ``seq``, which DuckDB keeps as the row order).
    (5, "alert history: every state change of every alert", _V5),
    (6, "references registered by name (histograms as jsonb)", _V6),
    (7, "notifications outbox and action runs", _V7),
    (8, "class-probability rollups per bucket and per hour", _V8),
    (9, "leases (one alert evaluator) and claims on notifications being delivered", _V9),
    (10, "latency sketch counts per hour", _V10),
    (11, "feature rollups per hour: none in PostgreSQL yet (a no-op twin)", _V11),
]
assert MIGRATIONS[-1][0] == SCHEMA_VERSION, "a DuckDB migration lacks its PostgreSQL twin"


def migrate(conn: Any) -> int:
    """Apply the migrations this database has not seen (once, whichever of several
    replicas gets the advisory lock first); returns the schema version."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"the store's schema is version {current}, newer than this liveeval knows "
                f"({SCHEMA_VERSION}); upgrade liveeval"
            )
        for version, description, ddl in MIGRATIONS:
            if version <= current:
                continue
            with conn.transaction():
                conn.execute(ddl)
                conn.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                    [version, description],
                )
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
    return SCHEMA_VERSION
