"""Rows out of PostgreSQL in COPY's binary format: fields as bytes, NULL as None, and
integer arrays decoded by numpy (or refused, for the caller's text fallback)."""

from __future__ import annotations

import psycopg
import pytest

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
