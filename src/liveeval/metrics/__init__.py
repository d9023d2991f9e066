"""Metrics as mergeable sufficient statistics. Pure numpy, no I/O."""

from __future__ import annotations

from .calibration import ReliabilityBin, expected_calibration_error, reliability_curve
from .classification import binary_metrics, confusion_metrics, multiclass_metrics, per_class_metrics
from .confusion import ConfusionMatrix
from .evaluation import Evaluation, EvaluationResult, validate_proba
from .interval import samples_to_settle, wilson
from .labels import Label, discover_labels, encode_labels
from .latency import LatencySketch
from .loss import LossSums
from .ranking import ScoreDistribution, average_precision, roc_auc, validate_scores
from .result import MetricResult
from .threshold import OperatingPoint, ThresholdCurve, threshold_curve

__all__ = [
    "ConfusionMatrix",
    "Evaluation",
    "EvaluationResult",
    "Label",
    "LatencySketch",
    "LossSums",
    "MetricResult",
    "OperatingPoint",
    "ReliabilityBin",
    "ScoreDistribution",
    "ThresholdCurve",
    "average_precision",
    "binary_metrics",
    "confusion_metrics",
    "discover_labels",
    "encode_labels",
    "expected_calibration_error",
    "multiclass_metrics",
    "per_class_metrics",
    "reliability_curve",
    "roc_auc",
    "samples_to_settle",
    "threshold_curve",
    "validate_proba",
    "validate_scores",
    "wilson",
]
