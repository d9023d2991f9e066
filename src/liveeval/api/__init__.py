"""The HTTP API: routes, auth, request schemas, Prometheus exposition."""

from __future__ import annotations

from ..config import ServerConfig, load_config
from .app import create_app

__all__ = ["ServerConfig", "create_app", "load_config"]
