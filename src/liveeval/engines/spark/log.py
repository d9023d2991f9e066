"""A prediction log's sufficient statistics, aggregated by Spark.

Two passes over the Parquet files; neither moves a log row to the driver, and neither
shuffles more than statistics:

1. **Survey**: one Spark SQL GROUP BY (no Python worker) over the distinct (label,
   prediction, status) values: their count, first position and first and last time.
   On the driver, those few rows go through the local path's own checks — the statuses
   through ``_status_failed``, the (label, prediction) pairs as a small table in order
   of first appearance through :func:`~liveeval.data.columns.prepare` — so the
   classes, the positive label and every label error (NaN, unknown, a third class, a
   class without a probability column …) come out exactly as the local path finds
   them, at the same file and row. A time column of ISO-8601 strings (whose minimum is
   not its first time) is surveyed per Arrow batch in Python instead (:func:`_survey`).
2. **Statistics**: per Arrow batch, ``prepare`` with those classes
   (:class:`~liveeval.data.columns.Part`) validates the rows with the same numpy
   checks and builds the same :class:`~liveeval.metrics.Evaluation` and per-group
   evaluations (version, segment, time window) as the local path; each partition
   merges its batches with the statistics' own ``merge`` and emits them as one
   pickled object (a binned score histogram is at most 2^20 keys, whatever the rows).
   The objects are merged by a tree (:func:`_tree_merge`: up to 16 per task and level,
   one small shuffle per level), and the driver merges the last few. This pass moves
   no position column; when some batch fails validation, it runs again with positions
   to name the file and row.

Rows are positioned by file (in sorted order) and row within the file (Parquet's
``_metadata.row_index``), so errors name the file and the row counted from 1, as the
local reader does.
"""

from __future__ import annotations

import glob as globbing
import math
import pickle
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...data.columns import (
    ColumnSpec,
    Part,
    Prepared,
    _status_failed,
    latency_note,
    no_labelled_rows,
    no_positive_weight,
    prepare,
    resolve_columns,
    timestamps,
    too_many_windows,
    unit_for_span,
)
from ...data.reader import FORMATS
from ...errors import InputFileError, UnknownLabelError, ValidationError
from ...metrics import Evaluation
from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT
from .session import spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["LogStatistics", "log_statistics"]

POS = "__liveeval_pos"
FILE_BITS = 40
"""A position is ``file_index << 40 | row_index``: 2^23 files of 2^40 rows."""
NO_ROW = -1
_VALUES = 9  # v0 … v8: the widest statistic (loss sums) has nine numbers


@dataclass
class LogStatistics:
    """What :func:`liveeval.analysis.evaluate` needs of a log, computed by Spark."""

    source: str
    rows_read: int
    excluded: dict[str, int]
    labels: tuple[Label, ...]
    pos_label: Label | None
    evaluation: Evaluation
    groups: dict[str, list[tuple[str, Evaluation]]]
    window_counts: dict[str, tuple[int, int]]
    time_unit: str | None
    columns_used: dict[str, Any]
    notes: list[str]
    spec: ColumnSpec
    collected_rows: int = 0
    """Rows brought to the driver by both passes: statistics, never log rows."""
    duplicated: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rows_evaluated(self) -> int:
        return self.evaluation.confusion.row_count()


# -- input -------------------------------------------------------------------------------


def _paths(data: str | Path | Sequence[str | Path]) -> tuple[list[str], str]:
    """What Spark reads, and the name the report gives it."""
    if isinstance(data, (list, tuple)):
        paths = [str(item) for item in data]
        for item in paths:
            _check_parquet(item)
        return paths, ", ".join(paths)
    text = str(data)
    if "://" in text:  # object storage: Spark lists it
        return [text], text
    if any(ch in text for ch in "*?["):
        matches = sorted(globbing.glob(text, recursive=True))
        files = [m for m in matches if Path(m).is_file()]
        if not files:
            raise InputFileError(f"{text}: no file matches")
        for f in files:
            _check_parquet(f)
        return files, text
    folder = Path(text)
    if not folder.exists():
        raise InputFileError(f"{folder}: no such file")
    if folder.is_dir():
        if not any(folder.rglob("*.parquet")):
            raise InputFileError(f"{folder}: a folder without Parquet files")
        return [text], text
    _check_parquet(text)
    return [text], text


