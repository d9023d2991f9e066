"""What an alert tells the outside world when its state changes.

The rule engine produces an :class:`AlertNotice` on every transition (pending,
firing, resolved); channels and actions consume it. Keeping this one frozen value
between them means a channel never needs to know how the drop was detected, and the
engine never needs to know how a notification is delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["SEVERITIES", "AlertNotice", "AlertState", "Severity"]

AlertState = Literal["pending", "firing", "resolved"]
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.isoformat()


@dataclass(frozen=True)
class AlertNotice:
    """One state change of one alert.

    ``alert_id`` is stable for a rule and a scope (model, version, segment), so
    receivers can deduplicate; ``evidence`` carries what decided (before/after values,
    intervals, the statistic and its threshold, and ``samples``: the labelled predictions,
    predictions, outcome values or resource samples the value was computed from).
    """

    alert_id: str
    rule: str
    state: AlertState
    severity: Severity
    model: str
    metric: str
    summary: str
    starts_at: datetime
    changed_at: datetime
    version: str | None = None
    segment: str | None = None
    ends_at: datetime | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    channels: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps as ISO 8601 in UTC)."""
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "state": self.state,
            "severity": self.severity,
            "model": self.model,
            "version": self.version,
            "segment": self.segment,
            "metric": self.metric,
            "summary": self.summary,
            "starts_at": _iso(self.starts_at),
            "changed_at": _iso(self.changed_at),
            "ends_at": _iso(self.ends_at),
            "evidence": dict(self.evidence),
            "labels": dict(self.labels),
            "channels": list(self.channels),
            "actions": list(self.actions),
        }
