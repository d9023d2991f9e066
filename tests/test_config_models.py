"""A served model's keys in liveeval.toml: the declared output kind."""

from __future__ import annotations

import pytest

from liveeval.config import load_config
from liveeval.errors import ConfigError


def config_with(tmp_path, line: str):
    path = tmp_path / "liveeval.toml"
    path.write_text(f'[[models]]\nname = "m"\npath = "m.onnx"\n{line}\n')
    return path


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", None),
        ('output = "probabilities"', "probabilities"),
        ('output = "proba"', "probabilities"),
        ('output = "logits"', "logits"),
        ('output = "label"', "label"),
    ],
    ids=["told-from-the-model", "probabilities", "alias", "logits", "label"],
)
def test_a_models_output_is_declared_or_left_to_the_load_check(tmp_path, line, expected):
    assert load_config(config_with(tmp_path, line)).models[0].output == expected


def test_an_unknown_output_is_refused_with_a_suggestion(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"\[\[models\]\] entry 1 output: 'probability' is not one of 'probabilities', "
        r"'logits', 'label'; did you mean 'probabilities'\?$",
    ):
        load_config(config_with(tmp_path, 'output = "probability"'))


def test_a_models_costs_override_its_profile_and_are_validated(tmp_path):
    config = load_config(
        config_with(tmp_path, "costs = { false_positive = 3, false_negative = 9 }")
    )
    costs = config.costs["m"]
    assert (costs.false_positive, costs.false_negative) == (3.0, 9.0)
    assert load_config(config_with(tmp_path, "")).costs == {}
    with pytest.raises(ConfigError, match=r"entry 1 \('m'\): costs false_negative is -9"):
        load_config(config_with(tmp_path, "costs = { false_positive = 3, false_negative = -9 }"))
    with pytest.raises(ConfigError, match=r"unknown key 'fp' in costs"):
        load_config(config_with(tmp_path, "costs = { fp = 3, false_negative = 9 }"))


def test_costs_on_a_multiclass_model_are_refused_not_ignored(tmp_path):
    line = 'classes = ["a", "b", "c"]\ncosts = { false_positive = 1, false_negative = 5 }'
    with pytest.raises(ConfigError, match=r"costs price the false positives and misses of a "
                       r"binary model; this model has 3 classes \['a', 'b', 'c'\]"):  # fmt: skip
        load_config(config_with(tmp_path, line))


def test_an_integer_beyond_tomls_64_bits_is_a_one_line_error(tmp_path):
    huge = "1" + "0" * 400
    with pytest.raises(ConfigError, match=r"models\[0\]\.costs\.false_positive = 100000000000…"
                       r"\(401 digits\) is beyond TOML's 64-bit integers"):  # fmt: skip
        load_config(
            config_with(tmp_path, f"costs = {{ false_positive = {huge}, false_negative = 1 }}")
        )
    path = tmp_path / "alerts.toml"
    path.write_text(f"[alerts]\ninterval_seconds = -{huge}\n")
    with pytest.raises(ConfigError, match=r"alerts\.interval_seconds = -100000000000…"):
        load_config(path)
