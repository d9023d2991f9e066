"""A prediction log's sufficient statistics, aggregated by Spark.

Two passes over the Parquet files, each one Spark job whose only shuffle carries
statistics, never rows:

1. **Survey** (reads the label, prediction, status and time columns): per partition,
   the distinct (label, prediction) pairs of the labelled, successful rows with their
   count and first position, the rows read, failed and unlabelled, and the time span.
   On the driver, the pairs — a handful of rows — go through the local path's own
   :func:`~liveeval.data.columns.prepare` as a small table in order of first
   appearance: the classes, the positive label and every label error (NaN, unknown,
   a third class, a class without a probability column …) come out exactly as the
   local path finds them, at the same file and row.
2. **Statistics**: per Arrow batch, ``prepare`` with those classes
   (:class:`~liveeval.data.columns.Part`) validates the rows with the same numpy
   checks and builds the same :class:`~liveeval.metrics.Evaluation` and per-group
   evaluations (version, segment, time window) as the local path; each partition
   merges its batches with the statistics' own ``merge`` and emits them as rows
   (confusion cells, score keys, loss sums, latency-sketch buckets). Spark sums the
   rows by key — one shuffle of at most partitions × statistics rows — and the driver
   rebuilds the evaluations from the sums.

Rows are positioned by file (in sorted order) and row within the file (Parquet's
``_metadata.row_index``), so errors name the file and the row counted from 1, as the
local reader does.
"""

from __future__ import annotations

import glob as globbing
import math
import warnings
from collections.abc import Iterator, Sequence
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
from ...metrics import ConfusionMatrix, Evaluation, LatencySketch, LossSums, ScoreDistribution
from ...metrics.evaluation import TOP_LABEL_RESOLUTION
from ...metrics.grouped import GROUP_RESOLUTION
from ...metrics.labels import Label
from ...metrics.ranking import DEFAULT_EXACT_LIMIT, DEFAULT_RESOLUTION
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

_STATS_SCHEMA = pa.schema(
    [
        pa.field("dim", pa.string()),
        pa.field("key", pa.string()),
        pa.field("stat", pa.string()),
        pa.field("i", pa.int64()),
        pa.field("x", pa.float64()),
        *(pa.field(f"v{j}", pa.float64()) for j in range(_VALUES)),
        pa.field("m", pa.float64()),
        pa.field("pos", pa.int64()),
    ]
)


