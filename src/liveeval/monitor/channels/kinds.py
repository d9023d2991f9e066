"""The four kinds of channel: a signed JSON webhook, a Slack-compatible incoming
webhook, Prometheus Alertmanager's v2 API, and the log.

Webhook signature (see docs/notifications.md): with a secret, each POST carries
``X-Liveeval-Timestamp`` (Unix seconds) and ``X-Liveeval-Signature: sha256=<hex>``,
the HMAC-SHA256 under the secret of ``<timestamp>.<body>`` (the raw body bytes); the
receiver recomputes it, compares in constant time and refuses old timestamps.
``X-Liveeval-Delivery`` is the idempotency key (also ``id`` in the body).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..notice import AlertNotice
from . import _text
from ._base import DEFAULT_STATES, HttpRequest, canonical_json, link_for, post

__all__ = [
    "AlertmanagerChannel",
    "LogChannel",
    "SlackChannel",
    "WebhookChannel",
    "sign",
    "verify",
]

LOG = logging.getLogger("liveeval.alerts")
SIGNATURE_HEADER = "X-Liveeval-Signature"
TIMESTAMP_HEADER = "X-Liveeval-Timestamp"
DELIVERY_HEADER = "X-Liveeval-Delivery"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches (constant-time) and the timestamp
    is within ``tolerance_seconds`` of ``now`` (a replayed old request fails)."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_seconds and hmac.compare_digest(
        sign(secret, timestamp, body), signature
    )


def _payload(notice: AlertNotice, key: str) -> dict[str, Any]:
    return {"id": key, "type": "liveeval.alert", "notice": notice.to_json()}


@dataclass(frozen=True)
class WebhookChannel:
    """A generic JSON webhook: ``{"id", "type": "liveeval.alert", "notice": {...}}``."""

    name: str
    url: str = field(repr=False)
    secret: bytes | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    states: tuple[str, ...] = DEFAULT_STATES
    url_hidden: bool = False
    type: str = "webhook"

    def request(self, notice: AlertNotice, key: str, timestamp: str | None = None) -> HttpRequest:
        body = canonical_json(_payload(notice, key))
        headers = {
            **self.headers,
            "content-type": "application/json",
            DELIVERY_HEADER: key,
        }
        if self.secret is not None:
            stamp = timestamp or str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = sign(self.secret, stamp, body)
        return HttpRequest(self.url, body, headers)

    def deliver(self, notice: AlertNotice, key: str) -> None:
        post(self.request(notice, key), self.timeout, self.name)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "url": "(from the environment)" if self.url_hidden else self.url,
            "signed": self.secret is not None,
            "headers": sorted(self.headers),
            "timeout": self.timeout,
            "states": list(self.states),
        }


_SLACK_ICON = {
    "firing": ":red_circle:",
    "resolved": ":large_green_circle:",
    "pending": ":hourglass:",
}


@dataclass(frozen=True)
class SlackChannel:
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): ``text``
    for notifications and clients without blocks, ``blocks`` for the message."""

    name: str
    url: str = field(repr=False)
    link: str | None = None
    timeout: float = 10.0
    states: tuple[str, ...] = DEFAULT_STATES
    url_hidden: bool = False
    type: str = "slack"

    def message(self, notice: AlertNotice) -> dict[str, Any]:
        icon = _SLACK_ICON.get(notice.state, "")
        title = f"{icon} {_text.headline(notice)}".strip()
        lines = [f"*{title}*", notice.summary]
        evidence = _text.evidence_line(notice)
        if evidence:
            lines.append(evidence)
        when = notice.changed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"since {notice.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC · {when}")
        url = link_for(self.link, notice)
        if url:
            lines.append(f"<{url}|Open in liveeval>")
        text = "\n".join(line for line in lines if line)
        return {
            "text": f"{title}: {notice.summary}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }

    def deliver(self, notice: AlertNotice, key: str) -> None:
        body = canonical_json(self.message(notice))
        post(
            HttpRequest(self.url, body, {"content-type": "application/json"}),
            self.timeout,
            self.name,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "url": "(from the environment)" if self.url_hidden else self.url,
            "link": self.link,
            "timeout": self.timeout,
            "states": list(self.states),
        }


@dataclass(frozen=True)
class AlertmanagerChannel:
    """Prometheus Alertmanager's v2 API: ``POST {url}/api/v2/alerts``.

    A firing alert is sent with ``endsAt`` = when it is sent + ``hold`` (Alertmanager
    resolves an alert whose ``endsAt`` passed, so a notice lost with the server does
    not stay firing for ever) and re-sent every ``resend`` while it fires (the outbox
    does it: :class:`~liveeval.monitor.outbox.Dispatcher`), which moves ``endsAt`` on;
    a resolved one is sent with ``endsAt`` = when it resolved.
    """

    name: str
    url: str
    hold: timedelta = timedelta(hours=24)
    link: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    states: tuple[str, ...] = DEFAULT_STATES
    type: str = "alertmanager"
    resend: timedelta | None = timedelta(hours=1)

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/api/v2/alerts") else base + "/api/v2/alerts"

    def alert(
        self, notice: AlertNotice, key: str, sent_at: datetime | None = None
    ) -> dict[str, Any]:
        labels = {
            **{str(k): str(v) for k, v in notice.labels.items()},
            "alertname": notice.rule,
            "model": notice.model,
            "metric": notice.metric,
            "severity": notice.severity,
            "alert_id": notice.alert_id,
        }
        if notice.version:
            labels["version"] = notice.version
        if notice.segment:
            labels["segment"] = notice.segment
        sent = notice.changed_at if sent_at is None else max(sent_at, notice.changed_at)
        ends = (
            notice.ends_at or notice.changed_at if notice.state == "resolved" else sent + self.hold
        )
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": {
                "summary": notice.summary,
                "description": _text.evidence_line(notice),
                "evidence": canonical_json(dict(notice.evidence)).decode(),
                "delivery": key,
            },
            "startsAt": notice.starts_at.astimezone(UTC).isoformat(),
            "endsAt": ends.astimezone(UTC).isoformat(),
        }
        url = link_for(self.link, notice)
        if url:
            alert["generatorURL"] = url
        return alert

    def deliver(self, notice: AlertNotice, key: str) -> None:
        body = canonical_json([self.alert(notice, key, datetime.now(UTC))])
        headers = {**self.headers, "content-type": "application/json"}
        post(HttpRequest(self.endpoint, body, headers), self.timeout, self.name)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "url": self.url,
            "hold_seconds": self.hold.total_seconds(),
            "resend_seconds": None if self.resend is None else self.resend.total_seconds(),
            "headers": sorted(self.headers),
            "timeout": self.timeout,
            "states": list(self.states),
        }


_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


@dataclass(frozen=True)
class LogChannel:
    """The server's log (logger ``liveeval.alerts``), at a level by severity; always
    configured, under the name ``log``."""

    name: str = "log"
    states: tuple[str, ...] = ("pending", "firing", "resolved")
    type: str = "log"

    def deliver(self, notice: AlertNotice, key: str) -> None:
        evidence = _text.evidence_line(notice)
        level = logging.INFO if notice.state == "resolved" else _LEVELS.get(notice.severity, 30)
        LOG.log(
            level,
            "%s — %s%s (alert %s)",
            _text.headline(notice),
            notice.summary,
            f" — {evidence}" if evidence else "",
            notice.alert_id,
        )

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "logger": LOG.name, "states": list(self.states)}
