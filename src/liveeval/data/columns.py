"""Turning a table of logged predictions into validated numpy arrays.

This is the boundary where bad input is caught: every missing column, unknown
label, out-of-range score, bad probability row or missing value is reported with
the source, the column and the first offending row, and rows left out of the
quality metrics are counted with the reason.

Rows are counted from 1: row 1 is the first data row (in a CSV file, the line
after the header). Operational columns named ``status``, ``latency_seconds``,
``latency_ms`` or ``latency_s`` are used without a flag, and the report says so.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnNotFoundError, UnknownLabelError, ValidationError
from ..metrics.evaluation import PROBA_SUM_TOLERANCE
from ..metrics.labels import Label, normalise_label, sort_labels
from ..metrics.loss import row_sums

__all__ = ["ColumnSpec", "Part", "Prepared", "coerce_label", "prepare", "timestamps"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OK_STATUSES = {"ok", "success", "succeeded", "successful", "200", "true"}
LATENCY_UNITS = {"s": 1.0, "seconds": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
# Picked up by name when no flag names them; a bare "latency" only with --latency-unit.
AUTO_LATENCY = ("latency_seconds", "latency_ms", "latency_s")
AUTO_STATUS = ("status",)

RowOf = Callable[[int], int]
"""Maps a 0-based index into the arrays being checked to the row number shown (from 1)."""


def _from_one(i: int) -> int:
    return i + 1


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns hold what. Names are the CLI's ``--label``, ``--score`` … flags."""

    label: str
    pred: str | None = None
    score: str | None = None
    proba: tuple[str, ...] | None = None
    proba_prefix: str | None = None
    pos_label: Any = None
    labels: tuple[Any, ...] | None = None
    time: str | None = None
    version: str | None = None
    segment: str | None = None
    weight: str | None = None
    latency: str | None = None
    latency_unit: str | None = None
    status: str | None = None
    threshold: float = 0.5
    # Tumbling time windows of the time breakdown ("15m", "1h", "1d"), instead of the
    # calendar unit chosen from the data's span.
    window: str | None = None

    def __post_init__(self) -> None:
        if self.proba_prefix is not None and not self.proba_prefix:
            raise ValidationError("--proba-prefix is empty; give the prefix, e.g. p_")
        if self.score is not None and (self.proba or self.proba_prefix):
            raise ValidationError(
                "give either --score (binary) or --proba/--proba-prefix, not both"
            )
        if self.proba and self.proba_prefix:
            raise ValidationError("give either --proba or --proba-prefix, not both")
        if not (0.0 <= self.threshold <= 1.0) or math.isnan(self.threshold):
            raise ValidationError(f"threshold {self.threshold!r} is not in [0, 1]")
        if self.pred is None and self.score is None and not self.proba and not self.proba_prefix:
            raise ValidationError(
                "no predictions: give --pred (predicted label), --score (binary score) "
                "or --proba/--proba-prefix (class probabilities)"
            )
        if self.window is not None:
            if self.time is None:
                raise ValidationError("--window needs --time: the column with prediction times")
            window_seconds(self.window)
        if self.latency_unit is not None and self.latency_unit not in LATENCY_UNITS:
            raise ValidationError(
                f"latency unit {self.latency_unit!r} is not one of {sorted(LATENCY_UNITS)}"
            )

    def named_columns(self) -> list[str]:
        names = [
            self.label,
            self.pred,
            self.score,
            self.time,
            self.version,
            self.segment,
            self.weight,
            self.latency,
            self.status,
            *(self.proba or ()),
        ]
        return [n for n in names if n]


@dataclass(frozen=True)
class Part:
    """What is decided over a whole table, for validating one part of it (a batch of a
    distributed read): the classes and the positive label as :func:`prepare` resolved
    them over every row, and the time breakdown's unit. A part may have no labelled
    row, and its weights may all be 0; the whole is checked for those."""

    labels: tuple[Label, ...]
    pos_label: Label | None
    time_unit: str | None = None


