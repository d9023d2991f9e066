"""A sparkline point: the value of a binary metric without its interval equals the
value binary_metrics gives, and is undefined exactly where that one is."""

from __future__ import annotations

import numpy as np
import pytest

from liveeval.metrics.classification import (
    POINT_METRICS,
    binary_metrics,
    binary_point,
    binary_points,
    per_class_metrics,
)
from liveeval.metrics.confusion import ConfusionMatrix


@pytest.mark.parametrize("seed", range(40))
def test_point_values_equal_binary_metrics_and_share_their_undefined_cases(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 12))
    y_true = rng.integers(0, 2, n) * int(rng.integers(0, 2) or 1)
    y_pred = rng.integers(0, 2, n) * int(rng.integers(0, 2) or 1)
    weight = rng.uniform(0, 3, n) if seed % 3 == 0 else None
    cm = ConfusionMatrix.from_arrays(y_true, y_pred, labels=[0, 1], weight=weight)
    full = binary_metrics(cm, 1, only=POINT_METRICS)
    for name in POINT_METRICS:
        point = binary_point(cm, 1, name)
        if full[name].is_defined:
            assert point == full[name].value, name
        else:
            assert point is None, name


def test_a_point_of_a_metric_with_no_cheap_value_is_refused():
    cm = ConfusionMatrix.from_arrays([0, 1], [0, 1], labels=[0, 1])
    with pytest.raises(ValueError, match="no point value for 'roc_auc'; accepted: "):
        binary_point(cm, 1, "roc_auc")


def test_binary_points_of_many_matrices_equal_each_binary_point():
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 6, size=(400, 2, 2)).astype(np.float64)
    counts[:5] = 0.0  # every denominator zero: undefined
    counts[5:10, 1, :] = 0.0  # no actual positives when class 1 is positive
    for pos in (0, 1):
        labels = (0, 1) if pos else (1, 0)
        for name in sorted(POINT_METRICS):
            got = binary_points(counts, pos, name)
            want = [binary_point(ConfusionMatrix(labels, c, c.copy()), 1, name) for c in counts]
            assert [None if np.isnan(v) else v for v in got.tolist()] == want, name


def test_binary_points_refuse_other_shapes_and_metrics():
    with pytest.raises(ValueError, match=r"need \[n, 2, 2\] counts, got shape \(2, 2\)"):
        binary_points(np.zeros((2, 2)), 1, "recall")
    with pytest.raises(ValueError, match="no point value for 'roc_auc'; accepted"):
        binary_points(np.zeros((3, 2, 2)), 1, "roc_auc")


def test_a_per_class_table_of_some_metrics_keeps_the_full_tables_values():
    rng = np.random.default_rng(4)
    cm = ConfusionMatrix.from_arrays(rng.integers(0, 3, 200), rng.integers(0, 3, 200))
    full = per_class_metrics(cm, 0.9)
    lean = per_class_metrics(cm, 0.9, only=("recall",))
    assert [set(row) for row in lean] == [{"label", "support", "recall"}] * 3
    for a, b in zip(lean, full, strict=True):
        assert (a["label"], a["support"], a["recall"]) == (b["label"], b["support"], b["recall"])
