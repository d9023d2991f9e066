"""Serving models: loading, input validation, prediction."""

from __future__ import annotations

from .inputs import FEATURE_TYPES, Feature, InputSchema, parse_features
from .load import load_model
from .model import LoadedModel, ModelSpec, Prediction, Predictor

__all__ = [
    "FEATURE_TYPES",
    "Feature",
    "InputSchema",
    "LoadedModel",
    "ModelSpec",
    "Prediction",
    "Predictor",
    "load_model",
    "parse_features",
]
