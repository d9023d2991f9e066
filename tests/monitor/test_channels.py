"""Channel configuration and what each channel sends."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from liveeval.errors import ConfigError, NotificationError
from liveeval.monitor.channels import (
    AlertmanagerChannel,
    LogChannel,
    SlackChannel,
    WebhookChannel,
    notice_from_json,
    parse_channels,
    sign,
    verify,
)
from liveeval.monitor.notice import AlertNotice

from .receiver import Receiver

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def notice(state: str = "firing", **kw: object) -> AlertNotice:
    fields: dict = {
        "alert_id": "fraud-recall/fraud/v3",
        "rule": "fraud-recall",
        "state": state,
        "severity": "critical",
        "model": "fraud",
        "version": "v3",
        "metric": "recall",
        "summary": "recall dropped below its reference",
        "starts_at": T0,
        "changed_at": T0 + timedelta(minutes=5),
        "evidence": {
            "before": {"value": 0.91, "lower": 0.89, "upper": 0.93},
            "after": {"value": 0.72, "lower": 0.65, "upper": 0.79},
            "samples": 400,
            "statistic": 12.5,
        },
        "labels": {"team": "risk"},
        "channels": ("oncall",),
    }
    fields.update(kw)
    return AlertNotice(**fields)


def test_the_log_channel_always_exists():
    channels = parse_channels(None)
    assert list(channels) == ["log"]
    assert isinstance(channels["log"], LogChannel)


def test_channels_of_every_type_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.example/T/B/X")
    (tmp_path / "secret").write_text("from-file\n")
    channels = parse_channels(
        {
            "oncall": {
                "type": "webhook",
                "url": "http://127.0.0.1:9/hook",
                "secret_env": "HOOK_SECRET",
                "headers": {"X-Team": "ml"},
                "timeout": "5s",
            },
            "other": {"type": "webhook", "url": "http://127.0.0.1:9/x", "secret_file": "secret"},
            "team": {"type": "slack", "url_env": "SLACK_URL", "states": ["pending", "firing"]},
            "am": {"type": "alertmanager", "url": "http://127.0.0.1:9093", "hold": "2h"},
        },
        base=tmp_path,
    )
    assert set(channels) == {"log", "oncall", "other", "team", "am"}
    hook = channels["oncall"]
    assert isinstance(hook, WebhookChannel)
    assert hook.secret == b"s3cret" and hook.timeout == 5.0 and hook.headers == {"X-Team": "ml"}
    assert channels["other"].secret == b"from-file"  # type: ignore[attr-defined]
    assert channels["team"].states == ("pending", "firing")
    assert channels["team"].describe()["url"] == "(from the environment)"
    am = channels["am"]
    assert isinstance(am, AlertmanagerChannel)
    assert am.hold == timedelta(hours=2) and am.endpoint == "http://127.0.0.1:9093/api/v2/alerts"


def test_secrets_are_never_shown(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    channel = parse_channels(
        {"oncall": {"type": "webhook", "url": "http://x.test/", "secret_env": "HOOK_SECRET"}}
    )["oncall"]
    assert "s3cret" not in repr(channel)
    assert "s3cret" not in json.dumps(channel.describe())


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"a": {"type": "webhok", "url": "http://x/"}},
            r"'webhok' is not one of .*did you mean 'webhook'",
        ),
        ({"a": {"type": "slack", "ulr": "http://x/"}}, r"unknown key 'ulr'; did you mean 'url'"),
        ({"a": {"url": "http://x/"}}, r"\[alerts.channels.a\]: needs a 'type'"),
        ({"a": {"type": "webhook"}}, r"needs a 'url'"),
        (
            {"a": {"type": "webhook", "url": "ftp://x"}},
            r"'ftp://x' is not an http:// or https:// URL",
        ),
        (
            {"a": {"type": "webhook", "url": "http://x/", "secret": "abc"}},
            r"never written in the config file",
        ),
        (
            {"a": {"type": "webhook", "url": "http://x/", "secret_env": "NOPE_UNSET_VAR"}},
            r"'NOPE_UNSET_VAR' is not set",
        ),
        (
            {"a": {"type": "webhook", "url": "http://x/", "timeout": 0}},
            r"timeout: 0 is not a number of seconds",
        ),
        (
            {"a": {"type": "slack", "url": "http://x/", "states": ["fired"]}},
            r"'fired' is not one of .*did you mean 'firing'",
        ),
        (
            {"a": {"type": "alertmanager", "url": "http://x/", "hold": "forever"}},
            r"hold: 'forever' is not a positive duration",
        ),
        (
            {"log": {"type": "slack", "url": "http://x/"}},
            r"the name 'log' is the built-in log channel",
        ),
        ({"bad name": {"type": "log"}}, r"channel name 'bad name'"),
        ({"a": "http://x/"}, r"\[alerts.channels.a\]: expected a table"),
    ],
)
def test_bad_channel_tables_are_refused_with_the_key_and_a_hint(table, message, monkeypatch):
    monkeypatch.delenv("NOPE_UNSET_VAR", raising=False)
    with pytest.raises(ConfigError, match=message):
        parse_channels(table)


def test_a_notice_survives_its_json_round_trip():
    original = notice(ends_at=T0 + timedelta(hours=1), segment="eu")
    assert notice_from_json(json.loads(json.dumps(original.to_json()))) == original


def test_the_webhook_signs_its_body_and_a_receiver_verifies_it():
    receiver = Receiver(secret=b"s3cret").start()
    try:
        WebhookChannel("oncall", receiver.url, b"s3cret").deliver(notice(), "key-1")
        with pytest.raises(NotificationError, match=r"channel 'oncall': HTTP 401"):
            WebhookChannel("oncall", receiver.url, b"wrong").deliver(notice(), "key-2")
    finally:
        receiver.stop()
    [got] = receiver.received
    assert got["key"] == "key-1" and receiver.bad_signatures == 1
    assert got["body"]["id"] == "key-1" and got["body"]["type"] == "liveeval.alert"
    assert got["body"]["notice"]["evidence"]["samples"] == 400


def test_a_signature_from_another_time_or_body_does_not_verify():
    body = b'{"a":1}'
    sig = sign(b"k", "1000", body)
    assert verify(b"k", "1000", body, sig, now=1100)
    assert not verify(b"k", "1000", body + b" ", sig, now=1100)
    assert not verify(b"k", "1000", body, sig, now=1000 + 301)  # a replay, too old
    assert not verify(b"k", "not-a-time", body, sig, now=1000)


def test_an_unreachable_webhook_raises_without_its_url():
    channel = WebhookChannel("oncall", "http://127.0.0.1:9/secret-token-in-path", timeout=2)
    with pytest.raises(NotificationError, match=r"channel 'oncall': cannot deliver") as info:
        channel.deliver(notice(), "k")
    assert "secret-token" not in str(info.value)


def test_the_slack_message_reads_as_the_evidence():
    message = SlackChannel(
        "team", "http://x/", link="https://liveeval.test/models/{model}?v={version}"
    ).message(notice())
    text = message["blocks"][0]["text"]["text"]
    assert "[FIRING] fraud-recall: recall on fraud v3 (critical)" in text
    assert "recall 0.91 [0.89, 0.93] → 0.72 [0.65, 0.79]" in text
    assert "400 labelled samples" in text and "statistic=12.5" in text
    assert "<https://liveeval.test/models/fraud?v=v3|Open in liveeval>" in text
    assert message["text"].startswith(":red_circle: [FIRING]")


def test_alertmanager_alerts_carry_labels_and_end_when_resolved():
    channel = AlertmanagerChannel("am", "http://am.test", hold=timedelta(hours=1))
    firing = channel.alert(notice(), "k")
    assert firing["labels"] == {
        "team": "risk",
        "alertname": "fraud-recall",
        "model": "fraud",
        "version": "v3",
        "metric": "recall",
        "severity": "critical",
        "alert_id": "fraud-recall/fraud/v3",
    }
    assert firing["startsAt"] == T0.isoformat()
    assert firing["endsAt"] == (T0 + timedelta(minutes=65)).isoformat()
    resolved = channel.alert(notice("resolved", ends_at=T0 + timedelta(minutes=30)), "k2")
    assert resolved["endsAt"] == (T0 + timedelta(minutes=30)).isoformat()
    again = channel.alert(notice(), "k3", sent_at=T0 + timedelta(hours=5))
    assert again["endsAt"] == (T0 + timedelta(hours=6)).isoformat()  # a re-sending: sent + hold


def test_alertmanager_resend_defaults_to_an_hour_and_must_beat_the_hold():
    channels = parse_channels({"am": {"type": "alertmanager", "url": "http://x/"}})
    assert channels["am"].resend == timedelta(hours=1)  # type: ignore[union-attr]
    off = parse_channels({"am": {"type": "alertmanager", "url": "http://x/", "resend": "off"}})
    assert off["am"].resend is None  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"resend: '2h' is not shorter than hold '1h'"):
        parse_channels(
            {"am": {"type": "alertmanager", "url": "http://x/", "hold": "1h", "resend": "2h"}}
        )


def test_the_log_channel_logs_at_the_severity(caplog):
    with caplog.at_level(logging.INFO, logger="liveeval.alerts"):
        LogChannel().deliver(notice(), "k")
        LogChannel().deliver(notice("resolved"), "k2")
    first, second = caplog.records
    assert first.levelno == logging.ERROR and "recall 0.91" in first.getMessage()
    assert second.levelno == logging.INFO and "[RESOLVED]" in second.getMessage()


def test_a_window_rule_s_evidence_reads_as_value_interval_and_window():
    from liveeval.monitor.channels._text import evidence_line

    n = notice(
        evidence={
            "window": {"start": "2026-11-27T04:00:00", "end": "2026-11-27T10:00:00"},
            "value": 0.7,
            "lower": 0.65,
            "upper": 0.75,
            "samples": 240,
        }
    )
    assert evidence_line(n) == (
        "recall 0.7 [0.65, 0.75]; 240 labelled samples; window 2026-11-27T04:00 → 2026-11-27T10:00"
    )


@pytest.mark.parametrize(
    ("metric", "noun"),
    [
        ("recall", "labelled samples"),
        ("expected_cost", "labelled samples"),
        ("outcome_value_mean", "outcome values"),
        ("click_through_rate", "outcome values"),
        ("latency_p95_seconds", "predictions"),
        ("label_coverage", "predictions"),
        ("cpu_percent", "resource samples"),
        ("drift:amount", "rows"),
    ],
)
def test_an_alerts_samples_are_named_for_what_its_metric_counts(metric, noun):
    from liveeval.monitor.channels._text import evidence_line

    n = notice(metric=metric, evidence={"value": 1.0, "samples": 12})
    assert evidence_line(n) == f"{metric} 1; 12 {noun}"
