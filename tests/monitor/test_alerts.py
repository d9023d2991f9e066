from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveeval.monitor.alerts import AlertScope, AlertTracker, alert_id
from liveeval.monitor.rules import parse_alerts

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = AlertScope("m")


def _rule(hold: str = "10m"):
    return parse_alerts({"rules": [{"name": "r", "metric": "recall", "for": hold}]}, "x").rules[0]


def _observe(tracker, rule, holds, minutes, scope=MODEL):
    return tracker.observe(
        rule,
        scope,
        holds,
        summary="s",
        evidence={"k": minutes},
        now=T0 + timedelta(minutes=minutes),
    )


def test_an_alert_goes_pending_then_firing_after_its_for_then_resolved():
    kept, told = [], []
    tracker = AlertTracker(kept.append, [told.append])
    rule = _rule("10m")
    assert [n.state for n in _observe(tracker, rule, True, 0)] == ["pending"]
    assert _observe(tracker, rule, True, 5) == []
    assert [n.state for n in _observe(tracker, rule, True, 10)] == ["firing"]
    assert _observe(tracker, rule, None, 15) == []  # cannot tell: nothing changes
    resolved = _observe(tracker, rule, False, 20)
    assert [n.state for n in resolved] == ["resolved"]
    assert resolved[0].ends_at == T0 + timedelta(minutes=20)
    assert resolved[0].starts_at == T0
    assert [n.state for n in kept] == [n.state for n in told] == ["pending", "firing", "resolved"]
    assert len({n.alert_id for n in kept}) == 1


def test_without_a_for_duration_an_alert_fires_in_the_same_evaluation():
    tracker = AlertTracker()
    assert [n.state for n in _observe(tracker, _rule("0s"), True, 0)] == ["pending", "firing"]


def test_one_open_alert_per_rule_and_scope_with_a_stable_id():
    tracker = AlertTracker()
    rule = _rule("0s")
    _observe(tracker, rule, True, 0)
    _observe(tracker, rule, True, 1)
    _observe(tracker, rule, True, 2, AlertScope("m", version="v2"))
    assert len(tracker.open) == 2
    assert alert_id("r", AlertScope("m")) in tracker.open
    assert alert_id("r", AlertScope("m")) == alert_id("r", AlertScope("m"))
    assert alert_id("r", AlertScope("m")) != alert_id("r", AlertScope("m", version="v2"))


def test_a_failing_subscriber_never_stops_the_others_or_the_evaluation(caplog):
    told = []

    def broken(notice):
        raise RuntimeError("receiver down")

    tracker = AlertTracker(None, [broken, told.append])
    changes = _observe(tracker, _rule("0s"), True, 0)
    assert len(changes) == 2 and len(told) == 2
    assert "alert subscriber" in caplog.text


def test_open_alerts_are_restored_from_the_history():
    kept = []
    first = AlertTracker(kept.append)
    rule = _rule("0s")
    _observe(first, rule, True, 0)
    _observe(first, rule, True, 0, AlertScope("other"))
    _observe(first, rule, False, 1, AlertScope("other"))
    again = AlertTracker()
    again.restore(kept)
    assert list(again.open) == [alert_id("r", AlertScope("m"))]
    assert _observe(again, rule, True, 2) == []  # still firing: no new pending
