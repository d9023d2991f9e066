"""Drift between two Parquet data sets, with the histograms computed by Spark.

The same comparison as :func:`liveeval.monitor.drift.compare_files`: the same column
plan, the reference's quantile edges (:func:`~liveeval.metrics.drift.quantile_edges`:
values at ranks ``ceil(j n / bins)``, found exactly by one distributed sort of each
numeric reference column and a filter on global positions — a few values reach the
driver, never the column), then one pass over each side in which every Arrow batch is
counted with the local path's own code (``Histogram.from_values`` on those edges,
category counts) and Spark sums the counts. The measurements and the call are the
local path's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ...metrics.drift import (
    DEFAULT_BINS,
    DriftMeasurement,
    DriftRule,
    Histogram,
    measure_categorical,
    measure_numeric,
)
from ...monitor.drift import DriftReport, _category_counts, _numbers, _Plan, _plan, _report
from .log import POS, _map, _read
from .session import spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["compare_parquet", "reference_edges"]

_HIST_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string()),
        pa.field("stat", pa.string()),
        pa.field("key", pa.string()),
        pa.field("i", pa.int64()),
        pa.field("v", pa.float64()),
    ]
)


def reference_edges(frame: DataFrame, name: str, bins: int = DEFAULT_BINS) -> np.ndarray[Any, Any]:
    """:func:`~liveeval.metrics.drift.quantile_edges` of a numeric column, exactly.

    One count of the finite values, one range-partitioned sort (kept while the ranks are
    read), one filter on global positions; with ties among the quantiles, the distinct
    values when there are at most ``bins``. A reference without finite numbers gets the
    local path's stand-in edges ``[0, 1]``.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    x = F.col(f"`{name}`").cast("double")
    finite = frame.select(x.alias("x")).where(
        x.isNotNull() & ~F.isnan(x) & (F.abs(x) != F.lit(math.inf))
    )
    ordered = (
        finite.orderBy("x")
        .withColumn("mid", F.monotonically_increasing_id())
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        sizes = ordered.groupBy(F.shiftright("mid", 33).alias("p")).count().collect()
        n = int(sum(r["count"] for r in sizes))
        if n == 0:
            return np.array([0.0, 1.0])
        # Partitions of the sort in key order; a global position is the partition's
        # start plus the row's index in it (monotonically_increasing_id's low bits).
        parts = sorted((int(r["p"]), int(r["count"])) for r in sizes)
        starts = np.cumsum([0] + [c for _, c in parts])[:-1]
        ranks = np.ceil(np.arange(bins) * (n / bins)).astype(np.int64)
        positions = sorted({int(v) for v in np.clip(ranks - 1, 0, n - 1)} | {n - 1})
        wanted = []
        for q in positions:
            j = int(np.searchsorted(starts, q, side="right")) - 1
            wanted.append((parts[j][0] << 33) + (q - int(starts[j])))
        found = {
            int(r["mid"]): float(r["x"])
            for r in ordered.where(F.col("mid").isin(wanted)).select("mid", "x").collect()
        }
    finally:
        ordered.unpersist()
    by_position = dict(zip(positions, (found[m] for m in wanted), strict=True))
    inner = np.unique([by_position[int(p)] for p in np.clip(ranks - 1, 0, n - 1)])
    if inner.size < bins:
        distinct = finite.distinct().limit(bins + 1).collect()
        if len(distinct) <= bins:
            inner = np.unique([float(r["x"]) for r in distinct])
    top = np.nextafter(by_position[n - 1], np.inf)
    return np.concatenate([inner, [top]]).astype(np.float64)


def _histograms(
    batches: Iterator[pa.RecordBatch],
    plans: Sequence[_Plan],
    edges: dict[str, np.ndarray[Any, Any]],
) -> Iterator[pa.RecordBatch]:
    """Per partition: each column's histogram, merged over its batches, as rows."""
    numeric: dict[str, Histogram] = {}
    categories: dict[str, dict[str, int]] = {}
    missing: dict[str, int] = {}
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        for plan in plans:
            col = batch.column(batch.schema.get_field_index(plan.name))
            if plan.kind == "numeric":
                h = Histogram.from_values(_numbers(col), edges[plan.name])
                numeric[plan.name] = h if plan.name not in numeric else numeric[plan.name].merge(h)
            else:
                counts, absent = _category_counts(col)
                mine = categories.setdefault(plan.name, {})
                for k, v in counts.items():
                    mine[k] = mine.get(k, 0) + v
                missing[plan.name] = missing.get(plan.name, 0) + absent
    out: dict[str, list[Any]] = {f.name: [] for f in _HIST_SCHEMA}

    def add(name: str, stat: str, key: str, i: int, v: float) -> None:
        for column, value in zip(
            ("name", "stat", "key", "i", "v"), (name, stat, key, i, v), strict=True
        ):
            out[column].append(value)

    add("", "rows", "", 0, rows)
    for name, h in numeric.items():
        for i, c in enumerate(h.counts.tolist()):
            if c:
                add(name, "bin", "", i, c)
        for stat in ("below", "above", "missing", "value_sum", "value_sum_squares"):
            add(name, stat, "", 0, float(getattr(h, stat) or 0.0))
    for name, counts in categories.items():
        for key, c in counts.items():
            add(name, "cat", key, 0, c)
        add(name, "missing", "", 0, missing.get(name, 0))
    yield from pa.table(out, schema=_HIST_SCHEMA).to_batches()


def _collect_histograms(
    frame: DataFrame, plans: Sequence[_Plan], edges: dict[str, np.ndarray[Any, Any]]
) -> tuple[dict[str, Histogram], int]:
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _histograms(batches, plans, edges)

    columns = [F.col(f"`{p.name}`") for p in plans]
    summed = (
        _map(frame.select(*columns), count, from_arrow_schema(_HIST_SCHEMA))
        .groupBy("name", "stat", "key", "i")
        .agg(F.sum("v").alias("v"))
        .toArrow()
        .to_pylist()
    )
    rows = int(sum(r["v"] for r in summed if r["stat"] == "rows"))
    out: dict[str, Histogram] = {}
    for plan in plans:
        mine = [r for r in summed if r["name"] == plan.name]
        scalars = {r["stat"]: r["v"] for r in mine if r["stat"] not in ("bin", "cat")}
        if plan.kind == "numeric":
            e = edges[plan.name]
            counts = np.zeros(e.size - 1, dtype=np.int64)
            for r in mine:
                if r["stat"] == "bin":
                    counts[int(r["i"])] = int(round(r["v"]))
            numbers = (
                int(counts.sum()) + int(scalars.get("below", 0)) + int(scalars.get("above", 0))
            )
            out[plan.name] = Histogram(
                edges=e,
                counts=counts,
                below=int(round(scalars.get("below", 0))),
                above=int(round(scalars.get("above", 0))),
                missing=int(round(scalars.get("missing", 0))),
                value_sum=float(scalars.get("value_sum", 0.0)) if numbers else None,
                value_sum_squares=float(scalars.get("value_sum_squares", 0.0)) if numbers else None,
            )
        else:
            cats = {r["key"]: int(round(r["v"])) for r in mine if r["stat"] == "cat"}
            out[plan.name] = Histogram.from_categories(
                cats, missing=int(round(scalars.get("missing", 0)))
            )
    return out, rows


def compare_parquet(
    reference: str | Path | Sequence[str | Path],
    current: str | Path | Sequence[str | Path],
    *,
    columns: Sequence[str] | None = None,
    label: str | None = None,
    score: str | None = None,
    prediction: str | None = None,
    rule: DriftRule | None = None,
    bins: int = DEFAULT_BINS,
    spark: SparkSession | None = None,
) -> DriftReport:
    """:func:`~liveeval.monitor.drift.compare_files` with the histograms computed by Spark:
    the same plan, edges, measurements, call and ranking."""
    rule = rule or DriftRule()
    spark = spark or spark_session()
    ref = _read(spark, reference)
    cur = _read(spark, current)
    plans, skipped = _plan(
        ref.schema,
        cur.schema,
        columns=columns,
        label=label,
        score=score,
        prediction=prediction,
        reference_name=ref.source,
        current_name=cur.source,
    )
    ref_frame, cur_frame = ref.frame.drop(POS), cur.frame.drop(POS)
    edges = {p.name: reference_edges(ref_frame, p.name, bins) for p in plans if p.kind == "numeric"}
    ref_h, ref_rows = _collect_histograms(ref_frame, plans, edges)
    cur_h, cur_rows = _collect_histograms(cur_frame, plans, edges)
    measured: list[DriftMeasurement] = []
    for plan in plans:
        if plan.kind == "numeric":
            measured.append(measure_numeric(ref_h[plan.name], cur_h[plan.name], rule))
        else:
            measured.append(measure_categorical(ref_h[plan.name], cur_h[plan.name], rule))
    return _report(
        plans,
        skipped,
        lambda name: (pa.chunked_array([], pa.null()), pa.chunked_array([], pa.null())),
        rule,
        reference_name=ref.source,
        current_name=cur.source,
        rows=(ref_rows, cur_rows),
        bins=bins,
        measured=measured,
    )
