"""Reading prediction logs from files (CSV, Parquet, JSON Lines) and in-memory tables.

Everything becomes a :class:`pyarrow.Table`; pandas and polars frames are
converted without copying where Arrow allows. Reading reports progress through a
callback so the CLI can draw a bar without this module knowing about terminals.

Rows in messages are counted from 1: row 1 is the first data row (the header of a
CSV file is not a row, so CSV row N is line N + 1 of the file; JSON Lines row N is
line N).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ..errors import InputFileError, ValidationError

__all__ = ["FORMATS", "Progress", "read_table", "to_table"]

Progress = Callable[[int, int], None]
"""Called with (bytes or rows done, total)."""

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# Compression Arrow undoes by itself when reading CSV and JSON Lines.
COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")

_CSV_COLUMN = re.compile(r"In CSV column #(\d+): CSV conversion error to (\S+?):")


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in SPREADSHEETS:
        raise InputFileError(
            f"{path}: spreadsheets ({suffixes[-1]}) are not read; export the sheet as CSV "
            f"or Parquet (formats read: {', '.join(sorted(FORMATS))})"
        )
    for i, suffix in enumerate(reversed(suffixes)):
        if suffix in FORMATS:
            fmt = FORMATS[suffix]
            if i > 0 and fmt == "parquet":
                raise InputFileError(
                    f"{path}: a compressed Parquet file ({suffixes[-1]}) cannot be read; "
                    "Parquet compresses its columns itself, so decompress the file first"
                )
            return fmt
        if i > 0 or suffix not in COMPRESSED:
            break
    raise InputFileError(
        f"{path}: cannot tell the format from the extension {path.suffix or '(none)'!r}; "
        f"use one of {', '.join(sorted(FORMATS))} (CSV and JSON Lines may end in .gz)"
    )


def _check_path(p: Path) -> None:
    try:
        if not p.exists():
            raise InputFileError(f"{p}: no such file")
        if p.is_dir():
            raise InputFileError(f"{p}: is a directory, expected a file")
        with p.open("rb"):
            pass
    except InputFileError:
        raise
    except PermissionError:
        raise InputFileError(
            f"{p}: permission denied (the file, or a folder on its path, cannot be read)"
        ) from None
    except OSError as exc:
        raise InputFileError(f"{p}: cannot open: {exc.strerror or exc}") from None


def read_table(
    path: str | Path,
    columns: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
) -> pa.Table:
    """Read a whole prediction log; ``columns`` limits what is read (Parquet only).

    Raises
    ------
    InputFileError
        The file is missing, unreadable or not in a format it claims; a CSV row with
        the wrong number of fields and a JSON Lines row that is not valid JSON or
        changes a column's type are named by row (counted from 1).
    """
    p = Path(path)
    _check_path(p)
    fmt = _format_of(p)
    try:
        if fmt == "parquet":
            table = _read_parquet(p, columns, progress)
        elif fmt == "csv":
            delimiter = "\t" if ".tsv" in (s.lower() for s in p.suffixes) else ","
            table = _read_csv(p, delimiter, progress)
        else:
            table = _read_jsonl(p, progress)
        # Arrow decodes column names only when asked: a header that is not UTF-8 fails here.
        table.column_names  # noqa: B018
        return table
    except (InputFileError, ValidationError):
        raise
    except PermissionError:
        raise InputFileError(f"{p}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{p}: not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} in the "
            "header); save the file as UTF-8"
        ) from None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        raise InputFileError(f"{p}: cannot read as {fmt}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_parquet(p: Path, columns: Sequence[str] | None, progress: Progress | None) -> pa.Table:
    file = pq.ParquetFile(p)
    present = set(file.schema_arrow.names)
    wanted = None if columns is None else [c for c in dict.fromkeys(columns) if c in present]
    groups = file.num_row_groups
    if progress is None or groups <= 1:
        table = file.read(columns=wanted)
        if progress is not None:
            progress(table.num_rows, table.num_rows)
        return table
    parts = []
    total = file.metadata.num_rows
    done = 0
    for i in range(groups):
        part = file.read_row_group(i, columns=wanted)
        parts.append(part)
        done += part.num_rows
        progress(done, total)
    return pa.concat_tables(parts)


def _read_csv(p: Path, delimiter: str, progress: Progress | None) -> pa.Table:
    size = p.stat().st_size
    if size == 0:
        raise InputFileError(f"{p}: file is empty")
    parse = pacsv.ParseOptions(delimiter=delimiter)
    # Arrow infers each column's type from the first block; a later value that does
    # not fit (ints, then "abc") fails the read. Such columns are read again as text
    # and typed from all their values, as if the whole file had been one block.
    as_text: dict[str, pa.DataType] = {}
    while True:
        try:
            return _read_csv_once(p, parse, as_text, size, progress)
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "CSV parse error" in message:
                raise _ragged_row(p, parse, message) from None
            match = _CSV_COLUMN.search(message)
            if match is None:
                raise
            name = _csv_header(p, parse)[int(match.group(1))]
            if name in as_text:  # pragma: no cover - a text column cannot fail conversion
                raise
            as_text[name] = pa.string()


def _read_csv_once(
    p: Path,
    parse: pacsv.ParseOptions,
    as_text: dict[str, pa.DataType],
    size: int,
    progress: Progress | None,
) -> pa.Table:
    convert = pacsv.ConvertOptions(column_types=as_text) if as_text else None
    reader = pacsv.open_csv(p, parse_options=parse, convert_options=convert)
    batches = []
    done = 0
    for batch in reader:
        batches.append(batch)
        done += batch.nbytes
        if progress is not None:
            progress(min(done, size), size)
    if progress is not None:
        progress(size, size)
    table = pa.Table.from_batches(batches, schema=reader.schema)
    for name in as_text:
        i = table.column_names.index(name)
        table = table.set_column(i, name, _typed_from_text(table.column(i)))
    return table


def _typed_from_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column read as text, typed as Arrow's inference would on the whole column."""
    nulls = pa.array(pacsv.ConvertOptions().null_values, pa.string())
    col = pc.if_else(pc.is_in(col, value_set=nulls), pa.scalar(None, pa.string()), col)
    for target in (pa.int64(), pa.float64()):
        try:
            return pc.cast(col, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return col


def _csv_header(p: Path, parse: pacsv.ParseOptions) -> list[str]:
    with pa.input_stream(str(p), compression="detect") as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        return next(csv.reader(text, delimiter=parse.delimiter), [])


def _ragged_row(p: Path, parse: pacsv.ParseOptions, message: str) -> InputFileError:
    """The first row with the wrong number of fields, found by a second, serial read."""
    found: list[Any] = []

    def remember(row: Any) -> str:
        found.append(row)
        return "error"

    serial = pacsv.ParseOptions(delimiter=parse.delimiter, invalid_row_handler=remember)
    try:
        pacsv.read_csv(
            p,
            parse_options=serial,
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(_csv_header(p, parse), pa.string())
            ),
        )
    except pa.ArrowInvalid:
        pass
    if not found or found[0].number is None:
        detail = message.split(": ", 1)[-1]
        return InputFileError(f"{p}: a row has the wrong number of fields: {detail}")
    row = found[0]
    text = row.text if len(row.text) <= 80 else row.text[:77] + "..."
    return InputFileError(
        f"{p}, row {row.number - 1} (line {row.number}): expected {row.expected_columns} "
        f"field(s) as in the header, found {row.actual_columns}: {text!r}"
    )


