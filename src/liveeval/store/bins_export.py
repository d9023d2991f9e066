"""The features' frozen bins in an export folder, beside the events.

A numeric feature's bins are fixed once (the quantiles of its first numbers in
arrival order, see :mod:`liveeval.store.duck.rollup_features`); an export keeps the
events but not their arrival order, so a :class:`~liveeval.store.table.TableSource`
rebuilt from it would bin differently and its drift differ from the store's. The export
writes the bins to ``feature_bins/bins.parquet`` and the table source uses them.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["BINS_FILE", "BINS_QUERY", "read_feature_bins", "write_feature_bins"]

BINS_FILE = Path("feature_bins") / "bins.parquet"
BINS_QUERY = "SELECT model, name, edges FROM feature_bins ORDER BY model, name"
BINS_SCHEMA = pa.schema(
    [("model", pa.string()), ("name", pa.string()), ("edges", pa.list_(pa.float64()))]
)


def write_feature_bins(bins: pa.Table, out: Path) -> None:
    """``bins`` (model, name, edges) into the export folder ``out``; nothing when empty."""
    if not bins.num_rows:
        return
    (out / BINS_FILE).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(bins.cast(BINS_SCHEMA), out / BINS_FILE)


def read_feature_bins(folder: Path) -> pa.Table | None:
    """The bins an export folder holds, or None (an export written before they were)."""
    path = folder / BINS_FILE
    return pq.read_table(path).cast(BINS_SCHEMA) if path.is_file() else None
