"""Starting the Spark engine: a clear error without Java, before any JVM is launched."""

from __future__ import annotations

import pytest

from liveeval.engines.spark.session import _java
from liveeval.errors import EngineUnavailable


def test_missing_java_is_an_engine_unavailable_error_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineUnavailable, match=r"needs a Java 17\+ runtime.*openjdk-17"):
        _java()


def test_a_java_home_without_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(EngineUnavailable, match=r"JAVA_HOME is .* does not exist"):
        _java()
