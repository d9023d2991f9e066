"""Rollups: sufficient statistics per time bucket, kept up to date as events load.

Every load (one transaction) aggregates the rows it adds and upserts the sums into
small tables keyed by (model, version, segment, bucket), where ``bucket`` is the
prediction's ``ts`` floored to :data:`BUCKET_SECONDS` (15 minutes) since the Unix
epoch — the cohort of the prediction, so an outcome that arrives days later updates
its prediction's bucket. A read over any window that is a whole number of buckets is
a merge of these rows, never a scan of events (:mod:`.windows`).

- ``rollup_counts``: predictions, failed, labelled pairs (ok, both labels known) and
  the latency sums; ``rollup_latency``: the latency sketch's buckets.
- ``rollup_cells``: labelled ok pairs per (actual, predicted) with the
  class-independent loss and business-value sums of :mod:`.aggregate`.
- ``rollup_scores``: scores in ``SCORE_BINS`` equal bins of [0, 1] (one list per
  row); kind ``p`` by
  predicted label (every ok prediction), kind ``l`` by actual label (labelled pairs).
- ``rollup_delays``: outcome ts − prediction ts in :data:`DELAY_EDGES` bins.
- ``rollup_probas`` (and ``rollup_probas_hourly``): a multiclass model's class
  probabilities, each class's in ``SCORE_BINS`` bins (one list per row), per
  (``width`` = number of probabilities, class position ``cls``, predicted label);
  kind ``p`` every ok prediction (label ``''``), kind ``l`` the labelled pairs by
  actual label. Only predictions with 2 to :data:`MAX_PROBA_CLASSES` probabilities,
  all in [0, 1] (schema v8).
- ``rollup_features`` (rows, missing, numbers, strings, other, and the numbers per
  fixed bin as one list) and ``rollup_feature_categories`` per (model, version,
  bucket, feature), no segment; both also per hour (``…_hourly``, schema v11).

Histograms are kept as one list of counts per key (``rollup_scores.counts``,
``rollup_features.bins``), built in numpy and added element-wise on upsert: a row per
bin made the upserts' index ten times larger and a 30-day read fetch millions of rows.

Feature rollups, fixed bins and the category registry: :mod:`.rollup_features`;
the shared upsert and list helpers: :mod:`._rollup_sql`.

Keys never hold NULL (unique indexes treat NULLs as distinct): a segment is stored as
``'|' || segment`` and no segment as ``''``; a missing label as ``''`` (stored labels
are JSON texts, never empty).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from ...metrics.latency import LatencySketch
from ..interface import MAX_PROBA_CLASSES, SCORE_BINS
from ._rollup_sql import BUCKET_SECONDS, HOUR, Dense, bucket_of, dense, seg_key, upsert
from .aggregate import EPS
from .rollup_features import (
    CATEGORY_CAP,
    FEATURE_BINS,
    FEATURE_WIDTH,
    FREEZE_VALUES,
    HOURLY_FEATURE_TABLES,
    backfill_hourly_features,
    features_sql,
    fixed_edges,
    maintain_features,
)

__all__ = [
    "BUCKET_SECONDS",
    "CATEGORY_CAP",
    "DELAY_EDGES",
    "FEATURE_BINS",
    "FEATURE_WIDTH",
    "FREEZE_VALUES",
    "HOUR",
    "HOURLY_FEATURE_TABLES",
    "MAX_PROBA_CLASSES",
    "PROBA_TABLES",
    "ROLLUP_TABLES",
    "backfill",
    "backfill_hourly_features",
    "backfill_probas",
    "fixed_edges",
    "maintain",
    "seg_key",
]

# 0, 1 s, then doubling to 2^25 s (388 days); the last bin is open above.
DELAY_EDGES: tuple[float, ...] = (0.0, *(float(2**i) for i in range(26)))

_LOG_GAMMA = float(np.log(LatencySketch().gamma))


_KEY = (
    "model VARCHAR NOT NULL, version VARCHAR NOT NULL, seg VARCHAR NOT NULL, bucket BIGINT NOT NULL"
)
_FKEY = "model VARCHAR NOT NULL, version VARCHAR NOT NULL, bucket BIGINT NOT NULL, name VARCHAR NOT NULL"

ROLLUP_TABLES = f"""
CREATE TABLE rollup_counts ({_KEY}, predictions BIGINT NOT NULL, failed BIGINT NOT NULL,
    labelled BIGINT NOT NULL, lat_n BIGINT NOT NULL, lat_zeros BIGINT NOT NULL,
    lat_sum DOUBLE NOT NULL, lat_sum2 DOUBLE NOT NULL, lat_max DOUBLE,
    PRIMARY KEY (model, version, seg, bucket));
