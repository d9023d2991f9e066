"""Drift between a reference and a current table: every shared column, ranked.

Numeric columns (Arrow integers, floats, decimals) are binned on the reference's
quantile edges and compared with :func:`liveeval.metrics.drift.measure_numeric`;
strings, dictionaries and booleans by category with
:func:`~liveeval.metrics.drift.measure_categorical`. Columns named as the label or the
prediction are compared as categories (prevalence drift), the score as a number.
Timestamps, binary and nested columns are skipped with a reason. All columns are
called together (one Benjamini–Hochberg family) by :func:`~liveeval.metrics.drift.call_drift`.

Parquet files are read one column at a time, so memory holds two columns, not two
tables. :func:`histogram_from_store` turns the store's ``FeatureHistogram`` into the
metrics' :class:`~liveeval.metrics.drift.Histogram`, so live windows use the same code.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnNotFoundError, ValidationError
from ..metrics.drift import (
    DEFAULT_BINS,
    DriftCall,
    DriftMeasurement,
    DriftRule,
    Histogram,
    call_drift,
    measure_categorical,
    measure_numeric,
    quantile_edges,
)

if TYPE_CHECKING:
    from ..store.interface import FeatureHistogram

__all__ = [
    "SCHEMA_VERSION",
    "ColumnDrift",
    "DriftReport",
    "SkippedColumn",
    "category_counts",
    "column_kind",
    "compare_files",
    "compare_tables",
    "histogram_from_store",
    "measure_columns",
    "numeric_values",
]

SCHEMA_VERSION = "1.0"
Role = Literal["feature", "label", "score", "prediction"]
Kind = Literal["numeric", "categorical"]
_ROLE_KIND: dict[str, Kind] = {
    "label": "categorical",
    "prediction": "categorical",
    "score": "numeric",
}


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift call: its role, and the call with its measurement."""

    name: str
    role: Role
    call: DriftCall

    @property
    def kind(self) -> Kind:
        return self.call.measurement.kind

    @property
    def drifted(self) -> bool:
        return self.call.drifted

    @property
    def rank_key(self) -> tuple[int, float, str]:
        """Drifted first, then effect size in units of its threshold (comparable across
        kinds), largest first; then by name."""
        m = self.call.measurement
        effect = -1.0 if m.effect is None else m.effect
        scaled = effect / self.call.threshold if self.call.threshold > 0 else effect
        return (0 if self.drifted else 1, -scaled, self.name)

    def to_dict(self) -> dict[str, Any]:
        m = self.call.measurement
        reason = m.reason
        effect = m.effect
        if effect is not None and math.isinf(effect):
            effect = None
        return {
            "name": self.name,
            "role": self.role,
            "kind": m.kind,
            "method": {"effect": m.effect_method, "test": m.test},
            "effect": {
                "value": effect,
                "lower": _finite(m.effect_lower),
                "upper": _finite(m.effect_upper),
                "threshold": self.call.threshold,
                "interval_method": m.interval_method,
            },
            "test": {"statistic": _finite(m.statistic), "df": m.df},
            "p_value": m.p_value,
            "p_adjusted": self.call.p_adjusted,
            "drifted": self.call.drifted,
            "status": self.call.status,
            "rule": self.call.rule,
            "rows": {
                "reference": m.rows_reference,
                "current": m.rows_current,
                "missing_reference": m.missing_reference,
                "missing_current": m.missing_current,
            },
            "unseen": {"categories": m.unseen_categories, "rows": m.unseen_current},
            "statistics": {k: _finite(v) for k, v in m.statistics.items()},
            "reason": reason,
            "notes": list(m.notes),
            "histogram": {
                "bins": list(m.bins),
                "reference": list(m.reference_shares),
                "current": list(m.current_shares),
            },
        }


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class SkippedColumn:
    """A shared column that was not compared, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class DriftReport:
    """Drift of every compared column between a reference and a current table, ranked."""

    reference: str
    current: str
    rows_reference: int
    rows_current: int
    rule: DriftRule
    columns: tuple[ColumnDrift, ...]
    skipped: tuple[SkippedColumn, ...] = ()
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    @property
    def drifted(self) -> bool:
        return any(c.drifted for c in self.columns)

    @property
    def tests(self) -> int:
        return sum(c.call.p_adjusted is not None for c in self.columns)

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The document of ``schema/drift.schema.json`` (version 1.x)."""
        from .. import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "liveeval_version": __version__,
            "generated_at": self.generated_at,
            "reference": {"path": self.reference, "rows": self.rows_reference},
            "current": {"path": self.current, "rows": self.rows_current},
            "rule": {
                "description": self.rule.describe(self.tests),
                **self.rule.to_dict(),
                "tests": self.tests,
                "ranking": "drifted first, then effect size / threshold, largest first",
            },
            "drifted": self.drifted,
            "drifted_columns": [c.name for c in self.columns if c.drifted],
            "features": [c.to_dict() for c in self.columns],
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text


