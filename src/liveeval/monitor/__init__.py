"""Watching a model over time: windows and label maturity, estimation before labels,
drift."""

from __future__ import annotations

from .assumption import check_calibration
from .calibration import CalibrationMap, fit_calibration, isotonic_bins
from .drift import (
    ColumnDrift,
    DriftReport,
    SkippedColumn,
    compare_files,
    compare_tables,
    histogram_from_store,
)
from .estimate import (
    ESTIMATED_METRICS,
    AssumptionCheck,
    ExpectedConfusion,
    PerformanceEstimator,
    WindowEstimate,
)
from .histogram import (
    labelled_by_prediction,
    score_bins,
    score_histogram,
    score_histograms,
    unlabelled_part,
)
from .multiclass import (
    MULTICLASS_ESTIMATED_METRICS,
    ClassScoreHistograms,
    MulticlassEstimate,
    MulticlassEstimator,
    class_score_histograms,
)
from .notice import SEVERITIES, AlertNotice, AlertState, Severity
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
    "ESTIMATED_METRICS",
    "MULTICLASS_ESTIMATED_METRICS",
    "SEVERITIES",
    "AlertNotice",
    "AlertState",
    "AssumptionCheck",
    "CalibrationMap",
    "ClassScoreHistograms",
    "ColumnDrift",
    "DriftReport",
    "ExpectedConfusion",
    "LabelDelaySummary",
    "MulticlassEstimate",
    "MulticlassEstimator",
    "PerformanceEstimator",
    "Severity",
    "SkippedColumn",
    "Window",
    "WindowEstimate",
    "WindowSize",
    "check_calibration",
    "class_score_histograms",
    "compare_files",
    "compare_tables",
    "count_windows",
    "fit_calibration",
    "histogram_from_store",
    "isotonic_bins",
    "labelled_by_prediction",
    "score_bins",
    "score_histogram",
    "score_histograms",
    "summarise_label_delays",
    "time_windows",
    "unlabelled_part",
]
