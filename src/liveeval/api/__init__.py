"""The HTTP API: routes, auth, request schemas, Prometheus exposition."""

from __future__ import annotations

from .app import create_app
from .config import ServerConfig, load_config

__all__ = ["ServerConfig", "create_app", "load_config"]
