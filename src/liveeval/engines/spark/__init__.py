"""The Spark engine: a prediction log's statistics (and drift histograms) aggregated by
PySpark, merged and reported by the same code as the local path.

Needs the ``spark`` extra (``pyspark``) and a Java 17+ runtime.
"""

from __future__ import annotations

from .log import LogStatistics, log_statistics
from .session import spark_session

__all__ = ["LogStatistics", "log_statistics", "spark_session"]
