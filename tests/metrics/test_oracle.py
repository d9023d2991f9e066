"""Every exact metric against scikit-learn, on random data and edge cases (to 1e-9)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from liveeval.metrics import ConfusionMatrix, Evaluation, MetricResult, confusion_metrics

TOL = 1e-9


def value(m: MetricResult) -> float:
    assert m.value is not None, m
    return m.value


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@st.composite
def classification(draw, min_classes=2, max_classes=4, weighted=None):
    k = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, 80))
    y_true = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    y_pred = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    use_weights = draw(st.booleans()) if weighted is None else weighted
    weight = (
        np.array(draw(st.lists(st.floats(0.1, 5.0), min_size=n, max_size=n)))
        if use_weights
        else None
    )
    return k, y_true, y_pred, weight


@st.composite
def scored(draw, weighted=None):
    n = draw(st.integers(2, 120))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    # Few distinct values make ties common; some draws are continuous.
    grid = draw(st.booleans())
    if grid:
        s = np.array(
            draw(
                st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]), min_size=n, max_size=n)
            )
        )
    else:
        s = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    use_weights = draw(st.booleans()) if weighted is None else weighted
    w = (
        np.array(draw(st.lists(st.floats(0.1, 5.0), min_size=n, max_size=n)))
        if use_weights
        else None
    )
    return y, s, w


@settings(max_examples=100, deadline=None)
@given(classification(2, 2))
def test_binary_confusion_metrics_equal_sklearn(case):
    _, y_true, y_pred, w = case
    cm = ConfusionMatrix.from_arrays(y_true, y_pred, labels=[0, 1], weight=w)
    m = confusion_metrics(cm, pos_label=1)
    kw = {"sample_weight": w}
    assert np.allclose(
        cm.counts, skm.confusion_matrix(y_true, y_pred, labels=[0, 1], **kw), atol=TOL
    )
    assert value(m["accuracy"]) == pytest.approx(skm.accuracy_score(y_true, y_pred, **kw), abs=TOL)
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        expected = fn(y_true, y_pred, pos_label=1, zero_division=0, **kw)
        assert value(m[name]) == pytest.approx(expected, abs=TOL), name
    assert value(m["f2"]) == pytest.approx(
        skm.fbeta_score(y_true, y_pred, beta=2, zero_division=0, **kw), abs=TOL
    )
    spec = skm.recall_score(y_true, y_pred, pos_label=0, zero_division=0, **kw)
    assert value(m["specificity"]) == pytest.approx(spec, abs=TOL)
    assert value(m["mcc"]) == pytest.approx(
        quiet(skm.matthews_corrcoef, y_true, y_pred, **kw), abs=TOL
    )
    kappa = quiet(skm.cohen_kappa_score, y_true, y_pred, sample_weight=w)
    if np.isnan(kappa):
        assert not m["cohen_kappa"].is_defined
    else:
        assert value(m["cohen_kappa"]) == pytest.approx(kappa, abs=TOL)
    bal = quiet(skm.balanced_accuracy_score, y_true, y_pred, **kw)
    assert value(m["balanced_accuracy"]) == pytest.approx(bal, abs=TOL)


@settings(max_examples=100, deadline=None)
@given(classification(3, 5))
def test_multiclass_metrics_equal_sklearn(case):
    k, y_true, y_pred, w = case
    labels = list(range(k))
    cm = ConfusionMatrix.from_arrays(y_true, y_pred, labels=labels, weight=w)
    m = confusion_metrics(cm)
    kw = {"sample_weight": w, "labels": labels, "zero_division": 0}
    for base, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        for average in ("macro", "weighted", "micro"):
            expected = fn(y_true, y_pred, average=average, **kw)
            assert value(m[f"{base}_{average}"]) == pytest.approx(expected, abs=TOL), (
                base,
                average,
            )
    assert value(m["f2_macro"]) == pytest.approx(
        skm.fbeta_score(y_true, y_pred, beta=2, average="macro", **kw), abs=TOL
    )
    assert value(m["accuracy"]) == pytest.approx(
        skm.accuracy_score(y_true, y_pred, sample_weight=w), abs=TOL
    )
    assert value(m["mcc"]) == pytest.approx(
        quiet(skm.matthews_corrcoef, y_true, y_pred, sample_weight=w), abs=TOL
    )
    bal = quiet(skm.balanced_accuracy_score, y_true, y_pred, sample_weight=w)
    assert value(m["balanced_accuracy"]) == pytest.approx(bal, abs=TOL)
    kappa = quiet(skm.cohen_kappa_score, y_true, y_pred, labels=labels, sample_weight=w)
    if np.isnan(kappa):
        assert not m["cohen_kappa"].is_defined
    else:
        assert value(m["cohen_kappa"]) == pytest.approx(kappa, abs=TOL)


@settings(max_examples=100, deadline=None)
@given(scored())
def test_ranking_and_loss_metrics_equal_sklearn(case):
    y, s, w = case
    ev = Evaluation.create([0, 1], pos_label=1)
    ev.update(y, y_score=s, weight=w)
    m = ev.result().metrics
    if len(set(y.tolist())) == 2:
        assert value(m["roc_auc"]) == pytest.approx(
            skm.roc_auc_score(y, s, sample_weight=w), abs=TOL
        )
        ap = skm.average_precision_score(y, s, sample_weight=w)
        assert value(m["average_precision"]) == pytest.approx(ap, abs=TOL)
    else:
        assert not m["roc_auc"].is_defined
    assert value(m["log_loss"]) == pytest.approx(
        skm.log_loss(y, s, sample_weight=w, labels=[0, 1]), abs=TOL
    )
    assert value(m["brier"]) == pytest.approx(
        skm.brier_score_loss(y, s, sample_weight=w, labels=[0, 1]), abs=TOL
    )
    pred = (s >= 0.5).astype(int)
    assert value(m["recall"]) == pytest.approx(
        skm.recall_score(y, pred, zero_division=0, sample_weight=w), abs=TOL
    )


@st.composite
def probabilities(draw):
    k = draw(st.integers(3, 5))
    n = draw(st.integers(2, 60))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    raw = (
        np.array(
            draw(
                st.lists(
                    st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k), min_size=n, max_size=n
                )
            )
        )
        + 1e-3
    )
    return k, y, raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=100, deadline=None)
@given(probabilities())
def test_multiclass_probability_metrics_equal_sklearn(case):
    k, y, p = case
    labels = list(range(k))
    ev = Evaluation.create(labels)
    ev.update(y, proba=p)
    m = ev.result().metrics
    assert value(m["log_loss"]) == pytest.approx(skm.log_loss(y, p, labels=labels), abs=TOL)
    assert value(m["brier"]) == pytest.approx(skm.brier_score_loss(y, p, labels=labels), abs=TOL)
    assert value(m["accuracy"]) == pytest.approx(skm.accuracy_score(y, p.argmax(axis=1)), abs=TOL)
    if len(set(y.tolist())) == k:
        auc = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)
        assert value(m["roc_auc"]) == pytest.approx(auc, abs=TOL)
        onehot = np.eye(k)[y]
        ap = skm.average_precision_score(onehot, p, average="macro")
        assert value(m["average_precision"]) == pytest.approx(ap, abs=TOL)
    else:
        assert not m["roc_auc"].is_defined


def test_seed_worked_example_reproduces_the_seed_figures():
    y_true = [1] * 100 + [0] * 100
    y_pred = [1] * 85 + [0] * 15 + [1] * 10 + [0] * 90
    m = confusion_metrics(ConfusionMatrix.from_arrays(y_true, y_pred), pos_label=1)
    assert value(m["precision"]) == pytest.approx(0.894, abs=1e-3)
    assert value(m["recall"]) == pytest.approx(0.85, abs=1e-12)
    assert value(m["f1"]) == pytest.approx(0.871, abs=1e-3)
    assert value(m["accuracy"]) == pytest.approx(0.875, abs=1e-12)


def test_precision_without_positive_predictions_says_it_is_undefined():
    m = confusion_metrics(ConfusionMatrix.from_arrays([1, 0, 0], [0, 0, 0], labels=[0, 1]), 1)
    p = m["precision"]
    assert p.value == 0.0 and p.zero_division == 0.0 and not p.is_defined
    assert "nothing predicted positive" in (p.reason or "")
    assert p.lower is None


def test_single_class_all_correct():
    m = confusion_metrics(ConfusionMatrix.from_arrays([0, 0, 0], [0, 0, 0], labels=[0, 1]), 1)
    assert value(m["accuracy"]) == 1.0
    assert m["recall"].zero_division == 0.0
    assert value(m["specificity"]) == 1.0


def test_all_wrong():
    m = confusion_metrics(ConfusionMatrix.from_arrays([0, 1, 0, 1], [1, 0, 1, 0]), 1)
    assert value(m["accuracy"]) == 0.0
    assert value(m["mcc"]) == pytest.approx(skm.matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]))


def test_empty_input_is_undefined_not_zero():
    ev = Evaluation.create([0, 1], pos_label=1)
    ev.update(np.array([], dtype=int), y_score=np.array([]))
    m = ev.result().metrics
    assert not m["roc_auc"].is_defined
    assert m["accuracy"].zero_division is not None
    assert not m["log_loss"].is_defined


def test_very_imbalanced_data_matches_sklearn():
    rng = np.random.default_rng(3)
    y = (rng.random(200_000) < 0.001).astype(int)
    s = np.clip(rng.normal(0.2 + 0.5 * y, 0.2), 0, 1)
    ev = Evaluation.create([0, 1], pos_label=1).update(y, y_score=s)
    m = ev.result().metrics
    assert value(m["roc_auc"]) == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert value(m["average_precision"]) == pytest.approx(
        skm.average_precision_score(y, s), abs=TOL
    )
    assert value(m["recall"]) == pytest.approx(skm.recall_score(y, s >= 0.5), abs=TOL)


def test_string_labels_with_declared_positive_class():
    y_true = np.array(["fraud", "ok", "ok", "fraud", "ok"])
    y_pred = np.array(["fraud", "fraud", "ok", "ok", "ok"])
    m = confusion_metrics(ConfusionMatrix.from_arrays(y_true, y_pred), pos_label="fraud")
    assert value(m["precision"]) == pytest.approx(
        skm.precision_score(y_true, y_pred, pos_label="fraud")
    )
