"""Arrow tables in and out of PostgreSQL through ``COPY`` in CSV.

Writing: pyarrow's CSV writer (C++) formats a batch, lists become PostgreSQL array
literals (``{0.1,0.9}``), and ``COPY … FROM STDIN`` loads it: one round trip for a
batch of any size, where a row-by-row ``INSERT`` or Python-side adaptation of 100,000
events costs seconds. Doubles are written in their shortest round-trip form, so the
database holds exactly the value given. Reading: ``COPY (query) TO STDOUT`` into
pyarrow's CSV reader with the expected column types.

Integer arrays read in bulk (the rollups' score lists) travel in ``COPY``'s binary
format instead (:func:`copy_out_binary`, :func:`int_arrays`): an ``integer[]`` is its
elements back to back, which numpy reads without any text formatted or parsed.

In PostgreSQL's CSV an unquoted empty field is NULL and a quoted one (``""``) is the
empty string; pyarrow quotes every string it writes and is told the same on reading.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["copy_in", "copy_out", "copy_out_binary", "int_arrays", "text_array"]

_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def _array_literal(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A list column as PostgreSQL array literals (``{1,2}``; NULL stays NULL)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    texts = pc.cast(column, pa.list_(pa.string()))
    joined = pc.binary_join(texts, ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


def text_array(values: pa.Array | pa.ChunkedArray) -> str:
    """Strings as one PostgreSQL array literal (``{"a","b\\"c"}``), built by Arrow:
    psycopg adapts a Python list of 100,000 strings element by element in Python, ten
    times slower. Every element is quoted, backslashes and quotes escaped."""
    if len(values) == 0:
        return "{}"
    column = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    escaped = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    whole = pa.ListArray.from_arrays(pa.array([0, len(quoted)], pa.int32()), quoted)
    return "{" + str(pc.binary_join(whole, ",")[0].as_py()) + "}"


def to_csv(table: pa.Table) -> bytes:
    """``table`` as CSV for ``COPY … FROM STDIN (FORMAT csv)``."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            columns.append(_array_literal(column))
        else:
            columns.append(column)
    out = io.BytesIO()
    pacsv.write_csv(pa.Table.from_arrays(columns, names=table.column_names), out, _WRITE)
    return out.getvalue()


def copy_in(cur: Any, target: str, table: pa.Table) -> None:
    """Append ``table``'s rows to ``target`` (columns by name, in the table's order)."""
    if table.num_rows == 0:
        return
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    with cur.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(to_csv(table))


def copy_out(cur: Any, query: str, params: list[Any], schema: pa.Schema) -> pa.Table:
    """The rows of ``query`` as an Arrow table of ``schema`` (list columns must be
    selected as ``array_to_string(column, ',')``)."""
    buffer = io.BytesIO()
    with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    raw = buffer.getvalue()
    if not raw:
        return schema.empty_table()
    plain = pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_list(f.type) else f.type) for f in schema]
    )
    table = pacsv.read_csv(
        io.BytesIO(raw),
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=plain,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
            true_values=["t", "true"],
            false_values=["f", "false"],
        ),
    )
    columns = []
    for field in schema:
        column = table.column(field.name)
        if pa.types.is_list(field.type):
            column = _parse_lists(column.combine_chunks(), field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _parse_lists(texts: pa.Array, type_: pa.DataType) -> pa.Array:
    """``array_to_string`` output (``0.1,0.9``; empty for an empty list) as lists."""
    empty = pc.fill_null(pc.equal(texts, ""), False)
    parts = pc.split_pattern(pc.if_else(empty, pa.scalar("0"), texts), ",")
    lists = pc.cast(parts, pa.list_(pa.string()))
    values = pc.cast(pc.list_flatten(lists), type_.value_type) if len(lists) else None
    offsets = lists.offsets
    result = pa.ListArray.from_arrays(
        offsets,
        values if values is not None else pa.array([], type_.value_type),
        mask=pc.is_null(texts),
    )
    if pc.any(empty).as_py():
        blank = pa.array([[]] * len(texts), type_)
        result = pc.if_else(empty, blank, result)
    return result.cast(type_)


_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def copy_out_binary(cur: Any, query: str, params: list[Any]) -> list[list[bytes | None]]:
    """The rows of ``query`` through ``COPY … TO STDOUT (FORMAT binary)``, each field
    as its raw binary bytes (None for NULL): for columns that cost more to format as
    text than to decode (integer arrays, decoded with :func:`int_arrays`)."""
    buffer = io.BytesIO()
    with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)", params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    raw = buffer.getvalue()
    if not raw.startswith(_SIGNATURE):
        raise RuntimeError("COPY (FORMAT binary) answered without its signature")
    at = len(_SIGNATURE) + 4
    at += 4 + int.from_bytes(raw[at : at + 4], "big")  # the header extension
    rows: list[list[bytes | None]] = []
    while True:
        fields = int.from_bytes(raw[at : at + 2], "big", signed=True)
        at += 2
        if fields < 0:  # the trailer
            return rows
        row: list[bytes | None] = []
        for _ in range(fields):
            size = int.from_bytes(raw[at : at + 4], "big", signed=True)
            at += 4
            if size < 0:
                row.append(None)
            else:
                row.append(raw[at : at + size])
                at += size
        rows.append(row)


def int_arrays(fields: list[bytes]) -> list[Any] | None:
    """One-dimensional ``integer[]`` values in PostgreSQL's binary form as int64 numpy
    arrays; None when one is not such an array without NULLs (the caller falls back)."""
    out = []
    for value in fields:
        if len(value) < 12:
            return None
        ndim, nulls, oid = (int.from_bytes(value[i : i + 4], "big") for i in (0, 4, 8))
        if ndim == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        if ndim != 1 or nulls or oid != 23:  # 23: int4
            return None
        size = int.from_bytes(value[12:16], "big")
        if len(value) != 20 + 8 * size:
            return None
        # Each element is its length (4) and its value, big-endian.
        pairs = np.frombuffer(value, dtype=">i4", offset=20, count=2 * size)
        out.append(pairs[1::2].astype(np.int64))
    return out
