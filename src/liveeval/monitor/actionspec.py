"""``[alerts.actions.NAME]`` tables, read strictly into :class:`ActionSpec` values
(the keys are documented in :mod:`liveeval.monitor.actions`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import _toml
from .channels import WebhookChannel

__all__ = ["ACTION_TYPES", "ActionSpec", "parse_actions"]

ACTION_TYPES = ("command", "webhook")
_COMMON = ("type", "cooldown", "max_concurrent", "timeout", "export_rows", "export_window")
_KEYS = {
    "command": (*_COMMON, "command"),
    "webhook": (*_COMMON, "url", "url_env", "secret_env", "secret_file", "headers"),
}


@dataclass(frozen=True)
class ActionSpec:
    name: str
    type: str
    command: tuple[str, ...] = ()
    url: str | None = field(default=None, repr=False)
    secret: bytes | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    cooldown: timedelta = timedelta(hours=1)
    max_concurrent: int = 1
    timeout: float = 3600.0
    export_rows: int = 100_000
    export_window: timedelta = timedelta(days=30)
    cwd: Path | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "command": list(self.command) if self.type == "command" else None,
            "cooldown_seconds": self.cooldown.total_seconds(),
            "max_concurrent": self.max_concurrent,
            "timeout_seconds": self.timeout,
            "export_rows": self.export_rows,
            "export_window_seconds": self.export_window.total_seconds(),
        }


def parse_actions(
    table: Mapping[str, Any] | None, base: Path | None = None
) -> dict[str, ActionSpec]:
    """The actions of an ``[alerts.actions]`` table, by name.

    Raises
    ------
    ConfigError
        for an unknown type or key (with "did you mean"), a command that is not a
        non-empty list of strings, a bad duration, count or URL.
    """
    out: dict[str, ActionSpec] = {}
    for name, raw in _toml.table(table or {}, "[alerts.actions]").items():
        where = f"[alerts.actions.{name}]"
        _toml.name(name, "action")
        raw = _toml.table(raw, where)
        if "type" not in raw:
            raise ConfigError(f"{where}: needs a 'type' ('command' or 'webhook')")
        kind = _toml.one_of(raw["type"], ACTION_TYPES, f"{where} type")
        if "secret" in raw:
            raise ConfigError(
                f"{where}: a secret is never written in the config file; use 'secret_env' "
                "(an environment variable's name) or 'secret_file' (a file's path)"
            )
        _toml.unknown(raw, _KEYS[kind], where)
        limits = _limits(raw, where)
        if kind == "command":
            command = raw.get("command")
            if isinstance(command, str):
                raise ConfigError(
                    f'{where} command: give the argv as a list, e.g. ["python", '
                    '"retrain.py"] (no shell runs it)'
                )
            if not (
                isinstance(command, list)
                and command
                and all(isinstance(c, str) and c for c in command)
            ):
                raise ConfigError(
                    f"{where} command: {command!r} is not a non-empty list of strings"
                )
            out[name] = ActionSpec(name, kind, command=tuple(command), cwd=base, **limits)
        else:
            channel = _webhook(name, raw, where, base)
            out[name] = ActionSpec(
                name,
                kind,
                url=channel.url,
                secret=channel.secret,
                headers=channel.headers,
                cwd=base,
                **limits,
            )
    return out


def _webhook(name: str, raw: Mapping[str, Any], where: str, base: Path | None) -> WebhookChannel:
    from .channels.config import parse_channels

    keys = ("url", "url_env", "secret_env", "secret_file", "headers")
    table = {"type": "webhook", **{k: raw[k] for k in keys if k in raw}}
    try:
        channel = parse_channels({name: table}, base)[name]
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("[alerts.channels.", "[alerts.actions.")) from None
    assert isinstance(channel, WebhookChannel)
    return channel


def _limits(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    def count(key: str, default: int) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where} {key}: {value!r} is not a positive integer")
        return value

    def span(key: str, default: str) -> timedelta:
        value = raw.get(key, default)
        if not isinstance(value, str):
            raise ConfigError(f"{where} {key}: {value!r} is not a duration like 30m, 6h or 7d")
        return _toml.duration(value, f"{where} {key}")

    # "0s" turns the cooldown off (a duration is otherwise positive).
    zero = raw.get("cooldown") == "0s"
    cooldown_span = timedelta(0) if zero else span("cooldown", "1h")
    return {
        "cooldown": cooldown_span,
        "max_concurrent": count("max_concurrent", 1),
        "timeout": _toml.seconds(raw, "timeout", where, 3600.0, upper=7 * 86_400.0),
        "export_rows": count("export_rows", 100_000),
        "export_window": span("export_window", "30d"),
    }
