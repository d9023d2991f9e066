"""Compute engines for prediction logs too large for one process.

``liveeval.analysis`` reads a log into numpy arrays in-process; an engine here computes
the same sufficient statistics elsewhere (Spark: :mod:`liveeval.engines.spark`) and
hands them back to the same merge, metrics and report code.
"""

from __future__ import annotations

ENGINES = ("local", "spark")
"""``local``: read and validate in this process (Arrow, numpy); ``spark``: PySpark."""

__all__ = ["ENGINES"]
