"""The liveeval command as a user runs it: output, files, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from liveeval.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def seeds_file(tmp_path, seeds_table) -> Path:
    path = tmp_path / "seeds.parquet"
    pq.write_table(seeds_table, path)
    return path


@pytest.fixture
def paradox_file(tmp_path, paradox_table) -> Path:
    path = tmp_path / "paradox.parquet"
    pq.write_table(paradox_table, path)
    return path


def schema() -> dict:
    text = (resources.files("liveeval") / "schema" / "report.schema.json").read_text()
    return json.loads(text)


def test_report_prints_the_seed_confusion_matrix(seeds_file):
    result = run("report", seeds_file, "--label", "y_true", "--pred", "y_pred")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Predicted Positive (1)" in out and "Predicted Negative (0)" in out
    assert "Actual Positive (1)" in out and "Actual Negative (0)" in out
    for cell in ("85 (TP)", "15 (FN)", "10 (FP)", "90 (TN)"):
        assert cell in out
    assert "Total samples = 200" in out
    assert "0.8947" in out and "0.8500" in out and "0.8718" in out and "0.8750" in out
    # Actual rows, predicted columns: TP before FN on the first row.
    line = next(row for row in out.splitlines() if "Actual Positive" in row)
    assert line.index("85 (TP)") < line.index("15 (FN)")


def test_report_writes_json_that_matches_the_schema(scored_file, tmp_path):
    out = tmp_path / "r.json"
    html = tmp_path / "r.html"
    result = run(
        "report",
        scored_file,
        "--label",
        "y_true",
        "--score",
        "y_score",
        "--segment",
        "segment",
        "--version",
        "model_version",
        "--time",
        "ts",
        "--profile",
        "fraud",
        "--json",
        out,
        "--html",
        html,
        "--min-recall",
        "0.8",
        "--cost-fp",
        "1",
        "--cost-fn",
        "10",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema())
    for name in (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "specificity",
        "balanced_accuracy",
        "mcc",
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
    ):
        entry = doc["metrics"][name]
        assert {"value", "lower", "upper", "method"} <= entry.keys()
        assert entry["lower"] <= entry["value"] <= entry["upper"], name
    assert doc["verdict"]["profile"] == "fraud"
    assert [p["objective"] for p in doc["operating_points"]] == [
        "max_f1",
        "recall>=0.8",
        "min_cost(fp=1,fn=10)",
    ]
    assert {"segment", "version", "time"} <= doc["breakdowns"].keys()
    assert html.read_text().startswith("<!doctype html>")


def test_json_to_stdout_is_pure_json(seeds_file):
    result = run("report", seeds_file, "--label", "y_true", "--pred", "y_pred", "--json", "-")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["confusion_matrix"]["matrix"] == [[90.0, 10.0], [15.0, 85.0]]


@pytest.mark.parametrize(
    ("fixture", "profile", "code"),
    [("paradox_file", "fraud", 1), ("seeds_file", "balanced", 3), ("seeds_file", "fraud", 3)],
)
def test_check_exit_codes(request, fixture, profile, code):
    path = request.getfixturevalue(fixture)
    result = run("check", path, "--label", "y_true", "--pred", "y_pred", "--profile", profile)
    assert result.exit_code == code, result.output


def test_check_passes_a_good_model(tmp_path):
    import pyarrow as pa

    n = 20_000
    y = [1] * (n // 2) + [0] * (n // 2)
    p = [1] * (n // 2 - 200) + [0] * 200 + [1] * 300 + [0] * (n // 2 - 300)
    path = tmp_path / "good.parquet"
    pq.write_table(pa.table({"y": y, "p": p}), path)
    result = run("check", path, "--label", "y", "--pred", "p", "--profile", "critical")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output


def test_check_says_why_the_paradox_fails(paradox_file):
    result = run(
        "check", paradox_file, "--label", "y_true", "--pred", "y_pred", "--profile", "fraud"
    )
    assert "accuracy is 98.0% but recall on the minority class 1 is only 12.0%" in " ".join(
        result.output.split()
    )


def test_threshold_recommends_operating_points(scored_file, tmp_path):
    out = tmp_path / "t.json"
    result = run(
        "threshold",
        scored_file,
        "--label",
        "y_true",
        "--score",
        "y_score",
        "--min-recall",
        "0.9",
        "--min-precision",
        "0.5",
        "--cost-fp",
        "1",
        "--cost-fn",
        "20",
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    points = {p["objective"]: p for p in doc["operating_points"]}
    assert points["recall>=0.9"]["metrics"]["recall"]["value"] >= 0.9
    assert points["precision>=0.5"]["metrics"]["precision"]["value"] >= 0.5
    assert "max_f1" in points and "min_cost(fp=1,fn=20)" in points
    assert "recall>=0.9" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "y_tru", "--pred", "y_pred"], "did you mean 'y_true'"),
        (
            ["--label", "y_true", "--pred", "y_pred", "--labels", "0,2", "--pos-label", "2"],
            "row 1: label 1 is not one of the declared classes",
        ),
        (["--label", "y_true", "--score", "y_pred", "--proba", "a,b"], "not both"),
        (["--label", "y_true"], "no predictions"),
        (["--label", "y_true", "--pred", "y_pred", "--profile", "fruad"], "Did you mean 'fraud'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(seeds_file, args, message):
    result = run("report", seeds_file, *args)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_file_exit_2(tmp_path):
    result = run("report", tmp_path / "none.parquet", "--label", "y", "--pred", "p")
    assert result.exit_code == 2 and "no such file" in result.output


def test_console_script_reports_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("y,s\n0,0.2\n1,1.7\n")
    proc = subprocess.run(
        [sys.executable, "-m", "liveeval", "report", str(bad), "--label", "y", "--score", "s"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"Error: {bad}, column 's', row 2: 1.7 is not a probability in [0, 1]"
    )
    assert proc.stdout == ""


def test_demo_data_and_profiles_commands(tmp_path):
    result = run("demo-data", tmp_path / "demo", "--rows", "5000")
    assert result.exit_code == 0
    assert (tmp_path / "demo" / "predictions.parquet").exists()
    result = run("profiles")
    assert "fraud" in result.output and "recall >= 0.9" in result.output


def test_multiclass_report_with_probability_columns(tmp_path):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(3)
    raw = rng.random((600, 3)) + np.eye(3)[rng.integers(0, 3, 600)]
    p = raw / raw.sum(axis=1, keepdims=True)
    y = np.array(["cat", "dog", "eel"])[np.argmax(raw + rng.normal(0, 0.3, raw.shape), axis=1)]
    path = tmp_path / "mc.csv"
    import pyarrow.csv as pacsv

    pacsv.write_csv(
        pa.table({"y": y, "prob_cat": p[:, 0], "prob_dog": p[:, 1], "prob_eel": p[:, 2]}), path
    )
    out = tmp_path / "mc.json"
    result = run(
        "report", path, "--label", "y", "--proba", "prob_cat,prob_dog,prob_eel", "--json", out
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema())
    assert doc["task"]["kind"] == "multiclass"
    assert {"f1_macro", "f1_micro", "f1_weighted", "roc_auc", "log_loss"} <= doc["metrics"].keys()
    assert "Actual cat" in result.output and "Predicted eel" in result.output
