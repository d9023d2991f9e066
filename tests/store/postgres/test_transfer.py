"""Rows out of PostgreSQL in COPY's binary format: fields as bytes, NULL as None, and
integer arrays decoded by numpy (or refused, for the caller's text fallback); a group
commit's columns as array literals, exactly the values given."""

from __future__ import annotations

import datetime as dt
import math

import psycopg
import pytest

from liveeval.store.postgres.load import _array_text
from liveeval.store.postgres.transfer import copy_out_binary, int_arrays

from ..scenario import postgres_location


@pytest.fixture
def location(request: pytest.FixtureRequest) -> str:
    return postgres_location(request)


def test_binary_rows_give_each_field_as_bytes_and_null_as_none(location):
    with psycopg.connect(location) as conn, conn.cursor() as cur:
        rows = copy_out_binary(
            cur,
            "SELECT * FROM (VALUES ('é', 7::bigint, ARRAY[1, -2, 300000]::int[]), "
            "(NULL, -1::bigint, ARRAY[]::int[])) AS t(a, b, c) WHERE b > %s",
            [-5],
        )
    assert len(rows) == 2
    assert rows[0][0] == "é".encode()
    assert [int.from_bytes(r[1], "big", signed=True) for r in rows] == [7, -1]
    assert rows[1][0] is None
    arrays = int_arrays([r[2] for r in rows])
    assert arrays is not None
    assert [a.tolist() for a in arrays] == [[1, -2, 300000], []]


def test_no_rows_give_an_empty_list(location):
    with psycopg.connect(location) as conn, conn.cursor() as cur:
        assert copy_out_binary(cur, "SELECT 1 WHERE false", []) == []


@pytest.mark.parametrize(
    "array",
    ["ARRAY[1, NULL]::int[]", "ARRAY[[1, 2], [3, 4]]::int[]", "ARRAY[1, 2]::bigint[]"],
)
def test_arrays_numpy_cannot_take_as_they_are_are_refused(location, array):
    with psycopg.connect(location) as conn, conn.cursor() as cur:
        ((value,),) = copy_out_binary(cur, f"SELECT {array}", [])
    assert value is not None
    assert int_arrays([value]) is None


@pytest.mark.parametrize(
    ("values", "pg_type"),
    [
        (["plain", 'quo"te', "back\\slash", "{braces},comma", "NULL", "", "值 ✓", None], "text"),
        ([0.1, 1e308, -1e308, 5e-324, 2.0**-1074, 1 / 3, None], "float8"),
        ([2**62, -(2**62), 0, None], "bigint"),
        (
            [dt.datetime(2026, 11, 1), dt.datetime(1900, 1, 1, 0, 0, 0, 1), None],
            "timestamp",
        ),
    ],
)
def test_a_group_commits_array_literals_hold_exactly_the_values_given(location, values, pg_type):
    with psycopg.connect(location) as conn:
        row = conn.execute(f"SELECT %s::{pg_type}[]", [_array_text(values)]).fetchone()
    assert row is not None
    assert row[0] == values


def test_non_finite_floats_travel_as_array_literals(location):
    with psycopg.connect(location) as conn:
        row = conn.execute(
            "SELECT %s::float8[]", [_array_text([math.inf, -math.inf, math.nan])]
        ).fetchone()
    assert row is not None
    assert row[0][:2] == [math.inf, -math.inf]
    assert math.isnan(row[0][2])


def test_an_array_literal_refuses_a_type_it_does_not_know():
    with pytest.raises(TypeError, match="no array literal for bytes"):
        _array_text([b"raw"])