CREATE TABLE rollup_latency ({_KEY}, k BIGINT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, k));
CREATE TABLE rollup_cells ({_KEY}, label VARCHAR NOT NULL, predicted VARCHAR NOT NULL,
    n BIGINT NOT NULL, ns BIGINT NOT NULL, nls DOUBLE NOT NULL, nls2 DOUBLE NOT NULL,
    nlq DOUBLE NOT NULL, nlq2 DOUBLE NOT NULL, s2 DOUBLE NOT NULL, s4 DOUBLE NOT NULL,
    q2 DOUBLE NOT NULL, q4 DOUBLE NOT NULL, vn BIGINT NOT NULL, vs DOUBLE NOT NULL,
    vss DOUBLE NOT NULL, vbin BOOLEAN NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, label, predicted));
CREATE TABLE rollup_scores ({_KEY}, kind VARCHAR NOT NULL, label VARCHAR NOT NULL,
    counts INTEGER[] NOT NULL, PRIMARY KEY (model, version, seg, bucket, kind, label));
CREATE TABLE rollup_scores_hourly ({_KEY}, kind VARCHAR NOT NULL, label VARCHAR NOT NULL,
    counts INTEGER[] NOT NULL, PRIMARY KEY (model, version, seg, bucket, kind, label));
CREATE TABLE rollup_delays ({_KEY}, bin INTEGER NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, seg, bucket, bin));
CREATE TABLE rollup_features ({_FKEY}, rows BIGINT NOT NULL, missing BIGINT NOT NULL,
    numbers BIGINT NOT NULL, strings BIGINT NOT NULL, other BIGINT NOT NULL, bins INTEGER[],
    PRIMARY KEY (model, version, bucket, name));
CREATE TABLE rollup_feature_categories ({_FKEY}, value VARCHAR NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, bucket, name, value));
CREATE TABLE feature_pending (model VARCHAR NOT NULL, name VARCHAR NOT NULL,
    pending BIGINT NOT NULL, PRIMARY KEY (model, name));
CREATE TABLE feature_bins (model VARCHAR NOT NULL, name VARCHAR NOT NULL,
    edges DOUBLE[] NOT NULL);
CREATE TABLE feature_categories (model VARCHAR NOT NULL, name VARCHAR NOT NULL,
    value VARCHAR NOT NULL, PRIMARY KEY (model, name, value));
"""

_PKEY = (
    f"{_KEY}, kind VARCHAR NOT NULL, width INTEGER NOT NULL, label VARCHAR NOT NULL, "
    "predicted VARCHAR NOT NULL, cls INTEGER NOT NULL"
)
_PROBA_KEYS = "model, version, seg, bucket, kind, width, label, predicted, cls"

PROBA_TABLES = f"""
CREATE TABLE rollup_probas ({_PKEY}, counts INTEGER[] NOT NULL,
    PRIMARY KEY ({_PROBA_KEYS}));
CREATE TABLE rollup_probas_hourly ({_PKEY}, counts INTEGER[] NOT NULL,
    PRIMARY KEY ({_PROBA_KEYS}));
