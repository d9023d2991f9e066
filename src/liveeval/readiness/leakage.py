"""Data-leakage checks on the raw tables.

- rows of the evaluation data that also occur, feature for feature, in the
  training data;
- a single feature that by itself predicts the label almost perfectly
  (ROC-AUC ≥ 0.99 either way), which a real signal rarely does;
- training rows stamped later than the earliest evaluation row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .verdict import Finding

__all__ = ["duplicate_rows", "later_training_rows", "rank_auc", "single_feature_leaks"]

SUSPICIOUS_AUC = 0.99


def duplicate_rows(train: pa.Table, evaluation: pa.Table, features: Sequence[str]) -> list[Finding]:
    """Evaluation rows whose every feature value matches some training row."""
    cols = [c for c in features if c in train.column_names and c in evaluation.column_names]
    cols = [c for c in cols if not pa.types.is_nested(evaluation.schema.field(c).type)]
    if not cols:
        return []
    distinct_train = train.select(cols).group_by(cols).aggregate([])
    matched = evaluation.select(cols).join(distinct_train, keys=cols, join_type="left semi")
    shared = matched.num_rows
    if shared == 0:
        return []
    share = shared / evaluation.num_rows
    return [
        Finding(
            "data_leakage",
            "fail" if share >= 0.01 else "warn",
            f"Data leakage: {shared:,} evaluation rows ({share:.1%}) also appear in the training "
            f"data with identical values in all {len(cols)} feature columns; metrics on them "
            "measure memory, not generalisation.",
            {"check": "duplicate_rows", "rows": shared, "share": share, "columns": cols},
        )
    ]


def rank_auc(values: npt.NDArray[np.float64], is_positive: npt.NDArray[np.bool_]) -> float | None:
    """ROC-AUC of raw values by average ranks (Mann-Whitney); None with one class."""
    m = int(is_positive.sum())
    n = int(is_positive.size - m)
    if m == 0 or n == 0:
        return None
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0
    ranks = average_rank[inverse.reshape(-1)]
    return float((ranks[is_positive].sum() - m * (m + 1) / 2.0) / (m * n))


def single_feature_leaks(
    table: pa.Table,
    is_positive: npt.NDArray[np.bool_],
    features: Sequence[str],
    source: str,
    max_categories: int = 1000,
) -> list[Finding]:
    """Features whose values alone separate the classes (AUC ≥ 0.99 either way)."""
    findings = []
    n = table.num_rows
    for name in features:
        col = table.column(name)
        kind = col.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
            present = ~np.isnan(values)
            values = values[present]
            y = is_positive[present]
        elif (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_dictionary(kind)
        ):
            encoded = pc.dictionary_encode(col.combine_chunks(), null_encoding="encode")
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            k = len(encoded.dictionary)
            # An identifier-like column predicts anything in-sample; skip it.
            if k > min(max_categories, n // 20):
                continue
            rate = np.bincount(codes, weights=is_positive, minlength=k) / np.maximum(
                np.bincount(codes, minlength=k), 1
            )
            values, y = rate[codes], is_positive
        else:
            continue
        auc = rank_auc(values, y)
        if auc is None:
            continue
        strength = max(auc, 1 - auc)
        if strength >= SUSPICIOUS_AUC:
            findings.append(
                Finding(
                    "data_leakage",
                    "fail",
                    f"Data leakage: in {source}, feature '{name}' alone predicts the label with "
                    f"ROC-AUC {strength:.4f}; a feature this perfect usually encodes the label "
                    "(for example a field filled in after the outcome was known).",
                    {"check": "single_feature", "source": source, "feature": name, "auc": strength},
                )
            )
    return findings


def later_training_rows(train_time: pa.Array, eval_time: pa.Array) -> list[Finding]:
    """Training rows stamped after the earliest evaluation row: the model saw the future."""
    earliest = pc.min(eval_time)
    if not earliest.is_valid:
        return []
    later = int(pc.sum(pc.greater(train_time, earliest)).as_py() or 0)
    if later == 0:
        return []
    share = later / len(train_time)
    return [
        Finding(
            "data_leakage",
            "fail",
            f"Data leakage: {later:,} training rows ({share:.1%}) are later than the earliest "
            f"evaluation row ({earliest.as_py()}); the model was trained on the period it is "
            "judged on.",
            {
                "check": "timestamps",
                "rows": later,
                "share": share,
                "earliest_eval": str(earliest.as_py()),
            },
        )
    ]
