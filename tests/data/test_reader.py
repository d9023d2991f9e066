"""Reading files: every unreadable row or file is named, nothing is dropped."""

from __future__ import annotations

import pyarrow as pa
import pytest

from liveeval.data.columns import _first_failure
from liveeval.data.reader import read_table
from liveeval.errors import InputFileError, ValidationError


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000])
def test_first_failure_finds_the_first_bad_element(n):
    for bad in range(n):
        values = pa.array([0] * bad + [1] * (n - bad))
        assert _first_failure(values, lambda a: pa.compute.max(a).as_py() in (0, None)) == bad


def test_a_csv_whose_type_changes_late_is_typed_from_every_value(tmp_path):
    path = tmp_path / "late.csv"
    rows = [f"{i},{i}" for i in range(100_000)]
    path.write_text("ints,floats\n" + "\n".join([*rows, "7,2.5", "8,NA"]) + "\n")
    table = read_table(path)
    assert table.num_rows == 100_002
    assert table.schema.field("ints").type == pa.int64()
    assert table.schema.field("floats").type == pa.float64()
    assert table.column("floats").to_pylist()[-2:] == [2.5, None]


def test_a_ragged_row_far_into_the_file_is_named(tmp_path):
    path = tmp_path / "far.csv"
    path.write_text("a,b\n" + "1,2\n" * 300_000 + "1,2,3\n")
    with pytest.raises(InputFileError, match=r"far.csv, row 300001 \(line 300002\): expected 2"):
        read_table(path)


def test_a_json_type_change_far_into_the_file_is_named(tmp_path):
    path = tmp_path / "far.jsonl"
    path.write_text('{"y": 1}\n' * 300_000 + '{"y": "1"}\n')
    with pytest.raises(ValidationError, match=r"column 'y', row 300001: \"1\" is a string"):
        read_table(path)


def test_a_json_array_is_not_json_lines(tmp_path):
    path = tmp_path / "array.json"
    path.write_text('[{"y": 1}]')
    with pytest.raises(InputFileError, match=r"row 1: expected one JSON object per line"):
        read_table(path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("p.parquet.gz", "a compressed Parquet file"),
        ("p.ods", r"spreadsheets \(.ods\) are not read"),
        ("p.gz", "cannot tell the format"),
    ],
)
def test_formats_that_are_not_read_say_what_to_do(tmp_path, name, message):
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(InputFileError, match=message):
        read_table(path)
