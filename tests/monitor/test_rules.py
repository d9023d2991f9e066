from __future__ import annotations

from datetime import timedelta

import pytest

from liveeval.config import load_alerts_file, load_config
from liveeval.errors import ConfigError
from liveeval.monitor.rules import parse_alerts, profile_rules
from liveeval.readiness import profile_by_name


def _alerts(rule: dict, **extra) -> dict:
    return {
        "channels": {"oncall-slack": {"url": "https://example.invalid"}},
        "actions": {"retrain": {"command": ["true"]}},
        "rules": [{"name": "r1", "metric": "recall", "model": "fraud", **rule}],
        **extra,
    }


def test_a_full_rule_is_read_with_every_key():
    settings = parse_alerts(
        _alerts(
            {
                "version": "*",
                "segment": "eu",
                "condition": "drop",
                "window": "1h",
                "min_samples": 200,
                "for": "10m",
                "severity": "critical",
                "labels": {"team": "risk"},
                "channels": ["oncall-slack", "log"],
                "actions": ["retrain"],
                "alpha": 0.0005,
                "min_change": 0.02,
                "reference": "first:10000",
            }
        ),
        "liveeval.toml",
    )
    rule = settings.rules[0]
    assert (rule.mode, rule.condition.direction, rule.hold) == (
        "sequential",
        "drop",
        timedelta(minutes=10),
    )
    assert rule.channels == ("oncall-slack", "log") and rule.actions == ("retrain",)
    assert rule.reference_first == 10_000 and rule.version == "*" and rule.segment == "eu"
    assert settings.channel_names == ("log", "oncall-slack")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"metric": "recal"},
            r"alert rule 'r1' metric: unknown metric 'recal'; did you mean 'recall'\?",
        ),
        (
            {"condition": "dorp"},
            r"alert rule 'r1' condition: 'dorp' is not a condition; did you mean 'drop'\?",
        ),
        ({"condition": "< abc"}, r"'< abc' is not a condition"),
        # A float reads 1e999 as infinity: refused as 'inf' and 'nan' are.
        *(
            (
                {"condition": text},
                rf"alert rule 'r1' condition: '{text}': the threshold '{number}' is not a "
                r"finite number \(a comparison with infinity or NaN never fires\)",
            )
            for text, number in (
                ("> 1e999", "1e999"),
                ("< -1E400", "-1E400"),
                ("> inf", "inf"),
                (">= nan", "nan"),
                ("<= Infinity", "Infinity"),
            )
        ),
        (
            {"channels": ["oncall-slak"]},
            r"alert rule 'r1' channels: unknown channel 'oncall-slak'; did you mean 'oncall-slack'\?",
        ),
        (
            {"actions": ["retrian"]},
            r"alert rule 'r1' actions: unknown action 'retrian'; did you mean 'retrain'\?",
        ),
        ({"severty": "info"}, r"alert rule 'r1': unknown key 'severty'; did you mean 'severity'\?"),
        (
            {"severity": "critcal"},
            r"severity: 'critcal' is not a severity; did you mean 'critical'\?",
        ),
        (
            {"metric": "log_loss", "condition": "rise"},
            r"log_loss has no sequential test \(it is unbounded",
        ),
        (
            {"condition": "< 0.8", "mode": "windw"},
            r"mode: 'windw' is not a mode; did you mean 'window'\?",
        ),
        (
            {"condition": "drop", "mode": "window"},
            r"'drop' compares with a reference and needs mode = \"sequential\"",
        ),
        ({"window": "1 hour"}, r"window: '1 hour' is not a duration"),
        ({"reference": "2026-01-02/2026-01-01"}, r"reference: .* ends before it starts"),
        ({"reference": "yesterday"}, r"reference: 'yesterday' is not 'first:N'"),
        ({"alpha": 0.9}, r"alpha: 0.9 is not in \(0, 0.5\)"),
        ({"condition": "drifted"}, r"'drifted' is for drift:FEATURE or drift:score"),
        ({"window": "10m"}, r"window: '10m' is not a whole number of 15m"),
        (
            {"metric": "drift:amount", "condition": "drifted", "reference": "lastweek"},
            r"'lastweek' is not a drift reference",
        ),
    ],
)
def test_a_bad_rule_is_refused_at_start_naming_the_rule_and_key(rule, message):
    with pytest.raises(ConfigError, match=message):
        parse_alerts(_alerts(rule), "liveeval.toml")


def test_two_rules_of_one_name_are_refused():
    raw = _alerts({})
    raw["rules"].append(dict(raw["rules"][0]))
    with pytest.raises(ConfigError, match="two alert rules are named 'r1'"):
        parse_alerts(raw, "liveeval.toml")


def test_window_metrics_beyond_the_catalogue_are_accepted_in_window_mode():
    raw = {"rules": [
        {"name": "cpu", "metric": "cpu_percent", "condition": "> 90"},
        {"name": "cov", "metric": "label_coverage", "condition": "< 0.5", "window": "1d"},
        {"name": "delay", "metric": "label_delay_seconds", "condition": "> 3600"},
        {"name": "amount", "metric": "drift:amount", "condition": "drifted",
         "reference": "version:v1"},
        {"name": "score", "metric": "drift:score", "condition": "> 0.2"},
    ]}  # fmt: skip
    rules = parse_alerts(raw, "x").rules
    assert all(r.mode == "window" for r in rules)
    assert rules[3].drift_column == "amount"


def test_use_case_profiles_contribute_default_rules():
    assert profile_by_name("fraud").alerts == ("recall",)
    assert profile_by_name("spam").alerts == ("precision",)
    assert profile_by_name("realtime").alerts == ("latency_p95_seconds",)
    assert profile_by_name("medical").alerts == ("recall", "precision")
    rules = profile_rules("lat-model", "realtime", ("latency_p95_seconds",))
    assert [(r.metric, r.condition.op, r.mode) for r in rules] == [
        ("latency_p95_seconds", "rise", "sequential")
    ]


def test_rules_come_from_liveeval_toml_or_their_own_file(tmp_path):
    config = tmp_path / "liveeval.toml"
    config.write_text(
        '[alerts]\ninterval_seconds = 5\n[[alerts.rules]]\nname = "a"\nmetric = "recall"\n'
    )
    assert load_config(config).alerts.interval_seconds == 5
    own = tmp_path / "alerts.toml"
    own.write_text(
        '[channels.pager]\nurl = "x"\n[[rules]]\nname = "b"\nmetric = "precision"\nchannels = ["pager"]\n'
    )
    assert load_alerts_file(own).rules[0].channels == ("pager",)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "c"\nmetric = "precison"\n')
    with pytest.raises(ConfigError, match="did you mean 'precision'"):
        load_alerts_file(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[alert]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown key 'alert'; did you mean 'alerts'"):
        load_config(typo)


def test_the_server_loop_can_be_left_to_a_standalone_monitor():
    assert parse_alerts({}, "x").evaluate is True
    assert parse_alerts({"evaluate": False}, "x").evaluate is False
    with pytest.raises(ConfigError, match=r"\[alerts\] evaluate: 'no' is not true/false"):
        parse_alerts({"evaluate": "no"}, "x")
