"""Many windows' results computed together equal each window's own ``result(only=…)``:
the same metrics in the same order, the same methods, notes and reasons, values within
1e-9 relative."""

from __future__ import annotations

import numpy as np
import pytest

from liveeval.metrics import Evaluation, LossSums
from liveeval.metrics.batch import BinCountDistributions, evaluation_results, loss_results_array
from liveeval.metrics.registry import metric_names


def _evaluations(rng: np.random.Generator, count: int) -> list[Evaluation]:
    out = []
    for i in range(count):
        kind = i % 8
        n = [0, 1, 3, 40, 300, 2000, 60, 25][kind]
        ev = Evaluation.create([0, 1], pos_label=[1, 1, 0, 1, 1, 1, 1, 0][kind])
        y = (rng.random(n) < [0.1, 0.5, 0.3, 0.02, 0.2, 0.05, 0.0, 0.5][kind]).astype(int)
        score = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
        if kind == 7:
            score = np.where(y == 1, 0.2, 0.8)  # nothing right: zero-division precision
        ev.update(y, y_score=score)
        if i % 3:
            ev.update_operational(
                latency_seconds=rng.gamma(2.0, 0.01, n + 1), failed=rng.random(n + 5) < 0.01
            )
        out.append(ev)
    # The scalar path: weighted and multiclass evaluations.
    weighted = Evaluation.create([0, 1], pos_label=1)
    weighted.update([0, 1, 1, 0, 1], y_score=[0.2, 0.7, 0.4, 0.6, 0.9], weight=[1, 2, 3, 1, 0.5])
    multi = Evaluation.create(["a", "b", "c"])
    multi.update(
        ["a", "b", "c", "a"],
        proba=[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]],
    )
    return [*out, weighted, multi]


ONLY_SETS = [
    metric_names(live=True),
    (
        "accuracy",
        "f1",
        "f2",
        "mcc",
        "balanced_accuracy",
        "specificity",
        "false_positive_rate",
        "negative_predictive_value",
        "error_rate",
        "prevalence",
        "baseline_accuracy",
        "average_precision",
        "expected_calibration_error",
        "latency_p95_seconds",
        "brier",
    ),
    ("roc_auc",),
]


def _close(a, b):
    if a is None or b is None:
        assert a is b
    else:
        assert a == pytest.approx(b, rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("only", ONLY_SETS)
def test_evaluation_results_equal_each_windows_own_result(only):
    evaluations = _evaluations(np.random.default_rng(2), 80)
    together = evaluation_results(evaluations, 0.95, only=only)
    assert len(together) == len(evaluations)
    for got, ev in zip(together, evaluations, strict=True):
        expected = ev.result(0.95, only=only)
        assert (got.kind, got.labels, got.pos_label, got.rows, got.confusion_matrix) == (
            expected.kind,
            expected.labels,
            expected.pos_label,
            expected.rows,
            expected.confusion_matrix,
        )
        assert list(got.metrics) == list(expected.metrics)
        for name, m in got.metrics.items():
            e = expected.metrics[name]
            assert (m.name, m.n, m.method, m.note, m.reason, m.zero_division) == (
                e.name,
                e.n,
                e.method,
                e.note,
                e.reason,
                e.zero_division,
            ), name
            assert m.higher_is_better == e.higher_is_better
            for field in ("value", "lower", "upper", "weight_total"):
                _close(getattr(m, field), getattr(e, field))


def test_evaluation_results_of_proportions_are_the_same_floats():
    evaluations = _evaluations(np.random.default_rng(8), 40)
    names = ("accuracy", "precision", "recall", "f1", "failed_prediction_rate")
    together = evaluation_results(evaluations, only=names)
    for got, ev in zip(together, evaluations, strict=True):
        expected = ev.result(only=names)
        assert got.metrics == expected.metrics


def test_loss_results_array_equals_each_sums_results():
    rng = np.random.default_rng(9)
    sums = []
    for n in (0, 1, 2, 29, 500, 10):
        s = LossSums()
        y = rng.random(n) < 0.3
        s.update_binary(y, np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1), None)
        sums.append(s)
    weighted = LossSums()
    weighted.update_binary(
        np.array([True, False, True]), np.array([0.6, 0.3, 0.9]), np.array([1.0, 2.0, 0.5])
    )
    sums.append(weighted)
    for got, s in zip(loss_results_array(sums), sums, strict=True):
        expected = s.results()
        assert list(got) == list(expected)
        for name in got:
            g, e = got[name], expected[name]
            assert (g.method, g.note, g.n, g.reason) == (e.method, e.note, e.n, e.reason)
            for field in ("value", "lower", "upper", "weight_total"):
                _close(getattr(g, field), getattr(e, field))


def test_evaluation_results_of_nothing_is_nothing():
    assert evaluation_results([], only=("accuracy",)) == []


def test_bin_count_distributions_are_built_when_read_and_only_for_kept_groups():
    counts = np.zeros((4, 2, 10), np.int64)
    counts[0, 1, 3] = 2
    counts[0, 0, 1] = 5
    counts[2, 0, 9] = 1  # kept out below
    kept = np.array([True, True, False, True])
    dists = BinCountDistributions(counts, kept)
    assert len(dists) == 4 and dists._built == {}
    first = dists[0]
    assert first is not None and dists[0] is first  # built once
    np.testing.assert_array_equal(first.keys, [1.0, 3.0])
    np.testing.assert_array_equal(first.positive, [0.0, 2.0])
    np.testing.assert_array_equal(first.negative, [5.0, 0.0])
    assert (first.rows, first.resolution, first.is_exact) == (7, 10, False)
    assert dists[1] is None  # no counts
    assert dists[2] is None  # not kept
    assert dists[-4] is first
    assert dists[1:3] == [None, None]
    with pytest.raises(IndexError):
        dists[4]
