"""Metrics as mergeable sufficient statistics. Pure numpy, no I/O."""

from __future__ import annotations

from .calibration import ReliabilityBin, expected_calibration_error, reliability_curve
from .change import ShiryaevRoberts
from .classification import binary_metrics, confusion_metrics, multiclass_metrics, per_class_metrics
from .confusion import ConfusionMatrix
from .evaluation import Evaluation, EvaluationResult, validate_proba
from .interval import wilson
from .labels import Label, discover_labels, encode_labels
from .latency import LatencySketch
from .loss import LossSums
from .ranking import ScoreDistribution, average_precision, roc_auc, validate_scores
from .result import MetricResult
from .sequential import (
    bounded_mean_sequence,
    proportion_sequence,
    proportion_sequences,
    quantile_sequence,
    rate_difference_sequence,
)
from .settle import growth_to_settle, samples_to_settle
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
    "ShiryaevRoberts",
    "ThresholdCurve",
    "average_precision",
    "binary_metrics",
    "bounded_mean_sequence",
    "confusion_metrics",
    "discover_labels",
    "encode_labels",
    "expected_calibration_error",
    "growth_to_settle",
    "multiclass_metrics",
    "per_class_metrics",
    "proportion_sequence",
    "proportion_sequences",
    "quantile_sequence",
    "rate_difference_sequence",
    "reliability_curve",
    "roc_auc",
    "samples_to_settle",
    "threshold_curve",
    "validate_proba",
    "validate_scores",
    "wilson",
]