"""

# Temporary relations a load fills: the pairs it completes and the feature rows it adds.
PAIRS_TABLE = (
    "CREATE OR REPLACE TEMP TABLE new_pairs (prediction_id VARCHAR, model VARCHAR, "
    "version VARCHAR, ts TIMESTAMP, segment VARCHAR, status VARCHAR, predicted VARCHAR, "
    "score DOUBLE, label VARCHAR, value DOUBLE, probas DOUBLE[], outcome_ts TIMESTAMP)"
)
# The columns of a load's new feature rows the rollups read.
FEATURE_COLUMNS = "model, version, ts, name, num_value, str_value"


_K = "model, version, seg, bucket"
_N = ("n",)
_COUNTS = ("predictions", "failed", "labelled", "lat_n", "lat_zeros", "lat_sum", "lat_sum2")


def _counts_select(source: str, kind: str) -> str:
    """A ``rollup_counts`` delta: predictions, failures and latency sums of new
    predictions (``kind`` ``p``) or the labelled count of new pairs (``l``)."""
    lat = "latency_total_s"
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    if kind == "p":
        return (
            f"SELECT {key}, count(*) AS predictions, "
            "count(*) FILTER (WHERE status <> 'ok') AS failed, 0 AS labelled, "
            f"count({lat}) AS lat_n, count(*) FILTER (WHERE {lat} = 0) AS lat_zeros, "
            f"coalesce(sum({lat}), 0) AS lat_sum, coalesce(sum({lat} * {lat}), 0) AS lat_sum2, "
            f"max({lat}) AS lat_max FROM {source} GROUP BY ALL"
        )
    ok = "status = 'ok' AND label IS NOT NULL AND predicted IS NOT NULL"
    return (
        f"SELECT {key}, 0 AS predictions, 0 AS failed, count(*) AS labelled, 0 AS lat_n, "
        "0 AS lat_zeros, 0.0 AS lat_sum, 0.0 AS lat_sum2, CAST(NULL AS DOUBLE) AS lat_max "
        f"FROM {source} WHERE {ok} GROUP BY ALL"
    )


def _counts_sql(selects: list[str]) -> str:
    """One upsert of ``rollup_counts`` for a load's deltas (summed when several)."""
    if len(selects) == 1:
        select = selects[0]
    else:
        union = " UNION ALL ".join(f"({q})" for q in selects)
        sums = ", ".join(f"sum({c})" for c in _COUNTS)
        select = f"SELECT {_K}, {sums}, max(lat_max) FROM ({union}) GROUP BY ALL"
    return upsert(
        "rollup_counts",
        _K,
        (*_COUNTS, "lat_max"),
        select,
        {"lat_max": "greatest(rollup_counts.lat_max, EXCLUDED.lat_max)"},
    )


def _predictions_sql(source: str) -> list[str | Dense]:
    lat = "latency_total_s"
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    latency = upsert(
        "rollup_latency",
        f"{_K}, k",
        _N,
        f"SELECT {key}, CAST(ceil(ln({lat}) / {_LOG_GAMMA!r}) AS BIGINT) AS k, count(*) "
        f"FROM {source} WHERE {lat} > 0 GROUP BY ALL",
    )
    scores = Dense(
        "rollup_scores",
        (*_K.split(", "), "kind", "label"),
        f"SELECT {key}, 'p' AS kind, coalesce(label, '') AS label, {_SCORE_BIN} AS bin, "
        f"count(*) AS n FROM {source} WHERE status = 'ok' AND score BETWEEN 0 AND 1 "
        "GROUP BY ALL",
        "counts",
        SCORE_BINS,
        hourly="rollup_scores_hourly",
    )
    return [latency, scores]


_SCORE_BIN = f"CAST(least(floor(score * {SCORE_BINS}), {SCORE_BINS - 1}) AS INTEGER)"
_CELL_SUMS = ("n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4", "vn", "vs", "vss")


def _pairs_sql(source: str) -> list[str | Dense]:
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    ok = "status = 'ok' AND label IS NOT NULL AND predicted IS NOT NULL"
    # As aggregate._labelled_statistics: scores outside [0, 1] and non-finite values
    # (possible in stores written before validation) leave the score and value sums.
    clean = (
        f"(SELECT * REPLACE (CASE WHEN score BETWEEN 0 AND 1 THEN score END AS score, "
        f"CASE WHEN isfinite(value) THEN value END AS value) FROM {source})"
    )
    s = f"greatest(least(score, {1 - EPS!r}), {EPS!r})"
    q = f"greatest(least(1 - score, {1 - EPS!r}), {EPS!r})"
    cells = upsert(
        "rollup_cells",
        f"{_K}, label, predicted",
        (*_CELL_SUMS, "vbin"),
        f"SELECT {key}, coalesce(label, ''), coalesce(predicted, ''), count(*), count(score), "
        f"coalesce(sum(-ln({s})), 0), coalesce(sum(ln({s}) * ln({s})), 0), "
        f"coalesce(sum(-ln({q})), 0), coalesce(sum(ln({q}) * ln({q})), 0), "
        "coalesce(sum(score * score), 0), coalesce(sum(power(score, 4)), 0), "
        "coalesce(sum(power(1 - score, 2)), 0), coalesce(sum(power(1 - score, 4)), 0), "
        "count(value), coalesce(sum(value), 0), coalesce(sum(value * value), 0), "
        f"coalesce(bool_and(value IN (0, 1)), true) FROM {clean} "
        "WHERE status = 'ok' GROUP BY ALL",
        {"vbin": "rollup_cells.vbin AND EXCLUDED.vbin"},
    )
    scores = Dense(
        "rollup_scores",
        (*_K.split(", "), "kind", "label"),
        f"SELECT {key}, 'l' AS kind, label, {_SCORE_BIN} AS bin, count(*) AS n "
        f"FROM {source} WHERE {ok} AND score BETWEEN 0 AND 1 GROUP BY ALL",
        "counts",
        SCORE_BINS,
        hourly="rollup_scores_hourly",
    )
    delay = "(epoch(outcome_ts) - epoch(ts))"
    top = len(DELAY_EDGES) - 1
    delays = upsert(
        "rollup_delays",
        f"{_K}, bin",
        _N,
        f"SELECT {key}, CASE WHEN {delay} < 0 THEN -1 WHEN {delay} < 1 THEN 0 "
        f"ELSE CAST(least(floor(log2({delay})) + 1, {top}) AS INTEGER) END, count(*) "
        f"FROM {source} WHERE outcome_ts IS NOT NULL GROUP BY ALL",
    )
    return [cells, scores, delays]


