"""One local SparkSession for every Spark test: starting the JVM takes seconds (minutes
on a busy machine), and so does the first job (Python workers, plan compilation), so the
session is shared by the whole test process, the tests are few, and under pytest-xdist
they all go to one worker (``xdist_group("spark")`` in test_spark.py)."""

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
