"""Use-case profiles: what "good enough" means for a kind of model, as data.

A profile is a TOML file (UTF-8) with a ``name``, a ``description`` and a list of
``[[check]]`` tables, each with ``metric`` (a name from the metric catalogue,
:data:`liveeval.metrics.registry.METRICS`), ``op`` (``>=``, ``>``, ``<=``, ``<``;
by default ``>=`` for a higher-is-better metric and ``<=`` for a lower-is-better one,
and it must point the metric's way), ``target``, an optional ``warn`` band (a pass
within this distance of the target is a warning), ``min_n`` (fewer rows behind the
metric is inconclusive) and ``why``. A top-level ``alerts`` list names the metrics whose drop (rise, for a
lower-is-better metric) alerts by default for a model with this profile
(:func:`liveeval.monitor.rules.profile_rules`). An optional ``[costs]`` table gives
the price of an error in the user's own unit — ``false_positive`` (a false alarm) and
``false_negative`` (a miss), both non-negative numbers — which the windows' business
figures (expected cost per labelled prediction) use; a model's ``costs`` in
``liveeval.toml`` override it. Any other key, at the top level or in ``[costs]``, is an
error with a "did you mean". The built-in profiles ship in ``liveeval/readiness/profiles``.

Finding a profile:

- :func:`builtin_profile` — a built-in by name;
- :func:`profile_by_name` — a built-in or a profile registered at start (a server
  loads its operator's profile files once, then looks them up by name only: a
  request never names a path);
- :func:`load_profile_file` — a TOML file the user gave (the CLI's ``--profile PATH``);
- :func:`load_profile` — either a name or a path, for the CLI and ``evaluate()``.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ProfileError, UnknownMetricError
from ..metrics.registry import metric_spec
from ..toml_range import oversized_integer

__all__ = [
    "COST_KEYS",
    "OPS",
    "Check",
    "Costs",
    "Profile",
    "builtin_profile",
    "builtin_profiles",
    "load_profile",
    "load_profile_file",
    "parse_costs",
    "parse_profile",
    "profile_by_name",
]

OPS = (">=", ">", "<=", "<")
_KEYS = {"metric", "op", "target", "warn", "min_n", "why"}
_TOP_KEYS = ("name", "description", "alerts", "check", "costs")
COST_KEYS = ("false_positive", "false_negative")


@dataclass(frozen=True)
class Check:
    metric: str
    op: str
    target: float
    warn: float = 0.0
    min_n: int = 0
    why: str = ""

    @property
    def higher_is_better(self) -> bool:
        return self.op in (">=", ">")

    def describe(self) -> str:
        return f"{self.metric} {self.op} {self.target:g}"


@dataclass(frozen=True)
class Costs:
    """The price of one false positive and of one false negative, in the user's unit
    (currency, analyst minutes …); ``source`` says where they were set."""

    false_positive: float
    false_negative: float
    source: str = ""

    def to_dict(self) -> dict[str, float | str]:
        return {
            "false_positive": self.false_positive,
            "false_negative": self.false_negative,
            "source": self.source,
        }


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    checks: tuple[Check, ...]
    source: str = "built-in"
    alerts: tuple[str, ...] = ()
    costs: Costs | None = None


def _did_you_mean(key: str, accepted: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


MAX_COST = 1e15


def parse_costs(raw: object, where: str) -> Costs:
    """A ``costs`` table (``false_positive``, ``false_negative``: both required,
    non-negative finite numbers) as :class:`Costs`; ``where`` names it in errors.

    Raises
    ------
    ProfileError
        for a non-table, an unknown key (with "did you mean"), a missing key, or a
        value that is not a non-negative number (naming the field and the value).
    """
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: 'costs' must be a table with {' and '.join(COST_KEYS)}")
    for key in raw:
        if key not in COST_KEYS:
            raise ProfileError(
                f"{where}: unknown key {key!r} in costs{_did_you_mean(key, COST_KEYS)} "
                f"(accepted: {', '.join(COST_KEYS)})"
            )
    values: list[float] = []
    for key in COST_KEYS:
        if key not in raw:
            raise ProfileError(f"{where}: costs needs {key!r} (a non-negative number)")
        value = raw[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ProfileError(
                f"{where}: costs {key} is {value!r}; expected a non-negative number "
                "(the price of one such error in your unit)"
            )
        if value > MAX_COST:
            # Keeps a window's total cost and its interval finite at any count.
            raise ProfileError(
                f"{where}: costs {key} is {value!r}; at most {MAX_COST:g} is accepted "
                "(express the costs in a larger unit)"
            )
        values.append(float(value))
    return Costs(values[0], values[1], where)


def builtin_profiles() -> list[str]:
    """The names of the built-in profiles, sorted."""
    folder = resources.files("liveeval.readiness") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def _check(raw: object, where: str) -> Check:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: must be a table")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ProfileError(
            f"{where}: unknown key(s) {sorted(unknown)}; accepted: {', '.join(sorted(_KEYS))}"
        )
    metric, target = raw.get("metric"), raw.get("target")
    if not isinstance(metric, str):
        raise ProfileError(f"{where}: 'metric' must be a metric name such as \"recall\"")
    try:
        spec = metric_spec(metric)
    except UnknownMetricError as exc:
        raise ProfileError(f"{where}: {exc}") from None
    good_ops = (">=", ">") if spec.higher_is_better else ("<=", "<")
    op = raw.get("op", good_ops[0])
    if op not in OPS:
        raise ProfileError(f"{where}: 'op' is {op!r}, expected one of {', '.join(OPS)}")
    if op not in good_ops:
        way = "higher" if spec.higher_is_better else "lower"
        raise ProfileError(
            f"{where}: 'op' is {op!r} but {metric} is better when {way}; use "
            f"{' or '.join(repr(o) for o in good_ops)}"
        )
    if not isinstance(target, (int, float)) or isinstance(target, bool):
        raise ProfileError(f"{where}: 'target' must be a number, got {target!r}")
    warn = raw.get("warn", 0.0)
    min_n = raw.get("min_n", 0)
    if not isinstance(warn, (int, float)) or isinstance(warn, bool) or warn < 0:
        raise ProfileError(f"{where}: 'warn' must be a non-negative number, got {warn!r}")
    if not isinstance(min_n, int) or isinstance(min_n, bool) or min_n < 0:
        raise ProfileError(f"{where}: 'min_n' must be a non-negative integer, got {min_n!r}")
    return Check(metric, op, float(target), float(warn), min_n, str(raw.get("why", "")))


def parse_profile(text: str, source: str) -> Profile:
    """A profile from TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    oversized = oversized_integer(data)
    if oversized is not None:
        raise ProfileError(f"{source}: {oversized} is beyond TOML's 64-bit integers")
    for key in data:
        if key not in _TOP_KEYS:
            raise ProfileError(
                f"{source}: unknown key {key!r}{_did_you_mean(key, _TOP_KEYS)} "
                f"(accepted: {', '.join(_TOP_KEYS)})"
            )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{source}: needs a string 'name'")
    raw_checks = data.get("check")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise ProfileError(f"{source}: needs at least one [[check]] table")
    checks = tuple(_check(raw, f"{source}: check {i + 1}") for i, raw in enumerate(raw_checks))
    alerts = data.get("alerts", [])
    if not (isinstance(alerts, list) and all(isinstance(a, str) for a in alerts)):
        raise ProfileError(f"{source}: 'alerts' must be a list of metric names")
    for metric in alerts:
        try:
            metric_spec(metric)
        except UnknownMetricError as exc:
            raise ProfileError(f"{source}: alerts: {exc}") from None
    costs = parse_costs(data["costs"], source) if "costs" in data else None
    return Profile(name, str(data.get("description", "")), checks, source, tuple(alerts), costs)


