"""Monitoring over time: drift (and, from other modules, windows and estimation)."""

from __future__ import annotations

from .drift import (
    ColumnDrift,
    DriftReport,
    SkippedColumn,
    compare_files,
    compare_tables,
    histogram_from_store,
)

__all__ = [
    "ColumnDrift",
    "DriftReport",
    "SkippedColumn",
    "compare_files",
    "compare_tables",
    "histogram_from_store",
]
