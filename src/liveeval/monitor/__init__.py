"""Watching a model over time: windows and label maturity, estimation before labels,
drift, drops and alert rules and states."""

from __future__ import annotations

from .alerts import AlertScope, AlertTracker, alert_id
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
from .drop import DropEvidence, DropTest, Look, detect_drop
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
from .rules import AlertSettings, Rule, parse_alerts
from .windows import (
    DEFAULT_MATURITY,
    LabelDelaySummary,
    TimeWindows,
    Window,
    WindowResults,
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
    "AlertScope",
    "AlertSettings",
    "AlertState",
    "AlertTracker",
    "AssumptionCheck",
    "CalibrationMap",
    "ClassScoreHistograms",
    "ColumnDrift",
    "DriftReport",
    "DropEvidence",
    "DropTest",
    "ExpectedConfusion",
    "LabelDelaySummary",
    "Look",
    "MulticlassEstimate",
    "MulticlassEstimator",
    "PerformanceEstimator",
    "Rule",
    "Severity",
    "SkippedColumn",
    "TimeWindows",
    "Window",
    "WindowEstimate",
    "WindowResults",
    "WindowSize",
    "alert_id",
    "check_calibration",
    "class_score_histograms",
    "compare_files",
    "compare_tables",
    "count_windows",
    "detect_drop",
    "fit_calibration",
    "histogram_from_store",
    "isotonic_bins",
    "labelled_by_prediction",
    "parse_alerts",
    "score_bins",
    "score_histogram",
    "score_histograms",
    "summarise_label_delays",
    "time_windows",
    "unlabelled_part",
]