def builtin_profile(name: str) -> Profile:
    """The built-in profile ``name`` (``fraud``, ``spam`` …).

    Raises
    ------
    ProfileError
        for any other name, with the closest built-in as a suggestion.
    """
    return profile_by_name(name)


def profile_by_name(name: str, registered: Mapping[str, Profile] | None = None) -> Profile:
    """A profile by name: one of ``registered`` (loaded at start), else a built-in.

    Never reads a path, so it is safe for names that arrive in requests.

    Raises
    ------
    ProfileError
        for an unknown name, with the closest known name as a suggestion.
    """
    extra = dict(registered or {})
    if name in extra:
        return extra[name]
    names = builtin_profiles()
    if name not in names:
        known = sorted({*names, *extra})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ProfileError(f"unknown profile {name!r}.{hint} Known profiles: {', '.join(known)}")
    resource = resources.files("liveeval.readiness") / "profiles" / f"{name}.toml"
    return parse_profile(resource.read_text(encoding="utf-8"), f"profile '{name}'")


def load_profile_file(path: str | Path) -> Profile:
    """A profile from a TOML file (UTF-8).

    Raises
    ------
    ProfileError
        when the file is missing or unreadable, not UTF-8, not TOML, or not a valid
        profile (an unknown metric comes with a "did you mean").
    """
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"{path}: no such profile file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save the "
            "profile as UTF-8"
        ) from None
    return parse_profile(text.removeprefix("\ufeff"), str(path))


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name, or a profile from a TOML file (for the CLI).

    A :class:`~pathlib.Path`, a name ending in ``.toml`` or an existing file is read as
    a file; anything else is a built-in name. A server should use
    :func:`profile_by_name` instead, which never reads a path.
    """
    if isinstance(name_or_path, Path):
        return load_profile_file(name_or_path)
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).exists():
        return load_profile_file(text)
    try:
        return profile_by_name(text)
    except ProfileError as exc:
        raise ProfileError(f"{exc}; or give a path to a .toml file") from None
