"""The terminal report shows how sure the verdict is and how honest each threshold is."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.console import Console

import liveeval
from liveeval.metrics.threshold import OperatingPoint
from liveeval.readiness import verdict
from liveeval.readiness.profile import Check, Profile
from liveeval.report.terminal import interval_notes


def text(renderable: object, width: int = 120) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture
def scored_report(scored_file):
    return liveeval.evaluate(
        scored_file, label="y_true", score="y_score", profile="fraud", min_recall=0.8
    )


def test_a_one_off_report_says_its_verdict_is_valid_for_one_look(scored_report):
    out = text(scored_report)
    assert "Verdict: " in out and "fixed-sample intervals: valid for one look" in out
    assert "Error rates (fixed mode, at one look)" in out
    # A fixed verdict has no check of another mode to mark.
    assert "†" not in out


def test_an_anytime_verdict_marks_the_checks_judged_on_fixed_sample_intervals(scored_report):
    profile = Profile(
        "live",
        "recall by sequence, ROC-AUC fixed-sample",
        (Check("recall", ">=", 0.5), Check("roc_auc", ">=", 0.5)),
    )
    live = verdict(profile, scored_report.result, [], mode="anytime")
    by_metric = {c.check.metric: c for c in live.checks}
    assert by_metric["recall"].mode == "anytime" and by_metric["roc_auc"].mode == "fixed"
    out = text(replace(scored_report, verdict=live))
    assert "anytime-valid: valid however often you look" in out
    assert "95% anytime CI" in out
    roc_line = next(line for line in out.splitlines() if " roc_auc " in line)
    recall_line = next(line for line in out.splitlines() if " recall " in line)
    assert "†" in roc_line and "†" not in recall_line
    assert "† judged on fixed-sample intervals: valid for one look" in out
    # The error-rate sentence names the check its guarantee does not cover.
    flat = " ".join(out.split())
    assert "Not covered over repeated looks: roc_auc" in flat


def test_operating_points_show_cross_fitted_metrics_beside_in_sample_ones(scored_report):
    points = scored_report.result.operating_points
    assert points and all(p.out_of_sample for p in points)
    out = text(scored_report)
    lines = out.splitlines()
    max_f1 = next(i for i, line in enumerate(lines) if "max_f1" in line and "in-sample" in line)
    assert "cross-fitted" in lines[max_f1 + 1]
    fitted = points[0].out_of_sample
    assert fitted is not None
    assert f"{fitted['precision'].value:.3f}" in lines[max_f1 + 1]
    assert f"{points[0].metrics['precision'].value:.3f}" in lines[max_f1]
    # The interval note, once for all the points that share it.
    flat = " ".join(out.split())
    note = points[0].interval_note
    assert note is not None and " ".join(note.split()) in flat
    assert flat.count("in-sample: the threshold was chosen") == 1


def test_operating_points_fit_an_80_column_terminal(scored_report):
    out = text(scored_report, width=80)
    table = out[out.index("Operating points") :]
    assert all(len(line) <= 80 for line in table.splitlines())
    # Narrow: the ± goes under its value rather than being cut off.
    assert "…" not in table
    assert "cross-fitted" in table


def test_an_unreached_constraint_is_a_row_with_its_reason_below(scored_report):
    points = scored_report.result.operating_points
    missing = OperatingPoint("precision>=0.999", None, {}, [], reason="no threshold reaches it")
    result = replace(scored_report.result, operating_points=[*points, missing])
    out = text(replace(scored_report, result=result))
    row = next(line for line in out.splitlines() if "precision>=0.999" in line)
    assert "none" in row and "no threshold" not in row
    assert "precision>=0.999: no threshold reaches it" in out


def test_points_with_different_notes_are_named_beside_each_note(scored_report):
    points = scored_report.result.operating_points
    mixed = [points[0], replace(points[1], out_of_sample=None)]
    result = replace(scored_report.result, operating_points=mixed)
    out = " ".join(text(replace(scored_report, result=result)).split())
    first, second = interval_notes(mixed)
    assert first.startswith(f"{points[0].objective}: in-sample") and "cross-fitted" in first
    assert second.startswith(f"{points[1].objective}: in-sample")
    assert "cross-fitted" not in second
    assert " ".join(first.split()) in out and " ".join(second.split()) in out
