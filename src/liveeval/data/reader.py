"""Reading prediction logs from files (CSV, Parquet, JSON Lines) and in-memory tables.

Everything becomes a :class:`pyarrow.Table`; pandas and polars frames are
converted without copying where Arrow allows. Reading reports progress through a
callback so the CLI can draw a bar without this module knowing about terminals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
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


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in FORMATS:
            return FORMATS[suffix]
    raise InputFileError(
        f"{path}: cannot tell the format from the extension {path.suffix or '(none)'!r}; "
        f"use one of {', '.join(sorted(FORMATS))}"
    )


def read_table(
    path: str | Path,
    columns: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
) -> pa.Table:
    """Read a whole prediction log; ``columns`` limits what is read (Parquet only)."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: no such file")
    if p.is_dir():
        raise InputFileError(f"{p}: is a directory, expected a file")
    fmt = _format_of(p)
    try:
        if fmt == "parquet":
            return _read_parquet(p, columns, progress)
        if fmt == "csv":
            delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
            return _read_csv(p, delimiter, progress)
        return _read_jsonl(p, progress)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        if isinstance(exc, InputFileError):
            raise
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"{p}: cannot read as {fmt}: {first_line}") from None


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
    reader = pacsv.open_csv(p, parse_options=parse)
    batches = []
    done = 0
    for batch in reader:
        batches.append(batch)
        done += batch.nbytes
        if progress is not None:
            progress(min(done, size), size)
    if progress is not None:
        progress(size, size)
    return pa.Table.from_batches(batches, schema=reader.schema)


def _read_jsonl(p: Path, progress: Progress | None) -> pa.Table:
    if p.stat().st_size == 0:
        raise InputFileError(f"{p}: file is empty")
    table = pajson.read_json(p)
    if progress is not None:
        progress(table.num_rows, table.num_rows)
    return table


def to_table(data: Any) -> pa.Table:
    """Any supported in-memory table (pyarrow, pandas, polars, dict of arrays) as Arrow."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if isinstance(data, dict):
        try:
            return pa.table(data)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise ValidationError(f"cannot build a table from the dict: {exc}") from None
    raise ValidationError(
        f"unsupported data of type {type(data).__name__}: pass a file path, a pyarrow Table, "
        "a pandas or polars DataFrame, or a dict of columns"
    )
