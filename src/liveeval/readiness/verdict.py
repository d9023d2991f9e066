"""Judging measured metrics against a profile, honestly about uncertainty.

A check passes only when its whole interval is on the good side of the target and
fails only when the whole interval is on the bad side; an interval that straddles
the target is *inconclusive* and says how many more labelled rows would settle it
with 80% probability at the current rates. A pass within the profile's warning
band is a warning. A metric without an interval (or with one of zero width, which
no honest interval on a finite sample has) is inconclusive, never certain.

Two modes (see ``docs/verdicts.md``):

- ``fixed``: the metrics' own fixed-sample intervals, for a one-off report. Each check
  errs on either side with probability (1 − confidence)/2 — once.
- ``anytime``: confidence sequences (:mod:`liveeval.metrics.sequential`) for every
  check that is a rate of counted rows, valid however often the verdict is
  re-evaluated as labels arrive: a model exactly at its target passes (or fails) at
  ANY look with probability at most (1 − confidence)/2. Checks with no
  anytime-valid method fall back to the fixed-sample interval and say so.

Either way the verdict states its family-wise error rates (:class:`ErrorRates`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ValidationError
from ..metrics import EvaluationResult, LatencySketch, MetricResult
from ..metrics.registry import METRICS
from ..metrics.settle import DEFAULT_POWER
from ._settle import more_to_settle
from .evidence import anytime_interval, evidence_for, latency_sequence
from .profile import Check, Profile

__all__ = [
    "MODES",
    "CheckResult",
    "ErrorRates",
    "Finding",
    "Mode",
    "Status",
    "Verdict",
    "error_rates",
    "judge",
    "overall_status",
    "verdict",
]

Status = Literal["pass", "warn", "fail", "inconclusive"]
Mode = Literal["fixed", "anytime"]
MODES: tuple[str, ...] = ("fixed", "anytime")
SEVERITY_ORDER: dict[str, int] = {"fail": 0, "inconclusive": 1, "warn": 2, "pass": 3, "info": 4}
EXIT_CODES: dict[str, int] = {"pass": 0, "warn": 0, "fail": 1, "inconclusive": 3}
MODE_TEXT: dict[str, str] = {
    "fixed": "fixed-sample intervals, valid for one look at the data",
    "anytime": "anytime-valid confidence sequences, valid however often it is re-checked",
}


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
    """One check judged: its status, the interval it was judged on, and why.

    ``mode`` is the kind of interval actually used (``anytime`` or ``fixed``; a check
    in an anytime verdict whose metric has no anytime-valid method says ``fixed``).
    ``more_rows_to_settle`` is the number of further labelled rows that would settle
    an inconclusive check with probability ``settle_power`` at the current rates.
    """

    check: Check
    status: Status
    reason: str
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    n: int = 0
    method: str | None = None
    more_rows_to_settle: int | None = None
    mode: Mode = "fixed"
    settle_power: float | None = None

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
            "mode": self.mode,
            "reason": self.reason,
            "more_rows_to_settle": self.more_rows_to_settle,
            "settle_power": self.settle_power,
        }


@dataclass(frozen=True)
class ErrorRates:
    """How often the verdict can be wrong when a model sits exactly at its targets.

    ``per_check``: each check's chance of a wrong PASS, and separately of a wrong FAIL
    ((1 − confidence)/2; in anytime mode over every look, both sides together).
    ``false_pass``: the chance that the verdict PASSes a model that misses some target —
    at most ``per_check``, since a PASS needs every check to pass.
    ``false_fail``: the chance that a model exactly at every target gets some FAIL —
    at most ``checks × per_check`` (Bonferroni; any dependence between checks).
    ``fixed_checks`` lists the checks of an anytime verdict judged on fixed-sample
    intervals (no anytime-valid method for their metric): the guarantee over repeated
    looks does not cover them.
    """

    mode: Mode
    checks: int
    per_check: float
    false_pass: float
    false_fail: float
    fixed_checks: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        look = (
            "at any look, however often it is re-checked"
            if self.mode == "anytime"
            else ("at one look")
        )
        bound = "at most" if self.mode == "anytime" else "nominally at most"
        parts = [
            f"Error rates ({self.mode} mode, {look}): a PASS of a model that misses a target "
            f"happens {bound} {self.false_pass:.1%} of the time; a model exactly at "
            f"{'its target' if self.checks == 1 else f'all {self.checks} targets'} gets "
            f"a FAIL {bound} {self.false_fail:.1%} of the time"
            + (f" ({self.checks} checks × {self.per_check:.1%})." if self.checks > 1 else ".")
        ]
        if self.fixed_checks:
            parts.append(
                f"Not covered over repeated looks: {', '.join(self.fixed_checks)} "
                "(fixed-sample interval: no anytime-valid method for this metric yet)."
            )
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "checks": self.checks,
            "per_check": self.per_check,
            "false_pass": self.false_pass,
            "false_fail": self.false_fail,
            "fixed_checks": list(self.fixed_checks),
            "text": self.text,
        }


@dataclass(frozen=True)
class Verdict:
    """A profile's verdict: overall status, headline, each check, pitfalls, and how
    sure it is (``mode``, ``error_rates``)."""

    profile: str
    status: Status
    summary: str
    checks: list[CheckResult]
    findings: list[Finding]
    mode: Mode = "fixed"
    error_rates: ErrorRates | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "status": self.status,
            "summary": self.summary,
            "mode": self.mode,
            "error_rates": None if self.error_rates is None else self.error_rates.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "findings": [f.to_dict() for f in self.findings],
        }


def fmt(metric: str, value: float | None) -> str:
    """A metric value as a person reads it: latencies in ms, rates to 3 decimals."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "unbounded" if value > 0 else "0"
    spec = METRICS.get(metric)
    if (spec.unit == "seconds") if spec is not None else metric.endswith("_seconds"):
        ms = value * 1000
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:,.0f} ms"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _passes(value: float, check: Check) -> bool:
    t = check.target
    return {">=": value >= t, ">": value > t, "<=": value <= t, "<": value < t}[check.op]