def _check_parquet(path: str) -> None:
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: no such file")
    if FORMATS.get(p.suffix.lower()) != "parquet":
        raise InputFileError(
            f"{p}: the Spark engine reads Parquet (.parquet, .pq); convert the file, or "
            "use the local engine"
        )


def _display(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri


@dataclass(frozen=True)
class _Input:
    frame: DataFrame
    files: tuple[str, ...]  # display names, by file index
    source: str
    schema: pa.Schema

    def locate(self, pos: int | None) -> tuple[str, int | None]:
        """(file, row counted from 1) of a position."""
        if pos is None or pos < 0:
            return self.source, None
        index, row = pos >> FILE_BITS, pos & ((1 << FILE_BITS) - 1)
        name = self.files[index] if index < len(self.files) else self.source
        return (self.source if len(self.files) == 1 else name), row + 1


def _read(spark: SparkSession, data: Any) -> _Input:
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_schema

    if isinstance(data, DataFrame):
        frame = data.withColumn(POS, F.lit(NO_ROW).cast("long"))
        return _Input(frame, (), "<spark dataframe>", to_arrow_schema(data.schema))
    paths, source = _paths(data)
    raw = spark.read.parquet(*paths)
    uris = sorted(raw.inputFiles())
    index = F.map_from_arrays(
        F.array(*[F.lit(u) for u in uris]), F.array(*[F.lit(i) for i in range(len(uris))])
    )
    file_index = F.coalesce(F.element_at(index, F.col("_metadata.file_path")), F.lit(0))
    pos = F.shiftleft(file_index.cast("long"), FILE_BITS) + F.col("_metadata.row_index")
    frame = raw.withColumn(POS, pos.cast("long"))
    return _Input(frame, tuple(_display(u) for u in uris), source, to_arrow_schema(raw.schema))


# -- pass 1: survey ------------------------------------------------------------------------


def _rank(spec: ColumnSpec, column: str | None) -> int:
    """Where a column's checks come in :func:`prepare`, so that among errors found in
    different batches the one the local path would raise first wins."""
    if column is None:
        return -1
    order = [
        spec.status,
        spec.label,
        spec.pred,
        spec.score,
        *(spec.proba or ()),
        spec.weight,
        spec.version,
        spec.segment,
        spec.time,
        spec.latency,
    ]
    if column in order:
        return order.index(column)
    if "," in column or (spec.proba_prefix and column.startswith(spec.proba_prefix)):
        return 4
    return len(order)


def _survey_schema(label_type: pa.DataType, pred_type: pa.DataType | None) -> pa.Schema:
    fields = [
        pa.field("kind", pa.string()),
        pa.field("label", label_type),
        pa.field("pred", pred_type or pa.null()),
        pa.field("detail", pa.string()),
        pa.field("column", pa.string()),
        pa.field("n", pa.int64()),
        pa.field("pos", pa.int64()),
        pa.field("lo", pa.int64()),
        pa.field("hi", pa.int64()),
        pa.field("rank", pa.int64()),
    ]
    return pa.schema(fields)


def _survey(
    batches: Iterator[pa.RecordBatch], spec: ColumnSpec, schema: pa.Schema, source: str
) -> Iterator[pa.RecordBatch]:
    """Per batch: distinct (label, prediction) pairs of the rows to evaluate with count
    and first position; rows read, failed, unlabelled; the time span of ok rows."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch])
        pos = np.asarray(table.column(POS).to_numpy(zero_copy_only=False), dtype=np.int64)
        table = table.drop_columns([POS])
        n = table.num_rows
        try:
            failed = _status_failed(table, spec.status, source) if spec.status else None
        except ValidationError as exc:
            yield _error_rows(exc, pos, spec, schema)
            continue
        label = table.column(spec.label)
        has_label = np.asarray(label.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        ok = np.ones(n, dtype=bool) if failed is None else ~failed
        keep = has_label & ok
        totals = {
            "kind": ["rows", "failed", "unlabelled"],
            "n": [n, int((~ok).sum()), int((~has_label & ok).sum())],
        }
        out = [pa.table(totals).cast(pa.schema([schema.field("kind"), schema.field("n")]))]
        kept = table.filter(pa.array(keep))
        if kept.num_rows:
            columns = {"label": kept.column(spec.label), POS: pa.array(pos[keep])}
            keys = ["label"]
            if spec.pred is not None:
                columns["pred"] = kept.column(spec.pred)
                keys.append("pred")
            pairs = (
                pa.table(columns)
                .group_by(keys, use_threads=False)
                .aggregate([(POS, "min"), (POS, "count")])
            )
            out.append(
                pa.table(
                    {
                        "kind": pa.array(["pair"] * pairs.num_rows),
                        **{k: pairs.column(k) for k in keys},
                        "n": pairs.column(f"{POS}_count"),
                        "pos": pairs.column(f"{POS}_min"),
                    }
                )
            )
        if spec.time is not None:
            span = _span(table, spec.time, ok)
            if span is not None:
                out.append(pa.table({"kind": ["time"], "lo": [span[0]], "hi": [span[1]]}))
        yield from _conform(out, schema).to_batches()


def _sql_survey_applies(schema: pa.Schema, spec: ColumnSpec) -> bool:
    """Whether the survey can run as one Spark SQL GROUP BY (no Python worker): a time
    column, when there is one, whose first and last values are its minimum and maximum
    (timestamps, dates, epoch seconds; not ISO-8601 strings), and a status column of
    plain values (others go to the Python survey, which names their error)."""
    if spec.status is not None and pa.types.is_nested(schema.field(spec.status).type):
        return False
    if spec.time is None:
        return True
    t = schema.field(spec.time).type
    return bool(
        pa.types.is_timestamp(t)
        or pa.types.is_date(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
    )


def _survey_sql(data_in: _Input, spec: ColumnSpec, schema: pa.Schema, source: str) -> pa.Table:
    """:func:`_survey`'s table (summed), from one Spark SQL GROUP BY over the distinct
    (label, prediction, status) values: their count, first position, and first and last
    time. The statuses are judged on the driver by the local path's own check, on those
    few values in order of first appearance, so that a status error names the row that
    first holds the value, as the local path does."""
    from pyspark.sql import functions as F

    named = {"label": spec.label, "pred": spec.pred, "status": spec.status}
    keys = {k: c for k, c in named.items() if c is not None}
    stats = [F.count(F.lit(1)).alias("n"), F.min(POS).alias("pos")]
    if spec.time is not None:
        stats.append(F.min(F.col(f"`{spec.time}`")).alias("lo"))
        stats.append(F.max(F.col(f"`{spec.time}`")).alias("hi"))
    groups = (
        data_in.frame.groupBy(*[F.col(f"`{c}`").alias(k) for k, c in keys.items()])
        .agg(*stats)
        .toArrow()
    )
    order = np.argsort(np.asarray(groups.column("pos").to_numpy(zero_copy_only=False)))
    groups = groups.take(pa.array(order, pa.int64()))
    pos = np.asarray(groups.column("pos").to_numpy(zero_copy_only=False), dtype=np.int64)
    failed = np.zeros(groups.num_rows, dtype=bool)
    if spec.status is not None:
        try:
            failed = _status_failed(
                pa.table({spec.status: groups.column("status")}), spec.status, source
            )
        except ValidationError as exc:
            return pa.Table.from_batches([_error_rows(exc, pos, spec, schema)])
    labelled = np.asarray(groups.column("label").is_valid().to_numpy(zero_copy_only=False), bool)
    counts = np.asarray(groups.column("n").to_numpy(zero_copy_only=False), dtype=np.int64)
    totals = [int(counts.sum()), int(counts[failed].sum()), int(counts[~labelled & ~failed].sum())]
    parts = [pa.table({"kind": ["rows", "failed", "unlabelled"], "n": totals})]
    keep = labelled & ~failed
    if keep.any():
        by = ["label", "pred"] if spec.pred is not None else ["label"]
        pairs = (
            groups.filter(pa.array(keep))
            .group_by(by, use_threads=False)
            .aggregate([("n", "sum"), ("pos", "min")])
        )
        parts.append(
            pa.table(
                {
                    "kind": pa.array(["pair"] * pairs.num_rows),
                    **{k: pairs.column(k) for k in by},
                    "n": pairs.column("n_sum"),
                    "pos": pairs.column("pos_min"),
                }
            )
        )
    if spec.time is not None:
        ok = groups.filter(pa.array(~failed))
        lo, hi = pc.min(ok.column("lo")), pc.max(ok.column("hi"))
        if lo.is_valid and hi.is_valid:
            ends = pa.table({spec.time: pa.array([lo.as_py(), hi.as_py()], lo.type)})
            span = _span(ends, spec.time, np.ones(2, dtype=bool))
            if span is not None:
                parts.append(pa.table({"kind": ["time"], "lo": [span[0]], "hi": [span[1]]}))
    return _conform(parts, schema)


def _span(table: pa.Table, name: str, ok: np.ndarray[Any, Any]) -> tuple[int, int] | None:
    """Microseconds of the first and last time of the ok rows that have one (the local
    path's span for the calendar unit); None when there is none or one is unreadable
    (the statistics pass then names it)."""
    valid = np.asarray(table.column(name).is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    rows = table.filter(pa.array(valid & ok))
    if rows.num_rows == 0:
        return None
    try:
        ts = timestamps(rows, name, "<rows>")
    except ValidationError:
        return None
    values = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return int(values.min()), int(values.max())


def _conform(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """Tables holding some of ``schema``'s columns, as one table of ``schema``."""
    full = []
    for part in parts:
        columns = []
        for f in schema:
            if f.name in part.column_names:
                columns.append(part.column(f.name).cast(f.type))
            else:
                columns.append(pa.nulls(part.num_rows, f.type))
        full.append(pa.Table.from_arrays(columns, schema=schema))
    return pa.concat_tables(full) if full else schema.empty_table()


def _error_rows(
    exc: ValidationError, pos: np.ndarray[Any, Any], spec: ColumnSpec, schema: pa.Schema
) -> pa.RecordBatch:
    at = NO_ROW if exc.row is None else int(pos[exc.row - 1])
    kind = "error:unknown-label" if isinstance(exc, UnknownLabelError) else "error"
    part = pa.table(
        {
            "kind": [kind],
            "detail": [exc.detail],
            "column": [exc.column],
            "pos": [at],
            "rank": [_rank(spec, exc.column)],
        }
    )
    return _conform([part], schema).to_batches()[0]


def _raise_first(errors: list[dict[str, Any]], data: _Input) -> None:
    """Raise the error the local path would: lowest rank (check order), then position."""
    if not errors:
        return
    first = min(errors, key=lambda e: (e["rank"], e["pos"] if e["pos"] is not None else -1))
    source, row = data.locate(first["pos"])
    cls = UnknownLabelError if first["kind"] == "error:unknown-label" else ValidationError
    raise cls(first["detail"], source=source, column=first["column"], row=row)


# -- pass 2: statistics --------------------------------------------------------------------

_BLOB_SCHEMA = pa.schema([pa.field("blob", pa.binary())])
FAN_IN = 16
"""Statistics objects merged per task in the tree reduction, and the most the driver
receives: a level of the tree is one shuffle of at most 1/16 as many objects."""


def _first_error(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Of two errors, the one the local path would raise first (check order, then row)."""
    if a is None or b is None:
        return a or b
    return min(a, b, key=lambda e: (e["rank"], e["pos"] if e["pos"] is not None else -1))


class _Partition:
    """Statistics of some of the log's batches: the whole log's evaluation, one per
    (dimension, group key), window counts, and the first error found. Merged batch by
    batch in a partition, then partition by partition; crosses the shuffle pickled."""

    def __init__(self) -> None:
        self.whole: Evaluation | None = None
        self.groups: dict[tuple[str, str], Evaluation] = {}
        self.windows: dict[str, list[int]] = {}
        self.latency_absent = 0
        self.positive_weight = 0
        self.error: dict[str, Any] | None = None

    def add(self, prepared: Prepared, ev: Evaluation, groups: dict[str, Any]) -> None:
        self.whole = ev if self.whole is None else self.whole.merge(ev)
        for dim, evaluations in groups.items():
            for key, group in evaluations:
                at = (dim, key)
                self.groups[at] = group if at not in self.groups else self.groups[at].merge(group)
        for key, (ok, labelled) in prepared.window_counts.items():
            counts = self.windows.setdefault(key, [0, 0])
            counts[0] += ok
            counts[1] += labelled
        self.latency_absent += prepared.latency_absent
        if prepared.weight is not None:
            self.positive_weight += int((prepared.weight > 0).sum())

    def fail(self, exc: ValidationError, at: int, spec: ColumnSpec) -> None:
        kind = "error:unknown-label" if isinstance(exc, UnknownLabelError) else "error"
        found = {
            "kind": kind,
            "detail": exc.detail,
            "column": exc.column,
            "rank": _rank(spec, exc.column),
            "pos": at,
        }
        self.error = _first_error(self.error, found)

    def merge(self, other: _Partition) -> _Partition:
        """Both partitions' statistics, in ``self`` (returned)."""
        if other.whole is not None:
            self.whole = other.whole if self.whole is None else self.whole.merge(other.whole)
        for at, group in other.groups.items():
            self.groups[at] = group if at not in self.groups else self.groups[at].merge(group)
        for key, (ok, labelled) in other.windows.items():
            counts = self.windows.setdefault(key, [0, 0])
            counts[0] += ok
            counts[1] += labelled
        self.latency_absent += other.latency_absent
        self.positive_weight += other.positive_weight
        self.error = _first_error(self.error, other.error)
        return self


def _dumps(part: _Partition) -> bytes:
    return pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(blob: bytes | bytearray) -> _Partition:
    part = pickle.loads(blob)
    if not isinstance(part, _Partition):  # pragma: no cover - written by _statistics only
        raise TypeError(f"expected the statistics of a partition, got {type(part).__name__}")
    return part


def _merge_blobs(blobs: Iterable[bytes | bytearray]) -> _Partition:
    merged = _Partition()
    for blob in blobs:
        merged.merge(_loads(blob))
    return merged


def _merged_blob(blobs: Iterable[bytes]) -> bytes:
    """Pickled statistics as one pickled statistics object (one is passed as it is)."""
    items = list(blobs)
    return items[0] if len(items) == 1 else _dumps(_merge_blobs(iter(items)))


def _statistics(
    batches: Iterator[pa.RecordBatch],
    spec: ColumnSpec,
    part: Part,
    exact_limit: int,
    source: str,
) -> Iterator[pa.RecordBatch]:
    """A partition's batches validated and summarised by the local path's functions,
    merged, and emitted as one row: the pickled :class:`_Partition`."""
    from ...analysis import _evaluation, _group_evaluations

    acc = _Partition()
    for batch in batches:
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch])
        pos = None
        if POS in table.column_names:
            pos = np.asarray(table.column(POS).to_numpy(zero_copy_only=False), dtype=np.int64)
            table = table.drop_columns([POS])
        try:
            prepared = prepare(table, spec, source, part=part)
            ev, pred = _evaluation(prepared, spec, exact_limit=exact_limit)
            groups = _group_evaluations(prepared, pred)
        except ValidationError as exc:
            at = NO_ROW if exc.row is None or pos is None else int(pos[exc.row - 1])
            acc.fail(exc, at, spec)
            continue
        acc.add(prepared, ev, groups)
    yield pa.RecordBatch.from_arrays([pa.array([_dumps(acc)], pa.binary())], schema=_BLOB_SCHEMA)


def _map(frame: DataFrame, function: Any, schema: Any) -> DataFrame:
    """``frame.mapInArrow``, without pyspark's warning about pandas versions (the
    engine exchanges Arrow batches; pandas is never used)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return frame.mapInArrow(function, schema)


def _tree_merge(blobs: DataFrame) -> tuple[_Partition, int]:
    """The partitions' statistics merged by a tree reduction: each level merges up to
    :data:`FAN_IN` objects per task (one shuffle of pickled statistics), until at most
    ``FAN_IN`` are left; those reach the driver. Returns the merged statistics and the
    number of objects the driver received.

    The objects are the size of the statistics, not of the rows (a binned score
    distribution has at most 2^20 keys), so at a billion rows in 1,000 partitions the
    tree has two levels (1,000 → 63 → 4) and the driver merges four.
    """
    rdd = blobs.rdd.map(lambda row: bytes(row[0]))
    width = rdd.getNumPartitions()
    while width > FAN_IN:
        width = math.ceil(width / FAN_IN)

        rdd = rdd.mapPartitionsWithIndex(_keyed(width)).partitionBy(width, _identity).values()
    collected = rdd.mapPartitions(lambda items: [_merged_blob(items)]).collect()
    return _merge_blobs(collected), len(collected)


def _keyed(width: int) -> Callable[[int, Iterable[bytes]], Iterable[tuple[int, bytes]]]:
    """A partition's statistics merged, keyed by the task of the next level."""

    def keyed(index: int, items: Iterable[bytes]) -> Iterable[tuple[int, bytes]]:
        return [(index % width, _merged_blob(items))]

    return keyed


def _identity(key: int) -> int:
    return key


# -- the two passes together ---------------------------------------------------------------


def _operational(spec: ColumnSpec) -> ColumnSpec:
    """The spec of the survey's small table: labels and predictions only."""
    return replace(
        spec,
        status=None,
        time=None,
        window=None,
        version=None,
        segment=None,
        weight=None,
        latency=None,
        latency_unit=None,
    )


def _pairs_table(
    pairs: pa.Table, spec: ColumnSpec, schema: pa.Schema, proba_columns: list[str]
) -> pa.Table:
    """The survey's pairs as a table the local path can validate: one row per pair in
    order of first appearance, with valid stand-ins for scores and probabilities."""
    n = pairs.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        spec.label: pairs.column("label").cast(schema.field(spec.label).type)
    }
    if spec.pred is not None:
        columns[spec.pred] = pairs.column("pred").cast(schema.field(spec.pred).type)
    if spec.score is not None:
        columns[spec.score] = pa.array(np.full(n, 0.5))
    for name in proba_columns:
        columns[name] = pa.array(np.full(n, 1.0 / len(proba_columns)))
    return pa.table(columns)


