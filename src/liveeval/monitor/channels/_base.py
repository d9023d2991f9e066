"""What every channel shares: the protocol, an HTTP POST, and a notice read back from
its JSON (the outbox stores notices as JSON and delivers them after a restart)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ...errors import NotificationError
from ..notice import AlertNotice

__all__ = ["Channel", "HttpRequest", "notice_from_json", "post"]

# A channel takes these states unless its ``states`` say otherwise: a pending alert
# has not fired yet, and telling people about it is noise.
DEFAULT_STATES: tuple[str, ...] = ("firing", "resolved")


class Channel(Protocol):
    """Where notices go. ``deliver`` raises :class:`NotificationError` when the
    receiver did not take it (the outbox retries); it must be safe to call again with
    the same ``key`` (receivers deduplicate on it)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def states(self) -> tuple[str, ...]:
        """The alert states this channel is told about."""
        ...

    def deliver(self, notice: AlertNotice, key: str) -> None: ...

    def describe(self) -> dict[str, Any]:
        """The channel's settings for the API and the CLI, without secrets."""
        ...


@dataclass(frozen=True)
class HttpRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]


def post(request: HttpRequest, timeout: float, channel: str) -> None:
    """POST and accept any 2xx answer.

    Raises
    ------
    NotificationError
        naming the channel and the status or the connection error (never the URL,
        which may carry a token, nor the body).
    """
    req = urllib.request.Request(request.url, request.body, dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode("utf-8", "replace").strip()
        raise NotificationError(
            f"channel {channel!r}: HTTP {exc.code}" + (f": {detail}" if detail else "")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotificationError(f"channel {channel!r}: cannot deliver: {reason}") from None


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def notice_from_json(data: Mapping[str, Any]) -> AlertNotice:
    """The :class:`AlertNotice` that :meth:`AlertNotice.to_json` wrote."""
    starts = _time(data["starts_at"])
    changed = _time(data["changed_at"])
    assert starts is not None and changed is not None  # to_json always writes both
    return AlertNotice(
        alert_id=data["alert_id"],
        rule=data["rule"],
        state=data["state"],
        severity=data["severity"],
        model=data["model"],
        metric=data["metric"],
        summary=data["summary"],
        starts_at=starts,
        changed_at=changed,
        version=data.get("version"),
        segment=data.get("segment"),
        ends_at=_time(data.get("ends_at")),
        evidence=dict(data.get("evidence") or {}),
        labels=dict(data.get("labels") or {}),
        channels=tuple(data.get("channels") or ()),
        actions=tuple(data.get("actions") or ()),
    )


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces: the same notice always gives the same bytes (and the
    same signature)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def link_for(template: str | None, notice: AlertNotice) -> str | None:
    """A link template filled with the notice's ``{model}``, ``{version}``,
    ``{metric}``, ``{rule}`` and ``{alert_id}`` (URL-quoted)."""
    if not template:
        return None
    from urllib.parse import quote

    values = {
        "model": notice.model,
        "version": notice.version or "",
        "metric": notice.metric,
        "rule": notice.rule,
        "alert_id": notice.alert_id,
    }
    return template.format(**{k: quote(str(v), safe="") for k, v in values.items()})
