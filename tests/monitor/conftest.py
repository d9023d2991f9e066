from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.config import LoggedModel


@pytest.fixture
def client(tmp_path: Path):
    """A server on a fresh store logging the binary model ``ext`` (classes 0 and 1),
    its metrics read anew on every request."""
    config = ServerConfig(
        store=str(tmp_path / "store.duckdb"),
        logged=[LoggedModel("ext", (0, 1), 1)],
        metrics_cache_seconds=0.0,
    )
    with TestClient(create_app(config)) as c:
        yield c
