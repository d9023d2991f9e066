"""References registered by name: an uploaded Parquet or Arrow file of features (and
optionally a binary model's scores, predicted and actual labels) kept in the store as
histograms, so live windows can be compared with it (``reference=upload:NAME``).

Numbers are binned on the store's fixed bins of the feature (50 quantile bins per
model and feature): bins the store already fixed are used as they are; a feature
without fixed bins gets the reference's own 50 quantiles as its fixed bins from now
on (the rule the store would apply to its first 10,000 values), so every later window
is binned like the reference. Categories are counted (the 1,000 most frequent, the
rest as ``other``); nulls and non-finite numbers are missing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ColumnNotFoundError, ConflictError, NotFoundError, ValidationError
from ..metrics.drift import Histogram
from ..metrics.labels import Label, canonical_label
from ..monitor.drift import category_counts, column_kind, numeric_values
from ..store.interface import (
    SCORE_BINS,
    FeatureHistogram,
    Scope,
    StoredReference,
    freeze_edges,
)

if TYPE_CHECKING:
    from .core import Service

__all__ = [
    "MEDIA_TYPES",
    "NAME_PATTERN",
    "delete_reference",
    "list_references",
    "reference_summary",
    "upload_reference",
]

PARQUET = "application/vnd.apache.parquet"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
MEDIA_TYPES = (PARQUET, ARROW_STREAM)
# Letters, digits, '.', '_' and '-', starting with a letter or digit: a name is one
# path segment and one word after 'upload:' (no '/', no ':').
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
# Categories kept per feature (the store's registry holds as many per feature).
CATEGORY_CAP = 1_000
FEATURE_BINS = 50


@dataclass(frozen=True)
class _File:
    """The upload's columns, read one at a time (Parquet) or from one table (Arrow)."""

    schema: pa.Schema
    rows: int
    column: Callable[[str], pa.ChunkedArray]


def _read(raw: bytes, media_type: str) -> _File:
    if not raw:
        raise ValidationError("the reference file is empty (0 bytes); send a Parquet or Arrow file")
    if media_type == PARQUET:
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(pa.BufferReader(raw))
            schema = meta.schema_arrow
            rows = meta.metadata.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValidationError(f"the body is not a Parquet file: {exc}") from None

        def column(name: str) -> pa.ChunkedArray:
            # Strings stay dictionary-encoded, as Parquet stores them: categories are
            # counted from their indices.
            dtype = schema.field(name).type
            strings = pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
            try:
                reader = pq.ParquetFile(
                    pa.BufferReader(raw), read_dictionary=[name] if strings else None
                )
                table = reader.read(columns=[name])
            except (pa.ArrowInvalid, OSError) as exc:
                raise ValidationError(
                    f"column {name!r}: cannot be read from the Parquet file: {exc}",
                ) from None
            return table.column(0)

        return _File(schema, rows, column)
    try:
        table = pa.ipc.open_stream(raw).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"the body is not an Arrow IPC stream: {exc}") from None
    return _File(table.schema, table.num_rows, lambda name: table.column(name))


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValidationError(
            f"reference name {name[:80]!r} is not accepted: use 1–64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit (no '/' or ':')",
            column="name",
        )


def _known_features(service: Service, model: str) -> tuple[set[str], dict[str, FeatureHistogram]]:
    """The features of ``model``: a served model's inputs and every feature the store
    has seen (with its histogram, merged over all time)."""
    merged = service.store.feature_windows(Scope(model), None, None)
    seen: dict[str, FeatureHistogram] = next(iter(merged.values()), {})
    served = {name for loaded in service.models.get(model, {}).values() for name in loaded.features}
    return served | set(seen), seen


