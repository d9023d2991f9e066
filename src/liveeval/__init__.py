"""liveeval: is the deployed model delivering value, and how sure are we?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
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

# Imported on first use (PEP 562), so that `liveeval.client`, which a model server
# imports, does not pull numpy, pyarrow and the metrics engine in with it.
_LAZY = {
    "evaluate": ".analysis",
    "LiveevalError": ".errors",
    "ValidationError": ".errors",
    "Evaluation": ".metrics",
    "MetricResult": ".metrics",
    "Profile": ".readiness",
    "load_profile": ".readiness",
    "Report": ".report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'liveeval' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
