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

Events go in through ``COPY``'s binary format (:func:`to_binary`, ``copy_in(…,
binary=True)``): each column is laid out by numpy in one pass (text as its UTF-8
bytes, doubles big-endian, times as microseconds since 2000, lists of doubles as
``float8[]``), so the server parses no text. Measured on the benchmark's machine
(bench/README.md, sixth PostgreSQL pass), the server's share of a ``COPY`` of 50,000
predictions fell by a third to a half against CSV, and encoding costs less than
pyarrow's CSV writer.

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

__all__ = ["copy_in", "copy_out", "copy_out_binary", "int_arrays", "text_array", "to_binary"]

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


def copy_in(cur: Any, target: str, table: pa.Table, *, binary: bool = False) -> None:
    """Append ``table``'s rows to ``target`` (columns by name, in the table's order).

    ``binary``: in ``COPY``'s binary format when every column's Arrow type maps onto
    the target column's type exactly (:func:`to_binary`: text, ``float8``, ``bigint``,
    ``timestamp``, ``float8[]``; the caller knows the target's types), else in CSV."""
    if table.num_rows == 0:
        return
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    data = to_binary(table) if binary else None
    if data is not None:
        with cur.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(data)
        return
    with cur.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(to_csv(table))


# Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
_PG_EPOCH_US = 946_684_800_000_000
_FLOAT8_OID = 701
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = _SIGNATURE + bytes(8)  # no flags, no header extension
_TRAILER = b"\xff\xff"
_NULL = -1  # a field's length when it is NULL


def _fixed(rows: np.ndarray[Any, np.dtype[np.uint8]]) -> pa.Array:
    """Rows of bytes (an ``n × w`` array) as a binary array of ``n`` values."""
    n, width = rows.shape
    data = pa.py_buffer(np.ascontiguousarray(rows))
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, data])


def _be(values: np.ndarray[Any, Any], dtype: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``values`` (one per row, or a row of several) big-endian, as rows of bytes."""
    typed = np.ascontiguousarray(values.astype(dtype, copy=False))
    width = typed.itemsize * (typed.shape[1] if typed.ndim == 2 else 1)
    return typed.view(np.uint8).reshape(len(values), width)


def _nulls(column: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if not column.null_count:
        return np.zeros(len(column), dtype=bool)
    return np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _text_field(column: pa.Array) -> pa.Array:
    """A text column's fields: each value's length (int32) and its UTF-8 bytes."""
    filled = pc.fill_null(column, "").cast(pa.binary())
    lengths = pc.binary_length(filled).to_numpy(zero_copy_only=False)
    sizes = np.where(_nulls(column), _NULL, lengths)
    return pc.binary_join_element_wise(_fixed(_be(sizes, ">i4")), filled, b"")


def _number_field(column: pa.Array, values: np.ndarray[Any, Any], dtype: str) -> pa.Array:
    """An 8-byte column's fields: length 8 and the value, or length -1 alone (NULL)."""
    n = len(values)
    rows = np.empty((n, 12), dtype=np.uint8)
    rows[:, 4:] = _be(values, dtype)
    nulls = _nulls(column)
    rows[:, :4] = _be(np.where(nulls, _NULL, 8), ">i4")
    if not nulls.any():
        return _fixed(rows)
    keep = np.ones((n, 12), dtype=bool)
    keep[nulls, 4:] = False
    data = pa.py_buffer(rows[keep])
    offsets = pa.py_buffer(
        np.concatenate([[0], np.cumsum(np.where(nulls, 4, 12))]).astype(np.int32)
    )
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, data])


