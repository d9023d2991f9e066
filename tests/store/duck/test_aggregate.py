"""The binned regime of the DuckDB aggregation (beyond ``exact_limit`` rows), which the
contract suite's small stores never reach."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from liveeval.metrics import Evaluation
from liveeval.store import Scope
from liveeval.store.duck.aggregate import aggregate
from liveeval.store.duck.store import DuckStore

from ..scenario import label_of, make_scenario, reference_pairs


@pytest.mark.parametrize("multiclass", [False, True])
def test_binned_statistics_equal_the_metrics_own_binned_statistics(tmp_path, multiclass):
    scenario = make_scenario(31, n=400, multiclass=multiclass)
    store = DuckStore(tmp_path / "s.duckdb")
    try:
        for kind in ("predictions", "outcomes"):
            kept = scenario.predictions if kind == "predictions" else scenario.outcomes
            store.write(kind, list(kept.values()))
        classes = scenario.classes
        stats = aggregate(
            store.cursor(),
            Scope("m"),
            classes=classes,
            pos_label=scenario.pos_label,
            exact_limit=50,
            resolution=4096,
        )
    finally:
        store.close()
    assert stats.evaluation is not None and stats.evaluation.scores is not None
    assert not stats.evaluation.scores[0].is_exact
    pairs = reference_pairs(scenario, Scope("m"))
    y_true = [label_of(o["label"]) for _, o in pairs]
    y_pred = [label_of(p["label"]) for p, _ in pairs]
    expected = Evaluation.create(
        classes, pos_label=scenario.pos_label, resolution=4096, exact_limit=50
    )
    if multiclass:
        proba = np.array([p["probas"] for p, _ in pairs])
        expected.update(y_true, y_pred, proba=proba)
        auc = skm.roc_auc_score(y_true, proba, multi_class="ovr")
        loss = skm.log_loss(y_true, proba)
    else:
        score = np.array([p["score"] for p, _ in pairs])
        expected.update(y_true, y_pred, y_score=score)
        auc = skm.roc_auc_score(y_true, score)
        loss = skm.log_loss(y_true, score)
    got = stats.evaluation.result().metrics
    want = expected.result().metrics
    for name in ("roc_auc", "average_precision", "log_loss", "brier", "expected_calibration_error"):
        assert got[name].value == pytest.approx(want[name].value, rel=1e-9), name
    assert got["roc_auc"].value == pytest.approx(auc, abs=1e-3)
    assert got["log_loss"].value == pytest.approx(loss, rel=1e-9)
