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
        "recall per window",
        'id="windows"',
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


def test_html_verdict_states_its_mode_and_error_rates(scored_file):
    report = liveeval.evaluate(scored_file, label="y_true", score="y_score", profile="fraud")
    page = report.to_html()
    mode = page[page.index('id="verdict-mode"') :]
    assert "fixed-sample intervals: valid for one look" in mode[: mode.index("</div>")]
    rates = report.verdict.error_rates
    assert f'id="error-rates">{rates.text}</p>' in page


def test_html_marks_a_fixed_sample_check_of_an_anytime_verdict(scored_file):
    from dataclasses import replace

    from liveeval.readiness import verdict
    from liveeval.readiness.profile import Check, Profile

    report = liveeval.evaluate(scored_file, label="y_true", score="y_score")
    profile = Profile("live", "", (Check("recall", ">=", 0.5), Check("roc_auc", ">=", 0.5)))
    live = verdict(profile, report.result, [], mode="anytime")
    page = replace(report, verdict=live).to_html()
    assert "anytime-valid: valid however often you look" in page
    assert "95% anytime CI" in page
    rows = page[page.index('id="verdict"') : page.index('id="error-rates"')].split("<tr>")
    roc = next(row for row in rows if ">roc_auc<" in row)
    recall = next(row for row in rows if ">recall<" in row)
    assert "fixed-sample, not anytime-valid" in roc and "check-mode" not in recall


def test_html_operating_points_have_cross_fitted_rows_and_the_interval_note(scored_file):
    report = liveeval.evaluate(scored_file, label="y_true", score="y_score", min_recall=0.8)
    page = report.to_html()
    table = page[
        page.index('id="operating-points"') : page.index(
            "</table>", page.index('id="operating-points"')
        )
    ]
    points = report.result.operating_points
    assert table.count('<tr class="cross-fitted">') == len(points) == 2
    fitted = points[0].out_of_sample
    assert fitted is not None
    after = table[table.index('<tr class="cross-fitted">') :]
    assert f"{fitted['recall'].value:.3f}" in after.split("</tr>")[0]
    assert f'<p class="muted interval-note">{points[0].interval_note}</p>' in page
