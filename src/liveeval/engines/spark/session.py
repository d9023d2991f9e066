"""The SparkSession the engine runs on: the caller's, or a quiet local one.

A session already active in the process (a cluster's, configured by whoever started
it) is used as it is. Otherwise a local one is started: offline (no packages to
resolve), no web UI, no progress bars, log level WARN, UTC, few shuffle partitions,
Python workers on this interpreter. Starting the JVM takes seconds; the session is
kept for the life of the process.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import EngineUnavailable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DEFAULT_MASTER", "spark_session"]

DEFAULT_MASTER = "local[*]"
"""Without a session of the caller's and without ``LIVEEVAL_SPARK_MASTER``."""

_LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if java.exists():
            return str(java)
        raise EngineUnavailable(
            f"JAVA_HOME is {home!r} but {java} does not exist; Spark needs a Java 17+ "
            "runtime: point JAVA_HOME at one, or unset it to use `java` from PATH"
        )
    found = shutil.which("java")
    if found is None:
        raise EngineUnavailable(
            "the Spark engine needs a Java 17+ runtime, and there is no `java` on PATH and "
            "no JAVA_HOME; install one (Debian: apt-get install openjdk-17-jre-headless) or "
            "use the local engine"
        )
    return found


def spark_session(
    master: str | None = None,
    *,
    shuffle_partitions: int | None = None,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """The active SparkSession, or a new local one.

    Parameters
    ----------
    master
        For a new session: ``local[N]``, or a cluster's URL; default
        ``LIVEEVAL_SPARK_MASTER`` or ``local[*]``. Ignored when a session is active.
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` of a new session (default: 2 per core, at
        least 2): the statistics shuffled are small, so few partitions suffice.
    config
        Further settings of a new session (e.g. ``spark.driver.memory``).

    Raises
    ------
    EngineUnavailable
        ``pyspark`` is not installed, or no Java runtime is found.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineUnavailable(
            "the Spark engine needs pyspark: pip install 'liveeval[spark]'"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    _java()
    master = master or os.environ.get("LIVEEVAL_SPARK_MASTER") or DEFAULT_MASTER
    partitions = shuffle_partitions or max(2, 2 * (os.cpu_count() or 1))
    # Loopback only: a local session needs no network, and resolving this host's
    # name can take many seconds on a machine without DNS.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("SPARK_LOCAL_HOSTNAME", "localhost")
    # Python workers import this liveeval (the one the driver runs), whatever their
    # working directory: its folder first on their path, absolute.
    root = str(Path(__file__).resolve().parents[3])
    paths = [root, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(str(Path(p).resolve()) for p in paths))
    # Workers on this interpreter (its numpy, pyarrow and liveeval); SparkContext reads
    # the environment, not the spark.pyspark.python setting.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    log = f"-Dlog4j2.configurationFile={_LOG_CONFIG.as_uri()}"
    builder = (
        SparkSession.builder.master(master)
        .appName("liveeval")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", log)
        .config("spark.executor.extraJavaOptions", log)
        .config("spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"])
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        # Large batches: each is validated and summarised by numpy, and merged into
        # its partition's statistics (a 2^20-bin score histogram costs a merge).
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "500000")
        .config("spark.sql.adaptive.enabled", "true")
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        # pyspark warns at start about pandas versions it has not been tested with;
        # the engine exchanges Arrow batches and never goes through pandas.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
