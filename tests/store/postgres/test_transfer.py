"""Rows out of PostgreSQL in COPY's binary format: fields as bytes, NULL as None, and
integer arrays decoded by numpy (or refused, for the caller's text fallback); a group
commit's columns as array literals, exactly the values given; batches in through
COPY's binary format, exactly what CSV stores."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from liveeval.store.events import SCHEMAS
from liveeval.store.postgres import transfer
from liveeval.store.postgres.load import _array_text
from liveeval.store.postgres.schema import _V4
from liveeval.store.postgres.transfer import copy_in, copy_out_binary, int_arrays

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


def _odd_predictions() -> pa.Table:
    """Predictions with every value the binary format must carry exactly."""
    stamps = ["2026-11-01T00:00:00.123456", "1999-12-31T23:59:59.999999", "1970-01-01T00:00:00"]
    stamps += ["2000-01-01T00:00:00", "2100-05-05T01:02:03"]
    return pa.table(
        {
            "id": ["a", 'b"c\\d', "é€😀", "x,y\nz", ""],
            "model": ["m"] * 5,
            "version": ["v"] * 5,
            "ts": pa.array(np.array(stamps, dtype="datetime64[us]")),
            "segment": [None, "s", "", None, "NULL"],
            "features": ['{"a": 1}', None, None, None, "{}"],
            "label": ["1", None, '"x"', None, "0"],
            "score": [5e-324, 1.8e308, None, math.nan, 0.1 + 0.2],
            "probas": pa.array(
                [[0.1, 0.9], None, [], [1.0], [0.25, 0.25, 0.5]], pa.list_(pa.float64())
            ),
            "latency_model_s": [None, 0.0, -0.0, math.inf, 1e-9],
            "latency_total_s": [1.0, -math.inf, 2.0**-1074, 1 / 3, None],
            "status": ["ok", "ok", "error", "ok", "ok"],
            "error_type": [None, None, "E", None, None],
        },
        schema=SCHEMAS["predictions"],
    )


@pytest.mark.parametrize("encoder", ["numpy", "pgpq"])
def test_a_batch_copied_in_binary_holds_exactly_what_csv_stores(location, encoder, monkeypatch):
    """Text, doubles (subnormal, NaN, infinities, -0.0), times before and after 2000,
    NULLs and empty or NULL lists: the binary COPY stores what the CSV COPY stores."""
    if encoder == "pgpq":
        pytest.importorskip("pgpq")
    else:
        monkeypatch.setattr(transfer, "_pgpq", lambda: None)
    table = _odd_predictions()
    with psycopg.connect(location, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(_V4)
        cur.execute("CREATE TABLE odd_binary (LIKE predictions)")
        cur.execute("CREATE TABLE odd_csv (LIKE predictions)")
        # Sliced and in two chunks: Arrow offsets other than zero.
        parts = pa.concat_tables([table.slice(0, 2), table.slice(2)]).slice(1)
        copy_in(cur, "odd_binary", parts, binary=True)
        copy_in(cur, "odd_csv", parts)
        binary = cur.execute("SELECT t::text FROM odd_binary t ORDER BY id").fetchall()
        csv = cur.execute("SELECT t::text FROM odd_csv t ORDER BY id").fetchall()
    assert len(binary) == 4
    assert binary == csv


def test_columns_without_a_binary_form_here_go_as_csv():
    assert transfer.to_binary(pa.table({"n": pa.array([1, 2], pa.int32())})) is None
    with_null = pa.table({"p": pa.array([[0.5, None]], pa.list_(pa.float64()))})
    assert transfer._numpy_binary(with_null) is None