class _Rows:
    """Statistics as rows of :data:`_STATS_SCHEMA`: small ones one by one, score keys
    and sketch buckets as whole arrays (a binned score distribution has up to 2^20)."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[Any]] = {f.name: [] for f in _STATS_SCHEMA}
        self.chunks: list[pa.Table] = []

    def add(
        self,
        dim: str,
        key: str,
        stat: str,
        values: Sequence[float] = (),
        *,
        i: int = 0,
        x: float = 0.0,
        m: float | None = None,
        pos: int | None = None,
    ) -> None:
        c = self.scalars
        c["dim"].append(dim)
        c["key"].append(key)
        c["stat"].append(stat)
        c["i"].append(i)
        c["x"].append(x)
        for j in range(_VALUES):
            c[f"v{j}"].append(float(values[j]) if j < len(values) else 0.0)
        c["m"].append(m)
        c["pos"].append(pos)

    def add_many(self, dim: str, key: str, stat: str, i: Any, x: Any, *values: Any) -> None:
        """One statistic's arrays as rows, without a Python object per row."""
        size = len(values[0])
        columns: list[pa.Array] = [
            pa.repeat(pa.scalar(dim), size),
            pa.repeat(pa.scalar(key), size),
            pa.repeat(pa.scalar(stat), size),
            pa.array(np.broadcast_to(np.asarray(i, dtype=np.int64), (size,))),
            pa.array(np.broadcast_to(np.asarray(x, dtype=np.float64), (size,))),
        ]
        for j in range(_VALUES):
            v = values[j] if j < len(values) else np.zeros(size)
            columns.append(pa.array(np.asarray(v, dtype=np.float64)))
        columns += [pa.nulls(size, pa.float64()), pa.nulls(size, pa.int64())]
        self.chunks.append(pa.Table.from_arrays(columns, schema=_STATS_SCHEMA))

    def table(self) -> pa.Table:
        return pa.concat_tables([pa.table(self.scalars, schema=_STATS_SCHEMA), *self.chunks])


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _evaluation_rows(rows: _Rows, dim: str, key: str, ev: Evaluation) -> None:
    k = len(ev.labels)
    cm = ev.confusion
    cells = np.arange(k * k)
    cell_rows = np.full(k * k, np.nan) if cm.rows is None else cm.rows.reshape(-1)
    rows.add_many(
        dim, key, "cm", cells, 0.0, cm.counts.reshape(-1), cm.squares.reshape(-1), cell_rows
    )
    dists = list(enumerate(ev.scores or []))
    if ev.top_label is not None:
        dists.append((-1, ev.top_label))
    for c, d in dists:
        rows.add(dim, key, "sdn", (d.rows, d.positive_sq, d.negative_sq), i=c)
        if d.keys.size:
            rows.add_many(dim, key, "sd", c, d.keys, d.positive, d.negative)
    if ev.losses is not None:
        s = ev.losses
        rows.add(
            dim,
            key,
            "loss",
            (
                s.weight,
                s.weight_sq,
                s.rows,
                s.log_loss,
                s.log_loss_sq,
                s.brier,
                s.brier_sq,
                _nan(s.log_loss_cu),
                _nan(s.brier_cu),
            ),
        )
    if ev.latency is not None:
        lat = ev.latency
        rows.add(
            dim,
            key,
            "latn",
            (lat.zeros, lat.count, lat.total, lat.total_sq),
            m=lat.maximum if lat.count else None,
        )
        if lat.keys.size:
            rows.add_many(dim, key, "lat", lat.keys, 0.0, lat.counts)
    rows.add(dim, key, "ops", (ev.predictions, ev.failures))


class _Partition:
    """One partition's statistics, merged batch by batch."""

    def __init__(self) -> None:
        self.whole: Evaluation | None = None
        self.groups: dict[tuple[str, str], Evaluation] = {}
        self.windows: dict[str, list[int]] = {}
        self.latency_absent = 0
        self.positive_weight = 0
        self.errors: list[tuple[ValidationError, int]] = []

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

    def rows(self, spec: ColumnSpec) -> pa.Table:
        rows = _Rows()
        if self.whole is not None:
            _evaluation_rows(rows, "", "", self.whole)
        for (dim, key), ev in self.groups.items():
            _evaluation_rows(rows, dim, key, ev)
        for key, (ok, labelled) in self.windows.items():
            rows.add("time", key, "win", (ok, labelled))
        rows.add("", "", "n", (self.latency_absent, self.positive_weight))
        for exc, at in self.errors:
            kind = "error:unknown-label" if isinstance(exc, UnknownLabelError) else "error"
            rows.add(exc.column or "", exc.detail, kind, i=_rank(spec, exc.column), pos=at)
        return rows.table()


def _statistics(
    batches: Iterator[pa.RecordBatch],
    spec: ColumnSpec,
    part: Part,
    exact_limit: int,
    source: str,
) -> Iterator[pa.RecordBatch]:
    from ...analysis import _evaluation, _group_evaluations

    acc = _Partition()
    for batch in batches:
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch])
        pos = np.asarray(table.column(POS).to_numpy(zero_copy_only=False), dtype=np.int64)
        table = table.drop_columns([POS])
        try:
            prepared = prepare(table, spec, source, part=part)
            ev, pred = _evaluation(prepared, spec, exact_limit=exact_limit)
            groups = _group_evaluations(prepared, pred)
        except ValidationError as exc:
            at = NO_ROW if exc.row is None else int(pos[exc.row - 1])
            acc.errors.append((exc, at))
            continue
        acc.add(prepared, ev, groups)
    yield from acc.rows(spec).to_batches()


