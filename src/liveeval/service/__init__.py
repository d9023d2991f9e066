"""The application service: models, ingestion, predictions and reads over a store."""

from __future__ import annotations

from .answer import Answer
from .core import Observer, Service
from .events import DeploymentIn, OutcomeIn, PredictionIn

__all__ = ["Answer", "DeploymentIn", "Observer", "OutcomeIn", "PredictionIn", "Service"]
