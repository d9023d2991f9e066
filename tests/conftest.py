from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import settings

# CI runs the same examples every time, so a red run is reproducible, never luck;
# locally hypothesis explores new examples on every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Several CPUs with pytest-xdist: groups for shared fixtures, and the worker count.
pytest_plugins = ["tests.parallel", "pytester"]


@pytest.fixture
def seeds_table() -> pa.Table:
    """The seeds' worked example: TP 85, FN 15, FP 10, TN 90."""
    y_true = [1] * 100 + [0] * 100
    y_pred = [1] * 85 + [0] * 15 + [1] * 10 + [0] * 90
    return pa.table({"y_true": y_true, "y_pred": y_pred})


@pytest.fixture
def paradox_table() -> pa.Table:
    """98% accuracy, 12% recall on fraud: the seeds' self-check."""
    # 10,000 rows, 200 frauds; the model catches 24 (12%) and raises 24 false alarms.
    tp, fn, fp = 24, 176, 24
    tn = 10_000 - tp - fn - fp
    y_true = [1] * (tp + fn) + [0] * (fp + tn)
    y_pred = [1] * tp + [0] * fn + [1] * fp + [0] * tn
    return pa.table({"y_true": y_true, "y_pred": y_pred})


@pytest.fixture
def scored_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    n = 3000
    y = (rng.random(n) < 0.1).astype(np.int64)
    s = 1 / (1 + np.exp(-rng.normal(-2.5 + 3 * y, 1.2)))
    table = pa.table(
        {
            "y_true": y,
            "y_score": s,
            "segment": rng.choice(["a", "b", "c"], n),
            "model_version": rng.choice(["v1", "v2"], n),
            "ts": pa.array(
                np.datetime64("2026-10-01")
                + (rng.uniform(0, 20 * 86400, n)).astype("timedelta64[s]"),
                type=pa.timestamp("s"),
            ),
            "latency_ms": rng.gamma(3.0, 10.0, n),
        }
    )
    path = tmp_path / "scored.parquet"
    pq.write_table(table, path)
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Free DuckDB connections held in reference cycles (apps, test clients) before the
    # interpreter tears down duckdb's bindings, which otherwise reports them as leaks.
    import gc

    gc.collect()


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the session (Debian's binaries, a cluster in a
    temporary folder, a free port); skipped where PostgreSQL cannot be had. Each user
    makes its own database with ``postgres.create_database``."""
    pytest.importorskip("psycopg")
    from tests.pgserver import find_bindir, postgres_server

    if find_bindir() is None:
        pytest.skip("PostgreSQL is not installed and cannot be (scripts/ensure-postgresql.sh)")
    with postgres_server() as server:
        yield server
