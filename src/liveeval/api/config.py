"""Server configuration: ``liveeval.toml`` and/or command-line flags.

```toml
[server]
host = "127.0.0.1"
port = 8000
store = "liveeval.duckdb"
window = "1h"            # default window of the live metrics and Prometheus gauges

[[models]]
name = "fraud"
path = "models/fraud.joblib"   # only ever loaded from here, never from a request
version = "v3"
classes = [0, 1]
pos_label = 1
features = ["amount", "distance_km"]
profile = "fraud"
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import LiveevalError
from ..serving import ModelSpec
from .auth import Tokens

__all__ = ["WINDOW_PATTERN", "ServerConfig", "load_config", "parse_window"]

# A positive count and a unit; shared with the API's query-parameter schema.
WINDOW_PATTERN = r"^(0*[1-9][0-9]*)([smhdw])$"
WINDOW = re.compile(WINDOW_PATTERN)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str) -> timedelta:
    """``30m``, ``1h``, ``7d`` … as a timedelta."""
    match = WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"window {text!r} is not a duration like 30m, 1h or 7d")
    try:
        return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise ValueError(f"window {text!r} is longer than any time range") from None


@dataclass
class ServerConfig:
    store: str = "liveeval.duckdb"
    host: str = "127.0.0.1"
    port: int = 8000
    window: str = "1h"
    models: list[ModelSpec] = field(default_factory=list)
    tokens: Tokens = field(default_factory=Tokens)
    max_body_bytes: int = 32 * 1024 * 1024
    metrics_cache_seconds: float = 10.0
    resource_interval_seconds: float = 15.0

    def check(self) -> None:
        """Refuse settings that would expose an unprotected server."""
        parse_window(self.window)
        loopback = self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
        if not loopback and not (self.tokens.write or self.tokens.admin):
            raise LiveevalError(
                f"refusing to listen on {self.host} without a write token: set "
                "LIVEEVAL_WRITE_TOKEN (and LIVEEVAL_ADMIN_TOKEN), or bind 127.0.0.1"
            )
        names = [(m.name, m.version) for m in self.models]
        if len(set(names)) != len(names):
            raise LiveevalError("a model name and version is configured twice")


def _model(raw: dict[str, Any], base: Path, i: int) -> ModelSpec:
    where = f"[[models]] entry {i + 1}"
    unknown = set(raw) - {
        "name",
        "path",
        "version",
        "features",
        "classes",
        "pos_label",
        "profile",
        "threshold",
    }
    if unknown:
        raise LiveevalError(f"{where}: unknown key(s) {sorted(unknown)}")
    if "name" not in raw or "path" not in raw:
        raise LiveevalError(f"{where}: needs 'name' and 'path'")
    path = Path(raw["path"])
    return ModelSpec(
        name=str(raw["name"]),
        path=path if path.is_absolute() else base / path,
        version=str(raw.get("version", "v1")),
        features=tuple(raw["features"]) if "features" in raw else None,
        classes=tuple(raw["classes"]) if "classes" in raw else None,
        pos_label=raw.get("pos_label"),
        profile=raw.get("profile"),
        threshold=float(raw.get("threshold", 0.5)),
        output=str(raw.get("output", "logits")),
    )


def load_config(path: str | Path) -> ServerConfig:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LiveevalError(f"{p}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise LiveevalError(f"{p}: not valid TOML: {exc}") from None
    server = data.get("server", {})
    tokens = data.get("tokens", {})
    config = ServerConfig(
        store=str(server.get("store", "liveeval.duckdb")),
        host=str(server.get("host", "127.0.0.1")),
        port=int(server.get("port", 8000)),
        window=str(server.get("window", "1h")),
        models=[_model(m, p.parent, i) for i, m in enumerate(data.get("models", []))],
        tokens=Tokens(tokens.get("write"), tokens.get("admin"), tokens.get("read")),
    )
    return config
