"""Validation of Arrow batches of predictions: the JSON rules, column at a time.

An Arrow batch may hold hundreds of thousands of rows, so each rule is one vectorised
Arrow expression; a row that breaks a rule is left out and reported with its index,
id and the first rule it broke. Labels are mapped onto each model's classes per
distinct (model, label) pair, so the per-row work stays in Arrow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ValidationError
from ..store import content_schema
from ..store.interface import EARLIEST_TS, LATEST_TS
from ._clock import to_json
from .classes import ClassMap
from .events import IDENTIFIER_PATTERN, NAME_PATTERN, TS_RANGE

__all__ = ["REQUIRED", "Rejection", "validate_prediction_table"]

REQUIRED = ("id", "model", "version", "ts", "status")
MAX_LATENCY_S = 3600.0


@dataclass(frozen=True)
class Rejection:
    index: int
    id: str | None
    detail: str


def _conform(table: pa.Table) -> pa.Table:
    """The store's columns in its order and types; whole-request errors raise."""
    schema = content_schema("predictions")
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        raise ValidationError(f"Arrow batch lacks required column(s) {missing}")
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError(f"Arrow batch repeats column(s) {dupes}")
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise ValidationError(
            f"Arrow batch has unknown column(s) {unknown}; the columns are {schema.names}"
        )
    for f in schema:
        if f.name not in names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    table = table.select(schema.names)
    for i, f in enumerate(schema):
        column = table.column(i)
        if column.type == f.type:
            continue
        try:
            table = table.set_column(i, f.name, column.cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise ValidationError(
                f"Arrow batch column '{f.name}' has type {column.type}, expected {f.type} ({exc})"
            ) from None
    return table.combine_chunks()


def _bad_numbers(column: pa.ChunkedArray, lo: float, hi: float) -> pa.Array:
    """True where a present value is NaN, infinite or outside [lo, hi]."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    filled = pc.fill_null(values, lo)
    return pc.or_(
        pc.is_nan(filled), pc.or_(pc.less(filled, lo), pc.greater(filled, hi))
    )  # is_nan is False for ±inf; the range test catches those


def _bad_probas(column: pa.ChunkedArray) -> pa.Array:
    values = column.combine_chunks()
    n = len(values)
    lengths = pc.fill_null(pc.list_value_length(values), 2).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(values)
    parents = pc.list_parent_indices(values).to_numpy(zero_copy_only=False)
    x = pc.fill_null(flat, np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    bad_value = ~np.isfinite(x) | (x < 0) | (x > 1)
    bad = np.zeros(n, dtype=bool)
    if x.size:
        bad |= np.bincount(parents, weights=bad_value, minlength=n) > 0
        sums = np.bincount(parents, weights=np.where(np.isfinite(x), x, 0.0), minlength=n)
        present = np.asarray(values.is_valid())
        bad |= present & (np.abs(sums - 1.0) > 1e-3)
    bad |= (lengths < 2) | (lengths > 1000)
    return pa.array(bad)


def _bad_names(column: pa.ChunkedArray, max_length: int, pattern: str) -> pa.Array:
    """:func:`_bad_text` for a column of few distinct values (model, version): the
    rules run on the distinct values only."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    bad = _bad_text(encoded.dictionary, max_length, pattern)
    return pc.fill_null(pc.take(bad, encoded.indices), False)


def _bad_text(column: pa.ChunkedArray | pa.Array, max_length: int, pattern: str | None) -> pa.Array:
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    too_long = pc.greater(pc.fill_null(pc.utf8_length(values), 0), max_length)
    if pattern is None:
        return too_long
    matches = pc.fill_null(pc.match_substring_regex(values, pattern), True)
    return pc.or_(too_long, pc.invert(matches))


def validate_prediction_table(
    table: pa.Table, classes: ClassMap
) -> tuple[pa.Table, list[Rejection]]:
    """The rows that pass every rule (labels mapped onto their model's classes), and
    a rejection for each row that does not."""
    table = _conform(table)
    n = table.num_rows
    col = table.column
    rules: list[tuple[str, Callable[[], pa.Array]]] = [
        *((f"'{name}' is missing", lambda name=name: pc.is_null(col(name))) for name in REQUIRED),
        (
            "'id' must be 1–200 characters of letters, digits and _.:-",
            lambda: pc.or_(
                _bad_text(col("id"), 200, IDENTIFIER_PATTERN),
                pc.equal(pc.fill_null(pc.utf8_length(col("id")), 1), 0),
            ),
        ),
        (
            "'model' must be 1–100 characters of letters, digits and _.-",
            lambda: _bad_names(col("model"), 100, NAME_PATTERN),
        ),
        (
            "'version' must be 1–100 characters of letters, digits and _.-",
            lambda: _bad_names(col("version"), 100, NAME_PATTERN),
        ),
        (
            "'status' must be 'ok' or 'error'",
            lambda: pc.invert(
                pc.fill_null(pc.is_in(col("status"), pa.array(["ok", "error"])), True)
            ),
        ),
        (
            "a successful prediction (status 'ok') needs its predicted 'label'",
            lambda: pc.and_(
                pc.fill_null(pc.equal(col("status"), "ok"), False), pc.is_null(col("label"))
            ),
        ),
        (
            "a failed prediction (status 'error') needs an 'error_type'",
            lambda: pc.and_(
                pc.fill_null(pc.equal(col("status"), "error"), False),
                pc.is_null(col("error_type")),
            ),
        ),
        (f"'ts' must be {TS_RANGE}", lambda: _bad_times(col("ts"))),
        ("'score' must be a finite number in [0, 1]", lambda: _bad_numbers(col("score"), 0, 1)),
        (
            "'probas' must be 2–1000 finite probabilities in [0, 1] summing to 1",
            lambda: _bad_probas(col("probas")),
        ),
        (
            "'latency_model_s' must be a finite number of seconds in [0, 3600]",
            lambda: _bad_numbers(col("latency_model_s"), 0, MAX_LATENCY_S),
        ),
        (
            "'latency_total_s' must be a finite number of seconds in [0, 3600]",
            lambda: _bad_numbers(col("latency_total_s"), 0, MAX_LATENCY_S),
        ),
        ("'segment' must be at most 200 characters", lambda: _bad_text(col("segment"), 200, None)),
        (
            "'error_type' must be at most 200 characters",
            lambda: _bad_text(col("error_type"), 200, None),
        ),
    ]
    reason = np.full(n, -1, dtype=np.int64)
    details = [text for text, _ in rules]
    for code, (_, rule) in enumerate(rules):
        bad = np.asarray(rule(), dtype=bool) if n else np.zeros(0, dtype=bool)
        reason[(reason < 0) & bad] = code
    table, reason, details = _outputs(table, reason, details, classes)
    table, reason, details = _features(table, reason, details)
    table, reason, details = _labels(table, reason, details, classes)
    rejected_at = np.flatnonzero(reason >= 0)
    ids = table.column("id")
    rejections = [
        Rejection(int(i), _short(ids[int(i)].as_py()), details[int(reason[i])])
        for i in rejected_at.tolist()
    ]
    if rejected_at.size:
        table = table.filter(pa.array(reason < 0))
    return table, rejections


def _bad_times(column: pa.ChunkedArray) -> pa.Array:
    """True where a present time is outside the accepted years (as the JSON routes)."""
    lo = pa.scalar(EARLIEST_TS, column.type)
    hi = pa.scalar(LATEST_TS, column.type)
    return pc.fill_null(pc.or_(pc.less(column, lo), pc.greater_equal(column, hi)), False)


def _short(key: object) -> str | None:
    return key if isinstance(key, str) and len(key) <= 200 else None


def _outputs(
    table: pa.Table, reason: np.ndarray, details: list[str], classes: ClassMap
) -> tuple[pa.Table, np.ndarray, list[str]]:
    """Scores only for binary models, probabilities one per class, never both."""
    both = np.asarray(
        pc.and_(pc.is_valid(table.column("score")), pc.is_valid(table.column("probas")))
    )
    if both.any():
        details.append("give 'score' or 'probas', not both")
        reason[both & (reason < 0)] = len(details) - 1
    models = table.column("model").combine_chunks()
    lengths = np.asarray(
        pc.fill_null(pc.list_value_length(table.column("probas").combine_chunks()), -1)
    )
    has_score = np.asarray(table.column("score").is_valid())
    for model in pc.unique(models).to_pylist():
        declared = classes.classes(model) if model is not None else None
        if declared is None:
            continue
        mine = np.asarray(pc.fill_null(pc.equal(models, model), False))
        if len(declared) != 2:
            bad = mine & has_score & (reason < 0)
            if bad.any():
                details.append(
                    f"'score' is for binary models; model {model!r} has classes {list(declared)!r}"
                )
                reason[bad] = len(details) - 1
        bad = mine & (lengths >= 0) & (lengths != len(declared)) & (reason < 0)
        if bad.any():
            details.append(
                f"'probas' must have one value per class of model {model!r}: {list(declared)!r}"
            )
            reason[bad] = len(details) - 1
    return table, reason, details


def _features(
    table: pa.Table, reason: np.ndarray, details: list[str]
) -> tuple[pa.Table, np.ndarray, list[str]]:
    """Features must be a JSON object (the store explodes them into one row each)."""
    column = table.column("features")
    if column.null_count == len(column):
        return table, reason, details
    rewritten: dict[int, str] = {}
    for i, text in enumerate(column.to_pylist()):
        if text is None or reason[i] >= 0:
            continue
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            details.append(f"'features' is not a JSON object: {text[:80]!r}")
            reason[i] = len(details) - 1
        elif "NaN" in text or "Infinity" in text:
            rewritten[i] = to_json(parsed)  # strict JSON: non-finite numbers become null
    if rewritten:
        texts = column.to_pylist()
        for i, text in rewritten.items():
            texts[i] = text
        at = table.column_names.index("features")
        table = table.set_column(at, "features", pa.array(texts, pa.string()))
    return table, reason, details


def _labels(
    table: pa.Table, reason: np.ndarray, details: list[str], classes: ClassMap
) -> tuple[pa.Table, np.ndarray, list[str]]:
    """Map each distinct (model, label text) pair onto the model's classes."""
    models = table.column("model").combine_chunks()
    labels = table.column("label").combine_chunks()
    if labels.null_count == len(labels):
        return table, reason, details
    # One string per (model, label) pair: a NUL cannot occur in a valid model name.
    pairs = pc.binary_join_element_wise(pc.fill_null(models, ""), labels, "\x00")
    encoded = pc.dictionary_encode(pairs)
    codes = np.asarray(pc.fill_null(encoded.indices, -1))
    mapped: list[str | None] = []
    failure: dict[int, int] = {}
    for j, pair in enumerate(encoded.dictionary.to_pylist()):
        model, _, text = pair.partition("\x00")
        try:
            value = json.loads(text)
            mapped.append(classes.encode(model, value))
        except ValueError as exc:  # JSON errors and ValidationError alike
            message = (
                str(exc)
                if isinstance(exc, ValidationError)
                else "not JSON text (Arrow labels are JSON-encoded: '\"spam\"', '1', 'true'; "
                "the Python client encodes them)"
            )
            details.append(f"'label' {text[:80]!r}: {message}")
            failure[j] = len(details) - 1
            mapped.append(None)
    for j, code in failure.items():
        hit = (codes == j) & (reason < 0)
        reason[hit] = code
    valid = codes >= 0
    new = pa.array(mapped, pa.string()).take(pa.array(np.where(valid, codes, 0)))
    new = pc.if_else(pa.array(valid), new, pa.nulls(len(new), pa.string()))
    table = table.set_column(table.column_names.index("label"), "label", new)
    return table, reason, details
