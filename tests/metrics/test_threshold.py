"""Recommended thresholds: in-sample metrics are labelled, cross-fitted ones are honest."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from liveeval.metrics import Evaluation


def _scored(rng: np.random.Generator, positives: int, negatives: int, separation: float):
    y = np.r_[np.ones(positives, np.int64), np.zeros(negatives, np.int64)]
    z = np.r_[rng.normal(separation, 1, positives), rng.normal(0, 1, negatives)]
    return y, 1 / (1 + np.exp(-z))


def test_every_operating_point_is_marked_in_sample_with_cross_fitted_metrics():
    y, s = _scored(np.random.default_rng(1), 200, 800, 1.5)
    result = Evaluation.create([0, 1], pos_label=1).update_codes(y, score=s).result(min_recall=0.8)
    for point in result.operating_points:
        assert point.in_sample
        assert "chosen on the same rows" in point.interval_note
        assert point.out_of_sample is not None
        f1 = point.out_of_sample["f1"]
        assert "cross-fitted" in f1.method and f1.lower <= f1.value <= f1.upper
        doc = point.to_dict()
        assert doc["in_sample"] is True and "f1" in doc["out_of_sample"]


def test_cross_fitting_needs_whole_rows():
    y, s = _scored(np.random.default_rng(2), 100, 400, 1.5)
    ev = Evaluation.create([0, 1], pos_label=1).update_codes(y, score=s, weight=np.full(500, 0.5))
    (point,) = ev.result().operating_points
    assert point.out_of_sample is None
    assert point.interval_note is not None and "out-of-sample" not in point.interval_note


def test_a_point_with_no_qualifying_threshold_has_no_note():
    # The top score is a negative: precision never reaches 1.
    y = np.array([0, 1, 0, 1], np.int64)
    s = np.array([0.9, 0.8, 0.7, 0.6])
    result = (
        Evaluation.create([0, 1], pos_label=1).update_codes(y, score=s).result(min_precision=1.0)
    )
    missing = next(p for p in result.operating_points if p.objective.startswith("precision"))
    assert missing.threshold is None and missing.interval_note is None
    assert missing.reason == "no threshold reaches precision 1"


def test_a_half_without_rows_gives_no_cross_fitted_point_and_no_division_by_zero():
    # Four rows: the fixed-seed split puts all of them in one half (hypothesis found it
    # through test_every_interval_contains_its_value: 0/0 in the empty half's cost).
    y = np.array([0, 0, 1, 1], np.int64)
    s = np.array([0.25, 0.25, 0.0, 0.5])
    ev = Evaluation.create([0, 1], pos_label=1).update_codes(y, score=s)
    result = ev.result(min_recall=0.5, cost_fp=1, cost_fn=5)
    assert [p.objective for p in result.operating_points] == [
        "max_f1",
        "recall>=0.5",
        "min_cost(fp=1,fn=5)",
    ]
    for point in result.operating_points:
        assert point.threshold is not None and point.out_of_sample is None


@pytest.mark.slow
def test_cross_fitted_f1_is_unbiased_where_the_in_sample_one_is_optimistic():
    # 50 positives, 950 negatives, binormal scores: the true F1 at the chosen threshold
    # is known. In-sample: about +0.04 and 8% misses on the false-pass side.
    normal, rng, reps = NormalDist(), np.random.default_rng(3), 200
    prevalence = 50 / 1000

    def true_f1(threshold: float) -> float:
        x = np.log(threshold / (1 - threshold))
        tpr, fpr = 1 - normal.cdf(x - 2.0), 1 - normal.cdf(x)
        tp, fp, fn = prevalence * tpr, (1 - prevalence) * fpr, prevalence * (1 - tpr)
        return 2 * tp / (2 * tp + fp + fn)

    bias_in, bias_out, optimistic_misses = [], [], 0
    for _ in range(reps):
        y, s = _scored(rng, 50, 950, 2.0)
        point = Evaluation.create([0, 1], pos_label=1).update_codes(y, score=s).result()
        best = point.operating_points[0]
        truth = true_f1(best.threshold)
        bias_in.append(best.metrics["f1"].value - truth)
        cross = best.out_of_sample["f1"]
        bias_out.append(cross.value - truth)
        optimistic_misses += cross.lower > truth
    assert np.mean(bias_in) > 0.02
    assert abs(np.mean(bias_out)) < 0.015
    assert optimistic_misses / reps <= 0.025 + 3 * np.sqrt(0.025 * 0.975 / reps)
