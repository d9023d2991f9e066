"""A loaded model's output is checked on every call: a score that is not finite, a
probability outside [0, 1] or an array of the wrong shape is a ModelOutputError, and
float rounding just outside [0, 1] is clipped, for small and large batches alike."""

from __future__ import annotations

import numpy as np
import pytest

from liveeval.errors import ModelOutputError
from liveeval.serving import Feature, InputSchema, LoadedModel, ModelSpec


def answering(raw, output="probabilities", classes=(0, 1)):
    """A model whose runtime answers ``raw`` whatever it is given."""
    return LoadedModel(
        ModelSpec("m", "m.onnx"),
        None,
        InputSchema("m", (Feature("a"),)),
        classes,
        1 if classes == (0, 1) else None,
        "onnx",
        output=output,
        run=lambda x: raw,
    )


def rows(n):
    return np.zeros((n, 1))


@pytest.mark.parametrize("n", [3, 200], ids=["small", "large"])
def test_a_nan_among_probabilities_names_its_row(n):
    raw = np.full((n, 2), 0.5)
    raw[2, 1] = np.nan
    with pytest.raises(
        ModelOutputError, match=r"^model 'm' returned an invalid output: nan for inputs\[2\]; "
    ):
        answering(raw).infer(rows(n))


@pytest.mark.parametrize("n", [3, 200], ids=["small", "large"])
def test_an_infinite_logit_is_not_turned_into_a_probability(n):
    raw = np.zeros((n, 3))
    raw[1, 0] = np.inf
    model = answering(raw, "logits", ("a", "b", "c"))
    with pytest.raises(ModelOutputError, match=r"inf for inputs\[1\]; expected finite scores$"):
        model.infer(rows(n))


@pytest.mark.parametrize("n", [3, 200], ids=["small", "large"])
def test_probabilities_outside_zero_one_are_refused_and_rounding_is_clipped(n):
    raw = np.tile([0.25, 0.75], (n, 1))
    raw[1] = [-0.5, 1.5]
    with pytest.raises(
        ModelOutputError,
        match=r"probabilities \[-0\.5, 1\.5\] for inputs\[1\] are not in \[0, 1\]$",
    ):
        answering(raw).infer(rows(n))
    raw[1] = [-1e-8, 1.0 + 1e-8]  # float32 rounding
    assert answering(raw).infer(rows(n)).scores[1] == 1.0


def test_an_output_of_the_wrong_shape_at_run_time_is_refused():
    with pytest.raises(
        ModelOutputError,
        match=r"an array of shape \(2, 3\) for 1 row\(s\); expected \(1, 2\) for the classes",
    ):
        answering(np.full((2, 3), 1 / 3)).infer(rows(1))


def test_a_single_probability_column_is_p_of_the_second_class():
    out = answering(np.array([0.2, 0.9])).infer(rows(2))
    assert out.scores == pytest.approx([0.2, 0.9]) and out.labels == [0, 1]
    out = answering(np.array([[-30.0], [0.0]]), "logits").infer(rows(2))
    assert out.scores == pytest.approx([1 / (1 + np.exp(30.0)), 0.5])
