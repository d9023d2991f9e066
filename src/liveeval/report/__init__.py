"""Report rendering: JSON, a self-contained HTML page, and the terminal."""

from __future__ import annotations

from .model import SCHEMA_VERSION, Breakdown, Report, Stage

__all__ = ["SCHEMA_VERSION", "Breakdown", "Report", "Stage"]
