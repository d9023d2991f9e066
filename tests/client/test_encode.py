"""Values as a model server holds them (numpy, pandas, datetimes) turned into JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from liveeval.client import EventTypeError, EventValueError
from liveeval.client import _encode as encode


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        ("spam", "spam"),
        (True, True),
        (np.int64(1), 1),
        (np.int32(-3), -3),
        (np.uint8(7), 7),
        (np.bool_(False), False),
        (np.str_("ham"), "ham"),
        (np.float64(1.0), 1.0),
        (np.float32(2.0), 2.0),
        (np.array(1), 1),
        (np.array("x"), "x"),
        (pd.Series([4]).iloc[0], 4),
        (pd.array([1, None], dtype="Int64")[0], 1),
        (None, None),
        (pd.NA, None),
    ],
)
def test_a_label_becomes_a_json_scalar_of_the_same_type(value: object, expected: object) -> None:
    converted = encode.label(value)
    assert converted == expected and type(converted) is type(expected)
    json.dumps(converted, allow_nan=False)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (
            np.array([0, 1]),
            EventValueError,
            r"^label: array\(\[0, 1\]\) \(numpy.ndarray\) holds 2 values",
        ),
        ([1], EventValueError, r"model.predict\(X\)\[0\]"),
        (
            float("nan"),
            EventValueError,
            r"^label: nan \(float\) is not a label; pass None \(or pd.NA\)",
        ),
        (
            np.float64("inf"),
            EventValueError,
            r"^label: np.float64\(inf\) \(numpy.float64\) is not a label",
        ),
        (b"1", EventValueError, r"^label: b'1' \(bytes\) holds 1 values"),
        (
            object(),
            EventTypeError,
            r"^label: <object object at .*> \(object\) is not a label; a label is a str",
        ),
        (
            np.timedelta64(3, "s"),
            EventTypeError,
            r"^label: .* is a duration; send it as a number of seconds",
        ),
    ],
)
def test_a_label_that_is_not_one_value_is_an_error_naming_it(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        encode.label(value)
    assert raised.value.field == "label" and raised.value.value is value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 0.5),
        (0, 0),
        (np.float32(0.25), 0.25),
        (np.float64(0.1), 0.1),
        (np.int64(3), 3),
        (np.array(0.5), 0.5),
        (Decimal("0.5"), 0.5),
        (pd.NA, None),
    ],
)
def test_a_number_becomes_a_finite_json_number(value: object, expected: object) -> None:
    converted = encode.number(value, "score")
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (float("nan"), EventValueError, r"^score: nan \(float\) is not a finite number"),
        (
            np.float32("-inf"),
            EventValueError,
            r"^score: np.float32\(-inf\) \(numpy.float32\) is not a finite",
        ),
        (True, EventTypeError, r"^score: True \(bool\) is not a number"),
        (np.bool_(True), EventTypeError, r"^score: np.True_ \(numpy.bool\) is not a number"),
        ("0.5", EventTypeError, r"^score: '0.5' \(str\) is not a number"),
        (
            np.array([0.5]),
            EventTypeError,
            r"^score: array\(\[0.5\]\) \(numpy.ndarray\) is not a number",
        ),
    ],
)
def test_a_number_that_cannot_be_sent_is_an_error_naming_it(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        encode.number(value, "score")


@pytest.mark.parametrize(
    "value",
    [
        [0.25, 0.75],
        (0.25, 0.75),
        np.array([0.25, 0.75]),
        np.array([0.25, 0.75], dtype=np.float32),
        pd.Series([0.25, 0.75]),
        [np.float64(0.25), np.float32(0.75)],
    ],
)
def test_probabilities_become_a_list_of_floats(value: object) -> None:
    converted = encode.probabilities(value)
    assert converted == [0.25, 0.75] and all(type(p) is float for p in converted)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (
            np.array([[0.2, 0.8]]),
            EventValueError,
            r"^probas: an array of shape \(1, 2\) is not one row's.*predict_proba\(X\)\[0\]",
        ),
        (np.array(0.5), EventValueError, r"^probas: an array of shape \(\) is not one row's"),
        (
            [0.5, float("nan")],
            EventValueError,
            r"^probas\[1\]: nan \(float\) is not a finite number",
        ),
        ([0.5, None], EventValueError, r"^probas\[1\]: None \(NoneType\) is missing"),
        (
            {"a": 0.5},
            EventTypeError,
            r"^probas: \{'a': 0.5\} \(dict\) is not a sequence of probabilities",
        ),
    ],
)
def test_probabilities_that_cannot_be_sent_are_an_error_naming_the_element(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        encode.probabilities(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 1, 12, 0), "2026-11-01T12:00:00"),
        (
            datetime(2026, 11, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-01T12:00:00+00:00",
        ),
        (datetime(2026, 11, 1, 12, 0, tzinfo=UTC), "2026-11-01T12:00:00+00:00"),
        (pd.Timestamp("2026-11-01 13:00", tz="Europe/Paris"), "2026-11-01T12:00:00+00:00"),
        (pd.Timestamp("2026-11-01 12:00:00.5"), "2026-11-01T12:00:00.500000"),
        (np.datetime64("2026-11-01T12:00:00.123456789"), "2026-11-01T12:00:00.123456"),
        (np.datetime64("2026-11-01", "D"), "2026-11-01T00:00:00"),
        (date(2026, 11, 1), "2026-11-01T00:00:00+00:00"),
        ("2026-11-01T12:00:00Z", "2026-11-01T12:00:00Z"),
        (pd.NaT, None),
        (np.datetime64("NaT"), None),
        (None, None),
    ],
)
def test_a_timestamp_becomes_iso_8601_in_utc(value: object, expected: str | None) -> None:
    assert encode.timestamp(value) == expected


def test_features_become_json_with_nan_as_null() -> None:
    features = {
        "amount": np.float64(12.5),
        "count": np.int64(3),
        "missing": np.nan,
        "na": pd.NA,
        "when": pd.Timestamp("2026-11-01"),
        "vector": np.array([1.0, np.nan]),
        "days": np.array(["2026-11-01"], dtype="datetime64[ns]"),
        "nested": {"flag": np.bool_(True), "names": (np.str_("a"), "b")},
        np.str_("key"): Decimal("2.5"),
        7: "an int key",
    }
    converted = encode.features(features)
    assert converted == {
        "amount": 12.5,
        "count": 3,
        "missing": None,
        "na": None,
        "when": "2026-11-01T00:00:00",
        "vector": [1.0, None],
        "days": ["2026-11-01T00:00:00"],
        "nested": {"flag": True, "names": ["a", "b"]},
        "key": 2.5,
        "7": "an int key",
    }
    json.dumps(converted, allow_nan=False)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ({"x": float("inf")}, EventValueError, r"^features\.x: inf is not a finite number"),
        (
            {"x": {"y": [1, {2}]}},
            EventTypeError,
            r"^features\.x\.y\[1\]: \{2\} \(set\) has no JSON form",
        ),
        ({(1, 2): 3}, EventTypeError, r"^features: key \(1, 2\) \(tuple\) is not a string"),
        ([1, 2], EventTypeError, r"^features: \[1, 2\] \(list\) is not a mapping of feature names"),
    ],
)
def test_features_that_cannot_be_sent_are_an_error_naming_the_path(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        encode.features(value)


def test_an_identifier_must_be_a_string() -> None:
    assert encode.identifier(np.str_("fraud"), "model") == "fraud"
    with pytest.raises(
        EventTypeError, match=r"^id: 123 \(int\) is not a string; convert it with str\(\)"
    ):
        encode.identifier(123, "id")
