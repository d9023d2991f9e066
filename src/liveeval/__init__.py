"""liveeval: is the deployed model delivering value, and how sure are we?"""

from __future__ import annotations

__version__ = "0.1.0"

from .analysis import evaluate
from .errors import LiveevalError, ValidationError
from .metrics import Evaluation, MetricResult
from .readiness import Profile, load_profile
from .report import Report

__all__ = [
    "Evaluation",
    "LiveevalError",
    "MetricResult",
    "Profile",
    "Report",
    "ValidationError",
    "__version__",
    "evaluate",
    "load_profile",
]
