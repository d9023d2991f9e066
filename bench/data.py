"""Benchmark data: generated with a fixed seed, written once under bench/data/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).parent / "data"


def binary(n: int = 10_000_000, seed: int = 1) -> Path:
    """n rows, about 2% positives, a logistic score column."""
    path = DATA / f"binary_{n}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.02).astype(np.int8)
    score = 1.0 / (1.0 + np.exp(-rng.normal(-3.5 + 2.5 * y, 1.2)))
    pq.write_table(pa.table({"y_true": y, "y_score": score}), path, row_group_size=1_000_000)
    return path


def multiclass(n: int = 1_000_000, k: int = 5, seed: int = 2) -> Path:
    """n rows, k classes, one probability column per class."""
    path = DATA / f"multiclass_{n}_{k}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    cols = {"y_true": y.astype(np.int64)}
    cols.update({f"p_{c}": p[:, c] for c in range(k)})
    pq.write_table(pa.table(cols), path, row_group_size=1_000_000)
    return path