_VALID_PROBAS = (
    f"probas IS NOT NULL AND len(probas) BETWEEN 2 AND {MAX_PROBA_CLASSES} "
    "AND list_min(probas) >= 0 AND list_max(probas) <= 1"
)


def _probas_sql(source: str, kind: str) -> Dense:
    """Class probabilities of the ok predictions (kind ``p``) or labelled pairs (kind
    ``l``, by actual label) of ``source``: one row per (prediction, class) unnested,
    binned and counted (as :func:`liveeval.monitor.histogram.score_bins`)."""
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    ok = "status = 'ok' AND label IS NOT NULL"
    if kind == "p":
        # predictions: the predicted label is ``label``; they have no actual label.
        unnested = (
            f"SELECT {key}, '' AS label, label AS predicted, len(probas) AS width, "
            "unnest(range(len(probas))) AS cls, unnest(probas) AS p "
            f"FROM {source} WHERE {ok} AND {_VALID_PROBAS}"
        )
    else:
        unnested = (
            f"SELECT {key}, label, predicted, len(probas) AS width, "
            "unnest(range(len(probas))) AS cls, unnest(probas) AS p "
            f"FROM {source} WHERE {ok} AND predicted IS NOT NULL AND {_VALID_PROBAS}"
        )
    return Dense(
        "rollup_probas",
        tuple(_PROBA_KEYS.split(", ")),
        f"SELECT model, version, seg, bucket, '{kind}' AS kind, width, label, predicted, "
        f"CAST(cls AS INTEGER) AS cls, CAST(least(floor(p * {SCORE_BINS}), {SCORE_BINS - 1}) "
        f"AS INTEGER) AS bin, count(*) AS n FROM ({unnested}) GROUP BY ALL",
        "counts",
        SCORE_BINS,
        hourly="rollup_probas_hourly",
    )


def maintain(
    con: duckdb.DuckDBPyConnection,
    predictions: str | None,
    pairs: str | None,
    features: str | None,
    feature_rows: pa.Table | None = None,
    *,
    probas: bool = True,
    prediction_probas: bool = True,
    hourly_features: bool = True,
) -> None:
    """Add the rows of the given relations (new predictions, newly completed pairs
    with ``outcome_ts``, new feature rows already in ``features``) to the rollups,
    inside the caller's transaction. ``probas=False`` leaves the class-probability
    rollups out (a store migrated to v4 has no such tables yet), and
    ``hourly_features=False`` the hourly feature rollups (none before v11);
    ``prediction_probas=False`` says the new predictions carry none (a binary model's)."""
    statements: list[str | Dense] = []
    counts = []
    if predictions is not None:
        counts.append(_counts_select(predictions, "p"))
        statements += _predictions_sql(predictions)
        if probas and prediction_probas:
            statements.append(_probas_sql(predictions, "p"))
    if pairs is not None:
        counts.append(_counts_select(pairs, "l"))
        statements += _pairs_sql(pairs)
        if probas:
            statements.append(_probas_sql(pairs, "l"))
    if counts:
        statements.insert(0, _counts_sql(counts))
    if features is not None:
        statements += features_sql(features, hourly=hourly_features)
    for job in _one_per_table(statements):
        if isinstance(job, Dense):
            dense(con, job)
        else:
            con.execute(job).fetchall()
    if features is not None:
        maintain_features(con, features, feature_rows, hourly=hourly_features)


