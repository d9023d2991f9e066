"""A realistic example prediction log, generated (no download): an imbalanced,
fraud-like stream with timestamps, two model versions, segments, latencies and a
few failed predictions, plus matching training and validation sets.

The scores come from a known model so the example behaves like a real one: v2
ranks better than v1, one segment is harder, and the positive rate is about 2%.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["fraud_log", "write_demo"]

SEGMENTS = ("card_present", "online", "mobile", "atm")


def fraud_log(
    n: int = 50_000,
    *,
    seed: int = 7,
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC),
    days: int = 30,
    prevalence: float = 0.02,
    with_status: bool = True,
    separation_boost: float = 0.0,
) -> pa.Table:
    """One month of scored transactions with delayed, sometimes missing, labels."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, days * 86400, n))
    timestamps = pa.array(
        (
            np.datetime64(start.replace(tzinfo=None), "us")
            + (seconds * 1e6).astype("timedelta64[us]")
        ),
        type=pa.timestamp("us"),
    )
    segment_index = rng.choice(len(SEGMENTS), n, p=[0.45, 0.30, 0.20, 0.05])
    # v2 rolls out half-way through the month.
    version = np.where(seconds > days * 86400 / 2, "v2", "v1")
    risk = np.array([0.8, 1.6, 1.2, 0.6])[segment_index]
    fraud = rng.random(n) < prevalence * risk
    amount = np.round(rng.lognormal(3.5, 1.1, n) * np.where(fraud, 2.5, 1.0), 2)
    account_age_days = rng.integers(1, 3650, n)
    distance_km = np.round(rng.exponential(12.0, n) * np.where(fraud, 3.0, 1.0), 3)
    merchant_risk = np.round(rng.beta(2, 8, n) + fraud * rng.uniform(0, 0.2, n), 4)
    separation = (
        np.where(version == "v2", 2.6, 2.0)
        - np.where(segment_index == 2, 0.5, 0.0)
        + separation_boost
    )
    logit = rng.normal(-3.0, 1.0, n) + fraud * separation + 0.15 * np.log(amount)
    score = 1.0 / (1.0 + np.exp(-logit))
    latency_ms = np.round(rng.gamma(4.0, 6.0, n) + np.where(version == "v2", 9.0, 4.0), 2)
    label = fraud.astype(np.int64).astype(object)
    # Ground truth arrives late: the last two days are mostly unlabelled.
    recent = seconds > (days - 2) * 86400
    label[recent & (rng.random(n) < 0.7)] = None
    columns = {
        "transaction_id": [f"tx-{i:07d}" for i in range(n)],
        "ts": timestamps,
        "model_version": version,
        "segment": np.array(SEGMENTS)[segment_index],
        "amount": amount,
        "account_age_days": account_age_days,
        "distance_km": distance_km,
        "merchant_risk": merchant_risk,
        "y_score": np.round(score, 6),
        "y_true": pa.array(label.tolist(), type=pa.int64()),
        "latency_ms": latency_ms,
    }
    if with_status:
        failed = rng.random(n) < 0.003
        columns["status"] = np.where(failed, "error", "ok")
        score_col = np.round(score, 6).astype(object)
        score_col[failed] = None
        columns["y_score"] = pa.array(score_col.tolist(), type=pa.float64())
    return pa.table(columns)


def write_demo(folder: str | Path, n: int = 50_000) -> dict[str, Path]:
    """Write the live log and matching training/validation sets as Parquet files."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "live": out / "predictions.parquet",
        "train": out / "train.parquet",
        "validation": out / "validation.parquet",
    }
    pq.write_table(fraud_log(n), paths["live"])
    before = datetime(2026, 8, 1, tzinfo=UTC)
    pq.write_table(
        # Scored in-sample, the training set looks better than live data will.
        fraud_log(
            n, seed=11, start=before, days=45, with_status=False, separation_boost=0.8
        ).drop_columns(["latency_ms"]),
        paths["train"],
    )
    pq.write_table(
        fraud_log(
            n // 2, seed=13, start=before + timedelta(days=45), days=15, with_status=False
        ).drop_columns(["latency_ms"]),
        paths["validation"],
    )
    return paths
