"""Server configuration: ``liveeval.toml`` and/or command-line flags, validated strictly.

```toml
[server]
host = "127.0.0.1"
port = 8000
store = "liveeval.duckdb"  # or "postgresql://liveeval@db:5432/liveeval" (replicas)
window = "1h"            # default window of the live metrics and Prometheus gauges

[tokens]                 # or LIVEEVAL_WRITE_TOKEN / LIVEEVAL_ADMIN_TOKEN / LIVEEVAL_READ_TOKEN
write = "…"
read = "…"               # when set, guards every read route and /metrics

[profiles]               # extra use-case profiles, by name (queries name profiles, never paths)
payments = "profiles/payments.toml"

[[models]]                     # a model served here
name = "fraud"
path = "models/fraud.joblib"   # only ever loaded from here, never from a request
version = "v3"
classes = [0, 1]
pos_label = 1
features = ["amount", "distance_km"]
profile = "fraud"
output = "probabilities"       # or "logits" / "label"; told from the model when left out
costs = { false_positive = 1, false_negative = 50 }  # over the profile's [costs]
                               # (every key: docs/serving.md)
# shadow = true                # a challenger: predicts the default version's requests in
                               # the background, logged, never answered with
# batch = false                # predict each request alone, never together with others
                               # that arrive at once (default true: docs/serving.md)

[[models]]                     # a model served elsewhere, known from its logs: no path
name = "spam"
classes = ["ham", "spam"]      # labels are mapped onto these; others are rejected
pos_label = "spam"
profile = "spam"

[[alerts.rules]]               # alert rules (every key: docs/alerts.md); or --alerts FILE
name = "fraud-recall"
metric = "recall"
model = "fraud"
condition = "drop"
channels = ["oncall"]
actions = ["retrain"]

[alerts.channels.oncall]       # where alert notices go (docs/notifications.md)
type = "webhook"               # or "slack", "alertmanager", "log"
url = "https://hooks.example.org/liveeval"
secret_env = "ONCALL_SECRET"   # secrets only from the environment or a file

[alerts.actions.retrain]       # what a firing alert starts
type = "command"
command = ["python", "retrain.py"]
cooldown = "6h"
```

An unknown table or key is an error with a "did you mean" suggestion: a typo such as
``[tokenz]`` must never start a server without authentication.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ProfileError
from .monitor.rules import AlertSettings, parse_alerts
from .readiness.profile import Costs, parse_costs
from .serving import ModelSpec
from .serving.model import OUTPUTS
from .toml_range import oversized_integer

if TYPE_CHECKING:
    from .monitor.actions import ActionSpec
    from .monitor.channels import Channel

__all__ = [
    "MAX_DURATION",
    "WINDOW_PATTERN",
    "LoggedModel",
    "ServerConfig",
    "Tokens",
    "bounded_duration",
    "load_alerts_file",
    "load_config",
    "parse_window",
    "quoted",
]

# A positive count and a unit; shared with the API's query-parameter schema.
WINDOW_PATTERN = r"^(0*[1-9][0-9]*)([smhdw])$"
WINDOW = re.compile(WINDOW_PATTERN)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

_SERVER_KEYS = (
    "host",
    "port",
    "store",
    "window",
    "max_body_bytes",
    "max_reference_bytes",
    "metrics_cache_seconds",
)
_TOKEN_KEYS = ("write", "admin", "read")
_MODEL_KEYS = (
    "name",
    "path",
    "version",
    "features",
    "classes",
    "pos_label",
    "profile",
    "threshold",
    "output",
    "shadow",
    "batch",
    "costs",
)
_TABLES = ("server", "tokens", "profiles", "models", "alerts")


def parse_window(text: str) -> timedelta:
    """``30m``, ``1h``, ``7d`` … as a timedelta.

    Raises
    ------
    ConfigError
        for anything else (``0h``, ``abc``, a duration beyond any time range).
    """
    match = WINDOW.match(str(text).strip())
    if not match:
        raise ConfigError(
            f"window {quoted(str(text))} is not a positive duration like 30m, 1h or 7d"
        )
    return bounded_duration(match, f"window {quoted(str(text))}")


def quoted(text: str, limit: int = 40) -> str:
    """``repr(text)``, cut after ``limit`` characters: an error names a value in one line."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


