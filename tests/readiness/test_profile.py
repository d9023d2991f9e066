"""Profiles: built-ins by name, registered profiles, files, and their validation."""

from __future__ import annotations

import pytest

from liveeval.errors import ProfileError
from liveeval.readiness import (
    builtin_profile,
    builtin_profiles,
    load_profile,
    load_profile_file,
    parse_profile,
    profile_by_name,
)


def _one_check(body: str) -> str:
    return f'name = "mine"\n[[check]]\n{body}\n'


def test_every_builtin_profile_loads_by_name():
    for name in builtin_profiles():
        assert builtin_profile(name).name == name


def test_an_unknown_metric_in_a_profile_is_an_error_with_a_suggestion(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(_one_check('metric = "recal"\ntarget = 0.9'), encoding="utf-8")
    with pytest.raises(
        ProfileError, match=r"check 1: unknown metric 'recal'; did you mean 'recall'"
    ):
        load_profile_file(path)


def test_a_profile_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(_one_check('metric = "recall"\ntarget = 0.9\nwhy = "café"').encode("latin-1"))
    with pytest.raises(ProfileError, match=r"latin1\.toml: not UTF-8 text \(byte \d+ is 0xe9\)"):
        load_profile(path)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + _one_check('metric = "recall"\ntarget = 0.9').encode())
    assert load_profile_file(path).checks[0].metric == "recall"


def test_the_direction_comes_from_the_metric_catalogue():
    latency = parse_profile(_one_check('metric = "latency_p95_seconds"\ntarget = 0.1'), "t")
    recall = parse_profile(_one_check('metric = "recall"\ntarget = 0.9'), "t")
    assert latency.checks[0].op == "<=" and not latency.checks[0].higher_is_better
    assert recall.checks[0].op == ">=" and recall.checks[0].higher_is_better


def test_an_op_against_the_metric_direction_is_an_error():
    with pytest.raises(
        ProfileError, match=r"'op' is '>=' but false_positive_rate is better when lower; use '<='"
    ):
        parse_profile(_one_check('metric = "false_positive_rate"\nop = ">="\ntarget = 0.1'), "t")


def test_lookup_by_name_never_reads_a_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(_one_check('metric = "recall"\ntarget = 0.9'), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"unknown profile .*mine\.toml"):
        profile_by_name(str(path))


def test_registered_profiles_are_found_by_name_before_builtins():
    mine = parse_profile(_one_check('metric = "recall"\ntarget = 0.99'), "ops.toml")
    assert profile_by_name("ours", {"ours": mine}) is mine
    with pytest.raises(ProfileError, match=r"unknown profile 'our'\. Did you mean 'ours'\?"):
        profile_by_name("our", {"ours": mine})


def test_the_cli_loader_still_takes_a_name_or_a_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(_one_check('metric = "f1"\ntarget = 0.5'), encoding="utf-8")
    assert load_profile(str(path)).checks[0].metric == "f1"
    assert load_profile("fraud").name == "fraud"
    with pytest.raises(ProfileError, match=r"or give a path to a \.toml file"):
        load_profile("nonesuch")


_CHECK = '[[check]]\nmetric = "recall"\ntarget = 0.9\n'


def test_a_profile_prices_its_errors_in_a_costs_table():
    profile = parse_profile(
        f'name = "mine"\n{_CHECK}[costs]\nfalse_positive = 2\nfalse_negative = 40.5\n', "mine"
    )
    assert profile.costs is not None
    assert (profile.costs.false_positive, profile.costs.false_negative) == (2.0, 40.5)
    fraud = builtin_profile("fraud").costs
    assert fraud is not None and (fraud.false_positive, fraud.false_negative) == (1.0, 50.0)
    assert builtin_profile("balanced").costs is None


@pytest.mark.parametrize(
    ("costs", "match"),
    [
        ("false_positve = 1\nfalse_negative = 5", r"unknown key 'false_positve' in costs; did "
         r"you mean 'false_positive'\?"),
        ("false_positive = -1\nfalse_negative = 5", r"costs false_positive is -1; expected a "
         r"non-negative number"),
        ('false_positive = 1\nfalse_negative = "5"', r"costs false_negative is '5'"),
        ("false_positive = 1", r"costs needs 'false_negative'"),
        ("false_positive = 1\nfalse_negative = nan", r"costs false_negative is nan"),
        ("false_positive = 1e308\nfalse_negative = 1", r"costs false_positive is 1e\+308; at "
         r"most 1e\+15 is accepted \(express the costs in a larger unit\)"),
    ],
)  # fmt: skip
def test_a_bad_costs_table_is_an_error_naming_the_field(costs, match):
    with pytest.raises(ProfileError, match=match):
        parse_profile(f'name = "mine"\n{_CHECK}[costs]\n{costs}\n', "mine")


def test_an_unknown_top_level_key_is_an_error_with_a_suggestion():
    with pytest.raises(ProfileError, match=r"mine: unknown key 'cost'; did you mean 'costs'\?"):
        parse_profile(f'name = "mine"\ncost = 1\n{_CHECK}', "mine")
