"""Serving models: loading and the load check, input validation, prediction."""

from __future__ import annotations

from .inputs import FEATURE_TYPES, Feature, InputSchema, parse_features
from .load import load_model
from .model import OUTPUTS, LoadedModel, ModelSpec, Prediction, Predictor, short_error

__all__ = [
    "FEATURE_TYPES",
    "OUTPUTS",
    "Feature",
    "InputSchema",
    "LoadedModel",
    "ModelSpec",
    "Prediction",
    "Predictor",
    "load_model",
    "parse_features",
    "short_error",
]