@dataclass
class Prepared:
    """Validated arrays of the rows that enter the quality metrics, plus what was left out."""

    source: str
    rows_read: int
    excluded: dict[str, int]
    labels: tuple[Label, ...]
    pos_label: Label | None
    true_codes: IntArray
    pred_codes: IntArray | None
    score: FloatArray | None
    proba: FloatArray | None
    weight: FloatArray | None
    groups: dict[str, tuple[list[str], IntArray]] = field(default_factory=dict)
    time_unit: str | None = None
    latency_seconds: FloatArray | None = None
    failed: npt.NDArray[np.bool_] | None = None
    columns_used: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    spec: ColumnSpec | None = None
    """The spec as applied: with the operational columns found by name filled in."""
    duplicated: tuple[str, ...] = ()
    # Per time bucket key: (ok predictions, labelled ones), for label coverage.
    window_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Column names that occur more than once (unused, so left out of every check)."""
    latency_absent: int = 0
    """Rows without a latency value (left out of the latency percentiles)."""

    @property
    def rows_evaluated(self) -> int:
        return int(self.true_codes.shape[0])


def _missing(name: str, table: pa.Table, source: str, flag: str) -> ColumnNotFoundError:
    names = table.column_names
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    return ColumnNotFoundError(
        f"no such column (given by {flag}){hint} Columns are: {shown}",
        source=source,
        column=name,
    )


def coerce_label(value: Any, arrow_type: pa.DataType, *, what: str = "label") -> Label:
    """Convert a label given as text (CLI) to the type of the label column."""
    if value is None:
        return None
    if not isinstance(value, str):
        return normalise_label(value)
    text = value.strip()
    if pa.types.is_integer(arrow_type):
        try:
            return int(text)
        except ValueError:
            raise ValidationError(
                f"{what} {value!r} is not an integer, but the label column holds integers"
            ) from None
    if pa.types.is_floating(arrow_type):
        try:
            return float(text)
        except ValueError:
            raise ValidationError(
                f"{what} {value!r} is not a number, but the label column holds numbers"
            ) from None
    if pa.types.is_boolean(arrow_type):
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValidationError(
            f"{what} {value!r} is not true/false, but the label column is boolean"
        )
    return text


def _dictionary(arr: pa.ChunkedArray | pa.Array) -> tuple[IntArray, list[Any]]:
    """Integer codes and the distinct values of a column, via Arrow's hash encoding.

    Codes follow the order of first appearance, so code ``k`` first occurs no
    earlier than code ``k - 1``.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        # Encoding a dictionary array keeps its null indices; decode to encode nulls.
        arr = arr.dictionary_decode()
    # Nulls become a dictionary entry of their own (None) rather than null indices.
    encoded = pc.dictionary_encode(arr, null_encoding="encode")
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return indices.astype(np.int64, copy=False), encoded.dictionary.to_pylist()


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _first_failure(arr: pa.Array, ok: Callable[[pa.Array], bool]) -> int:
    """Index of the first element of ``arr`` that makes ``ok`` false (``ok(arr)`` is false).

    Halves the range each step: about ``len(arr)`` elements checked in all.
    """
    lo, hi = 0, len(arr)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(arr.slice(lo, mid - lo)):
            lo = mid
        else:
            hi = mid
    return lo


def _flat(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _casts(arr: pa.Array, target: pa.DataType) -> bool:
    try:
        pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _text(value: Any, limit: int = 40) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _check_scalar(table: pa.Table, name: str, source: str, what: str) -> None:
    """Labels, statuses and groups must be plain values, not lists or structs."""
    t = table.column(name).type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        raise ValidationError(
            f"expected {what}, found binary data (in a CSV file: text that is not UTF-8; "
            "save the file as UTF-8)",
            source=source,
            column=name,
        )
    if pa.types.is_nested(t):
        raise ValidationError(
            f"expected {what} (integers, strings or booleans), found {t}",
            source=source,
            column=name,
        )


def _floats(table: pa.Table, name: str, source: str, row_of: RowOf = _from_one) -> FloatArray:
    col = table.column(name)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        flat = _flat(col)
        if not _casts(flat, pa.float64()):
            i = _first_failure(flat, lambda a: _casts(a, pa.float64()))
            raise ValidationError(
                f"{_text(flat[i].as_py())} is not a number",
                source=source,
                column=name,
                row=row_of(i),
            )
        col = pc.cast(flat, pa.float64())
    elif not (
        pa.types.is_floating(col.type)
        or pa.types.is_integer(col.type)
        or pa.types.is_decimal(col.type)
        or pa.types.is_null(col.type)
    ):
        raise ValidationError(f"expected numbers, found {col.type}", source=source, column=name)
    if pa.types.is_null(col.type):
        return np.full(len(col), np.nan)
    values = col.to_numpy() if col.null_count == 0 else col.to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64)


def _status_failed(
    table: pa.Table, name: str, source: str, row_of: RowOf = _from_one
) -> npt.NDArray[np.bool_]:
    _check_scalar(table, name, source, "statuses")
    col = table.column(name)
    if col.null_count:
        row = _first(np.asarray(col.is_null().to_numpy(zero_copy_only=False)))
        raise ValidationError(
            "status is missing; expected 'ok' (or success, 200, true) or an error name",
            source=source,
            column=name,
            row=row_of(row),
        )
    if pa.types.is_boolean(col.type):
        flags = np.asarray(col.to_numpy(zero_copy_only=False), dtype=bool)
        says_ok = any(word in name.lower() for word in ("ok", "success"))
        return ~flags if says_ok else flags
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        http = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
        return ~((http >= 200) & (http < 300))
    codes, values = _dictionary(col)
    ok = np.array([str(v).strip().lower() in OK_STATUSES for v in values], dtype=bool)
    return ~ok[codes] if len(values) else np.zeros(table.num_rows, dtype=bool)


