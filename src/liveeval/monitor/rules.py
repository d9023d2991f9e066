"""Alert rules: what to watch, when to fire, whom to tell — from TOML, checked at start.

```toml
[[alerts.rules]]
name = "fraud-recall"
metric = "recall"            # a catalogue metric, or cpu_percent, rss_bytes,
                             # label_coverage, label_delay_seconds, drift:FEATURE, drift:score
model = "fraud"              # default "*": every model
version = "*"                # "*": each version on its own; a name; absent: all together
segment = "*"                # the same for segments
condition = "drop"           # drop | rise | "< 0.8" | "<= 0.8" | "> 0.2" | ">= 0.2" | drifted
mode = "sequential"          # or "window" (default: sequential for drop/rise)
window = "1h"                # window mode: the window read; sequential: one look's block
min_samples = 100            # fewer in a window (a look) and it is not read (merged on)
for = "10m"                  # the condition must hold this long before firing
severity = "critical"        # info | warning | critical
labels = { team = "risk" }
channels = ["oncall-slack"]  # keys of [alerts.channels.*]; "log" always exists
actions = ["retrain"]        # keys of [alerts.actions.*]
alpha = 0.001                # sequential: ≤ 1 false alarm per 1/alpha looks
min_change = 0.01            # sequential: the smallest change worth an alert
reference = "first:5000"     # sequential drop/rise: first N samples, or START/END
```

Every mistake — unknown key, metric, condition, severity, channel or action — is a
:class:`~liveeval.errors.ConfigError` naming the rule and the key, with "did you mean".
The contents of ``[alerts.channels.*]`` and ``[alerts.actions.*]`` belong to the
notification side; only their names are checked here.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..errors import ConfigError, UnknownMetricError
from ..metrics.change import Direction
from ..metrics.registry import METRICS, metric_spec
from .drop import reading_of
from .notice import SEVERITIES, Severity

__all__ = [
    "EXTRA_METRICS",
    "AlertSettings",
    "Condition",
    "Rule",
    "parse_alerts",
    "profile_rules",
]

# Watched quantities that are not catalogue metrics (window mode only); drift:NAME too.
EXTRA_METRICS = (
    "cpu_percent",
    "rss_bytes",
    "label_coverage",
    "label_delay_seconds",
    "false_alarms_per_day",
    "expected_cost",
)
BUILTIN_CHANNELS = ("log",)
MODES = ("sequential", "window")
_RULE_KEYS = (
    "name",
    "metric",
    "model",
    "version",
    "segment",
    "condition",
    "mode",
    "window",
    "min_samples",
    "for",
    "severity",
    "labels",
    "channels",
    "actions",
    "alpha",
    "min_change",
    "reference",
    "summary",
)
_ALERT_KEYS = (
    "rules",
    "channels",
    "actions",
    "interval_seconds",
    "profile_rules",
    "workdir",
    "evaluate",
)
_CONDITION = re.compile(r"^\s*(<=|>=|<|>)\s*(-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*$")
# What float() reads, to tell a non-finite threshold from a typo.
_ANY_THRESHOLD = re.compile(r"^\s*(<=|>=|<|>)\s*(\S+)\s*$")
_REFERENCE_FIRST = re.compile(r"^first:([1-9][0-9]*)$")
_BUCKET = timedelta(minutes=15)


@dataclass(frozen=True)
class Condition:
    """``drop``/``rise`` against the reference, a comparison with a threshold, or
    ``drifted`` (the drift call of a feature or the score)."""

    text: str
    op: Literal["drop", "rise", "<", "<=", ">", ">=", "drifted"]
    threshold: float | None = None

    @property
    def direction(self) -> Direction:
        """Which way is bad: a threshold below is a drop, above a rise."""
        return "drop" if self.op in ("drop", "<", "<=") else "rise"

    def holds(self, value: float) -> bool:
        t = self.threshold
        assert t is not None
        return {
            "<": value < t,
            "<=": value <= t,
            ">": value > t,
            ">=": value >= t,
        }.get(self.op, False)


@dataclass(frozen=True)
class Rule:
    """One alert rule, validated."""

    name: str
    metric: str
    condition: Condition
    mode: Literal["sequential", "window"]
    model: str = "*"
    version: str | None = None
    segment: str | None = None
    window: timedelta = timedelta(minutes=15)
    min_samples: int = 100
    hold: timedelta = timedelta(0)
    severity: Severity = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    channels: tuple[str, ...] = ("log",)
    actions: tuple[str, ...] = ()
    alpha: float = 0.001
    min_change: float = 0.01
    reference: str = "first:5000"
    summary: str | None = None
    source: str = "config"

    @property
    def drift_column(self) -> str | None:
        return self.metric.removeprefix("drift:") if self.metric.startswith("drift:") else None

    @property
    def reference_first(self) -> int | None:
        match = _REFERENCE_FIRST.match(self.reference)
        return int(match.group(1)) if match else None

    def reference_range(self) -> tuple[datetime, datetime] | None:
        if self.reference_first is not None:
            return None
        start, _, end = self.reference.partition("/")
        return _iso(start), _iso(end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "condition": self.condition.text,
            "mode": self.mode,
            "model": self.model,
            "version": self.version,
            "segment": self.segment,
            "window_seconds": self.window.total_seconds(),
            "min_samples": self.min_samples,
            "for_seconds": self.hold.total_seconds(),
            "severity": self.severity,
            "labels": dict(self.labels),
            "channels": list(self.channels),
            "actions": list(self.actions),
            "alpha": self.alpha if self.mode == "sequential" else None,
            "min_change": self.min_change if self.mode == "sequential" else None,
            "reference": self.reference if self.mode == "sequential" else None,
            "source": self.source,
        }


@dataclass(frozen=True)
class AlertSettings:
    """The ``[alerts]`` table: rules, the channel and action names (their tables are
    kept raw for the notification side), how often rules are evaluated."""

    rules: tuple[Rule, ...] = ()
    channels: Mapping[str, Any] = field(default_factory=dict)
    actions: Mapping[str, Any] = field(default_factory=dict)
    interval_seconds: float = 60.0
    profile_rules: bool = True
    # Where action runs keep their context, data and output (docs/notifications.md).
    workdir: str | None = None
    # Whether `liveeval serve` runs the evaluation loop (false: a standalone
    # `liveeval monitor --evaluate` does, e.g. for replicas sharing a PostgreSQL store).
    evaluate: bool = True

    @property
    def channel_names(self) -> tuple[str, ...]:
        return (*BUILTIN_CHANNELS, *(c for c in self.channels if c not in BUILTIN_CHANNELS))


def _hint(value: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _iso(text: str) -> datetime:
    ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if ts.tzinfo is not None:  # the store's times are naive UTC
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def _duration(value: Any, where: str) -> timedelta:
    from ..config import parse_window

    if not isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} is not a duration like 15m, 1h or 1d")
    try:
        return parse_window(value)
    except ConfigError as exc:
        if "longest window" in str(exc):
            raise ConfigError(f"{where}: {exc}".replace("window ", "", 1)) from None
        raise ConfigError(f"{where}: {value!r} is not a duration like 15m, 1h or 1d") from None


def _zero_or_duration(value: Any, where: str) -> timedelta:
    if value in ("0", "0s", "0m", 0):
        return timedelta(0)
    return _duration(value, where)


def parse_condition(text: Any, where: str) -> Condition:
    """``drop``, ``rise``, ``drifted`` or a comparison such as ``< 0.8``."""
    if not isinstance(text, str):
        raise ConfigError(f"{where}: {text!r} is not a condition such as 'drop' or '< 0.8'")
    raw = text.strip()
    if raw in ("drop", "rise", "drifted"):
        return Condition(raw, raw)  # type: ignore[arg-type]
    match = _CONDITION.match(raw)
    threshold = float(match.group(2)) if match else None
    if match and threshold is not None and math.isfinite(threshold):
        return Condition(raw, match.group(1), threshold)  # type: ignore[arg-type]
    match = match or _ANY_THRESHOLD.match(raw)
    if match and threshold is None:
        try:
            threshold = float(match.group(2))
        except ValueError:
            threshold = None
    if match and threshold is not None and not math.isfinite(threshold):
        # '> inf', '> nan' and '> 1e999' (which a float reads as infinity) alike: a
        # comparison with them never fires (or always does), so the rule is useless.
        raise ConfigError(
            f"{where}: {text!r}: the threshold {match.group(2)!r} is not a finite number "
            "(a comparison with infinity or NaN never fires); give a number such as "
            "'< 0.8' or '> 20'"
        )
    hint = _hint(raw, ("drop", "rise", "drifted"))
    raise ConfigError(
        f"{where}: {text!r} is not a condition{hint} (accepted: 'drop', 'rise', 'drifted', "
        "or a comparison '< 0.8', '<= 0.8', '> 0.2', '>= 0.2')"
    )


def _check_metric(metric: Any, where: str) -> str:
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"{where}: needs a 'metric' such as \"recall\"")
    if metric.startswith("drift:") and len(metric) > len("drift:"):
        return metric
    if metric in EXTRA_METRICS:
        return metric
    try:
        metric_spec(metric)
    except UnknownMetricError:
        known = (*METRICS, *EXTRA_METRICS, "drift:FEATURE", "drift:score")
        raise ConfigError(
            f"{where} metric: unknown metric {metric!r}{_hint(metric, known)} "
            f"(a catalogue metric, {', '.join(EXTRA_METRICS)}, or drift:FEATURE / drift:score)"
        ) from None
    return metric


def _names(value: Any, allowed: tuple[str, ...], where: str, what: str) -> tuple[str, ...]:
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ConfigError(f"{where}: {value!r} is not a list of {what} names")
    for name in value:
        if name not in allowed:
            raise ConfigError(
                f"{where}: unknown {what} {name!r}{_hint(name, allowed)} "
                f"(known: {', '.join(allowed) or 'none'}; declare it under [alerts.{what}s.{name}])"
            )
    return tuple(value)


def _number(raw: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} {key}: {value!r} is not a number")
    return float(value)


def parse_rule(
    raw: Any,
    where: str,
    channels: tuple[str, ...],
    actions: tuple[str, ...],
    *,
    source: str = "config",
) -> Rule:
    """One ``[[alerts.rules]]`` table as a :class:`Rule`.

    Raises
    ------
    ConfigError
        naming the rule and the key, with "did you mean".
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: needs a 'name' (a string naming the rule)")
    where = f"alert rule {name!r}"
    for key in raw:
        if key not in _RULE_KEYS:
            raise ConfigError(
                f"{where}: unknown key {key!r}{_hint(key, _RULE_KEYS)} "
                f"(allowed: {', '.join(_RULE_KEYS)})"
            )
    metric = _check_metric(raw.get("metric"), where)
    extra = metric in EXTRA_METRICS or metric.startswith("drift:")
    spec = None if extra else metric_spec(metric)
    default_condition = "drop" if spec is None or spec.higher_is_better else "rise"
    condition = parse_condition(raw.get("condition", default_condition), f"{where} condition")
    if condition.op == "drifted" and not metric.startswith("drift:"):
        raise ConfigError(f"{where} condition: 'drifted' is for drift:FEATURE or drift:score")
    default_mode = "sequential" if condition.op in ("drop", "rise") else "window"
    mode = raw.get("mode", default_mode)
    if mode not in MODES:
        raise ConfigError(
            f"{where} mode: {mode!r} is not a mode{_hint(str(mode), MODES)} "
            f"(accepted: {', '.join(MODES)})"
        )
    if mode == "sequential":
        if spec is None or reading_of(spec) is None:
            why = (
                "it is not a bounded catalogue metric"
                if spec is None
                else f"it is unbounded ({spec.unit})"
            )
            raise ConfigError(
                f'{where} mode: {metric} has no sequential test ({why}); use mode = "window" '
                "with a threshold condition such as '> 0.5'"
            )
        if condition.op == "drifted":
            raise ConfigError(f"{where} condition: 'drifted' needs mode = \"window\"")
    elif condition.op in ("drop", "rise"):
        raise ConfigError(
            f"{where} condition: {condition.op!r} compares with a reference and needs "
            "mode = \"sequential\"; in window mode give a threshold such as '< 0.8'"
        )
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ConfigError(
            f"{where} severity: {severity!r} is not a severity{_hint(str(severity), SEVERITIES)} "
            f"(accepted: {', '.join(SEVERITIES)})"
        )
    labels = raw.get("labels", {})
    if not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        raise ConfigError(f"{where} labels: {labels!r} is not a table of strings")
    for key in ("model", "version", "segment", "summary"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where} {key}: {raw[key]!r} is not a string")
    min_samples = raw.get("min_samples", 100)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ConfigError(f"{where} min_samples: {min_samples!r} is not a positive integer")
    alpha = _number(raw, "alpha", 0.001, where)
    if not 0.0 < alpha < 0.5:
        raise ConfigError(f"{where} alpha: {alpha!r} is not in (0, 0.5)")
    min_change = _number(raw, "min_change", 0.01, where)
    if not 0.0 < min_change < 1.0:
        raise ConfigError(f"{where} min_change: {min_change!r} is not in (0, 1)")
    reference = raw.get("reference", "first:5000")
    rule = Rule(
        name=name,
        metric=metric,
        condition=condition,
        mode=mode,
        model=raw.get("model", "*"),
        version=raw.get("version"),
        segment=raw.get("segment"),
        window=_duration(
            raw.get("window", "15m" if mode == "sequential" else "1h"), f"{where} window"
        ),
        min_samples=min_samples,
        hold=_zero_or_duration(raw.get("for", "0s"), f"{where} for"),
        severity=severity,
        labels=dict(labels),
        channels=_names(raw.get("channels", ["log"]), channels, f"{where} channels", "channel"),
        actions=_names(raw.get("actions", []), actions, f"{where} actions", "action"),
        alpha=alpha,
        min_change=min_change,
        reference=str(reference),
        summary=raw.get("summary"),
        source=source,
    )
    if not isinstance(reference, str):
        raise ConfigError(f"{where} reference: {reference!r} is not 'first:N' or 'START/END'")
    if (mode == "sequential" or rule.drift_column is not None) and rule.window % _BUCKET:
        raise ConfigError(
            f"{where} window: {raw.get('window')!r} is not a whole number of 15m (looks and "
            "drift windows are read from the store's 15-minute rollups)"
        )
    if rule.drift_column is not None:
        if reference.startswith(("version:", "previous:", "first:")) and len(reference) > 9:
            return rule
        if "/" not in reference:
            raise ConfigError(
                f"{where} reference: {reference!r} is not a drift reference: 'version:NAME', "
                "'START/END' (ISO 8601 times) or 'previous:7d'"
            )
    try:
        found = rule.reference_range()
    except ValueError:
        raise ConfigError(
            f"{where} reference: {reference!r} is not 'first:N' (the first N samples) or "
            "'START/END' (ISO 8601 times)"
        ) from None
    if found is not None and found[1] <= found[0]:
        raise ConfigError(f"{where} reference: {reference!r} ends before it starts")
    return rule


