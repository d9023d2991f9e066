"""Use-case profiles: what "good enough" means for a kind of model, as data.

A profile is a TOML file with a ``name``, a ``description`` and a list of
``[[check]]`` tables, each with ``metric``, ``op`` (``>=``, ``>``, ``<=``, ``<``),
``target``, an optional ``warn`` band (a pass within this distance of the
target is a warning), ``min_n`` (fewer rows behind the metric is inconclusive)
and ``why``. The built-in profiles ship in ``liveeval/readiness/profiles``.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ProfileError

__all__ = ["Check", "Profile", "builtin_profiles", "load_profile"]

OPS = (">=", ">", "<=", "<")


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
class Profile:
    name: str
    description: str
    checks: tuple[Check, ...]
    source: str = "built-in"


def builtin_profiles() -> list[str]:
    folder = resources.files("liveeval.readiness") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def _parse(text: str, source: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{source}: needs a string 'name'")
    raw_checks = data.get("check")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise ProfileError(f"{source}: needs at least one [[check]] table")
    checks = []
    for i, raw in enumerate(raw_checks):
        where = f"{source}: check {i + 1}"
        if not isinstance(raw, dict):
            raise ProfileError(f"{where}: must be a table")
        unknown = set(raw) - {"metric", "op", "target", "warn", "min_n", "why"}
        if unknown:
            raise ProfileError(f"{where}: unknown key(s) {sorted(unknown)}")
        metric, op, target = raw.get("metric"), raw.get("op", ">="), raw.get("target")
        if not isinstance(metric, str):
            raise ProfileError(f"{where}: 'metric' must be a metric name such as \"recall\"")
        if op not in OPS:
            raise ProfileError(f"{where}: 'op' is {op!r}, expected one of {', '.join(OPS)}")
        if not isinstance(target, (int, float)) or isinstance(target, bool):
            raise ProfileError(f"{where}: 'target' must be a number, got {target!r}")
        warn = raw.get("warn", 0.0)
        min_n = raw.get("min_n", 0)
        if not isinstance(warn, (int, float)) or warn < 0:
            raise ProfileError(f"{where}: 'warn' must be a non-negative number, got {warn!r}")
        if not isinstance(min_n, int) or min_n < 0:
            raise ProfileError(f"{where}: 'min_n' must be a non-negative integer, got {min_n!r}")
        checks.append(Check(metric, op, float(target), float(warn), min_n, str(raw.get("why", ""))))
    return Profile(name, str(data.get("description", "")), tuple(checks), source)


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name, or a profile from a TOML file."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.exists():
        if not path.is_file():
            raise ProfileError(f"{path}: no such profile file")
        return _parse(path.read_text(encoding="utf-8"), str(path))
    names = builtin_profiles()
    if text not in names:
        close = difflib.get_close_matches(text, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ProfileError(
            f"unknown profile {text!r}.{hint} Built-in profiles: {', '.join(names)}; "
            "or give a path to a .toml file"
        )
    resource = resources.files("liveeval.readiness") / "profiles" / f"{text}.toml"
    return _parse(resource.read_text(encoding="utf-8"), f"profile '{text}'")