_NAIVE = pa.timestamp("us")
_AWARE = pa.timestamp("us", tz="UTC")


def _parse_time_strings(col: pa.Array, name: str, source: str, row_of: RowOf) -> pa.Array:
    """ISO-8601 strings, all with a zone offset or all without (as the first row decides)."""
    for target in (_NAIVE, _AWARE):
        if _casts(col, target):
            return pc.cast(col, target)
    first = col[0].as_py()
    mode, other = (_NAIVE, _AWARE) if _casts(col.slice(0, 1), _NAIVE) else (_AWARE, _NAIVE)
    if not _casts(col.slice(0, 1), mode):
        i = 0
    else:
        i = _first_failure(col, lambda a: _casts(a, mode))
    value = col[i].as_py()
    if i > 0 and _casts(col.slice(i, 1), other):
        has = "has no" if other == _NAIVE else "has a"
        had = "with" if mode == _AWARE else "without"
        detail = (
            f"{_text(value)} {has} zone offset but row {row_of(0)} ({_text(first)}) is "
            f"{had} one; give every timestamp with an offset (…Z, …+02:00) or none"
        )
    else:
        detail = (
            f"{_text(value)} is not an ISO-8601 timestamp (such as 2026-10-01, "
            "2026-10-01T12:30:00 or 2026-10-01T12:30:00Z)"
        )
    raise ValidationError(detail, source=source, column=name, row=row_of(i))


def timestamps(table: pa.Table, name: str, source: str, row_of: RowOf = _from_one) -> pa.Array:
    """A time column as microsecond timestamps: timestamps, dates, ISO-8601 strings or
    epoch seconds; a missing or unreadable value is an error naming its row."""
    col = table.column(name)
    if col.null_count:
        row = _first(np.asarray(col.is_null().to_numpy(zero_copy_only=False)))
        raise ValidationError("timestamp is missing", source=source, column=name, row=row_of(row))
    if pa.types.is_dictionary(col.type):
        col = _flat(col).dictionary_decode()
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        ts = pc.cast(col, pa.timestamp("us", tz=getattr(col.type, "tz", None)))
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        ts = _parse_time_strings(_flat(col), name, source, row_of)
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        seconds = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
        # Years 1 to 9999, as Python's datetime allows.
        bad = ~(np.isfinite(seconds) & (np.abs(seconds) < 2.5e11))
        if bad.any():
            i = _first(bad)
            raise ValidationError(
                f"{float(seconds[i])!r} is not a time in epoch seconds",
                source=source,
                column=name,
                row=row_of(i),
            )
        ts = pa.array((seconds * 1e6).astype("int64"), type=pa.timestamp("us"))
    else:
        raise ValidationError(
            f"expected timestamps, ISO-8601 strings or epoch seconds, found {col.type}",
            source=source,
            column=name,
        )
    return ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts


def window_seconds(window: str) -> float:
    """Seconds of a ``--window`` such as ``15m``, ``1h`` or ``1d``."""
    from ..config import parse_window
    from ..errors import ConfigError

    try:
        return parse_window(window).total_seconds()
    except ConfigError:
        raise ValidationError(
            f"--window {window[:40]!r} is not a duration like 15m, 1h or 1d"
        ) from None


# At most this many windows in one report: 1-minute windows over a year is a mistake.
MAX_TIME_BUCKETS = 10_000
_US = 1_000_000


def _bucket_unit(ts: pa.Array, window: str | None) -> str:
    """The time breakdown's unit: the given window, else the finest calendar unit that
    gives at most 48 buckets over the span of ``ts``."""
    if window is not None:
        return window
    lo, hi = pc.min_max(ts).values()
    span = (hi.value - lo.value) / 1e6 if lo.is_valid else 0.0
    return unit_for_span(span)


def unit_for_span(span: float) -> str:
    """The finest calendar unit that gives at most 48 buckets over ``span`` seconds."""
    return next(
        (
            u
            for u, seconds in (("hour", 3600), ("day", 86400), ("week", 7 * 86400))
            if span / seconds <= 48
        ),
        "month",
    )


