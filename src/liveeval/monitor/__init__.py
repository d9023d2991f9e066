"""Watching a model over time: windows and label maturity, estimation before labels,
drift."""

from __future__ import annotations

from .windows import (
    DEFAULT_MATURITY,
    LabelDelaySummary,
    Window,
    WindowSize,
    count_windows,
    summarise_label_delays,
    time_windows,
)

__all__ = [
    "DEFAULT_MATURITY",
    "LabelDelaySummary",
    "Window",
    "WindowSize",
    "count_windows",
    "summarise_label_delays",
    "time_windows",
]