def _list_field(column: pa.Array) -> pa.Array | None:
    """A ``list<double>`` column as ``float8[]`` fields; None when an element is NULL."""
    n = len(column)
    nulls = _nulls(column)
    column = (
        pc.if_else(pa.array(nulls), pa.scalar([], column.type), column) if nulls.any() else column
    )
    values = column.flatten()
    if values.null_count:
        return None
    lengths = np.diff(np.asarray(column.offsets.to_numpy(), dtype=np.int64))
    # Each element: its length (8) and its value.
    elements = np.empty((len(values), 12), dtype=np.uint8)
    elements[:, :4] = _be(np.full(len(values), 8), ">i4")
    elements[:, 4:] = _be(np.asarray(values.to_numpy(zero_copy_only=False)), ">f8")
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, _fixed(elements)), b"")
    # The field's length, then the array's head: dimensions, NULL flag, element type,
    # and for a non-empty array its size and lower bound (1).
    empty = lengths == 0
    sizes = np.where(nulls, _NULL, np.where(empty, 12, 20 + 12 * lengths))
    head = np.column_stack(
        [sizes, np.where(empty, 0, 1), np.zeros(n), np.full(n, _FLOAT8_OID), lengths, np.ones(n)]
    ).astype(np.int64)
    heads = _be(head, ">i4")
    widths = np.where(nulls, 4, np.where(empty, 16, 24))
    keep = np.arange(24)[None, :] < widths[:, None]
    starts = pa.py_buffer(np.concatenate([[0], np.cumsum(widths)]).astype(np.int32))
    prefix = pa.Array.from_buffers(pa.binary(), n, [None, starts, pa.py_buffer(heads[keep])])
    return pc.binary_join_element_wise(prefix, joined, b"")


def _binary_type(kind: pa.DataType) -> bool:
    """Whether an Arrow type has a binary form here, and which PostgreSQL type it is:
    text, ``float8``, ``bigint``, ``timestamp`` (``timestamp[us]`` without a zone),
    ``float8[]``."""
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_float64(kind)
        or pa.types.is_int64(kind)
        or (pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz is None)
        or (pa.types.is_list(kind) and pa.types.is_float64(kind.value_type))
    )


def _pgpq() -> Any:
    try:
        import pgpq
    except ImportError:
        return None
    return pgpq


def to_binary(table: pa.Table) -> bytes | None:
    """``table`` in ``COPY``'s binary format; None when a column's type has no binary
    form here (:func:`_binary_type`; the caller sends CSV) or a list holds a NULL
    element.

    With ``pgpq`` installed (the ``postgres`` extra) its Rust encoder writes the bytes;
    without it, numpy does (:func:`_numpy_binary`; both store what CSV stores, tested)."""
    if not all(_binary_type(f.type) for f in table.schema):
        return None
    pgpq = _pgpq()
    if pgpq is None:
        return _numpy_binary(table)
    schema = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]
    )
    encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
    parts = [encoder.write_header()]
    for batch in table.cast(schema).to_batches():
        parts.append(encoder.write_batch(batch))
    parts.append(encoder.finish())
    return b"".join(parts)


def _numpy_binary(table: pa.Table) -> bytes | None:
    """:func:`to_binary` without pgpq. Each column becomes one binary value per row
    holding the row's field (its length and bytes, built by numpy), the fields are
    joined row by row by Arrow, and the joined values' buffer is the rows back to
    back: no Python per row."""
    n = table.num_rows
    fields: list[pa.Array] = [_fixed(_be(np.full(n, table.num_columns), ">i2"))]
    for field, chunked in zip(table.schema, table.columns, strict=True):
        column = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
        kind = field.type
        made: pa.Array | None
        if column.null_count == n:
            made = _fixed(_be(np.full(n, _NULL), ">i4"))
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            made = _text_field(column)
        elif pa.types.is_float64(kind) or pa.types.is_int64(kind):
            values = np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False))
            made = _number_field(column, values, ">f8" if pa.types.is_float64(kind) else ">i8")
        elif pa.types.is_timestamp(kind):
            micros = pc.cast(column, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
            made = _number_field(column, np.asarray(micros) - _PG_EPOCH_US, ">i8")
        else:
            made = _list_field(column)
        if made is None:
            return None
        fields.append(made)
    if n == 0:
        return _HEADER + _TRAILER
    rows = pc.binary_join_element_wise(*fields, b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset : rows.offset + n + 1]
    body = memoryview(rows.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    return b"".join((_HEADER, body, _TRAILER))


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
