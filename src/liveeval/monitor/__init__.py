"""Monitoring over time: windows, estimation before labels, drift."""

from __future__ import annotations

from .calibration import CalibrationMap, fit_calibration, isotonic_bins
from .estimate import (
    ESTIMATED_METRICS,
    AssumptionCheck,
    ExpectedConfusion,
    PerformanceEstimator,
    WindowEstimate,
)
from .histogram import score_bins, score_histogram, score_histograms, unlabelled_part

__all__ = [
    "ESTIMATED_METRICS",
    "AssumptionCheck",
    "CalibrationMap",
    "ExpectedConfusion",
    "PerformanceEstimator",
    "WindowEstimate",
    "fit_calibration",
    "isotonic_bins",
    "score_bins",
    "score_histogram",
    "score_histograms",
    "unlabelled_part",
]