# Windows start on the epoch and end before year 9999: a longer one has no end date.
MAX_DURATION = timedelta(days=36_500)


def bounded_duration(match: re.Match[str], what: str) -> timedelta:
    """The duration a ``(count)(unit)`` match names, at most :data:`MAX_DURATION`."""
    digits = match.group(1).lstrip("0")
    limit = int(MAX_DURATION / timedelta(**{UNITS[match.group(2)]: 1}))
    # The length first: int() refuses more than 4,300 digits (a ValueError, not an answer).
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise ConfigError(
            f"{what} is longer than the longest window accepted, {MAX_DURATION.days}d (100 years)"
        )
    return timedelta(**{UNITS[match.group(2)]: int(digits)})


@dataclass(frozen=True)
class Tokens:
    """Bearer tokens: writes, administration, and (optionally) reads."""

    write: str | None = None
    admin: str | None = None
    read: str | None = None

    @classmethod
    def from_env(cls, fallback: Tokens | None = None) -> Tokens:
        import os

        base = fallback or cls()
        return cls(
            os.environ.get("LIVEEVAL_WRITE_TOKEN") or base.write,
            os.environ.get("LIVEEVAL_ADMIN_TOKEN") or base.admin,
            os.environ.get("LIVEEVAL_READ_TOKEN") or base.read,
        )

    @property
    def any(self) -> bool:
        return bool(self.write or self.admin or self.read)


@dataclass(frozen=True)
class LoggedModel:
    """A model served elsewhere, declared so that its labels are checked and mapped."""

    name: str
    classes: tuple[Any, ...]
    pos_label: Any = None
    profile: str | None = None