def _map(frame: DataFrame, function: Any, schema: Any) -> DataFrame:
    """``frame.mapInArrow``, without pyspark's warning about pandas versions (the
    engine exchanges Arrow batches; pandas is never used)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return frame.mapInArrow(function, schema)


def _sums(frame: DataFrame) -> pa.Table:
    """Sum the statistics rows by key: the one shuffle of the pass."""
    from pyspark.sql import functions as F

    return (
        frame.groupBy("dim", "key", "stat", "i", "x")
        .agg(
            *(F.sum(f"v{j}").alias(f"v{j}") for j in range(_VALUES)),
            F.max("m").alias("m"),
            F.min("pos").alias("pos"),
        )
        .toArrow()
    )


def _distribution(
    table: dict[str, np.ndarray[Any, Any]],
    header: dict[str, Any],
    c: int,
    resolution: int,
    exact: bool,
) -> ScoreDistribution:
    pick = table["i"] == c
    keys = table["x"][pick]
    order = np.argsort(keys, kind="stable")
    return ScoreDistribution(
        resolution,
        DEFAULT_EXACT_LIMIT if exact else 0,
        exact,
        int(round(header["v0"])),
        keys[order].astype(np.float64),
        table["v0"][pick][order].astype(np.float64),
        table["v1"][pick][order].astype(np.float64),
        float(header["v1"]),
        float(header["v2"]),
    )


def _rebuild(
    rows: list[dict[str, Any]],
    arrays: dict[str, np.ndarray[Any, Any]],
    labels: tuple[Label, ...],
    pos_label: Label | None,
    *,
    whole: bool,
    exact: bool = False,
) -> Evaluation:
    """An evaluation from its summed rows (``rows`` the scalar ones, ``arrays`` the
    score keys of ``stat == "sd"``)."""
    k = len(labels)
    binary = k == 2 and pos_label is not None
    by = {(r["stat"], r["i"]): r for r in rows}
    counts, squares, cell_rows = np.zeros(k * k), np.zeros(k * k), np.zeros(k * k)
    for r in rows:
        if r["stat"] == "cm":
            counts[r["i"]], squares[r["i"]], cell_rows[r["i"]] = r["v0"], r["v1"], r["v2"]
    cm = ConfusionMatrix(
        labels,
        counts.reshape(k, k),
        squares.reshape(k, k),
        None if np.isnan(cell_rows).any() else cell_rows.reshape(k, k),
    )
    scores = None
    top = None
    headers = sorted(i for (stat, i) in by if stat == "sdn")
    if headers:
        resolution = DEFAULT_RESOLUTION if whole else GROUP_RESOLUTION
        scores = [
            _distribution(arrays, by[("sdn", c)], c, resolution, exact) for c in headers if c >= 0
        ]
        if -1 in headers:
            top = _distribution(arrays, by[("sdn", -1)], -1, TOP_LABEL_RESOLUTION, exact)
    losses = None
    if ("loss", 0) in by:
        r = by[("loss", 0)]
        losses = LossSums(
            r["v0"],
            r["v1"],
            int(round(r["v2"])),
            r["v3"],
            r["v4"],
            r["v5"],
            r["v6"],
            None if math.isnan(r["v7"]) else r["v7"],
            None if math.isnan(r["v8"]) else r["v8"],
        )
    latency = None
    if ("latn", 0) in by:
        r = by[("latn", 0)]
        latency = LatencySketch()
        lat = [x for x in rows if x["stat"] == "lat"]
        lat.sort(key=lambda x: x["i"])
        latency.keys = np.array([x["i"] for x in lat], dtype=np.int64)
        latency.counts = np.array([x["v0"] for x in lat], dtype=np.float64)
        latency.zeros = int(round(r["v0"]))
        latency.count = int(round(r["v1"]))
        latency.total = float(r["v2"])
        latency.total_sq = float(r["v3"])
        latency.maximum = -math.inf if r["m"] is None else float(r["m"])
    ev = Evaluation(labels, pos_label if binary else None, cm, scores, top, losses, latency)
    if ("ops", 0) in by:
        ev.predictions = int(round(by[("ops", 0)]["v0"]))
        ev.failures = int(round(by[("ops", 0)]["v1"]))
    return ev


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
    frame = data_in.frame.select(*[F.col(f"`{c}`") for c in used], POS)
    summed = _sums(_map(frame, statistics, from_arrow_schema(_STATS_SCHEMA)))
    collected += summed.num_rows
    return _assemble(
        summed,
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
        exact=exact_limit > 0,
    )


def _proba_columns(schema: pa.Schema, spec: ColumnSpec) -> list[str]:
    if spec.proba:
        return list(spec.proba)
    if spec.proba_prefix:
        prefix = spec.proba_prefix
        return [c for c in schema.names if c.startswith(prefix) and c != prefix]
    return []


def _assemble(
    summed: pa.Table,
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
    exact: bool,
) -> LogStatistics:
    source = data_in.source
    stat = summed.column("stat").to_pylist()
    errors = [
        {
            "kind": s,
            "detail": summed.column("key")[i].as_py(),
            "column": summed.column("dim")[i].as_py() or None,
            "rank": summed.column("i")[i].as_py(),
            "pos": summed.column("pos")[i].as_py(),
        }
        for i, s in enumerate(stat)
        if s.startswith("error")
    ]
    _raise_first(errors, data_in)
    scalar_at = [i for i, s in enumerate(stat) if s != "sd"]
    scalars = summed.take(pa.array(scalar_at, pa.int64())).to_pylist()
    sd = summed.filter(pc.equal(summed.column("stat"), "sd"))
    sd_groups: dict[tuple[str, str], dict[str, np.ndarray[Any, Any]]] = {}
    if sd.num_rows:
        # Up to 2^20 score keys per distribution: grouped by (dim, key) in Arrow.
        joined = pc.binary_join_element_wise(sd.column("dim"), sd.column("key"), "\x1f")
        encoded = pc.dictionary_encode(joined).combine_chunks()
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
        cols = {
            c: np.asarray(sd.column(c).to_numpy(zero_copy_only=False))
            for c in ("i", "x", "v0", "v1")
        }
        for g, text in enumerate(encoded.dictionary.to_pylist()):
            dim, _, key = text.partition("\x1f")
            sel = codes == g
            sd_groups[(dim, key)] = {c: v[sel] for c, v in cols.items()}
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in scalars:
        by_group.setdefault((r["dim"], r["key"]), []).append(r)
    labels, pos_label = part.labels, part.pos_label
    empty_sd = {c: np.zeros(0) for c in ("i", "x", "v0", "v1")}
    whole_rows = by_group.get(("", ""), [])
    evaluation = _rebuild(
        whole_rows,
        sd_groups.get(("", ""), empty_sd),
        labels,
        pos_label,
        whole=True,
        exact=exact,
    )
    extra = next((r for r in whole_rows if r["stat"] == "n"), None)
    groups: dict[str, list[tuple[str, Evaluation]]] = {}
    window_counts: dict[str, tuple[int, int]] = {}
    for (dim, key), rows in by_group.items():
        if dim == "":
            continue
        wins = [r for r in rows if r["stat"] == "win"]
        if wins:
            window_counts[key] = (int(round(wins[0]["v0"])), int(round(wins[0]["v1"])))
        if not any(r["stat"] == "cm" for r in rows):
            continue
        ev = _rebuild(
            rows,
            sd_groups.get((dim, key), empty_sd),
            labels,
            pos_label,
            whole=False,
        )
        groups.setdefault(dim, []).append((key, ev))
    for dim, evaluations in groups.items():
        if dim == "time":
            evaluations.sort(key=lambda e: e[0])
        else:
            evaluations.sort(key=lambda e: (e[0] == "(missing)", e[0]))
    if "time" in groups and part.time_unit is not None and spec.time is not None:
        if len(groups["time"]) > 10_000:
            raise too_many_windows(len(groups["time"]), part.time_unit, source, spec.time)
    rows_evaluated = evaluation.confusion.row_count()
    if spec.weight is not None and extra is not None and extra["v1"] <= 0:
        raise no_positive_weight(rows_evaluated, source, spec.weight)
    if spec.latency is not None and extra is not None and extra["v0"] > 0:
        notes.append(latency_note(int(round(extra["v0"])), spec.latency))
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
        labels=labels,
        pos_label=pos_label if len(labels) == 2 else None,
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
