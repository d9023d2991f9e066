"""The interval methods: exact where they claim to be, never a point where doubt remains,
honest about what they cannot bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from liveeval.metrics import (
    ConfusionMatrix,
    Evaluation,
    LatencySketch,
    LossSums,
    ScoreDistribution,
    average_precision,
    binary_metrics,
    expected_calibration_error,
    multiclass_metrics,
    roc_auc,
)
from liveeval.metrics.interval import (
    binomial_rank_limits,
    modified_wilson,
    poisson_lower,
    ratio_interval,
    t_mean,
    t_quantile,
    wilson,
)


def matrix(tn: float, fp: float, fn: float, tp: float, squares=None) -> ConfusionMatrix:
    c = np.array([[tn, fp], [fn, tp]], dtype=np.float64)
    s = c.copy() if squares is None else np.asarray(squares, dtype=np.float64).reshape(2, 2)
    return ConfusionMatrix((0, 1), c, s)


@pytest.mark.parametrize("df", [1, 2, 5, 9, 29, 99, 1000])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_t_quantile_equals_scipy(df, confidence):
    assert t_quantile(confidence, df) == pytest.approx(
        stats.t.ppf(0.5 + confidence / 2, df), rel=1e-9
    )


@pytest.mark.parametrize("count", [0.3, 1, 2, 3, 7.5])
def test_poisson_lower_limit_equals_the_gamma_quantile(count):
    assert poisson_lower(count, 0.025) == pytest.approx(stats.gamma.ppf(0.025, count), rel=1e-9)


@pytest.mark.parametrize(
    ("n", "q"), [(30, 0.5), (100, 0.95), (1000, 0.99), (400, 0.99), (10_000_000, 0.5)]
)
def test_binomial_ranks_are_the_tightest_with_the_promised_confidence(n, q):
    low, high = binomial_rank_limits(n, q, 0.95)
    b = stats.binom(n, q)
    assert low is not None and high is not None
    # P(X(l) <= quantile) = P(B >= l) >= 97.5%, and l + 1 would not be.
    assert b.sf(low - 1) >= 0.975 > b.sf(low)
    assert b.cdf(high - 1) >= 0.975 > b.cdf(high - 2)


def test_binomial_ranks_cannot_bound_a_p99_from_100_values():
    low, high = binomial_rank_limits(100, 0.99, 0.95)
    assert high is None
    assert low is not None and stats.binom(100, 0.99).sf(low - 1) >= 0.975


def test_modified_wilson_reaches_a_recall_of_0995_with_29_of_30():
    # Wilson alone stops at 0.994: a true 0.995 is missed whenever 29 of 30 are hit.
    assert wilson(29, 30)[1] < 0.995
    lower, upper = modified_wilson(29, 30)
    assert upper >= 0.995
    assert upper == pytest.approx(1 - stats.gamma.ppf(0.025, 1) / 30)
    assert lower == wilson(29, 30)[0]


def test_modified_wilson_is_wilson_away_from_the_edges():
    assert modified_wilson(40, 100) == wilson(40, 100)


def test_a_sample_without_errors_leaves_doubt_in_every_bootstrapped_metric():
    m = binary_metrics(matrix(35, 0, 0, 15), 1)
    for name in ("f2", "mcc", "cohen_kappa"):
        assert m[name].value == 1.0
        assert m[name].lower is not None and m[name].lower < 0.95, name
        assert m[name].upper == 1.0
        assert "Dirichlet" in m[name].method


def test_bootstrapped_intervals_are_deterministic():
    cm = matrix(50, 7, 4, 20)
    assert binary_metrics(cm, 1)["mcc"] == binary_metrics(cm, 1)["mcc"]


def test_balanced_accuracy_with_a_missing_class_allows_any_recall_for_it():
    # Class 2 never occurs: the value is the mean recall of classes 0 and 1 (scikit-learn),
    # the interval spans a recall of 0 to 1 for class 2.
    counts = np.array([[50.0, 0, 0], [0, 50, 0], [0, 0, 0]])
    cm = ConfusionMatrix((0, 1, 2), counts, counts.copy())
    ba = multiclass_metrics(cm)["balanced_accuracy"]
    assert ba.value == 1.0
    assert ba.lower is not None and 0.6 < ba.lower < 2 / 3
    assert ba.upper == 1.0
    assert ba.note == "interval allows any recall for class(es) 2, absent from y_true"


@pytest.mark.parametrize("rows", [1, 3, 50])
def test_a_single_class_gives_no_zero_width_interval_to_metrics_that_compare_classes(rows):
    # Only class "spam" so far, none other declared: every draw of a 1 x 1 matrix is the
    # same matrix, so the bootstrap gave [1, 1] from one row.
    cm = ConfusionMatrix(("spam",), np.array([[float(rows)]]), np.array([[float(rows)]]))
    m = multiclass_metrics(cm)
    compares = ["balanced_accuracy", "precision", "recall", "f1", "f2"]
    compares += [
        f"{b}_{a}" for b in ("precision", "recall", "f1", "f2") for a in ("macro", "weighted")
    ]
    for name in compares:
        assert m[name].value == 1.0, name  # scikit-learn's value, kept
        assert (m[name].lower, m[name].upper) == (None, None), name
        assert m[name].reason is not None
        assert m[name].reason.startswith(
            f"only class 'spam' occurs and no other class is declared, so {name} compares "
            "nothing and has no interval"
        )
    # Proportions over all rows keep their (honest) modified Wilson interval.
    for name in ("accuracy", "precision_micro", "error_rate"):
        assert m[name].lower is not None and m[name].upper is not None, name
        assert m[name].upper - m[name].lower > 0.05, name
        assert m[name].reason is None


def test_binary_balanced_accuracy_without_positives_is_not_certain():
    ba = binary_metrics(matrix(990, 10, 0, 0), 1)["balanced_accuracy"]
    assert ba.value == pytest.approx(0.99)
    assert ba.lower is not None and ba.lower < 0.5
    assert ba.note is not None and "absent" in ba.note


def test_one_error_lets_the_upper_limit_reach_the_poisson_edge():
    m = binary_metrics(matrix(20, 1, 0, 9), 1)["mcc"]
    assert m.upper is not None and m.upper > 0.99
    assert "Poisson limit of 1 error" in m.method


def test_an_empty_heavy_cell_still_widens_a_weighted_interval():
    # Positives weigh 5; no false negatives in this sample.
    counts = np.array([[81.0, 9.0], [0.0, 50.0]])
    squares = np.array([[81.0, 9.0], [0.0, 250.0]])
    cm = ConfusionMatrix((0, 1), counts, squares)
    acc = binary_metrics(cm, 1)["accuracy"]
    kish_lower = ratio_interval(131.0, 140.0, 331.0, 340.0)[0]
    assert acc.lower is not None and acc.lower < kish_lower


def test_weighted_recall_counts_rows_and_reports_the_weight_apart():
    # Labels sampled by prediction: 40 of 400 predicted negatives labelled, weight 10.
    tp, fn_rows, w = 80, 5, 10.0
    cm = ConfusionMatrix.from_arrays(
        [1] * tp + [1] * fn_rows,
        [1] * tp + [0] * fn_rows,
        labels=[0, 1],
        weight=[1.0] * tp + [w] * fn_rows,
    )
    recall = binary_metrics(cm, 1)["recall"]
    assert recall.n == tp + fn_rows
    assert recall.weight_total == pytest.approx(tp + fn_rows * w)
    assert recall.value == pytest.approx(80 / 130)
    assert "linearised" in recall.method


def test_linearised_variance_is_wider_than_kish_when_weights_follow_the_outcome():
    # TP weight 1 (80 rows), FN weight 10 (5 rows): recall = 80 / 130.
    lower, upper, n_eff = ratio_interval(80.0, 130.0, 80.0, 80.0 + 500.0)
    kish = 130.0**2 / 580.0
    assert n_eff < kish
    r = 80 / 130
    var = (80 * (1 - r) ** 2 + 500 * r * r) / 130**2
    assert n_eff == pytest.approx(r * (1 - r) / var)
    assert lower < r < upper


def test_unweighted_ratio_interval_is_the_modified_wilson_interval():
    assert ratio_interval(29.0, 30.0, 29.0, 30.0)[:2] == modified_wilson(29, 30)


def test_latency_p99_from_100_values_has_no_upper_limit():
    sketch = LatencySketch().update(np.random.default_rng(1).lognormal(-3, 0.5, 100))
    p99 = sketch.quantile(0.99)
    assert p99.upper == math.inf
    assert p99.note is not None and "unbounded" in p99.note and "368" in p99.note
    assert 0 < p99.lower <= p99.value


def test_latency_interval_contains_the_sketch_error():
    x = np.random.default_rng(2).lognormal(-3, 0.5, 100_000)
    p95 = LatencySketch().update(x).quantile(0.95)
    exact = float(np.quantile(x, 0.95))
    assert p95.lower <= exact <= p95.upper
    assert p95.upper / p95.lower < 1.05
    assert p95.note is None


def test_latency_mean_of_one_value_has_no_interval():
    mean = LatencySketch().update([0.2]).results()["latency_mean_seconds"]
    assert mean.value == pytest.approx(0.2)
    assert mean.lower is None and mean.upper is None
    assert "no interval" in mean.method


def test_log_loss_of_one_row_has_no_interval():
    loss = LossSums().update_binary(np.array([True]), np.array([0.7])).results()["log_loss"]
    assert loss.lower is None and loss.upper is None and "no interval" in loss.method


def test_skew_correction_moves_a_long_tailed_mean_up():
    rng = np.random.default_rng(3)
    x = rng.exponential(1.0, 60) ** 2
    plain = t_mean(x.sum(), (x * x).sum(), x.size)
    skewed = t_mean(x.sum(), (x * x).sum(), x.size, total_cu=(x**3).sum())
    assert skewed[1] > plain[1] and skewed[0] > plain[0]


def test_loss_sums_built_without_cubes_fall_back_to_a_plain_t():
    sums = LossSums().update_binary(np.array([True, False, True]), np.array([0.9, 0.2, 0.6]))
    without = LossSums(sums.weight, sums.weight_sq, sums.rows, sums.log_loss, sums.log_loss_sq)
    assert "Hall" in sums.results()["log_loss"].method
    assert "Hall" not in without.results()["log_loss"].method
    merged = without.merge(sums)
    assert merged.log_loss_cu is None
    assert LossSums().merge(sums).log_loss_cu == pytest.approx(sums.log_loss_cu)


def test_small_loss_samples_say_their_interval_is_approximate():
    rng = np.random.default_rng(4)
    s = rng.random(12)
    loss = LossSums().update_binary(rng.random(12) < s, s).results()["log_loss"]
    assert loss.note is not None and "12 rows" in loss.note


def test_ece_of_a_calibrated_model_has_an_interval_reaching_zero():
    rng = np.random.default_rng(5)
    p = rng.beta(2, 5, 2000)
    ece = expected_calibration_error(ScoreDistribution.from_arrays(rng.random(2000) < p, p))
    assert ece.lower == 0.0
    assert ece.value is not None and ece.value < 0.02
    assert "debiased" in ece.method


def test_ece_of_a_miscalibrated_model_excludes_zero():
    rng = np.random.default_rng(6)
    p = rng.beta(2, 5, 5000)
    ece = expected_calibration_error(ScoreDistribution.from_arrays(rng.random(5000) < p, p / 2))
    assert ece.lower is not None and ece.lower > 0.05


def test_roc_auc_with_few_positives_says_its_interval_is_approximate():
    rng = np.random.default_rng(7)
    y = np.r_[np.zeros(500, bool), np.ones(12, bool)]
    s = np.r_[rng.random(500) * 0.8, 0.5 + rng.random(12) * 0.5]
    auc = roc_auc(ScoreDistribution.from_arrays(y, s))
    assert auc.note == (
        "interval approximate: 12 positives; its coverage depends on the shape of their score "
        "distribution"
    )
    assert auc.lower is not None and auc.upper is not None and auc.upper < 1.0


def test_perfect_separation_still_leaves_doubt_in_roc_auc_and_average_precision():
    y = np.r_[np.zeros(40, bool), np.ones(40, bool)]
    s = np.r_[np.linspace(0, 0.4, 40), np.linspace(0.6, 1, 40)]
    dist = ScoreDistribution.from_arrays(y, s)
    for result in (roc_auc(dist), average_precision(dist)):
        assert result.value == 1.0
        assert result.upper == 1.0
        assert result.lower is not None and result.lower < 0.99


def test_an_evaluation_reports_rows_not_weights():
    ev = Evaluation.create([0, 1], pos_label=1)
    ev.update([1, 0, 1, 0], y_score=[0.9, 0.1, 0.4, 0.6], weight=[2.0, 3.0, 2.0, 3.0])
    metrics = ev.result().metrics
    for name in ("accuracy", "f2", "mcc", "roc_auc"):
        assert metrics[name].n == 4, name
        assert metrics[name].weight_total == pytest.approx(10.0), name
    assert metrics["recall"].n == 2  # rows in its denominator: the positives
    assert metrics["recall"].weight_total == pytest.approx(4.0)


def test_a_small_group_with_one_error_gets_its_interval_from_integer_counts():
    """Grouped evaluations count unweighted cells as integers; the few-errors widening
    of the bootstrap interval must not fail on them (it once raised a casting error)."""
    import numpy as np

    from liveeval.metrics.grouped import grouped_evaluations

    y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    pred = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    (ev,) = grouped_evaluations(np.zeros(8, np.int64), 1, (0, 1), 1, y, pred)
    result = ev.result()
    mcc = result.metrics["mcc"]
    assert mcc.lower <= mcc.value <= mcc.upper
    assert "Poisson limit of 1 error" in mcc.method


def test_a_result_limited_to_some_metrics_gives_them_unchanged():
    """Windows of a time series ask for a few metrics: the same values and intervals as
    the full result, without the curves and the metrics not asked for."""
    import numpy as np

    from liveeval.metrics.grouped import grouped_evaluations
    from liveeval.metrics.registry import metric_names

    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(int)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    (ev,) = grouped_evaluations(np.zeros(400, np.int64), 1, (0, 1), 1, y, (s >= 0.5) * 1, score=s)
    full = ev.result()
    only = (*metric_names(live=True), "mcc")
    part = ev.result(only=only)
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "mcc"} <= set(part.metrics)
    for name in part.metrics:
        assert part.metrics[name] == full.metrics[name], name
    assert "cohen_kappa" not in part.metrics and part.roc_curve is None
    assert set(part.metrics) == set(only) & set(full.metrics)
    one = ev.result(only=("recall",))
    assert set(one.metrics) == {"recall"} and one.metrics["recall"] == full.metrics["recall"]
    balanced = ev.result(only=("balanced_accuracy",)).metrics
    assert balanced == {"balanced_accuracy": full.metrics["balanced_accuracy"]}


def _plain_bisection(predicate_low, lo: float, hi: float, steps: int) -> float:
    """The bisection as written before its early exit: every step taken."""
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if predicate_low(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("df", [1.0, 2.5, 9.0, 99.0, 1234.0, 11_873.0, 999_999.0])
def test_t_quantile_stopping_once_the_bracket_is_two_floats_changes_nothing(df):
    from liveeval.metrics.interval import _beta_cdf, t_quantile, z_value

    confidence = 0.95
    tail = 1.0 - confidence
    hi = max(z_value(confidence) * 4.0, 1.0)
    while _beta_cdf(df / 2.0, 0.5, df / (df + hi * hi)) > tail:
        hi *= 2.0
    plain = _plain_bisection(
        lambda t: _beta_cdf(df / 2.0, 0.5, df / (df + t * t)) > tail, 0.0, hi, 100
    )
    assert t_quantile.__wrapped__(confidence, df) == plain


@pytest.mark.parametrize("count", [0.5, 1.0, 2.0, 3.0, 2.75, 40.0])
def test_poisson_lower_is_the_plain_bisection_and_remembered(count):
    from liveeval.metrics.interval import _gamma_cdf, poisson_lower

    tail = 0.025
    plain = _plain_bisection(
        lambda lam: _gamma_cdf(count, lam) < tail, 0.0, count + 10.0 * math.sqrt(count) + 10.0, 80
    )
    assert poisson_lower.__wrapped__(count, tail) == plain
    assert poisson_lower(count, tail) == plain