def _roles(
    schema: pa.Schema, score: str | None, label: str | None, prediction: str | None
) -> dict[str, str]:
    names = list(schema.names)
    roles: dict[str, str] = {}
    for given, role in ((score, "score"), (label, "label"), (prediction, "prediction")):
        if given is None:
            continue
        if given not in names:
            close = difflib.get_close_matches(given, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ColumnNotFoundError(
                f"no column {given!r} (given as {role}) in the reference file.{hint} "
                f"Columns are: {', '.join(names[:20])}",
                column=given,
            )
        roles[given] = role
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValidationError(
            f"column name(s) {duplicated} head more than one column of the reference file; "
            "rename them so each name is unique",
        )
    return roles


def _binary_classes(service: Service, model: str) -> tuple[tuple[Label, ...] | None, Label]:
    classes, pos_label, _ = service.model_meta(model, None)
    if pos_label is None or (classes is not None and len(classes) != 2):
        raise ValidationError(
            f"model {model!r} is not a binary model with a known positive class, so a "
            "reference cannot carry its score or labels; upload features only",
        )
    return classes, pos_label


def _score_counts(col: pa.ChunkedArray, name: str) -> tuple[int, ...]:
    if column_kind(col.type) != "numeric":
        raise ValidationError(f"column {name!r} (the score) is {col.type}, not a number in [0, 1]")
    values = numeric_values(col)
    valid = col.is_valid().to_numpy(zero_copy_only=False) if col.null_count else None
    bad = ~((values >= 0.0) & (values <= 1.0))
    if valid is not None:
        bad &= np.asarray(valid, dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{float(values[row])!r} is not a score in [0, 1]",
            column=name,
            row=row + 1,
        )
    x = values[~np.isnan(values)]
    bins = np.minimum((x * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
    return tuple(int(v) for v in np.bincount(bins, minlength=SCORE_BINS))


def _class_counts(
    col: pa.ChunkedArray,
    name: str,
    classes: tuple[Label, ...] | None,
    pos_label: Label,
) -> dict[str, int]:
    """Counts of ``{"negative", "positive"}``; nulls are rows without one."""
    positive = canonical_label(pos_label)
    allowed = None if classes is None else {canonical_label(c) for c in classes}
    counts = pc.value_counts(col.drop_null())
    out = {"negative": 0, "positive": 0}
    for value, n in zip(
        counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
    ):
        try:
            key = canonical_label(value)
        except ValidationError:
            key = None
        if key is None or (allowed is not None and key not in allowed):
            accepted = ", ".join(repr(c) for c in classes or (pos_label,))
            raise ValidationError(
                f"column {name!r}: {value!r} is not a class of the model (accepted: {accepted})",
            )
        out["positive" if key == positive else "negative"] += int(n)
    return out


def _numeric(
    col: pa.ChunkedArray, name: str
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[float]]:
    """Sorted values (NaN last) and the edges the reference's own quantiles give."""
    values = numeric_values(col)
    values.sort()
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValidationError(
            f"column {name!r} holds no finite number ({values.size:,} rows, all null, NaN or "
            "infinite); drop it from the reference or fill it",
        )
    levels = np.linspace(0.0, 1.0, FEATURE_BINS + 1)
    # Discrete quantiles (values that occur), as the store's freeze takes them: on
    # sorted values, numpy's "lower" method is an index.
    at = np.floor(levels * (finite.size - 1)).astype(np.int64)
    return values, freeze_edges(finite[at].tolist())


def _categorical(col: pa.ChunkedArray, name: str) -> FeatureHistogram:
    counts, missing = category_counts(col)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:CATEGORY_CAP])
    other = sum(n for _, n in ranked[CATEGORY_CAP:])
    return FeatureHistogram(name=name, rows=len(col), missing=missing, categories=kept, other=other)


def _check_kind(
    name: str, kind: str, known: dict[str, FeatureHistogram], dtype: pa.DataType
) -> None:
    """A column numeric in the file whose live values are only text, or the reverse."""
    held = known.get(name)
    if held is None:
        return
    numbers = sum(held.counts) + held.below + held.above
    texts = sum(held.categories.values()) + held.other
    if kind == "numeric" and texts and not numbers:
        shown = ", ".join(repr(c) for c in list(held.categories)[:5])
        raise ValidationError(
            f"column {name!r} is numeric in the reference ({dtype}) but the model's feature "
            f"{name!r} holds text (e.g. {shown}); send it as text or fix the type",
        )
    if kind == "categorical" and numbers and not texts:
        raise ValidationError(
            f"column {name!r} is text in the reference ({dtype}) but the model's feature "
            f"{name!r} holds numbers; send it as a numeric column",
        )


def upload_reference(
    service: Service,
    model: str,
    name: str,
    raw: bytes,
    media_type: str,
    *,
    score: str | None = None,
    label: str | None = None,
    prediction: str | None = None,
    replace: bool = False,
    extra: Literal["error", "ignore"] = "error",
) -> dict[str, Any]:
    """Register ``raw`` (a Parquet file or an Arrow IPC stream) as reference ``name`` of
    ``model``; returns its summary (:func:`reference_summary`).

    Every column other than ``score``, ``label`` and ``prediction`` is a feature:
    numbers are binned on the store's fixed bins of the feature (fixed from this
    reference when the store has none yet), strings and booleans counted by category,
    nulls and non-finite numbers counted as missing. Timestamps, binary and nested
    columns are left out with their reason. When the model's features are known (a
    served model's inputs, features the store has seen), a column that is none of them
    is an error (``extra="ignore"`` leaves such
    columns out instead).

    Raises
    ------
    NotFoundError
        for a model neither served, declared nor seen.
    ConflictError
        when the name is taken and ``replace`` is false.
    ValidationError
        for a bad name, a body that is not the declared format, an empty file, a
        column missing or of the wrong kind, a score outside [0, 1] or a label that is
        not a class of the model (each naming the column and, where one, the row).
    """
    service.require_model(model)
    _check_name(name)
    if media_type not in MEDIA_TYPES:
        raise ValidationError(
            f"media type {media_type[:80]!r} is not accepted: send {PARQUET} or {ARROW_STREAM}"
        )
    store = service.store
    if not replace and store.reference(model, name) is not None:
        raise ConflictError(
            f"model {model!r} already has a reference named {name!r}; upload again with "
            "replace=true to overwrite it, or choose another name"
        )
    file = _read(raw, media_type)
    if file.rows == 0 or not file.schema.names:
        raise ValidationError(
            f"the reference file has {file.rows} rows and {len(file.schema.names)} columns; "
            "a reference needs at least one row and one feature column"
        )
    roles = _roles(file.schema, score, label, prediction)
    classes: tuple[Label, ...] | None = None
    pos_label: Label = None
    if roles:
        classes, pos_label = _binary_classes(service, model)
    known, seen = _known_features(service, model)
    columns: dict[str, str] = {}
    features: list[tuple[str, str]] = []
    unknown: list[str] = []
    for field in file.schema:
        if field.name in roles:
            columns[field.name] = roles[field.name]
            continue
        kind = column_kind(field.type)
        if kind not in ("numeric", "categorical"):
            columns[field.name] = f"left out: {kind}"
            continue
        if known and field.name not in known:
            unknown.append(field.name)
            continue
        _check_kind(field.name, str(kind), seen, field.type)
        features.append((field.name, str(kind)))
        columns[field.name] = "feature"
    if unknown and extra != "ignore":
        shown = ", ".join(sorted(known)[:20])
        raise ValidationError(
            f"column(s) {', '.join(repr(u) for u in unknown[:10])} of the reference are not "
            f"features of model {model!r} (its features: {shown}); drop them, name the score "
            "or labels with score=/label=/prediction=, or upload with extra=ignore",
        )
    for u in unknown:
        columns[u] = f"left out: not a feature of model {model!r}"
    if not features:
        raise ValidationError(
            "the reference has no feature column that can be compared: "
            + "; ".join(f"{k}: {v}" for k, v in columns.items())
        )

    numeric: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    proposed: dict[str, list[float]] = {}
    hists: dict[str, FeatureHistogram] = {}

    def read(feature: tuple[str, str]) -> None:
        fname, kind = feature
        col = file.column(fname)
        if kind == "numeric":
            numeric[fname], proposed[fname] = _numeric(col, fname)
        else:
            hists[fname] = _categorical(col, fname)

    # Two columns at a time: Parquet decoding and numpy's sort release the GIL.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(read, features))
    edges = store.fix_feature_bins(model, proposed) if proposed else {}
    moments: dict[str, tuple[int, float, float]] = {}
    for fname, values in numeric.items():
        h = Histogram.from_values(values, edges[fname], is_sorted=True)
        finite = values[np.isfinite(values)]
        moments[fname] = (int(finite.size), float(finite.sum()), float(np.dot(finite, finite)))
        hists[fname] = FeatureHistogram(
            name=fname,
            rows=int(values.size),
            missing=h.missing,
            edges=tuple(float(x) for x in h.edges),
            counts=tuple(int(x) for x in h.counts),
            below=h.below,
            above=h.above,
        )
    numeric.clear()

    scores = predicted = labels = None
    for column_name, role in roles.items():
        col = file.column(column_name)
        if role == "score":
            scores = _score_counts(col, column_name)
        elif role == "prediction":
            predicted = _class_counts(col, column_name, classes, pos_label)
        else:
            labels = _class_counts(col, column_name, classes, pos_label)
    ref = StoredReference(
        model=model,
        name=name,
        rows=file.rows,
        features=dict(sorted(hists.items())),
        moments=moments,
        scores=scores,
        predicted=predicted,
        labels=labels,
        columns=columns,
    )
    created = store.save_reference(ref, replace=replace)
    summary = reference_summary(StoredReference(**{**ref.__dict__, "created": created}))
    summary["fixed_bins"] = {
        "from_this_reference": sorted(n for n in proposed if tuple(proposed[n]) == edges[n]),
        "already_fixed": sorted(n for n in proposed if tuple(proposed[n]) != edges[n]),
    }
    summary["features_without_reference"] = sorted(set(known) - set(hists))
    return summary


def reference_summary(ref: StoredReference) -> dict[str, Any]:
    """What a listing shows of a reference (no histograms)."""
    return {
        "name": ref.name,
        "reference": f"upload:{ref.name}",
        "rows": ref.rows,
        "created": None if ref.created is None else ref.created.isoformat(),
        "columns": [{"name": n, "use": u} for n, u in ref.columns.items()],
        "features": len(ref.features),
        "score": ref.scores is not None,
        "predicted_label": ref.predicted is not None,
        "label": ref.labels is not None,
    }


def list_references(service: Service, model: str) -> dict[str, Any]:
    """Every reference of ``model``.

    Raises
    ------
    NotFoundError
        for a model neither served, declared nor seen.
    """
    service.require_model(model)
    return {
        "model": model,
        "references": [reference_summary(r) for r in service.store.references(model)],
    }


def delete_reference(service: Service, model: str, name: str) -> None:
    """Forget reference ``name`` of ``model``.

    Raises
    ------
    NotFoundError
        for an unknown model or reference.
    """
    service.require_model(model)
    if not service.store.delete_reference(model, name):
        raise NotFoundError(_missing(service, model, name))


def _missing(service: Service, model: str, name: str) -> str:
    return missing_reference_message([r.name for r in service.store.references(model)], model, name)


def missing_reference_message(names: Sequence[str], model: str, name: str) -> str:
    """The 404's words for an unknown reference name, with the closest one."""
    close = difflib.get_close_matches(name, list(names), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = (
        ", ".join(list(names)[:20])
        or "none (register one with PUT /v1/models/MODEL/references/NAME)"
    )
    return f"model {model!r} has no reference named {name[:80]!r}.{hint} References: {listed}"