def _read_jsonl(p: Path, progress: Progress | None) -> pa.Table:
    if p.stat().st_size == 0:
        raise InputFileError(f"{p}: file is empty")
    try:
        table = pajson.read_json(p)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _bad_json_row(p, _first_line(exc)) from None
    if progress is not None:
        progress(table.num_rows, table.num_rows)
    return table


def _json_kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _bad_json_row(p: Path, message: str) -> InputFileError | ValidationError:
    """Arrow counts JSON rows per block; find the offending line by reading it in Python."""
    kinds: dict[str, tuple[str, int]] = {}
    with pa.input_stream(str(p), compression="detect") as stream:
        lines = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                return InputFileError(f"{p}, row {number}: not valid JSON ({exc.msg})")
            if not isinstance(record, dict):
                return InputFileError(
                    f"{p}, row {number}: expected one JSON object per line (JSON Lines), "
                    f"found a JSON {_json_kind(record)}"
                )
            for key, value in record.items():
                kind = _json_kind(value)
                if kind is None:
                    continue
                first = kinds.setdefault(key, (kind, number))
                if first[0] != kind:
                    return ValidationError(
                        f"{json.dumps(value)[:40]} is a {kind} but row {first[1]} holds a "
                        f"{first[0]}; a column holds values of one type",
                        source=str(p),
                        column=key,
                        row=number,
                    )
    detail = re.sub(r" in row \d+$", "", message)
    return InputFileError(f"{p}: cannot read as jsonl: {detail}")


def to_table(data: Any) -> pa.Table:
    """Any supported in-memory table (pyarrow, pandas, polars, dict of arrays) as Arrow."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    try:
        if module == "pandas":
            return pa.Table.from_pandas(data, preserve_index=False)
        if module == "polars":
            return data.to_arrow()
        if hasattr(data, "__arrow_c_stream__"):
            return pa.table(data)
        if isinstance(data, dict):
            return pa.table(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(
            f"cannot convert the {type(data).__name__} to a table: {_first_line(exc)}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"cannot build a table from the {type(data).__name__}: {exc}"
        ) from None
    raise ValidationError(
        f"unsupported data of type {type(data).__name__}: pass a file path, a pyarrow Table, "
        "a pandas or polars DataFrame, or a dict of columns"
    )
