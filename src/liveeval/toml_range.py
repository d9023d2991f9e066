"""TOML integers are 64-bit (TOML 1.0), but :mod:`tomllib` reads any size: a value of
400 digits would later overflow a float conversion with a traceback. Every config and
profile file is checked once, as it is read."""

from __future__ import annotations

from typing import Any

__all__ = ["oversized_integer"]

_LIMIT = 2**63


def oversized_integer(data: Any, path: str = "") -> str | None:
    """The dotted key of the first integer outside TOML's signed 64-bit range, with
    its first digits (``"alerts.interval_seconds = 100000000000…(401 digits)"``), or
    None when every integer fits."""
    if isinstance(data, dict):
        items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in data.items())
    elif isinstance(data, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(data))
    else:
        if isinstance(data, int) and not isinstance(data, bool) and not -_LIMIT <= data < _LIMIT:
            digits = str(abs(data))
            return f"{path} = {'-' if data < 0 else ''}{digits[:12]}…({len(digits)} digits)"
        return None
    for key, value in items:
        found = oversized_integer(value, key)
        if found is not None:
            return found
    return None
