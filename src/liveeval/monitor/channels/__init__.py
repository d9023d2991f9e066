"""Notification channels: where an alert's notices go (webhook, Slack, Alertmanager,
the log). Delivery with retries is :mod:`liveeval.monitor.outbox`'s job; a channel
only knows how to send one notice once."""

from __future__ import annotations

from ._base import Channel, notice_from_json
from .config import CHANNEL_TYPES, parse_channels
from .kinds import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertmanagerChannel,
    LogChannel,
    SlackChannel,
    WebhookChannel,
    sign,
    verify,
)

__all__ = [
    "CHANNEL_TYPES",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertmanagerChannel",
    "Channel",
    "LogChannel",
    "SlackChannel",
    "WebhookChannel",
    "notice_from_json",
    "parse_channels",
    "sign",
    "verify",
]