@dataclass
class ServerConfig:
    store: str = "liveeval.duckdb"
    host: str = "127.0.0.1"
    port: int = 8000
    window: str = "1h"
    models: list[ModelSpec] = field(default_factory=list)
    logged: list[LoggedModel] = field(default_factory=list)
    tokens: Tokens = field(default_factory=Tokens)
    # Extra profiles by name -> TOML file, read once at start.
    profiles: dict[str, Path] = field(default_factory=dict)
    max_body_bytes: int = 32 * 1024 * 1024
    # Reference uploads (PUT /v1/models/{m}/references/{name}) are whole files.
    max_reference_bytes: int = 256 * 1024 * 1024
    metrics_cache_seconds: float = 10.0
    resource_interval_seconds: float = 15.0
    alerts: AlertSettings = field(default_factory=AlertSettings)
    # Channels and actions given as objects (tests, embedding); [alerts.channels] and
    # [alerts.actions] of the file are read by the service. "log" always exists.
    channels: dict[str, Channel] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    # Where action runs keep their context, data and output (default: [alerts] workdir,
    # else beside the store).
    actions_workdir: Path | None = None
    # The config file's folder: relative secret files, commands and workdir start here.
    config_dir: Path | None = None
    # Per-model costs of errors ([[models]] costs = {...}), over the profile's [costs].
    costs: dict[str, Costs] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse settings that would expose an unprotected server or cannot work."""
        parse_window(self.window)
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is not in 1–65535")
        loopback = self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
        if not loopback and not (self.tokens.write or self.tokens.admin):
            raise ConfigError(
                f"refusing to listen on {self.host} without a write token: set "
                "LIVEEVAL_WRITE_TOKEN (and LIVEEVAL_ADMIN_TOKEN), or bind 127.0.0.1"
            )
        names = [(m.name, m.version) for m in self.models]
        for pair in names:
            if names.count(pair) > 1:
                raise ConfigError(f"model {pair[0]!r} version {pair[1]!r} is configured twice")
        served = {m.name for m in self.models}
        for logged in self.logged:
            if logged.name in served:
                raise ConfigError(
                    f"model {logged.name!r} is configured both with a path (served) and "
                    "without one (logged elsewhere)"
                )


def _unknown(keys: Iterable[str], allowed: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(allowed)})")


def _typed(value: Any, kind: type | tuple[type, ...], where: str, expected: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {value!r} is not {expected}")
    return value


def _model(raw: Any, base: Path, i: int) -> ModelSpec | LoggedModel:
    where = f"[[models]] entry {i + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {raw!r}")
    _unknown(raw, _MODEL_KEYS, where)
    if "name" not in raw:
        raise ConfigError(f"{where}: needs a 'name'")
    name = _typed(raw["name"], str, f"{where} name", "a string")
    if "path" not in raw:
        return _logged(raw, name, where)
    path = Path(_typed(raw["path"], str, f"{where} path", "a string"))
    features = raw.get("features")
    if features is not None and not (
        isinstance(features, list) and all(isinstance(f, str) and f for f in features)
    ):
        raise ConfigError(f"{where} features: {features!r} is not a list of names")
    threshold = raw.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"{where} threshold: {threshold!r} is not a number")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"{where} threshold: {threshold!r} is not in [0, 1]")
    output = raw.get("output")
    if output is not None:
        if output == "proba":  # the short name, accepted as an alias
            output = "probabilities"
        if output not in OUTPUTS:
            close = difflib.get_close_matches(str(output), OUTPUTS, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where} output: {output!r} is not one of {', '.join(map(repr, OUTPUTS))}{hint}"
            )
    classes = _classes(raw, where)
    shadow = _typed(raw.get("shadow", False), bool, f"{where} shadow", "true or false")
    batch = _typed(raw.get("batch", True), bool, f"{where} batch", "true or false")
    return ModelSpec(
        name=name,
        path=path if path.is_absolute() else base / path,
        version=str(raw.get("version", "v1")),
        features=tuple(features) if features is not None else None,
        classes=classes,
        pos_label=raw.get("pos_label"),
        profile=raw.get("profile"),
        threshold=float(threshold),
        output=output,
        shadow=shadow,
        batch=batch,
    )


def _classes(raw: dict[str, Any], where: str) -> tuple[Any, ...] | None:
    classes = raw.get("classes")
    if classes is None:
        return None
    if not (
        isinstance(classes, list)
        and len(classes) >= 2
        and all(isinstance(c, (str, int, float, bool)) for c in classes)
    ):
        raise ConfigError(f"{where} classes: {classes!r} is not a list of two or more labels")
    return tuple(classes)


def _logged(raw: dict[str, Any], name: str, where: str) -> LoggedModel:
    for key in ("version", "features", "threshold", "output", "shadow", "batch"):
        if key in raw:
            raise ConfigError(
                f"{where}: {key!r} needs a 'path' (a model served here); a model logged "
                "elsewhere takes 'classes', 'pos_label' and 'profile'"
            )
    classes = _classes(raw, where)
    if classes is None:
        raise ConfigError(f"{where}: a model without 'path' (logged elsewhere) needs its 'classes'")
    pos_label = raw.get("pos_label")
    if pos_label is not None and pos_label not in classes:
        raise ConfigError(f"{where} pos_label: {pos_label!r} is not one of {list(classes)!r}")
    profile = raw.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ConfigError(f"{where} profile: {profile!r} is not a profile name")
    return LoggedModel(name, classes, pos_label, profile)


def _model_costs(models: list[Any]) -> dict[str, Costs]:
    """The ``costs`` of every [[models]] entry that has them, by model name; entries of
    one model (its versions) must agree."""
    out: dict[str, Costs] = {}
    for i, raw in enumerate(models):
        if not isinstance(raw, dict) or "costs" not in raw:
            continue
        where = f"[[models]] entry {i + 1} ({raw.get('name')!r})"
        try:
            costs = parse_costs(raw["costs"], where)
        except ProfileError as exc:
            raise ConfigError(str(exc)) from None
        classes = raw.get("classes")
        if isinstance(classes, list) and len(classes) > 2:
            # Costs price a binary model's false positives and misses; ignoring them
            # on a multiclass model would hide the mistake.
            raise ConfigError(
                f"{where}: costs price the false positives and misses of a binary model; "
                f"this model has {len(classes)} classes {classes!r}"
            )
        name = str(raw.get("name"))
        seen = out.get(name)
        if seen is not None and (seen.false_positive, seen.false_negative) != (
            costs.false_positive,
            costs.false_negative,
        ):
            raise ConfigError(f"{where}: costs differ from another entry of model {name!r}")
        out.setdefault(name, costs)
    return out


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{p}: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    oversized = oversized_integer(data)
    if oversized is not None:
        raise ConfigError(f"{p}: {oversized} is beyond TOML's 64-bit integers")
    return data


def load_alerts_file(path: str | Path) -> AlertSettings:
    """Alert rules from their own file (``--alerts FILE``): an ``[alerts]`` table as in
    ``liveeval.toml``, or its contents at the top level (``[[rules]]``, ``[channels.NAME]``).

    Raises
    ------
    ConfigError
        naming the file, the rule and the key.
    """
    p = Path(path)
    data = _read_toml(p)
    if "alerts" in data:
        _unknown(data, ("alerts",), str(p))
        return parse_alerts(data["alerts"], str(p))
    return parse_alerts(data, str(p))


def load_config(path: str | Path) -> ServerConfig:
    """Read ``liveeval.toml``; every mistake is a :class:`ConfigError` naming it."""
    p = Path(path)
    data = _read_toml(p)
    _unknown(data, _TABLES, str(p))
    server = data.get("server", {})
    tokens = data.get("tokens", {})
    profiles = data.get("profiles", {})
    models = data.get("models", [])
    for table, value, kind in (
        ("server", server, dict),
        ("tokens", tokens, dict),
        ("profiles", profiles, dict),
        ("models", models, list),
    ):
        if not isinstance(value, kind):
            shape = "a table [..]" if kind is dict else "an array of tables [[..]]"
            raise ConfigError(f"{p}: '{table}' must be {shape}")
    _unknown(server, _SERVER_KEYS, f"{p} [server]")
    _unknown(tokens, _TOKEN_KEYS, f"{p} [tokens]")
    for key, value in tokens.items():
        _typed(value, str, f"{p} [tokens] {key}", "a string")
    for key, value in profiles.items():
        _typed(value, str, f"{p} [profiles] {key}", "a path to a profile TOML file")
    defaults = ServerConfig()
    parsed = [_model(m, p.parent, i) for i, m in enumerate(models)]
    config = ServerConfig(
        store=str(
            _typed(
                server.get("store", defaults.store),
                str,
                "[server] store",
                "a path or a postgresql:// URL",
            )
        ),
        host=str(_typed(server.get("host", defaults.host), str, "[server] host", "a string")),
        port=_typed(server.get("port", defaults.port), int, "[server] port", "an integer"),
        window=str(
            _typed(server.get("window", defaults.window), str, "[server] window", "a duration")
        ),
        models=[m for m in parsed if isinstance(m, ModelSpec)],
        logged=[m for m in parsed if isinstance(m, LoggedModel)],
        tokens=Tokens(tokens.get("write"), tokens.get("admin"), tokens.get("read")),
        profiles={
            name: (Path(v) if Path(v).is_absolute() else p.parent / v)
            for name, v in profiles.items()
        },
        max_body_bytes=_typed(
            server.get("max_body_bytes", defaults.max_body_bytes),
            int,
            "[server] max_body_bytes",
            "an integer",
        ),
        max_reference_bytes=_typed(
            server.get("max_reference_bytes", defaults.max_reference_bytes),
            int,
            "[server] max_reference_bytes",
            "an integer",
        ),
        metrics_cache_seconds=float(
            _typed(
                server.get("metrics_cache_seconds", defaults.metrics_cache_seconds),
                (int, float),
                "[server] metrics_cache_seconds",
                "a number",
            )
        ),
        alerts=parse_alerts(data.get("alerts", {}), str(p)),
        config_dir=p.parent,
        costs=_model_costs(models),
    )
    parse_window(config.window)
    return config
