"""``[alerts.channels.NAME]`` tables, read strictly.

```toml
[alerts.channels.oncall]
type = "webhook"
url = "https://hooks.example.org/liveeval"   # or url_env = "ONCALL_URL"
secret_env = "ONCALL_SECRET"                 # or secret_file = "secrets/oncall"
headers = { "X-Team" = "ml" }
timeout = 10                                 # seconds, or "10s"
states = ["firing", "resolved"]              # the default; add "pending" to hear of it

[alerts.channels.team-slack]
type = "slack"
url_env = "SLACK_WEBHOOK_URL"                # a Slack URL is itself a secret
link = "https://liveeval.example.org/models/{model}"

[alerts.channels.am]
type = "alertmanager"
url = "http://127.0.0.1:9093"
hold = "24h"                                 # endsAt of a firing alert: sent + hold
resend = "1h"                                # re-post a firing alert this often ("off")
```

The channel ``log`` always exists (the server's log); a secret is read from the
environment or a file, never from the TOML file, and never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .. import _toml
from ._base import DEFAULT_STATES, Channel
from .kinds import AlertmanagerChannel, LogChannel, SlackChannel, WebhookChannel

__all__ = ["CHANNEL_TYPES", "parse_channels"]

CHANNEL_TYPES = ("webhook", "slack", "alertmanager", "log")
_STATES = ("pending", "firing", "resolved")
_COMMON = ("type", "timeout", "states")
_KEYS: dict[str, tuple[str, ...]] = {
    "webhook": (*_COMMON, "url", "url_env", "secret_env", "secret_file", "headers"),
    "slack": (*_COMMON, "url", "url_env", "link"),
    "alertmanager": (*_COMMON, "url", "hold", "resend", "link", "headers"),
    "log": ("type", "states"),
}


def parse_channels(table: Mapping[str, Any] | None, base: Path | None = None) -> dict[str, Channel]:
    """The channels of an ``[alerts.channels]`` table, by name, plus the built-in
    ``log``. ``base`` resolves relative ``secret_file`` paths (the config's folder).

    Raises
    ------
    ConfigError
        for an unknown type or key (with "did you mean"), a missing or malformed url,
        a secret given inline or whose variable or file is missing, a bad timeout.
    """
    channels: dict[str, Channel] = {"log": LogChannel()}
    for name, raw in _toml.table(table or {}, "[alerts.channels]").items():
        where = f"[alerts.channels.{name}]"
        _toml.name(name, "channel")
        raw = _toml.table(raw, where)
        if "type" not in raw:
            raise ConfigError(f"{where}: needs a 'type' ({', '.join(map(repr, CHANNEL_TYPES))})")
        kind = _toml.one_of(raw["type"], CHANNEL_TYPES, f"{where} type")
        if "secret" in raw:
            raise ConfigError(
                f"{where}: a secret is never written in the config file; use 'secret_env' "
                "(an environment variable's name) or 'secret_file' (a file's path)"
            )
        _toml.unknown(raw, _KEYS[kind], where)
        if name == "log" and kind != "log":
            raise ConfigError(
                f"{where}: the name 'log' is the built-in log channel; choose another"
            )
        channels[name] = _channel(name, kind, raw, where, base)
    return channels


def _states(raw: Mapping[str, Any], where: str, default: tuple[str, ...]) -> tuple[str, ...]:
    states = _toml.strings(raw, "states", where)
    if states is None:
        return default
    for state in states:
        _toml.one_of(state, _STATES, f"{where} states")
    if not states:
        raise ConfigError(f"{where} states: empty; give some of {', '.join(_STATES)}")
    return tuple(dict.fromkeys(states))


def _url(raw: Mapping[str, Any], where: str, base: Path | None) -> tuple[str, bool]:
    if "url" in raw and "url_env" in raw:
        raise ConfigError(f"{where}: give 'url' or 'url_env', not both")
    if "url_env" in raw:
        value = _toml.secret(raw, "url", where, base)
        assert value is not None
        hidden = True
    else:
        found = _toml.string(raw, "url", where)
        if found is None:
            raise ConfigError(f"{where}: needs a 'url' (or 'url_env')")
        value, hidden = found, False
    if not value.startswith(("http://", "https://")):
        shown = "the URL in the environment" if hidden else repr(value)
        raise ConfigError(f"{where} url: {shown} is not an http:// or https:// URL")
    return value, hidden


def _headers(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    headers = raw.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError(f'{where} headers: expected a table of strings, e.g. {{ X-Team = "ml" }}')
    return dict(headers)


def _channel(
    name: str, kind: str, raw: Mapping[str, Any], where: str, base: Path | None
) -> Channel:
    if kind == "log":
        return LogChannel(name, _states(raw, where, LogChannel().states))
    states = _states(raw, where, DEFAULT_STATES)
    timeout = _toml.seconds(raw, "timeout", where, 10.0, upper=300.0)
    if kind == "webhook":
        url, hidden = _url(raw, where, base)
        secret = _toml.secret(raw, "secret", where, base)
        return WebhookChannel(
            name,
            url,
            secret.encode() if secret is not None else None,
            _headers(raw, where),
            timeout,
            states,
            hidden,
        )
    if kind == "slack":
        url, hidden = _url(raw, where, base)
        return SlackChannel(name, url, _toml.string(raw, "link", where), timeout, states, hidden)
    base_url = _toml.string(raw, "url", where)
    if base_url is None or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{where}: needs a 'url', Alertmanager's base URL such as http://127.0.0.1:9093"
        )
    hold = raw.get("hold", "24h")
    if not isinstance(hold, str):
        raise ConfigError(f"{where} hold: {hold!r} is not a duration like 1h or 24h")
    held = _toml.duration(hold, f"{where} hold")
    resend = raw.get("resend", "1h")
    if not isinstance(resend, str):
        raise ConfigError(f'{where} resend: {resend!r} is not a duration like 1h, or "off"')
    every = None if resend.strip() == "off" else _toml.duration(resend, f"{where} resend")
    if every is not None and every >= held:
        raise ConfigError(
            f"{where} resend: {resend!r} is not shorter than hold {hold!r}; Alertmanager "
            "resolves a firing alert at its endsAt (sent + hold), so it must be re-sent "
            "before then"
        )
    return AlertmanagerChannel(
        name,
        base_url,
        held,
        _toml.string(raw, "link", where),
        _headers(raw, where),
        timeout,
        states,
        resend=every,
    )