def log_statistics(
    data: Any, spec: ColumnSpec, *, spark: SparkSession | None = None
) -> LogStatistics:
    """The statistics of a prediction log in Parquet (a file, a folder, a glob, a list of
    files, or a Spark DataFrame), validated as :func:`liveeval.data.columns.prepare`
    validates a table.

    Raises
    ------
    ValidationError, InputFileError
        As the local path raises them, naming the file and the row (from 1).
    EngineUnavailable
        No pyspark or no Java.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    spark = spark or spark_session()
    data_in = _read(spark, data)
    source = data_in.source
    schema = data_in.schema
    empty = schema.empty_table()
    spec, notes, duplicated = resolve_columns(empty, spec, source)
    for name in (spec.label, spec.pred):
        if name is not None:
            t = schema.field(name).type
            if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
                # The local path's wording for these, from a one-row stand-in.
                prepare(pa.table({f.name: pa.nulls(1, f.type) for f in schema}), spec, source)
    label_type = schema.field(spec.label).type
    pred_type = schema.field(spec.pred).type if spec.pred is not None else None

    # Pass 1.
    needed = [c for c in (spec.label, spec.pred, spec.status, spec.time) if c is not None]
    survey_schema = _survey_schema(label_type, pred_type)
    survey_spec = spec

    def survey(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _survey(batches, survey_spec, survey_schema, source)

    if _sql_survey_applies(schema, spec):
        surveyed = _survey_sql(data_in, spec, survey_schema, source)
    else:
        frame = data_in.frame.select(*[F.col(f"`{c}`") for c in dict.fromkeys(needed)], POS)
        surveyed = (
            _map(frame, survey, from_arrow_schema(survey_schema))
            .groupBy("kind", "label", "pred", "detail", "column")
            .agg(
                F.sum("n").alias("n"),
                F.min("pos").alias("pos"),
                F.min("lo").alias("lo"),
                F.max("hi").alias("hi"),
                F.min("rank").alias("rank"),
            )
            .toArrow()
        )
    collected = surveyed.num_rows
    kinds = surveyed.column("kind").to_pylist()
    records = surveyed.drop_columns(["label", "pred"]).to_pylist()
    _raise_first([r for r in records if r["kind"].startswith("error")], data_in)
    totals = {
        r["kind"]: int(r["n"] or 0)
        for r in records
        if r["kind"] in ("rows", "failed", "unlabelled")
    }
    n = totals.get("rows", 0)
    if n == 0:
        raise ValidationError("no rows: the data has a header but no values", source=source)
    excluded: dict[str, int] = {}
    if totals.get("failed"):
        excluded["failed prediction (status not ok)"] = totals["failed"]
    if totals.get("unlabelled"):
        excluded["label missing (ground truth not yet arrived)"] = totals["unlabelled"]
    at = [i for i, k in enumerate(kinds) if k == "pair"]
    pairs = surveyed.take(pa.array(at, pa.int64()))
    if pairs.num_rows == 0:
        by_name = spec.status is not None and any(
            note.startswith("prediction status") for note in notes
        )
        raise no_labelled_rows(n, excluded, spec, source, by_name and totals.get("failed") == n)
    order = np.argsort(
        np.asarray(pairs.column("pos").to_numpy(zero_copy_only=False)), kind="stable"
    )
    pairs = pairs.take(pa.array(order))
    proba_columns = _proba_columns(schema, spec)
    small = _pairs_table(pairs, spec, schema, proba_columns)
    first_rows = pairs.column("pos").to_pylist()
    try:
        resolved = prepare(small, _operational(spec), source)
    except ValidationError as exc:
        where, row = data_in.locate(None if exc.row is None else first_rows[exc.row - 1])
        raise type(exc)(exc.detail, source=where, column=exc.column, row=row) from None
    labelled = int(sum(pairs.column("n").to_pylist()))
    notes += [note for note in resolved.notes if note not in notes]

    time_unit = None
    if spec.time is not None:
        spans = [(r["lo"], r["hi"]) for r in records if r["kind"] == "time"]
        lo = min((s[0] for s in spans), default=None)
        hi = max((s[1] for s in spans), default=None)
        span = 0.0 if lo is None or hi is None else (hi - lo) / 1e6
        time_unit = spec.window or unit_for_span(span)
    part = Part(resolved.labels, resolved.pos_label, time_unit)

    # Pass 2.
    exact_limit = DEFAULT_EXACT_LIMIT if labelled <= DEFAULT_EXACT_LIMIT else 0
    stats_spec = spec

    def statistics(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _statistics(batches, stats_spec, part, exact_limit, source)

    used = [c for c in schema.names if c in set(spec.named_columns()) | set(proba_columns)]
    # Without positions (a column less to move to Python); a log with an error is read
    # again with them, to name the error's file and row.
    columns = [F.col(f"`{c}`") for c in used]
    blob_schema = from_arrow_schema(_BLOB_SCHEMA)
    merged, objects = _tree_merge(_map(data_in.frame.select(*columns), statistics, blob_schema))
    collected += objects
    if merged.error is not None and data_in.files:
        frame = data_in.frame.select(*columns, POS)
        merged, objects = _tree_merge(_map(frame, statistics, blob_schema))
        collected += objects
    return _assemble(
        merged,
        data_in,
        spec,
        resolved,
        part,
        n=n,
        excluded=excluded,
        notes=notes,
        duplicated=duplicated,
        proba_columns=proba_columns,
        collected=collected,
    )


def _proba_columns(schema: pa.Schema, spec: ColumnSpec) -> list[str]:
    if spec.proba:
        return list(spec.proba)
    if spec.proba_prefix:
        prefix = spec.proba_prefix
        return [c for c in schema.names if c.startswith(prefix) and c != prefix]
    return []


def _assemble(
    merged: _Partition,
    data_in: _Input,
    spec: ColumnSpec,
    resolved: Prepared,
    part: Part,
    *,
    n: int,
    excluded: dict[str, int],
    notes: list[str],
    duplicated: tuple[str, ...],
    proba_columns: list[str],
    collected: int,
) -> LogStatistics:
    source = data_in.source
    _raise_first([] if merged.error is None else [merged.error], data_in)
    if merged.whole is None:  # pragma: no cover - the survey found labelled rows
        raise no_labelled_rows(n, excluded, spec, source, False)
    evaluation = merged.whole
    groups: dict[str, list[tuple[str, Evaluation]]] = {}
    for (dim, key), ev in merged.groups.items():
        groups.setdefault(dim, []).append((key, ev))
    window_counts = {key: (ok, labelled) for key, (ok, labelled) in merged.windows.items()}
    for dim, evaluations in groups.items():
        if dim == "time":
            evaluations.sort(key=lambda e: e[0])
        else:
            evaluations.sort(key=lambda e: (e[0] == "(missing)", e[0]))
    if "time" in groups and part.time_unit is not None and spec.time is not None:
        if len(groups["time"]) > 10_000:
            raise too_many_windows(len(groups["time"]), part.time_unit, source, spec.time)
    rows_evaluated = evaluation.confusion.row_count()
    if spec.weight is not None and merged.positive_weight <= 0:
        raise no_positive_weight(rows_evaluated, source, spec.weight)
    if spec.latency is not None and merged.latency_absent > 0:
        notes.append(latency_note(merged.latency_absent, spec.latency))
    used = {
        "label": spec.label,
        "pred": spec.pred,
        "score": spec.score,
        "proba": proba_columns or None,
        "time": spec.time,
        "version": spec.version,
        "segment": spec.segment,
        "weight": spec.weight,
        "latency": spec.latency,
        "status": spec.status,
        "threshold": spec.threshold if spec.pred is None and spec.score else None,
    }
    return LogStatistics(
        source=source,
        rows_read=n,
        excluded=excluded,
        labels=part.labels,
        pos_label=part.pos_label if len(part.labels) == 2 else None,
        evaluation=evaluation,
        groups=groups,
        window_counts=window_counts,
        time_unit=part.time_unit,
        columns_used={k: v for k, v in used.items() if v is not None},
        notes=notes,
        spec=spec,
        collected_rows=collected,
        duplicated=duplicated,
    )
