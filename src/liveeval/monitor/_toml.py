"""Strict reading of TOML tables for channels and actions: every mistake is a
:class:`ConfigError` naming the table, the key and what is accepted, with "did you
mean" for a near miss (the conventions of :mod:`liveeval.config`)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["duration", "one_of", "seconds", "secret", "string", "strings", "table", "unknown"]

_DURATION = re.compile(r"^(0*[1-9][0-9]*)([smhdw])$")
# The name of a channel or action: what a rule refers to and a metric label carries.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def hint(value: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown(keys: Iterable[str], allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    for key in keys:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r}{hint(key, allowed)} (allowed: {', '.join(allowed)})"
            )


def table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table of settings, got {value!r}")
    return value


def string(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str | None:
    value = raw.get(key, default)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{where} {key}: {value!r} is not a non-empty string")
    return value


def strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} {key}: {value!r} is not a list of strings")
    return tuple(value)


def one_of(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        shown = ", ".join(map(repr, allowed))
        extra = hint(value, allowed) if isinstance(value, str) else ""
        raise ConfigError(f"{where}: {value!r} is not one of {shown}{extra}")
    return value


def seconds(
    raw: Mapping[str, Any], key: str, where: str, default: float, upper: float = 86_400.0
) -> float:
    """A positive number of seconds (or a duration such as ``30s``, ``5m``)."""
    value = raw.get(key, default)
    if isinstance(value, str):
        return duration(value, f"{where} {key}").total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= upper:
        raise ConfigError(
            f"{where} {key}: {value!r} is not a number of seconds in (0, {upper:g}] "
            "or a duration like 30s"
        )
    return float(value)


def duration(text: str, where: str) -> timedelta:
    match = _DURATION.match(text.strip())
    from ..config import bounded_duration, quoted  # config imports this package

    if not match:
        raise ConfigError(
            f"{where}: {quoted(text)} is not a positive duration like 30s, 10m, 1h or 7d"
        )
    return bounded_duration(match, f"{where}: {quoted(text)}")


def secret(raw: Mapping[str, Any], prefix: str, where: str, base: Path | None) -> str | None:
    """``<prefix>_env`` (an environment variable's name) or ``<prefix>_file`` (a file
    whose content, stripped, is the value); the value is never part of a message."""
    env_key, file_key = f"{prefix}_env", f"{prefix}_file"
    if env_key in raw and file_key in raw:
        raise ConfigError(f"{where}: give {env_key!r} or {file_key!r}, not both")
    if env_key in raw:
        name = string(raw, env_key, where)
        assert name is not None
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{where} {env_key}: the environment variable {name!r} is not set")
        return value
    if file_key in raw:
        text = string(raw, file_key, where)
        assert text is not None
        path = Path(text)
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where} {file_key}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where} {file_key}: {path} is not UTF-8 text") from None
        if not value:
            raise ConfigError(f"{where} {file_key}: {path} is empty")
        return value
    return None


def name(value: str, what: str) -> str:
    if not NAME.match(value):
        raise ConfigError(
            f"{what} name {value!r}: use letters, digits, '_', '.' or '-' (at most 64, "
            "starting with a letter or digit)"
        )
    return value
