"""The HTML report is one self-contained file with every section."""

from __future__ import annotations

import re

import liveeval


def test_html_is_self_contained_and_complete(scored_file):
    report = liveeval.evaluate(
        scored_file,
        label="y_true",
        score="y_score",
        segment="segment",
        time="ts",
        profile="fraud",
        min_recall=0.8,
    )
    page = report.to_html()
    assert page.startswith("<!doctype html>")
    # No network: no external scripts, stylesheets, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page
    for needle in (
        'id="verdict"',
        "Confusion matrix",
        "ROC curve",
        "Precision-recall",
        "Metrics by decision threshold",
        "Calibration",
        "recall by segment",
        "recall by time",
        'id="operating-points"',
    ):
        assert needle in page, needle


def test_jupyter_repr_is_a_fragment(seeds_table):
    fragment = liveeval.evaluate(seeds_table, label="y_true", pred="y_pred")._repr_html_()
    assert "<html" not in fragment and "Confusion matrix" in fragment


def test_html_escapes_labels():
    import pyarrow as pa

    table = pa.table({"y": ["<b>x</b>", "ok"] * 10, "p": ["ok", "<b>x</b>"] * 10})
    page = liveeval.evaluate(table, label="y", pred="p", pos_label="<b>x</b>").to_html()
    assert "<b>x</b>" not in page
