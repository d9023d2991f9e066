"""One local SparkSession for every Spark test: starting the JVM takes seconds (minutes
on a busy machine), so the session is shared and the tests are few. Session-scoped means
one per pytest-xdist worker: test_spark.py is one ``xdist_group``, so one worker (one
JVM) runs every Spark test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime: the Spark engine needs Java 17+")
    from liveeval.engines.spark import spark_session

    session = spark_session("local[2]", shuffle_partitions=2)
    yield session
    session.stop()