def parse_alerts(raw: Any, where: str) -> AlertSettings:
    """The ``[alerts]`` table (of ``liveeval.toml`` or an ``--alerts`` file).

    Raises
    ------
    ConfigError
        for an unknown key, a bad rule, two rules of one name.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'alerts' must be a table [alerts]")
    for key in raw:
        if key not in _ALERT_KEYS:
            raise ConfigError(
                f"{where} [alerts]: unknown key {key!r}{_hint(key, _ALERT_KEYS)} "
                f"(allowed: {', '.join(_ALERT_KEYS)})"
            )
    channels_raw = raw.get("channels", {})
    actions_raw = raw.get("actions", {})
    for key, value in (("channels", channels_raw), ("actions", actions_raw)):
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"{where}: [alerts.{key}] must hold tables [alerts.{key}.NAME]")
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ConfigError(f"{where}: rules must be an array of tables [[alerts.rules]]")
    settings = AlertSettings((), dict(channels_raw), dict(actions_raw))
    rules = tuple(
        parse_rule(r, f"{where} [[alerts.rules]] entry {i + 1}", settings.channel_names,
                   tuple(actions_raw))
        for i, r in enumerate(rules_raw)
    )  # fmt: skip
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(f"{where}: two alert rules are named {rule.name!r}")
        seen.add(rule.name)
    interval = _number(raw, "interval_seconds", 60.0, f"{where} [alerts]")
    if not 0.01 <= interval <= 86_400:
        raise ConfigError(
            f"{where} [alerts] interval_seconds: {interval!r} is not a number of seconds "
            "from 0.01 to 86400 (one day)"
        )
    profile_rules = raw.get("profile_rules", True)
    if not isinstance(profile_rules, bool):
        raise ConfigError(f"{where} [alerts] profile_rules: {profile_rules!r} is not true/false")
    workdir = raw.get("workdir")
    if workdir is not None and (not isinstance(workdir, str) or not workdir):
        raise ConfigError(f"{where} [alerts] workdir: {workdir!r} is not a folder path")
    evaluate = raw.get("evaluate", True)
    if not isinstance(evaluate, bool):
        raise ConfigError(f"{where} [alerts] evaluate: {evaluate!r} is not true/false")
    return AlertSettings(
        rules, settings.channels, settings.actions, interval, profile_rules, workdir, evaluate
    )


def profile_rules(model: str, profile: str, metrics: Iterable[str]) -> list[Rule]:
    """The default rules a use-case profile contributes for one model: a sequential
    drop (rise, for a lower-is-better metric) of each metric the profile names under
    ``alerts``, told to the log."""
    out = []
    for metric in metrics:
        spec = metric_spec(metric)
        way: Direction = "drop" if spec.higher_is_better else "rise"
        out.append(
            Rule(
                name=f"{model}:{profile}:{metric}-{way}",
                metric=metric,
                condition=Condition(way, way),
                mode="sequential",
                model=model,
                severity="warning",
                source=f"profile {profile}",
            )
        )
    return out