def _one_per_table(statements: list[str | Dense]) -> list[str | Dense]:
    """The list jobs of one table (scores or probabilities of new predictions and of new
    pairs) as one job: one query (their SELECTs' UNION ALL) and one upsert per table."""
    out: list[str | Dense] = []
    at: dict[tuple[object, ...], int] = {}
    for job in statements:
        if not isinstance(job, Dense):
            out.append(job)
            continue
        key = (job.table, job.keys, job.column, job.width, job.zeros, job.hourly)
        if key not in at:
            at[key] = len(out)
            out.append(job)
            continue
        first = out[at[key]]
        assert isinstance(first, Dense)
        out[at[key]] = replace(first, select=f"({first.select}) UNION ALL ({job.select})")
    return out


def backfill(
    con: duckdb.DuckDBPyConnection, *, probas: bool = True, hourly_features: bool = True
) -> None:
    """Rollups of every stored event (a migration, or a :class:`TableSource`)."""
    con.execute(
        "CREATE OR REPLACE TEMP VIEW all_pairs AS SELECT l.*, o.ts AS outcome_ts "
        "FROM labelled l JOIN outcomes o ON o.prediction_id = l.prediction_id"
    ).fetchall()
    maintain(
        con,
        "predictions",
        "all_pairs",
        "features",
        probas=probas,
        hourly_features=hourly_features,
    )
    con.execute("DROP VIEW all_pairs").fetchall()


def backfill_probas(con: duckdb.DuckDBPyConnection) -> None:
    """The class-probability rollups of every stored prediction and pair (schema v8)."""
    for job in (_probas_sql("predictions", "p"), _probas_sql("labelled", "l")):
        dense(con, job)


def amend_latency(
    con: duckdb.DuckDBPyConnection, amended: str, low: datetime, high: datetime
) -> None:
    """Set ``latency_total_s`` of stored predictions to the amended seconds of
    ``amended`` (id, ts, seconds; ts between ``low`` and ``high``), and move the latency
    rollups with them: the old values' contributions out, the new ones' in."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE amended_rows AS SELECT p.model, p.version, p.segment, "
        "p.ts, p.latency_total_s AS old, a.seconds AS new FROM predictions p "
        f"JOIN {amended} a ON p.id = a.id AND p.ts = a.ts WHERE p.ts BETWEEN ? AND ?",
        [low, high],
    ).fetchall()
    key = f"model, version, {seg_key('segment')} AS seg, {bucket_of('ts')} AS bucket"
    con.execute(
        upsert(
            "rollup_counts",
            _K,
            (*_COUNTS, "lat_max"),
            f"SELECT {key}, 0, 0, 0, count(new) - count(old), "
            "count(*) FILTER (WHERE new = 0) - count(*) FILTER (WHERE old = 0), "
            "coalesce(sum(new), 0) - coalesce(sum(old), 0), "
            "coalesce(sum(new * new), 0) - coalesce(sum(old * old), 0), max(new) "
            "FROM amended_rows GROUP BY ALL",
            {"lat_max": "greatest(rollup_counts.lat_max, EXCLUDED.lat_max)"},
        )
    ).fetchall()
    k = f"CAST(ceil(ln({{v}}) / {_LOG_GAMMA!r}) AS BIGINT)"
    con.execute(
        upsert(
            "rollup_latency",
            f"{_K}, k",
            _N,
            f"SELECT {key}, k, sum(d) FROM ("
            f"SELECT model, version, segment, ts, {k.format(v='new')} AS k, 1 AS d "
            "FROM amended_rows WHERE new > 0 UNION ALL "
            f"SELECT model, version, segment, ts, {k.format(v='old')} AS k, -1 AS d "
            "FROM amended_rows WHERE old > 0) GROUP BY ALL",
        )
    ).fetchall()
    con.execute(
        f"UPDATE predictions SET latency_total_s = a.seconds FROM {amended} a "
        "WHERE predictions.id = a.id AND predictions.ts = a.ts "
        "AND predictions.ts BETWEEN ? AND ?",
        [low, high],
    ).fetchall()
    con.execute("DROP TABLE amended_rows").fetchall()
