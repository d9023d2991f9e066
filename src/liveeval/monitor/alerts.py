"""Alert state: pending → firing → resolved, one open alert per rule and scope.

Each evaluation tells the tracker, for one rule and one scope (model, version,
segment), whether the rule's condition holds now (``None``: cannot tell yet — too few
samples, no reference — which changes nothing). The tracker keeps the open alert of
that rule and scope, moves it through its states and hands every change, as an
:class:`~liveeval.monitor.notice.AlertNotice`, to a sink (the store's history) and to
every subscriber (notification channels, actions). A subscriber that raises is logged
and never stops the others or the evaluation; subscribers must not block (queue the
work and return).

- no alert, condition holds → ``pending`` (``starts_at`` = now); with ``for = 0`` it
  fires in the same evaluation;
- ``pending`` and the condition has held for the rule's ``for`` → ``firing``;
- ``pending`` or ``firing`` and the condition no longer holds → ``resolved``
  (``ends_at`` = now); the next time it holds, a new alert opens under the same
  ``alert_id`` (stable for a rule and a scope) with a new ``starts_at``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .notice import AlertNotice, AlertState
from .rules import Rule

__all__ = ["AlertScope", "AlertTracker", "Subscriber", "alert_id", "notice_from_json"]

log = logging.getLogger("liveeval.alerts")

Subscriber = Callable[[AlertNotice], None]


@dataclass(frozen=True)
class AlertScope:
    """Which predictions an alert is about."""

    model: str
    version: str | None = None
    segment: str | None = None

    def describe(self) -> str:
        parts = [f"model {self.model}"]
        if self.version is not None:
            parts.append(f"version {self.version}")
        if self.segment is not None:
            parts.append(f"segment {self.segment}")
        return ", ".join(parts)


def alert_id(rule: str, scope: AlertScope) -> str:
    """A stable id for a rule and a scope (the same across restarts and servers)."""
    key = json.dumps([rule, scope.model, scope.version, scope.segment])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text)


def notice_from_json(body: Mapping[str, Any]) -> AlertNotice:
    """The inverse of :meth:`AlertNotice.to_json` (history read back from the store)."""
    starts = _parse_ts(body["starts_at"])
    changed = _parse_ts(body["changed_at"])
    assert starts is not None and changed is not None
    return AlertNotice(
        alert_id=body["alert_id"],
        rule=body["rule"],
        state=body["state"],
        severity=body["severity"],
        model=body["model"],
        metric=body["metric"],
        summary=body["summary"],
        starts_at=starts,
        changed_at=changed,
        version=body.get("version"),
        segment=body.get("segment"),
        ends_at=_parse_ts(body.get("ends_at")),
        evidence=body.get("evidence", {}),
        labels=body.get("labels", {}),
        channels=tuple(body.get("channels", ())),
        actions=tuple(body.get("actions", ())),
    )


class AlertTracker:
    """The open alerts and their transitions.

    Parameters
    ----------
    sink:
        Called with every notice before subscribers (the store's history); an error
        there propagates (a change that cannot be kept must not be announced).
    subscribers:
        Called with every notice, in order; their errors are logged and swallowed.
    """

    def __init__(
        self,
        sink: Callable[[AlertNotice], None] | None = None,
        subscribers: Iterable[Subscriber] = (),
    ) -> None:
        self._sink = sink
        self.subscribers: list[Subscriber] = list(subscribers)
        self.open: dict[str, AlertNotice] = {}

    def restore(self, history: Iterable[AlertNotice]) -> None:
        """Rebuild the open alerts from the stored history (oldest first)."""
        for notice in history:
            if notice.state == "resolved":
                self.open.pop(notice.alert_id, None)
            else:
                self.open[notice.alert_id] = notice

    def observe(
        self,
        rule: Rule,
        scope: AlertScope,
        holds: bool | None,
        *,
        summary: str,
        evidence: Mapping[str, Any],
        now: datetime | None = None,
    ) -> list[AlertNotice]:
        """One evaluation's verdict for ``rule`` on ``scope``; returns the changes made."""
        now = now or datetime.now(UTC)
        key = alert_id(rule.name, scope)
        current = self.open.get(key)
        changes: list[AlertNotice] = []
        if holds is None:
            return changes
        if holds:
            if current is None:
                current = self._emit(
                    AlertNotice(
                        alert_id=key,
                        rule=rule.name,
                        state="pending",
                        severity=rule.severity,
                        model=scope.model,
                        metric=rule.metric,
                        summary=summary,
                        starts_at=now,
                        changed_at=now,
                        version=scope.version,
                        segment=scope.segment,
                        evidence=dict(evidence),
                        labels=dict(rule.labels),
                        channels=rule.channels,
                        actions=rule.actions,
                    ),
                    changes,
                )
            if current.state == "pending" and now - _aware(current.starts_at) >= rule.hold:
                self._emit(self._moved(current, "firing", now, summary, evidence), changes)
        elif current is not None:
            resolved = self._moved(current, "resolved", now, summary, evidence)
            self._emit(replace(resolved, ends_at=now), changes)
        return changes

    @staticmethod
    def _moved(
        current: AlertNotice,
        state: AlertState,
        now: datetime,
        summary: str,
        evidence: Mapping[str, Any],
    ) -> AlertNotice:
        return replace(current, state=state, changed_at=now, summary=summary, evidence=evidence)

    def _emit(self, notice: AlertNotice, changes: list[AlertNotice]) -> AlertNotice:
        if self._sink is not None:
            self._sink(notice)
        if notice.state == "resolved":
            self.open.pop(notice.alert_id, None)
        else:
            self.open[notice.alert_id] = notice
        changes.append(notice)
        for subscriber in self.subscribers:
            try:
                subscriber(notice)
            except Exception:  # a receiver's bug must never stop the evaluation
                log.exception("alert subscriber %r failed on %s", subscriber, notice.alert_id)
        return notice


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