def _bucket_starts(ts: pa.Array, unit: str) -> npt.NDArray[np.int64]:
    """The start of each timestamp's bucket, in microseconds since the epoch (UTC)."""
    if ts.type.tz is not None:  # buckets are UTC, as the server's windows are
        ts = ts.cast(pa.timestamp("us"))
    if unit in ("hour", "day", "week", "month"):
        floored = pc.floor_temporal(ts, unit=unit, week_starts_monday=True)
        return np.asarray(floored.cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)
    size = int(window_seconds(unit) * _US)
    us = np.asarray(ts.cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)
    return (us // size) * size


def _bucket_key(start_us: int, unit: str) -> str:
    moment = datetime.fromtimestamp(start_us / _US, tz=UTC)
    if unit in ("hour", "day", "week", "month"):
        fmt = {
            "hour": "%Y-%m-%d %H:00",
            "day": "%Y-%m-%d",
            "week": "%Y-%m-%d (week)",
            "month": "%Y-%m",
        }[unit]
    else:
        fmt = "%Y-%m-%d" if window_seconds(unit) % 86400 == 0 else "%Y-%m-%d %H:%M"
    return moment.strftime(fmt)


def _time_buckets(
    table: pa.Table,
    name: str,
    source: str,
    row_of: RowOf,
    unit: str,
) -> tuple[list[str], IntArray]:
    """Bucket keys in time order and each row's bucket code."""
    starts = _bucket_starts(timestamps(table, name, source, row_of), unit)
    distinct, codes = np.unique(starts, return_inverse=True)
    if distinct.size > MAX_TIME_BUCKETS:
        raise too_many_windows(distinct.size, unit, source, name)
    return [_bucket_key(int(v), unit) for v in distinct], codes.astype(np.int64)


def too_many_windows(count: int, unit: str, source: str, column: str) -> ValidationError:
    """The error for ``count`` time windows, beyond :data:`MAX_TIME_BUCKETS`."""
    return ValidationError(
        f"{count:,} time windows of {unit} is more than {MAX_TIME_BUCKETS:,}; "
        "choose a larger --window",
        source=source,
        column=column,
    )


def no_positive_weight(rows: int, source: str, column: str) -> ValidationError:
    """The error for ``rows`` evaluated rows whose weights are all 0."""
    return ValidationError(
        f"every weight of the {rows:,} rows evaluated is 0; at least one must be positive",
        source=source,
        column=column,
    )


def _window_counts(
    table: pa.Table,
    name: str,
    failed: npt.NDArray[np.bool_] | None,
    labelled_keys: list[str],
    labelled_codes: IntArray,
    unit: str,
) -> dict[str, tuple[int, int]]:
    """Per time bucket: ok predictions (labelled or not) and labelled ones, so each
    window shows its label coverage. Rows without a readable time are left out here
    (they are not in the time breakdown either)."""
    col = table.column(name)
    ok = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if failed is not None:
        ok &= ~failed
    rows = table.filter(pa.array(ok))
    counts: dict[str, tuple[int, int]] = {}
    try:
        starts = _bucket_starts(timestamps(rows, name, "<rows>"), unit)
    except ValidationError:
        return counts
    distinct, per = np.unique(starts, return_counts=True)
    labelled = np.bincount(labelled_codes, minlength=len(labelled_keys))
    for start, n in zip(distinct.tolist(), per.tolist(), strict=True):
        counts[_bucket_key(int(start), unit)] = (int(n), 0)
    for key, n in zip(labelled_keys, labelled.tolist(), strict=True):
        counts[key] = (counts.get(key, (0, 0))[0], int(n))
    return counts


FLAGS = {
    "label": "--label",
    "pred": "--pred",
    "score": "--score",
    "time": "--time",
    "version": "--version",
    "segment": "--segment",
    "weight": "--weight",
    "latency": "--latency",
    "status": "--status",
}


def _probability_columns(
    table: pa.Table, spec: ColumnSpec, duplicated: tuple[str, ...], source: str
) -> tuple[list[str], str | None]:
    """The class-probability columns and the prefix before each one's class name."""
    columns = table.column_names
    proba_columns: list[str] = list(spec.proba or ())
    prefix = spec.proba_prefix
    if prefix is not None:
        proba_columns = list(
            dict.fromkeys(c for c in columns if c.startswith(prefix) and c != prefix)
        )
        for name in proba_columns:
            if name in duplicated:
                raise ValidationError(
                    "a probability column's name is the header of more than one column; "
                    "rename them so each name is unique",
                    source=source,
                    column=name,
                )
        if not proba_columns:
            raise ValidationError(
                f"no column starts with the probability prefix {prefix!r}", source=source
            )
    elif proba_columns:
        prefix = _common_prefix(proba_columns)
    if proba_columns and len(proba_columns) < 2:
        raise ValidationError(
            "class probabilities need one column per class (two or more); "
            "for a binary score use --score",
            source=source,
        )
    return proba_columns, prefix


def _rows_to_evaluate(
    table: pa.Table, spec: ColumnSpec, notes: list[str], source: str, *, whole: bool = True
) -> tuple[npt.NDArray[np.bool_] | None, dict[str, int], IntArray | None]:
    """Failed predictions, rows left out by reason, and the indices of the rows kept
    (``None`` when every row is kept, so that no index array is built)."""
    n = table.num_rows
    failed_all = _status_failed(table, spec.status, source) if spec.status else None
    found_by_name = spec.status is not None and any(
        note.startswith("prediction status") for note in notes
    )
    label_col = table.column(spec.label)
    has_label = np.asarray(label_col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    excluded: dict[str, int] = {}
    keep = has_label.copy()
    if failed_all is not None:
        failed_count = int(failed_all.sum())
        if failed_count:
            excluded["failed prediction (status not ok)"] = failed_count
        keep &= ~failed_all
    unlabelled = int((~has_label & (True if failed_all is None else ~failed_all)).sum())
    if unlabelled:
        excluded["label missing (ground truth not yet arrived)"] = unlabelled
    all_kept = bool(keep.all())
    # Row indices are only materialised when rows were left out.
    rows_kept = None if all_kept else np.flatnonzero(keep)
    if whole and rows_kept is not None and rows_kept.size == 0:
        all_failed = failed_all is not None and bool(failed_all.all())
        raise no_labelled_rows(n, excluded, spec, source, found_by_name and all_failed)
    return failed_all, excluded, rows_kept


def no_labelled_rows(
    n: int, excluded: dict[str, int], spec: ColumnSpec, source: str, status_by_name: bool
) -> ValidationError:
    """The error for a table of ``n`` rows none of which is labelled and successful;
    ``status_by_name`` when the status column was found by name and says no row is ok."""
    hint = ""
    if status_by_name:
        hint = (
            f"; column '{spec.status}' was taken as the prediction status (found by "
            "name) and no row says ok (or success, 200, true)"
        )
    return ValidationError(
        f"no labelled rows to evaluate among {n} ({_describe(excluded)}){hint}",
        source=source,
        column=spec.label,
    )


def resolve_columns(
    table: pa.Table, spec: ColumnSpec, source: str = "<table>"
) -> tuple[ColumnSpec, list[str], tuple[str, ...]]:
    """Check that the named columns exist once each, and fill in the operational
    columns found by name (``status``, ``latency_seconds`` …).

    Returns the spec as applied, notes saying what was found by name, and the
    names that occur more than once (allowed only for columns left unused).
    """
    columns = table.column_names
    counts = Counter(columns)
    duplicated = tuple(c for c, k in counts.items() if k > 1)
    named = [(getattr(spec, attr), flag) for attr, flag in FLAGS.items()]
    named += [(name, "--proba") for name in spec.proba or ()]
    for name, flag in named:
        if name is None:
            continue
        if name not in counts:
            raise _missing(name, table, source, flag)
        if counts[name] > 1:
            where = [str(i + 1) for i, c in enumerate(columns) if c == name]
            raise ValidationError(
                f"the name (given by {flag}) is the header of {counts[name]} columns "
                f"(columns {', '.join(where)}); rename them so each name is unique",
                source=source,
                column=name,
            )
    notes = []
    taken = set(spec.named_columns())
    if spec.status is None:
        auto = next((c for c in AUTO_STATUS if counts.get(c) == 1 and c not in taken), None)
        if auto is not None:
            spec = replace(spec, status=auto)
            notes.append(f"prediction status read from column '{auto}' (found by name)")
    if spec.latency is None:
        candidates = AUTO_LATENCY + (("latency",) if spec.latency_unit else ())
        auto = next((c for c in candidates if counts.get(c) == 1 and c not in taken), None)
        if auto is not None:
            spec = replace(spec, latency=auto)
            notes.append(f"latency read from column '{auto}' (found by name)")
    if duplicated:
        shown = ", ".join(f"'{c}' ({counts[c]}×)" for c in duplicated)
        notes.append(f"column names used more than once, left out of every check: {shown}")
    return spec, notes, duplicated


def prepare(
    table: pa.Table, spec: ColumnSpec, source: str = "<table>", *, part: Part | None = None
) -> Prepared:
    """Validate ``table`` against ``spec`` and extract the arrays the metrics need.

    Every error names ``source``, the column and the first offending row, counted
    from 1 (row 1 is the first data row). With ``part``, ``table`` is one part of a
    larger table whose classes, positive label and time unit ``part`` gives (a
    distributed engine validates each batch so); the checks of the whole — some row
    labelled, some weight positive — are then the caller's.
    """
    spec, notes, duplicated = resolve_columns(table, spec, source)
    n = table.num_rows
    if n == 0 and part is None:
        raise ValidationError("no rows: the data has a header but no values", source=source)
    _check_scalar(table, spec.label, source, "labels")
    if spec.pred is not None:
        _check_scalar(table, spec.pred, source, "predicted labels")

    proba_columns, prefix = _probability_columns(table, spec, duplicated, source)

    label_type = table.column(spec.label).type
    if pa.types.is_dictionary(label_type):
        label_type = label_type.value_type
    try:
        pos_label = coerce_label(spec.pos_label, label_type, what="positive label")
        declared: tuple[Label, ...] | None = (
            None
            if spec.labels is None
            else tuple(coerce_label(v, label_type, what="declared label") for v in spec.labels)
        )
    except ValidationError as exc:
        raise ValidationError(exc.detail, source=source, column=spec.label) from None
    proba_classes = []
    for name in proba_columns:
        try:
            proba_classes.append(coerce_label(name[len(prefix or "") :], label_type))
        except ValidationError as exc:
            raise ValidationError(
                f"the class this probability column stands for: {exc.detail}",
                source=source,
                column=name,
            ) from None

    # Which rows enter the quality metrics.
    if part is not None:
        # Resolved over the whole table: neither coerced nor re-derived from this part.
        pos_label, declared = part.pos_label, part.labels
    failed_all, excluded, rows_kept = _rows_to_evaluate(
        table, spec, notes, source, whole=part is None
    )
    sub = table if rows_kept is None else table.take(pa.array(rows_kept))

    def original_row(i: int) -> int:
        """The row number shown for index ``i`` of ``sub``: counted from 1 in ``table``."""
        return (i if rows_kept is None else int(rows_kept[i])) + 1

    # Labels.
    label_idx, label_values = _dictionary(sub.column(spec.label))
    pred_idx = pred_values = None
    if spec.pred is not None:
        pred_col = sub.column(spec.pred)
        if pred_col.null_count:
            row = original_row(
                _first(np.asarray(pred_col.is_null().to_numpy(zero_copy_only=False)))
            )
            raise ValidationError(
                "predicted label is missing on a labelled, successful row",
                source=source,
                column=spec.pred,
                row=row,
            )
        pred_idx, raw_pred = _dictionary(pred_col)
        pred_values = []
        for code, v in enumerate(raw_pred):
            try:
                pred_values.append(coerce_label(v, label_type, what="predicted label"))
            except ValidationError as exc:
                raise ValidationError(
                    exc.detail,
                    source=source,
                    column=spec.pred,
                    row=original_row(_first(pred_idx == code)),
                ) from None
    for values, col, idx in (
        (label_values, spec.label, label_idx),
        (pred_values or [], spec.pred, pred_idx),
    ):
        for pos, v in enumerate(values):
            if isinstance(v, float) and math.isinf(v) and idx is not None:
                raise ValidationError(
                    f"label {v!r} is not a class: labels are integers, strings or booleans",
                    source=source,
                    column=col,
                    row=original_row(_first(idx == pos)),
                )
            if isinstance(v, float) and abs(v) >= 2.0**53 and idx is not None:
                # A CSV reader turns integers beyond int64 into floats, which merge
                # neighbouring labels: refuse rather than count two classes as one.
                raise ValidationError(
                    f"label {v!r} is too large to be held exactly as a number (|x| >= 2^53); "
                    "make such labels text, e.g. with a prefix such as 'id-'",
                    source=source,
                    column=col,
                    row=original_row(_first(idx == pos)),
                )
        for v in values:
            if isinstance(v, float) and math.isnan(v):
                pos = values.index(v)
                assert idx is not None
                raise ValidationError(
                    "label is NaN", source=source, column=col, row=original_row(_first(idx == pos))
                )

    if declared is not None:
        labels = tuple(declared)
        if len(set(labels)) != len(labels):
            raise ValidationError(f"declared labels repeat a value: {list(labels)!r}")
    else:
        found = set(label_values) | set(pred_values or []) | set(proba_classes)
        if pos_label is not None:
            found.add(pos_label)
        labels = _sorted(found)
    if len(labels) == 1 and part is None:
        # One class of 0/1 integers or booleans is half of a binary problem (a batch with
        # no frauds): evaluate it as binary so the metrics of the class seen stay defined.
        observed = labels[0]
        other = _implied_negative(observed, label_type)
        if other is not None:
            labels = _sorted({observed, other})
            notes.append(
                f"only class {observed!r} occurs; treated as binary; no rows of class {other!r}"
            )
    index = {label: i for i, label in enumerate(labels)}

    def encode(idx: IntArray, values: list[Any], column: str) -> IntArray:
        mapping = np.array([index.get(normalise_label(v), -1) for v in values], dtype=np.int64)
        codes = mapping[idx]
        if (mapping < 0).any():
            bad = _first(codes < 0)
            raise UnknownLabelError(
                f"label {normalise_label(values[idx[bad]])!r} is not one of the declared classes "
                f"{list(labels)!r}",
                source=source,
                column=column,
                row=original_row(bad),
            )
        return codes

    true_codes = encode(label_idx, label_values, spec.label)
    pred_codes = None if pred_idx is None else encode(pred_idx, pred_values or [], spec.pred or "")

    # Positive label.
    if pos_label is None and len(labels) == 2:
        pos_label = _default_positive(labels)
    if spec.score is not None:
        if len(labels) > 2 and declared is None and len(label_values) > 2:
            # Codes follow first appearance: the first row of code 2 is where a
            # two-class column stops being one.
            third = _first(label_idx == 2)
            raise ValidationError(
                f"label {normalise_label(label_values[2])!r} is a third class, but --score is "
                f"for binary problems (earlier rows hold {normalise_label(label_values[0])!r} "
                f"and {normalise_label(label_values[1])!r}); declare the classes with --labels, "
                "or use --proba/--proba-prefix for class probabilities",
                source=source,
                column=spec.label,
                row=original_row(third),
            )
        if len(labels) != 2:
            raise ValidationError(
                f"--score is for binary problems but the labels have {len(labels)} classes "
                f"{list(labels)[:10]!r}; use --proba or --proba-prefix for class probabilities",
                source=source,
                column=spec.label,
            )
        if pos_label is None:
            raise ValidationError(
                f"cannot tell which class is positive among {list(labels)!r}; give --pos-label",
                source=source,
                column=spec.label,
            )
    if pos_label is not None and pos_label not in index:
        raise ValidationError(
            f"positive label {pos_label!r} is not one of the classes {list(labels)!r}",
            source=source,
            column=spec.label,
        )

    # Scores and probabilities.
    score = proba = None
    if spec.score is not None:
        score = _floats(sub, spec.score, source, original_row)
        in_range = score.size == 0 or bool(score.min() >= 0.0 and score.max() <= 1.0)
        bad = np.zeros(0, bool) if in_range else ~((score >= 0.0) & (score <= 1.0))
        if bad.any():
            i = _first(bad)
            raise ValidationError(
                f"{_show(score[i], sub.column(spec.score), i)} is not a probability in [0, 1]",
                source=source,
                column=spec.score,
                row=original_row(i),
            )
    if proba_columns:
        for c in proba_classes:
            if c not in index:
                raise UnknownLabelError(
                    f"probability column for class {c!r} but the classes are {list(labels)!r}",
                    source=source,
                    column=proba_columns[proba_classes.index(c)],
                )
        missing = [label for label in labels if label not in proba_classes]
        for values, idx, where in (
            (label_values, label_idx, spec.label),
            (pred_values or [], pred_idx, spec.pred),
        ):
            # A class met in the data without a probability column: name its first row.
            unknown = [i for i, v in enumerate(values) if normalise_label(v) in missing]
            if unknown and idx is not None:
                i = _first(np.isin(idx, unknown))
                raise UnknownLabelError(
                    f"label {normalise_label(values[int(idx[i])])!r} has no probability "
                    f"column; probability columns are {proba_columns!r}",
                    source=source,
                    column=where,
                    row=original_row(i),
                )
        if missing:
            raise ValidationError(
                f"no probability column for class(es) {missing!r}; probability columns are "
                f"{proba_columns!r}",
                source=source,
            )
        # Column-major: every per-class pass reads one contiguous column.
        proba = np.empty((sub.num_rows, len(labels)), order="F")
        for name, cls in zip(proba_columns, proba_classes, strict=True):
            column_values = _floats(sub, name, source, original_row)
            bad = ~((column_values >= 0.0) & (column_values <= 1.0))
            if bad.any():
                i = _first(bad)
                raise ValidationError(
                    f"{_show(column_values[i], sub.column(name), i)} is not a probability in [0, 1]",
                    source=source,
                    column=name,
                    row=original_row(i),
                )
            proba[:, index[cls]] = column_values
        sums = row_sums(proba)
        off = np.abs(sums - 1.0) > PROBA_SUM_TOLERANCE
        if off.any():
            i = _first(off)
            raise ValidationError(
                f"class probabilities sum to {sums[i]:.6g}, not 1 ({int(off.sum())} row(s) affected)",
                source=source,
                column=",".join(proba_columns),
                row=original_row(i),
            )

    weight = None
    if spec.weight is not None:
        weight = _floats(sub, spec.weight, source, original_row)
        bad = ~(np.isfinite(weight) & (weight >= 0))
        if bad.any():
            i = _first(bad)
            raise ValidationError(
                f"{_show(weight[i], sub.column(spec.weight), i)} is not a finite non-negative weight",
                source=source,
                column=spec.weight,
                row=original_row(i),
            )
        if part is None and not (weight > 0).any():
            raise no_positive_weight(weight.size, source, spec.weight)

    # Groups for the breakdowns.
    groups: dict[str, tuple[list[str], IntArray]] = {}
    for dim, group_col in (("version", spec.version), ("segment", spec.segment)):
        if group_col is None:
            continue
        _check_scalar(sub, group_col, source, f"{dim} names")
        codes, values = _dictionary(sub.column(group_col))
        keys = ["(missing)" if v is None else str(v) for v in values]
        order = sorted(range(len(keys)), key=lambda i: (values[i] is None, str(values[i])))
        rank = np.empty(len(keys), dtype=np.int64)
        rank[order] = np.arange(len(keys))
        groups[dim] = ([keys[i] for i in order], rank[codes])
    time_unit = None
    window_counts: dict[str, tuple[int, int]] = {}
    if spec.time is not None:
        time_unit = (
            part.time_unit
            if part is not None and part.time_unit is not None
            else _bucket_unit(
                _valid_times(table, spec.time, failed_all, sub, source, original_row),
                spec.window,
            )
        )
        keys, codes = _time_buckets(sub, spec.time, source, original_row, time_unit)
        groups["time"] = (keys, codes)
        window_counts = _window_counts(table, spec.time, failed_all, keys, codes, time_unit)

    # Operational columns cover every prediction, labelled or not.
    latency = None
    latency_absent = 0
    latency_col = spec.latency
    if latency_col is not None:
        unit = spec.latency_unit or _latency_unit(latency_col, source)
        raw_latency = _floats(table, latency_col, source)
        present = ~np.isnan(raw_latency)
        bad = present & ~((raw_latency >= 0) & np.isfinite(raw_latency))
        if bad.any():
            i = _first(bad)
            raise ValidationError(
                f"{float(raw_latency[i])!r} is not a finite non-negative latency",
                source=source,
                column=latency_col,
                row=i + 1,
            )
        latency_absent = int(n - present.sum())
        if latency_absent:
            notes.append(latency_note(latency_absent, latency_col))
        latency = raw_latency[present] * LATENCY_UNITS[unit]

    used = {
        "label": spec.label,
        "pred": spec.pred,
        "score": spec.score,
        "proba": proba_columns or None,
        "time": spec.time,
        "version": spec.version,
        "segment": spec.segment,
        "weight": spec.weight,
        "latency": latency_col,
        "status": spec.status,
        "threshold": spec.threshold if spec.pred is None and spec.score else None,
    }
    return Prepared(
        source,
        n,
        excluded,
        labels,
        pos_label if len(labels) == 2 else None,
        true_codes,
        pred_codes,
        score,
        proba,
        weight,
        groups,
        time_unit,
        latency,
        failed_all,
        {k: v for k, v in used.items() if v is not None},
        notes,
        spec,
        duplicated,
        window_counts,
        latency_absent,
    )


def latency_note(absent: int, column: str) -> str:
    """The note for ``absent`` rows without a latency in ``column``."""
    return f"{absent:,} row(s) without a latency in '{column}' left out of the latency percentiles"


def _valid_times(
    table: pa.Table,
    name: str,
    failed: npt.NDArray[np.bool_] | None,
    sub: pa.Table,
    source: str,
    row_of: RowOf,
) -> pa.Array:
    """Times of every ok prediction that has one (for the span that picks the calendar
    unit), or of the labelled rows when those cannot be read (their error is raised by
    the bucketing, naming the row)."""
    keep = np.asarray(table.column(name).is_valid().to_numpy(zero_copy_only=False), bool)
    if failed is not None:
        keep &= ~failed
    try:
        return timestamps(table.filter(pa.array(keep)), name, source)
    except ValidationError:
        return timestamps(sub, name, source, row_of)


def _show(value: float, col: pa.ChunkedArray, i: int) -> str:
    if math.isnan(value):
        return "missing value" if not col[i].is_valid else "NaN"
    return repr(float(value))


def _describe(excluded: dict[str, int]) -> str:
    return "; ".join(f"{v} {k}" for k, v in excluded.items()) or "none excluded"


def _common_prefix(names: Sequence[str]) -> str:
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def _sorted(values: set[Any]) -> tuple[Label, ...]:
    return sort_labels(values)


def _default_positive(labels: tuple[Label, ...]) -> Label | None:
    """1 for {0, 1} and {-1, 1}, True for booleans, as scikit-learn assumes."""
    as_set = set(labels)
    # Checked first: {False, True} == {0, 1} in Python.
    if all(isinstance(label, bool) for label in labels):
        return True if as_set == {False, True} else None
    if as_set in ({0, 1}, {-1, 1}):
        return 1
    return None


def _implied_negative(label: Label, arrow_type: pa.DataType) -> Label | None:
    if pa.types.is_boolean(arrow_type):
        return not label
    if label in (0, 1) and (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)):
        return 1 - int(label)  # type: ignore[call-overload,unused-ignore]
    return None


def _latency_unit(name: str, source: str) -> str:
    lowered = name.lower()
    for suffix, unit in (
        ("_ms", "ms"),
        ("_us", "us"),
        ("_ns", "ns"),
        ("_seconds", "s"),
        ("_s", "s"),
    ):
        if lowered.endswith(suffix):
            return unit
    raise ValidationError(
        "cannot tell the unit of the latency column; name it *_ms or *_seconds, "
        "or pass --latency-unit",
        source=source,
        column=name,
    )