def judge(
    check: Check,
    result: MetricResult | None,
    total_rows: int,
    *,
    mode: Mode = "fixed",
    evaluation: EvaluationResult | None = None,
    power: float = DEFAULT_POWER,
    settle: bool = True,
    latency: LatencySketch | None = None,
) -> CheckResult:
    """One check against one measured metric (see the module docstring).

    ``evaluation`` (the whole result the metric came from) gives the counts behind the
    metric: an anytime-valid interval needs them, and "more rows to settle" re-runs
    the real interval method on them. Without it, anytime mode falls back to the
    fixed-sample interval and settling to the 1/√n law. ``settle=False`` skips the
    rows-to-settle search (tens of milliseconds) for callers that re-judge often.
    ``latency`` (the evaluation's latency sketch) lets anytime mode judge latency
    quantiles on a confidence sequence (:func:`liveeval.metrics.quantile_sequence`).
    """
    if mode not in MODES:
        raise ValidationError(f"verdict mode {mode!r} is not one of {', '.join(MODES)}")
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
    if evaluation is not None and _one_undeclared_class(evaluation, m):
        return CheckResult(
            check,
            "inconclusive",
            f"only class {evaluation.labels[0]!r} occurs and no other class is declared, so "
            f"{m} compares nothing; declare both classes (for example --labels 0,1 "
            "--pos-label 1) to evaluate the data as a binary problem.",
            **base,
        )
    if result.n < check.min_n:
        return CheckResult(
            check,
            "inconclusive",
            f"{m} rests on only {result.n} rows; this profile needs at least {check.min_n} "
            "to judge it.",
            **base,
        )
    value = result.value
    side_alpha = (1.0 - result.confidence) / 2.0
    evidence = None
    if evaluation is not None:
        evidence = evidence_for(evaluation, m, result)
    used: Mode = "fixed"
    if mode == "anytime" and evidence is not None:
        used = "anytime"
        lower, upper = anytime_interval(evidence, side_alpha, check.target)
        base.update(
            lower=lower,
            upper=upper,
            method="confidence sequence (beta-binomial mixture, Howard et al. 2021): "
            f"anytime-valid, misses at any look ≤ {side_alpha:.1%}",
        )
        label = "anytime-valid interval"
    elif mode == "anytime" and latency is not None and _quantile_level(m) is not None:
        used = "anytime"
        level = _quantile_level(m)
        assert level is not None
        lower, upper = latency_sequence(latency, level, side_alpha)
        base.update(
            lower=None if math.isinf(lower) else lower,
            upper=None if math.isinf(upper) else upper,
            method="confidence sequence for a quantile, on the sketch's counts at or below "
            f"each bucket edge: anytime-valid, misses at any look ≤ {side_alpha:.1%}",
        )
        label = "anytime-valid interval"
    else:
        if result.lower is None or result.upper is None:
            return CheckResult(
                check,
                "inconclusive",
                f"{m} is {fmt(m, value)} but has no interval ({result.method}), so it cannot "
                "be judged: a number without its uncertainty is not evidence.",
                **base,
            )
        lower, upper = result.lower, result.upper
        label = f"{result.confidence:.0%} CI"
    base["mode"] = used
    suffix = ""
    if mode == "anytime" and used == "fixed":
        suffix = "; fixed-sample: no anytime-valid method for this metric"
    if upper - lower <= 0.0 and result.n > 0:
        return CheckResult(
            check,
            "inconclusive",
            f"{m} is {fmt(m, value)} with an interval of zero width ({result.method}) on "
            f"{result.n:,} rows; no honest interval on a finite sample is a point, so it "
            "cannot be judged.",
            **base,
        )
    ci = f"{fmt(m, value)} ({label} {fmt(m, lower)}–{fmt(m, upper)}{suffix})"
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
    rows, unit = None, ""
    # A quantile's sequence (latency) has no counts to grow: no estimate of rows.
    settle = settle and not (used == "anytime" and evidence is None)
    if settle:
        rows, unit = more_to_settle(
            check, result, value, (lower, upper), total_rows, used, evaluation, evidence, power
        )
    if not settle:
        tail = ""
    elif rows is not None:
        tail = (
            f"; about {rows:,} more {unit} would settle it with {power:.0%} probability "
            "at the current rates"
        )
    else:
        tail = "; the estimate sits on the target, so more data may never settle it"
    return CheckResult(
        check,
        "inconclusive",
        f"{m} is {ci}: the interval straddles the {target} target{tail}.",
        more_rows_to_settle=rows,
        settle_power=power if rows is not None else None,
        **base,
    )


