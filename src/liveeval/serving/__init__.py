"""Serving models: loading, input validation, prediction."""

from __future__ import annotations

from .model import LoadedModel, ModelSpec, Predictor, load_model

__all__ = ["LoadedModel", "ModelSpec", "Predictor", "load_model"]