# -- columns -----------------------------------------------------------------------------


def column_kind(dtype: pa.DataType) -> Kind | str:
    """``"numeric"``, ``"categorical"``, or the reason a column of this Arrow type is
    not compared."""
    if pa.types.is_dictionary(dtype):
        return column_kind(dtype.value_type)
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_boolean(dtype):
        return "categorical"
    if pa.types.is_string_view(dtype):
        return "categorical"
    if pa.types.is_temporal(dtype):
        return f"a {dtype} column: time moves on by itself, so it would always drift"
    if pa.types.is_null(dtype):
        return "the column holds only nulls"
    return f"a {dtype} column: only numbers, strings and booleans are compared"


def _numbers(col: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A numeric column as a fresh, writable float64 array, nulls as NaN (counted as
    missing downstream).

    Read from the Arrow buffers directly: pyarrow's ``to_numpy`` imports pandas, which
    cost more than the whole comparison of a 100,000-row file here.
    """
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if col.type != pa.float64():
        col = pc.cast(col, pa.float64(), safe=False)
    if col.null_count:
        col = pc.fill_null(col, math.nan)
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    out = np.empty(sum(len(c) for c in chunks), dtype=np.float64)
    start = 0
    for c in chunks:
        n = len(c)
        if n:
            out[start : start + n] = np.frombuffer(
                c.buffers()[1], dtype=np.float64, count=n, offset=c.offset * 8
            )
            start += n
    return out


def _dictionary_counts(col: pa.ChunkedArray | pa.Array) -> dict[str, int] | None:
    """Counts of a dictionary-encoded string column from its indices (one bincount per
    chunk), without materialising the strings; ``None`` for other types."""
    if not (
        pa.types.is_dictionary(col.type)
        and (
            pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type)
        )
    ):
        return None
    out: dict[str, int] = {}
    for chunk in col.chunks if isinstance(col, pa.ChunkedArray) else [col]:
        if not len(chunk):
            continue
        indices = chunk.indices
        if indices.null_count:
            indices = indices.drop_null()
        idx = np.frombuffer(
            indices.buffers()[1],
            dtype=indices.type.to_pandas_dtype(),
            count=len(indices),
            offset=indices.offset * indices.type.byte_width,
        )
        counts = np.bincount(idx, minlength=len(chunk.dictionary))
        for name, n in zip(chunk.dictionary.to_pylist(), counts.tolist(), strict=True):
            if n:
                out[str(name)] = out.get(str(name), 0) + int(n)
    return out


def _category_counts(col: pa.ChunkedArray | pa.Array) -> tuple[dict[str, int], int]:
    if isinstance(col, pa.ChunkedArray) and col.num_chunks == 0:
        return {}, 0
    missing = col.null_count
    fast = _dictionary_counts(col)
    if fast is not None:
        return fast, missing
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        if pa.types.is_boolean(col.type):
            col = pc.if_else(col, "true", "false")
        elif pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
            if pa.types.is_boolean(col.type):
                col = pc.if_else(col, "true", "false")
            elif not pa.types.is_string(col.type):
                col = pc.cast(col, pa.string())
        else:
            col = pc.cast(col, pa.string())
    counts = pc.value_counts(col)
    values = counts.field("values").to_pylist()
    freqs = counts.field("counts").to_pylist()
    return {str(v): int(n) for v, n in zip(values, freqs, strict=True) if v is not None}, missing


def numeric_values(col: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A numeric Arrow column as a fresh float64 array, nulls as NaN."""
    return _numbers(col)


def category_counts(col: pa.ChunkedArray | pa.Array) -> tuple[dict[str, int], int]:
    """Counts per category of a string, dictionary or boolean column (booleans as
    ``"true"``/``"false"``, as the store keeps them), and the number of nulls."""
    return _category_counts(col)


def measure_columns(
    reference: pa.ChunkedArray | pa.Array,
    current: pa.ChunkedArray | pa.Array,
    kind: Kind,
    rule: DriftRule,
    *,
    bins: int = DEFAULT_BINS,
) -> DriftMeasurement:
    """One column's drift measurement from two Arrow columns (no call yet)."""
    if kind == "categorical":
        ref_counts, ref_missing = _category_counts(reference)
        cur_counts, cur_missing = _category_counts(current)
        return measure_categorical(
            Histogram.from_categories(ref_counts, missing=ref_missing),
            Histogram.from_categories(cur_counts, missing=cur_missing),
            rule,
        )
    # _numbers gives fresh arrays: sorted in place, no third copy (10M rows: 80 MB each).
    ref = _numbers(reference)
    ref.sort()
    cur = _numbers(current)
    cur.sort()
    try:
        edges = quantile_edges(ref, bins, is_sorted=True)
    except ValidationError:  # no finite number in the reference
        edges = np.array([0.0, 1.0])
    return measure_numeric(
        Histogram.from_values(ref, edges, is_sorted=True),
        Histogram.from_values(cur, edges, is_sorted=True),
        rule,
    )


def histogram_from_store(histogram: FeatureHistogram) -> Histogram:
    """The store's ``FeatureHistogram`` as the metrics' :class:`Histogram` (same counts;
    ``rows`` is implied by them)."""
    return Histogram(
        edges=np.asarray(histogram.edges, dtype=np.float64),
        counts=np.asarray(histogram.counts, dtype=np.int64),
        below=histogram.below,
        above=histogram.above,
        categories=dict(histogram.categories),
        other=histogram.other,
        missing=histogram.missing,
    )


# -- tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    name: str
    role: Role
    kind: Kind


def _not_found(name: str, flag: str, source: str, names: Sequence[str]) -> ColumnNotFoundError:
    close = difflib.get_close_matches(name, list(names), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    return ColumnNotFoundError(
        f"no such column (given by {flag}).{hint} Columns are: {shown}",
        source=source,
        column=name,
    )


def _plan(
    ref_schema: pa.Schema,
    cur_schema: pa.Schema,
    *,
    columns: Sequence[str] | None,
    label: str | None,
    score: str | None,
    prediction: str | None,
    reference_name: str,
    current_name: str,
) -> tuple[list[_Plan], list[SkippedColumn]]:
    ref_names, cur_names = list(ref_schema.names), list(cur_schema.names)
    given: tuple[tuple[str | None, Role], ...] = (
        (label, "label"),
        (score, "score"),
        (prediction, "prediction"),
    )
    roles: dict[str, Role] = {name: r for name, r in given if name is not None}
    wanted: list[tuple[str, str]] = [(n, "--columns") for n in (columns or [])]
    wanted += [(n, f"--{r}") for n, r in roles.items()]
    for name, flag in wanted:
        for names, source in ((ref_names, reference_name), (cur_names, current_name)):
            if name not in names:
                raise _not_found(name, flag, source, names)
    if columns:
        chosen = list(dict.fromkeys([*columns, *roles]))
    else:
        chosen = [n for n in ref_names if n in set(cur_names)]
        chosen += [n for n in roles if n not in chosen]
    if not chosen:
        raise ValidationError(
            f"{reference_name} and {current_name} share no column: the reference has "
            f"{', '.join(ref_names[:10]) or 'none'}; the current has "
            f"{', '.join(cur_names[:10]) or 'none'}"
        )
    plans: list[_Plan] = []
    skipped: list[SkippedColumn] = []
    for name in chosen:
        role = roles.get(name, "feature")
        ref_kind = column_kind(ref_schema.field(name).type)
        cur_kind = column_kind(cur_schema.field(name).type)
        if role in _ROLE_KIND:
            kind = _ROLE_KIND[role]
            if kind == "numeric" and (ref_kind != "numeric" or cur_kind != "numeric"):
                raise ValidationError(
                    f"the score must be numeric in both files, got {ref_schema.field(name).type} "
                    f"and {cur_schema.field(name).type}",
                    column=name,
                )
            plans.append(_Plan(name, role, kind))
        elif ref_kind not in ("numeric", "categorical"):
            skipped.append(SkippedColumn(name, str(ref_kind)))
        elif ref_kind != cur_kind:
            skipped.append(
                SkippedColumn(
                    name,
                    f"{ref_kind} in the reference ({ref_schema.field(name).type}) but "
                    f"{cur_kind if cur_kind in ('numeric', 'categorical') else 'not comparable'} "
                    f"in the current window ({cur_schema.field(name).type})",
                )
            )
        else:
            plans.append(_Plan(name, role, ref_kind))  # type: ignore[arg-type]
    if not plans:
        raise ValidationError(
            f"no shared column can be compared: {'; '.join(f'{s.name}: {s.reason}' for s in skipped)}"
        )
    return plans, skipped


def _report(
    plans: Sequence[_Plan],
    skipped: Sequence[SkippedColumn],
    read: Callable[[str], tuple[pa.ChunkedArray, pa.ChunkedArray]],
    rule: DriftRule,
    *,
    reference_name: str,
    current_name: str,
    rows: tuple[int, int],
    bins: int,
    measured: Sequence[DriftMeasurement] | None = None,
) -> DriftReport:
    """The ranked report; ``measured`` gives each plan's measurement (an engine that
    measured elsewhere), else each plan's columns are read with ``read`` and measured."""

    def measure(plan: _Plan) -> DriftMeasurement:
        ref_col, cur_col = read(plan.name)
        return measure_columns(ref_col, cur_col, plan.kind, rule, bins=bins)

    if measured is not None:
        measurements = list(measured)
    else:
        # Two columns at a time: Parquet decoding and numpy's sort release the GIL, and
        # memory holds two columns of each file, not two tables.
        workers = max(1, min(2, os.cpu_count() or 1, len(plans)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            measurements = list(pool.map(measure, plans))
    calls = call_drift(measurements, rule)
    ranked = sorted(
        (ColumnDrift(p.name, p.role, c) for p, c in zip(plans, calls, strict=True)),
        key=lambda c: c.rank_key,
    )
    return DriftReport(
        reference=reference_name,
        current=current_name,
        rows_reference=rows[0],
        rows_current=rows[1],
        rule=rule,
        columns=tuple(ranked),
        skipped=tuple(skipped),
    )


def compare_tables(
    reference: pa.Table,
    current: pa.Table,
    *,
    columns: Sequence[str] | None = None,
    label: str | None = None,
    score: str | None = None,
    prediction: str | None = None,
    rule: DriftRule | None = None,
    bins: int = DEFAULT_BINS,
    reference_name: str = "<reference>",
    current_name: str = "<current>",
    labelled_only: bool = False,
) -> DriftReport:
    """Drift of every shared column (or ``columns``) from ``reference`` to ``current``.

    ``label`` and ``prediction`` columns are compared as categories, ``score`` as a
    number, whatever their Arrow types. With ``labelled_only``, the label's prevalence
    is compared over the rows that have a label (a log whose ground truth is still
    arriving has empty labels that are not a change of prevalence). Raises
    :class:`ColumnNotFoundError` for a named column missing from either table,
    :class:`ValidationError` when nothing can be compared.
    """
    rule = rule or DriftRule()
    plans, skipped = _plan(
        reference.schema,
        current.schema,
        columns=columns,
        label=label,
        score=score,
        prediction=prediction,
        reference_name=reference_name,
        current_name=current_name,
    )

    def read(name: str) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
        ref, cur = reference.column(name), current.column(name)
        if labelled_only and name == label:
            return ref.drop_null(), cur.drop_null()
        return ref, cur

    return _report(
        plans,
        skipped,
        read,
        rule,
        reference_name=reference_name,
        current_name=current_name,
        rows=(reference.num_rows, current.num_rows),
        bins=bins,
    )


class _FileColumns:
    """Columns of a file on demand: Parquet one column at a time, others read once."""

    def __init__(self, path: Path) -> None:
        from ..data.reader import FORMATS, read_table

        self.path = path
        self._read_table = read_table
        suffix = path.suffix.lower()
        self.parquet = FORMATS.get(suffix) == "parquet"
        self._table: pa.Table | None = None
        if self.parquet:
            import pyarrow.parquet as pq

            read_table(path, columns=[])  # the reader's checks and messages
            meta = pq.ParquetFile(path)
            self.schema: pa.Schema = meta.schema_arrow
            self.rows: int = meta.metadata.num_rows
        else:
            self._table = read_table(path)
            self.schema = self._table.schema
            self.rows = self._table.num_rows

    def column(self, name: str) -> pa.ChunkedArray:
        if self._table is not None:
            return self._table.column(name)
        import pyarrow.parquet as pq

        # A reader per call: reads run on two threads. Strings stay dictionary-encoded
        # (as Parquet stores them), so categories are counted from their indices.
        dtype = self.schema.field(name).type
        strings = pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
        reader = pq.ParquetFile(self.path, read_dictionary=[name] if strings else None)
        return reader.read(columns=[name]).column(name)


def compare_files(
    reference: str | Path,
    current: str | Path,
    *,
    columns: Sequence[str] | None = None,
    label: str | None = None,
    score: str | None = None,
    prediction: str | None = None,
    rule: DriftRule | None = None,
    bins: int = DEFAULT_BINS,
    engine: str = "local",
) -> DriftReport:
    """:func:`compare_tables` on two files (CSV, Parquet, JSON Lines; see
    :mod:`liveeval.data.reader`). Parquet is read a column at a time.

    With ``engine="spark"``, ``reference`` and ``current`` are Parquet files, folders or
    globs, and PySpark computes the histograms on the reference's exact quantile edges
    (:func:`liveeval.engines.spark.drift.compare_parquet`)."""
    rule = rule or DriftRule()
    if engine == "spark":
        from ..engines.spark.drift import compare_parquet

        return compare_parquet(
            reference,
            current,
            columns=columns,
            label=label,
            score=score,
            prediction=prediction,
            rule=rule,
            bins=bins,
        )
    if engine != "local":
        raise ValidationError(f"engine {engine!r} is not one of 'local', 'spark'")
    ref = _FileColumns(Path(reference))
    cur = _FileColumns(Path(current))
    plans, skipped = _plan(
        ref.schema,
        cur.schema,
        columns=columns,
        label=label,
        score=score,
        prediction=prediction,
        reference_name=str(reference),
        current_name=str(current),
    )
    return _report(
        plans,
        skipped,
        lambda name: (ref.column(name), cur.column(name)),
        rule,
        reference_name=str(reference),
        current_name=str(current),
        rows=(ref.rows, cur.rows),
        bins=bins,
    )
