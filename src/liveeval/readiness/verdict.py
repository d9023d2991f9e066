"""Judging measured metrics against a profile, honestly about uncertainty.

A check passes only when its whole confidence interval is on the good side of the
target and fails only when the whole interval is on the bad side; an interval
that straddles the target is *inconclusive* and says how many more labelled rows
would settle it. A pass within the profile's warning band is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..metrics import EvaluationResult, MetricResult, samples_to_settle
from .profile import Check, Profile

__all__ = ["CheckResult", "Finding", "Status", "Verdict", "judge", "overall_status", "verdict"]

Status = Literal["pass", "warn", "fail", "inconclusive"]
SEVERITY_ORDER: dict[str, int] = {"fail": 0, "inconclusive": 1, "warn": 2, "pass": 3, "info": 4}
EXIT_CODES: dict[str, int] = {"pass": 0, "warn": 0, "fail": 1, "inconclusive": 3}


@dataclass(frozen=True)
class Finding:
    """A pitfall found in the data or the model (accuracy paradox, leakage …)."""

    name: str
    severity: Literal["fail", "warn", "info"]
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True)
class CheckResult:
    check: Check
    status: Status
    reason: str
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    n: int = 0
    method: str | None = None
    more_rows_to_settle: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.check.metric,
            "op": self.check.op,
            "target": self.check.target,
            "warn_band": self.check.warn,
            "min_n": self.check.min_n,
            "status": self.status,
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "n": self.n,
            "method": self.method,
            "reason": self.reason,
            "more_rows_to_settle": self.more_rows_to_settle,
        }


@dataclass(frozen=True)
class Verdict:
    profile: str
    status: Status
    summary: str
    checks: list[CheckResult]
    findings: list[Finding]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "status": self.status,
            "summary": self.summary,
            "checks": [c.to_dict() for c in self.checks],
            "findings": [f.to_dict() for f in self.findings],
        }


def fmt(metric: str, value: float | None) -> str:
    """A metric value as a person reads it: latencies in ms, rates to 3 decimals."""
    if value is None:
        return "n/a"
    if metric.endswith("_seconds"):
        ms = value * 1000
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:,.0f} ms"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _passes(value: float, check: Check) -> bool:
    t = check.target
    return {">=": value >= t, ">": value > t, "<=": value <= t, "<": value < t}[check.op]


def judge(check: Check, result: MetricResult | None, total_rows: int) -> CheckResult:
    """One check against one measured metric (see the module docstring)."""
    m = check.metric
    target = fmt(m, check.target)
    if result is None:
        return CheckResult(
            check,
            "inconclusive",
            f"{m} was not measured: the data has no column it can be computed from.",
        )
    base: dict[str, Any] = {
        "value": result.value,
        "lower": result.lower,
        "upper": result.upper,
        "n": result.n,
        "method": result.method,
    }
    if not result.is_defined or result.value is None:
        return CheckResult(check, "inconclusive", f"{m} is {result.reason}.", **base)
    if result.n < check.min_n:
        return CheckResult(
            check,
            "inconclusive",
            f"{m} rests on only {result.n} rows; this profile needs at least {check.min_n} "
            "to judge it.",
            **base,
        )
    value = result.value
    lower = value if result.lower is None else result.lower
    upper = value if result.upper is None else result.upper
    ci = f"{fmt(m, value)} (95% CI {fmt(m, lower)}–{fmt(m, upper)})"
    good_end, bad_end = (lower, upper) if check.higher_is_better else (upper, lower)
    side = "above" if check.higher_is_better else "below"
    other_side = "below" if check.higher_is_better else "above"
    if _passes(good_end, check):
        if abs(value - check.target) < check.warn:
            return CheckResult(
                check,
                "warn",
                f"{m} is {ci}: it meets the {target} target, but within the "
                f"{fmt(m, check.warn)} warning band.",
                **base,
            )
        return CheckResult(
            check,
            "pass",
            f"{m} is {ci}, {side} the {target} target even at the interval's "
            f"{'lower' if check.higher_is_better else 'upper'} end.",
            **base,
        )
    if not _passes(bad_end, check):
        return CheckResult(
            check,
            "fail",
            f"{m} is {ci}, {other_side} the {target} target even at the interval's "
            f"{'upper' if check.higher_is_better else 'lower'} end{_consequence(m, value)}.",
            **base,
        )
    more = samples_to_settle(value, lower, upper, result.n, check.target)
    if more is not None and result.n > 0:
        rows = max(round(more * total_rows / result.n), 1)
        settle = f"; about {rows:,} more labelled rows would settle it"
    else:
        rows = None
        settle = "; the estimate sits on the target, so more data may never settle it"
    return CheckResult(
        check,
        "inconclusive",
        f"{m} is {ci}: the interval straddles the {target} target{settle}.",
        more_rows_to_settle=rows,
        **base,
    )


def _consequence(metric: str, value: float) -> str:
    if metric == "recall":
        return f": the model misses {1 - value:.0%} of actual positives"
    if metric == "precision":
        return f": {1 - value:.0%} of its positive predictions are false alarms"
    if metric == "specificity":
        return f": it flags {1 - value:.0%} of actual negatives"
    return ""


def overall_status(statuses: list[str]) -> Status:
    if "fail" in statuses:
        return "fail"
    if "inconclusive" in statuses:
        return "inconclusive"
    if "warn" in statuses:
        return "warn"
    return "pass"


def verdict(profile: Profile, result: EvaluationResult, findings: list[Finding]) -> Verdict:
    """Judge every check of ``profile`` and fold in the pitfalls found."""
    checks = [judge(c, result.metrics.get(c.metric), result.rows) for c in profile.checks]
    checks.sort(key=lambda c: SEVERITY_ORDER[c.status])
    statuses: list[str] = [c.status for c in checks]
    statuses += [f.severity for f in findings if f.severity in ("fail", "warn")]
    status = overall_status(statuses)
    failing = [c for c in checks if c.status == status] if status != "pass" else []
    bad_findings = [f for f in findings if f.severity == "fail"]
    parts = [
        f"{c.check.metric} {fmt(c.check.metric, c.value)} vs {c.check.op} "
        f"{fmt(c.check.metric, c.check.target)}"
        for c in failing
    ]
    parts += list(dict.fromkeys(f.name.replace("_", " ") for f in bad_findings))
    headline = {
        "pass": "ready",
        "warn": "ready, with warnings",
        "fail": "not ready",
        "inconclusive": "not enough evidence yet",
    }[status]
    summary = f"{status.upper()} for the {profile.name} profile: {headline}"
    if parts:
        summary += " (" + "; ".join(parts) + ")"
    return Verdict(profile.name, status, summary + ".", checks, findings)
