"""The binned score distribution stays within 1e-4 of the exact ROC-AUC and AP."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from liveeval.errors import ValidationError
from liveeval.metrics import ScoreDistribution, average_precision, roc_auc, validate_scores


@pytest.mark.parametrize(
    ("prevalence", "spread", "seed"),
    [(0.02, 0.15, 0), (0.3, 0.25, 1), (0.001, 0.1, 2), (0.5, 0.05, 3)],
)
def test_binned_auc_and_ap_are_within_1e_4_of_exact(prevalence, spread, seed):
    rng = np.random.default_rng(seed)
    n = 400_000
    y = rng.random(n) < prevalence
    # Logistic scores pile up near 0, the hard case for equal-width bins.
    s = 1 / (1 + np.exp(-rng.normal(-3 + 3 * y, 1.5)))
    binned = ScoreDistribution.from_arrays(y, s, exact_limit=0)
    assert not binned.is_exact
    assert roc_auc(binned).value == pytest.approx(skm.roc_auc_score(y, s), abs=1e-4)
    assert average_precision(binned).value == pytest.approx(
        skm.average_precision_score(y, s), abs=1e-4
    )


def test_scores_outside_unit_interval_name_the_row():
    with pytest.raises(ValidationError, match=r"row 2: 1.7 is not a probability in \[0, 1\]"):
        validate_scores([0.1, 0.2, 1.7])
    with pytest.raises(ValidationError, match="row 1: nan is not a probability"):
        validate_scores([0.1, float("nan")])


def test_auc_interval_contains_the_estimate_and_stays_in_unit_interval():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.8, 0.9])
    r = roc_auc(ScoreDistribution.from_arrays(y, s))
    assert r.value == 1.0
    assert 0.0 <= r.lower < 1.0 and r.upper == 1.0


def test_rows_of_weight_zero_at_the_top_score_leave_average_precision_defined():
    # A top score key whose rows all weigh 0 has no precision (0/0); it must add nothing,
    # as in scikit-learn, not turn the metric or its interval into NaN.
    from sklearn.metrics import average_precision_score

    from liveeval.metrics import Evaluation

    ev = Evaluation.create([0, 1], pos_label=1)
    ev.update([1, 0, 1, 0], y_score=[0.9, 0.8, 0.3, 0.2], weight=[1, 0, 1, 1])
    ev.update([1], y_score=[0.95], weight=[0])
    result = ev.result().metrics["average_precision"]
    expected = average_precision_score(
        [1, 0, 1, 0, 1], [0.9, 0.8, 0.3, 0.2, 0.95], sample_weight=[1, 0, 1, 1, 0]
    )
    assert result.value == pytest.approx(expected)
    assert result.lower is not None and result.upper is not None
    assert result.lower <= result.value <= result.upper