def _quantile_level(metric: str) -> float | None:
    """0.95 for ``latency_p95_seconds``: the level of a latency-quantile metric."""
    spec = METRICS.get(metric)
    if spec is None or spec.interval != "quantile":
        return None
    digits = metric.removeprefix("latency_p").removesuffix("_seconds")
    return int(digits) / 100.0 if digits.isdigit() else None


def _one_undeclared_class(evaluation: EvaluationResult, metric: str) -> bool:
    """A result over a single class, with no second class declared, judged on a metric
    that compares classes."""
    spec = METRICS.get(metric)
    compares = spec is None or spec.family in ("confusion", "averaged", "ranking", "calibration")
    return len(evaluation.labels) == 1 and compares


def _measured(c: CheckResult, metric: MetricResult | None) -> str:
    """A check's value as a summary quotes it: "undefined" for a zero-division stand-in
    (scikit-learn's 0.0 when nothing was predicted positive is no measurement)."""
    if metric is None or not metric.is_defined or c.value is None:
        return "undefined"
    return fmt(c.check.metric, c.value)


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


def error_rates(checks: list[CheckResult], mode: Mode, confidence: float) -> ErrorRates:
    """The verdict's family-wise error rates (see :class:`ErrorRates`)."""
    per_check = (1.0 - confidence) / 2.0
    k = max(len(checks), 1)
    fixed = tuple(c.check.metric for c in checks if mode == "anytime" and c.mode == "fixed")
    return ErrorRates(mode, len(checks), per_check, per_check, min(1.0, k * per_check), fixed)


def verdict(
    profile: Profile,
    result: EvaluationResult,
    findings: list[Finding],
    *,
    mode: Mode = "fixed",
    power: float = DEFAULT_POWER,
    settle: bool = True,
    latency: LatencySketch | None = None,
) -> Verdict:
    """Judge every check of ``profile`` and fold in the pitfalls found.

    Parameters
    ----------
    mode:
        ``"fixed"`` (fixed-sample intervals, for a one-off report) or ``"anytime"``
        (confidence sequences, for a verdict re-evaluated as labels arrive); named in
        the summary, ``Verdict.mode`` and each check's ``mode``.
    power:
        The probability with which "N more labelled rows" settles an inconclusive check.
    settle:
        Whether to work out that N at all (``False`` for a verdict re-evaluated often).
    latency:
        The latency sketch behind ``result`` (``Evaluation.latency``), so that anytime
        mode can judge latency quantiles too; without it they fall back to fixed-sample.
    """
    if mode not in MODES:
        raise ValidationError(f"verdict mode {mode!r} is not one of {', '.join(MODES)}")
    checks = [
        judge(
            c,
            result.metrics.get(c.metric),
            result.rows,
            mode=mode,
            evaluation=result,
            power=power,
            settle=settle,
            latency=latency,
        )
        for c in profile.checks
    ]
    checks.sort(key=lambda c: SEVERITY_ORDER[c.status])
    statuses: list[str] = [c.status for c in checks]
    statuses += [f.severity for f in findings if f.severity in ("fail", "warn")]
    status = overall_status(statuses)
    failing = [c for c in checks if c.status == status] if status != "pass" else []
    bad_findings = [f for f in findings if f.severity == "fail"]
    parts = [
        f"{c.check.metric} {_measured(c, result.metrics.get(c.check.metric))} vs "
        f"{c.check.op} {fmt(c.check.metric, c.check.target)}"
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
    summary += f". Judged on {MODE_TEXT[mode]}."
    rates = error_rates(checks, mode, result.confidence)
    return Verdict(profile.name, status, summary, checks, findings, mode, rates)
