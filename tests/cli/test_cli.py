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
from liveeval.metrics.threshold import IN_SAMPLE_NOTE

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
    assert doc["schema_version"] == "1.3"
    # How sure the verdict is: a one-off report looks once.
    v = doc["verdict"]
    assert v["mode"] == "fixed" and {c["mode"] for c in v["checks"]} == {"fixed"}
    rates = v["error_rates"]
    assert rates["mode"] == "fixed" and rates["checks"] == len(v["checks"])
    assert rates["false_pass"] == pytest.approx(0.025) and rates["fixed_checks"] == []
    assert rates["text"].startswith("Error rates (fixed mode, at one look)")
    assert [p["objective"] for p in doc["operating_points"]] == [
        "max_f1",
        "recall>=0.8",
        "min_cost(fp=1,fn=10)",
    ]
    for point in doc["operating_points"]:
        assert point["in_sample"] is True
        assert point["interval_note"].startswith("in-sample: the threshold was chosen")
        fitted = point["out_of_sample"]
        assert set(fitted) == set(point["metrics"])
        assert "cross-fitted" in fitted["recall"]["method"]
    # The same page shows them.
    page = html.read_text()
    assert "fixed-sample intervals: valid for one look" in page
    assert rates["text"] in page and "cross-fitted" in page
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


# -- The console script as a user runs it: every bad input is one line, exit 2 ---------

REPO = Path(__file__).resolve().parents[2]


def console(*args: object, cwd: Path | None = None, **kwargs: object):
    """Run ``python -m liveeval.cli`` (what the ``liveeval`` entry point calls)."""
    return subprocess.run(
        [sys.executable, "-m", "liveeval.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=300,
        **kwargs,
    )


def assert_one_line_error(proc, *parts: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    """``liveeval demo-data out/``, exactly as the README has it."""
    where = tmp_path_factory.mktemp("readme")
    proc = console("demo-data", "out/", cwd=where)
    assert proc.returncode == 0, proc.stderr
    return where / "out"


def readme_commands() -> list[list[str]]:
    """The commands of the README's first block, with its ``...`` filled in from the first."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for line in text.splitlines():
        words = line.split("#")[0].split()
        if words[:1] == ["liveeval"] and words[1:2] != ["serve"] and words[1:2] != ["export"]:
            commands.append(words[1:])
    first = commands[0]
    assert first[:2] == ["report", "predictions.parquet"], first
    filled = []
    for words in commands:
        at = words.index("...") if "..." in words else None
        filled.append(words if at is None else words[:at] + first[2:] + words[at + 1 :])
    return filled


@pytest.mark.parametrize("words", readme_commands(), ids=lambda w: " ".join(w))
def test_readme_commands_work_on_the_demo_data_as_written(demo_out, words):
    proc = console(*words, cwd=demo_out)
    assert "Traceback" not in proc.stderr, proc.stderr
    expected = {0, 1, 3} if words[0] == "check" else {0}
    assert proc.returncode in expected, proc.stderr


def test_status_and_latency_columns_are_picked_up_by_name(demo_out):
    proc = console(
        "report",
        "predictions.parquet",
        "--label",
        "y_true",
        "--score",
        "y_score",
        "--json",
        "-",
        cwd=demo_out,
    )
    assert proc.returncode == 0, proc.stderr
    source = json.loads(proc.stdout)["source"]
    failed = pq.read_table(demo_out / "predictions.parquet", columns=["status"])
    n_failed = sum(1 for s in failed.column("status").to_pylist() if s != "ok")
    assert n_failed > 0
    assert {"reason": "failed prediction (status not ok)", "rows": n_failed} in source["excluded"]
    assert source["columns"]["status"] == "status"
    assert source["columns"]["latency"] == "latency_ms"
    assert "prediction status read from column 'status' (found by name)" in source["notes"]


def test_latency_seconds_and_status_columns_give_operational_metrics(tmp_path):
    path = tmp_path / "ops.csv"
    path.write_text(
        "y,s,latency_seconds,status\n0,0.1,0.010,ok\n1,0.9,,error\n0,0.3,0.020,ok\n1,0.8,0.030,ok\n"
    )
    proc = console("report", path, "--label", "y", "--score", "s", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["metrics"]["latency_max_seconds"]["value"] == pytest.approx(0.030)
    assert doc["metrics"]["failed_prediction_rate"]["value"] == pytest.approx(0.25)
    assert doc["source"]["rows_evaluated"] == 3
    assert "1 row(s) without a latency in 'latency_seconds'" in " ".join(doc["source"]["notes"])


def _type_change_csv(path: Path, column: str) -> None:
    rows = [f"{i % 2},0.5,{i}" for i in range(100_000)]
    bad = {"s": "1,abc,7", "v": "1,0.5,abc", "y": "abc,0.5,7"}[column]
    path.write_text("y,s,v\n" + "\n".join([*rows, bad, "0,0.2,3"]) + "\n")


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "args", "parts"),
    [
        (
            "dup.csv",
            "y,s,s\n0,0.1,0.2\n1,0.9,0.8\n",
            [],
            ["column 's': the name (given by --score) is the header of 2 columns (columns 2, 3)"],
        ),
        (
            "ragged.csv",
            "y,s\n0,0.1\n1,0.9,7\n0,0.3\n",
            [],
            ["ragged.csv, row 2 (line 3): expected 2 field(s) as in the header, found 3"],
        ),
        (
            "short.tsv",
            "y\ts\n0\t0.1\n1\n",
            [],
            ["short.tsv, row 2 (line 3): expected 2 field(s) as in the header, found 1"],
        ),
        (
            "time.csv",
            "y,s,ts\n0,0.1,2026-01-01T00:00:00\n1,0.9,notatime\n0,0.3,2026-01-02\n",
            ["--time", "ts"],
            ["column 'ts', row 2: 'notatime' is not an ISO-8601 timestamp"],
        ),
        (
            "zones.csv",
            "y,s,ts\n0,0.1,2026-01-01T00:00:00Z\n1,0.9,2026-01-01T01:00:00\n",
            ["--time", "ts"],
            ["column 'ts', row 2: '2026-01-01T01:00:00' has no zone offset but row 1"],
        ),
        (
            "third.csv",
            "y,s\n0,0.1\n1,0.9\n2,0.3\n",
            [],
            ["column 'y', row 3: label 2 is a third class, but --score is for binary problems"],
        ),
        (
            "declared.csv",
            "y,s\n0,0.1\n0,0.9\n1,0.3\n",
            ["--labels", "0,2"],
            ["column 'y', row 3: label 1 is not one of the declared classes [0, 2]"],
        ),
        (
            "pred.csv",
            "y,p\n0,0\n1,yes\n",
            ["--pred", "p"],
            ["column 'p', row 2: predicted label 'yes' is not an integer"],
        ),
        (
            "nan.csv",
            "y,s\n0,0.1\n1,nan\n",
            [],
            ["column 's', row 2: missing value is not a probability in [0, 1]"],
        ),
        ("inf.csv", "y,s\n0,0.1\n1,inf\n", [], ["column 's', row 2: inf is not a probability"]),
        (
            "bigints.csv",
            "y,s\n0,0.2\n99999999999999999999999,0.1\n",
            [],
            ["column 'y', row 2: label 1e+23 is too large to be held exactly as a number"],
        ),
        (
            "classes.csv",
            "y,p_a,p_b\na,0.5,0.5\nb,0.2,0.8\nc,0.1,0.9\n",
            ["--proba-prefix", "p_"],
            ["column 'y', row 3: label 'c' has no probability column"],
        ),
        ("empty.csv", "", [], ["empty.csv: file is empty"]),
        ("header.csv", "y,s\n", [], ["header.csv: no rows"]),
        ("sheet.xlsx", "PK\x03\x04", [], ["sheet.xlsx: spreadsheets (.xlsx) are not read"]),
        (
            "mixed.jsonl",
            '{"y": 1, "s": 0.1}\n{"y": "a", "s": 0.2}\n',
            [],
            ["mixed.jsonl, column 'y', row 2: \"a\" is a string but row 1 holds a number"],
        ),
        (
            "broken.jsonl",
            '{"y": 1, "s": 0.1}\n{"y": 0, "s": 0.2\n',
            [],
            ["broken.jsonl, row 2: not valid JSON"],
        ),
        (
            "latin1.csv",
            "é,s\n0,0.1\n".encode("latin-1"),
            [],
            ["latin1.csv: not UTF-8 text"],
        ),
        (
            "weights0.csv",
            "y,s,w\n0,0.1,0\n1,0.9,0\n",
            ["--weight", "w"],
            ["column 'w': every weight of the 2 rows evaluated is 0"],
        ),
        (
            "weights_neg.csv",
            "y,s,w\n0,0.1,1\n1,0.9,-1\n",
            ["--weight", "w"],
            ["column 'w', row 2: -1.0 is not a finite non-negative weight"],
        ),
        (
            "weights_nan.csv",
            "y,s,w\n0,0.1,1\n1,0.9,1\n0,0.5,nan\n",
            ["--weight", "w"],
            ["column 'w', row 3: missing value is not a finite non-negative weight"],
        ),
        (
            "all_failed.csv",
            "y,s,status\n0,0.1,approved\n1,0.9,declined\n",
            [],
            ["column 'status' was taken as the prediction status (found by name)"],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v.endswith(("csv", "tsv", "jsonl", "xlsx")) else "",
)
def test_bad_files_are_one_line_naming_file_column_and_row(tmp_path, name, content, args, parts):
    path = _write(tmp_path / name, content)
    label = "é" if name == "latin1.csv" else "y"
    given = {"--pred", "--proba-prefix"} & set(args)
    predictions = args if given else ["--score", "s", *args]
    proc = console("report", path, "--label", label, *predictions)
    line = assert_one_line_error(proc, *parts)
    assert line.startswith(f"Error: {path}")


@pytest.mark.parametrize(
    ("column", "parts"),
    [
        ("s", ["column 's', row 100001: 'abc' is not a number"]),
        ("y", ["column 'y', row 100001: label 'abc' is a third class"]),
    ],
)
def test_a_csv_type_change_after_the_first_block_names_its_row(tmp_path, column, parts):
    path = tmp_path / "change.csv"
    _type_change_csv(path, column)
    proc = console("report", path, "--label", "y", "--score", "s")
    assert_one_line_error(proc, str(path), *parts)


def test_a_csv_type_change_in_an_unused_column_is_read_as_text(tmp_path):
    path = tmp_path / "change.csv"
    _type_change_csv(path, "v")
    proc = console("report", path, "--label", "y", "--score", "s", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"]["rows_read"] == 100_002


def test_duplicate_unused_column_names_are_noted_not_a_traceback(tmp_path):
    path = _write(tmp_path / "dup.csv", "y,s,x,x\n0,0.1,1,2\n1,0.9,1,2\n")
    proc = console("report", path, "--label", "y", "--score", "s", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    notes = json.loads(proc.stdout)["source"]["notes"]
    assert "column names used more than once, left out of every check: 'x' (2×)" in notes


def test_a_list_typed_label_column_is_an_error(tmp_path):
    import pyarrow as pa

    path = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"y": pa.array([[0], [1]]), "s": [0.1, 0.9]}), path)
    proc = console("report", path, "--label", "y", "--score", "s")
    assert_one_line_error(
        proc, f"{path}, column 'y': expected labels (integers, strings or booleans), found list<"
    )


def test_list_and_struct_feature_columns_are_left_out_of_the_leakage_checks(tmp_path):
    import pyarrow as pa

    path = tmp_path / "nested.parquet"
    table = pa.table(
        {
            "y": [0, 1] * 50,
            "s": [0.2, 0.7] * 50,
            "tags": pa.array([[1, 2]] * 100),
            "meta": pa.array([{"a": 1}] * 100),
        }
    )
    pq.write_table(table, path)
    proc = console("report", path, "--label", "y", "--score", "s", "--train", path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-recall", "2"], "Error: --min-recall 2.0 is not a recall in [0, 1]"),
        (["--min-precision", "-1"], "Error: --min-precision -1.0 is not a precision in [0, 1]"),
        (["--cost-fp", "-1", "--cost-fn", "5"], "Error: --cost-fp -1.0 is not a finite cost >= 0"),
        (["--cost-fn", "nan"], "Error: --cost-fn nan is not a finite cost >= 0"),
        (
            ["--cost-fp", "0", "--cost-fn", "0"],
            "Error: --cost-fp and --cost-fn are both 0, so every threshold costs nothing",
        ),
        (["--confidence", "1"], "Error: --confidence 1.0 is not a confidence level in (0, 1)"),
        (["--confidence", "0"], "Error: --confidence 0.0 is not a confidence level in (0, 1)"),
    ],
)
@pytest.mark.parametrize("command", ["report", "threshold"])
def test_option_ranges_are_checked(scored_file, command, args, message):
    proc = console(command, scored_file, "--label", "y_true", "--score", "y_score", *args)
    assert assert_one_line_error(proc).startswith(message)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (".", "is a directory, expected a file"),
        ("nope.csv", "nope.csv: no such file"),
    ],
)
def test_paths_that_are_not_files(tmp_path, target, message):
    proc = console("report", target, "--label", "y", "--score", "s", cwd=tmp_path)
    assert_one_line_error(proc, message)


def test_a_file_in_an_unreadable_folder_as_another_user(tmp_path_factory):
    """Root reads any folder, so the real case runs the console script as nobody."""
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("covered by the in-process test for non-root users")
    top = Path(tempfile.mkdtemp(prefix="liveeval-perm-"))
    try:
        top.chmod(0o755)
        locked = top / "locked"
        locked.mkdir(mode=0o700)
        path = _write(locked / "a.csv", "y,s\n0,0.1\n1,0.9\n")
        try:
            proc = console(
                "report",
                path,
                "--label",
                "y",
                "--score",
                "s",
                cwd=top,
                user=65534,
                group=65534,
                extra_groups=[],
            )
        except PermissionError:
            pytest.skip("the interpreter is not executable by user nobody here")
        if "No module named" in proc.stderr or proc.returncode not in (0, 2):
            pytest.skip(f"user nobody cannot run liveeval here: {proc.stderr[-200:]}")
        assert_one_line_error(proc, f"{path}: permission denied")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_file_in_an_unreadable_folder(tmp_path, monkeypatch):
    """What a non-root user meets: stat and open raise PermissionError."""
    path = _write(tmp_path / "a.csv", "y,s\n0,0.1\n")
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    result = run("report", path, "--label", "y", "--score", "s")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"Error: {path}: permission denied (the file, or a folder on its path, cannot be read)"
    ]


def test_gzipped_csv_boolean_labels_and_unicode_names_are_read(tmp_path):
    import gzip

    gz = tmp_path / "p.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write("étiquette,分数\ntrue,0.9\nfalse,0.2\ntrue,0.4\nfalse,0.6\n")
    proc = console("report", gz, "--label", "étiquette", "--score", "分数", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["task"]["labels"] == [False, True] and doc["task"]["pos_label"] is True
    assert doc["metrics"]["recall"]["value"] == 0.5


def test_huge_integer_labels_keep_their_value(tmp_path):
    import pyarrow as pa

    path = tmp_path / "big.parquet"
    big = 2**64 - 1
    pq.write_table(
        pa.table({"y": pa.array([big, 0, big, 0], pa.uint64()), "s": [0.9, 0.2, 0.3, 0.1]}), path
    )
    proc = console("report", path, "--label", "y", "--score", "s")
    assert_one_line_error(proc, f"cannot tell which class is positive among [0, {big}]")
    proc = console(
        "report", path, "--label", "y", "--score", "s", "--pos-label", str(big), "--json", "-"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["task"]["pos_label"] == big


def test_a_zero_row_parquet_is_an_error(tmp_path):
    import pyarrow as pa

    path = tmp_path / "zero.parquet"
    pq.write_table(pa.table({"y": pa.array([], pa.int64()), "s": pa.array([], pa.float64())}), path)
    assert_one_line_error(
        console("report", path, "--label", "y", "--score", "s"), f"{path}: no rows"
    )


@pytest.mark.parametrize("confidence", ["0.9", "0.975"])
def test_the_confidence_level_given_is_the_one_printed(scored_file, tmp_path, confidence):
    html = tmp_path / "r.html"
    shown = f"{float(confidence) * 100:g}%"
    proc = console(
        "report",
        scored_file,
        "--label",
        "y_true",
        "--score",
        "y_score",
        "--confidence",
        confidence,
        "--html",
        html,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{shown} CI" in proc.stdout
    page = html.read_text()
    assert f"<th>{shown} CI</th>" in page and f"Intervals are {shown} confidence" in page
    assert "<th>95% CI</th>" not in page and "are 95%" not in page
    proc = console(
        "threshold",
        scored_file,
        "--label",
        "y_true",
        "--score",
        "y_score",
        "--confidence",
        confidence,
    )
    assert f"half the {shown} interval" in " ".join(proc.stdout.split())


def test_verdict_text_names_the_confidence_level(scored_file):
    proc = console(
        "report",
        scored_file,
        "--label",
        "y_true",
        "--score",
        "y_score",
        "--profile",
        "fraud",
        "--confidence",
        "0.9",
    )
    assert proc.returncode == 0, proc.stderr
    # The operating points' note quotes a study done at a nominal 95%; nothing else may.
    flat = " ".join(proc.stdout.split())
    note = " ".join(IN_SAMPLE_NOTE.split())
    assert note in flat
    assert "90% CI" in flat and "95%" not in flat.replace(note, "")


def test_a_profile_that_is_not_utf8_is_one_line(seeds_file, tmp_path):
    profile = _write(tmp_path / "mine.toml", b'name = "caf\xe9"\n[[check]]\nmetric = "recall"\n')
    proc = console(
        "check", seeds_file, "--label", "y_true", "--pred", "y_pred", "--profile", profile
    )
    assert_one_line_error(proc, str(profile))


def test_a_misspelt_metric_in_a_profile_is_bad_input(seeds_file, tmp_path):
    profile = _write(
        tmp_path / "mine.toml",
        'name = "mine"\ndescription = "x"\n[[check]]\nmetric = "recal"\nop = ">="\ntarget = 0.5\n',
    )
    proc = console(
        "check", seeds_file, "--label", "y_true", "--pred", "y_pred", "--profile", profile
    )
    assert_one_line_error(proc, str(profile), "recal", "recall")


def test_training_times_without_a_zone_compare_with_zoned_live_times(tmp_path):
    import datetime as dt

    import pyarrow as pa

    def table(start: dt.datetime, zone: str | None) -> pa.Table:
        times = [start + dt.timedelta(hours=i) for i in range(100)]
        return pa.table(
            {
                "y": [0, 1] * 50,
                "s": [0.2, 0.8] * 50,
                "ts": pa.array(times, pa.timestamp("us", tz=zone)),
            }
        )

    live, train = tmp_path / "live.parquet", tmp_path / "train.parquet"
    pq.write_table(table(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "UTC"), live)
    pq.write_table(table(dt.datetime(2026, 1, 3), None), train)
    proc = console(
        "report",
        live,
        "--label",
        "y",
        "--score",
        "s",
        "--time",
        "ts",
        "--train",
        train,
        "--json",
        "-",
    )
    assert proc.returncode == 0, proc.stderr
    findings = " ".join(f["message"] for f in json.loads(proc.stdout)["findings"])
    assert "training rows" in findings and "later than" in findings


# -- One class of 0/1 or boolean labels is evaluated as binary --------------------------


@pytest.mark.parametrize(
    ("labels", "column", "values", "seen", "absent", "positive"),
    [
        ([1] * 40, "--pred", [1] * 40, "1", "0", 1),
        ([True] * 40, "--score", [0.9] * 30 + [0.2] * 10, "True", "False", True),
        ([0] * 40, "--score", [0.1] * 35 + [0.8] * 5, "0", "1", 1),
    ],
    ids=["all-1-with-pred", "all-true-with-score", "all-0-with-score"],
)
def test_one_class_labels_are_evaluated_as_binary(
    tmp_path, labels, column, values, seen, absent, positive
):
    import pyarrow as pa

    path = tmp_path / "one.parquet"
    pq.write_table(pa.table({"y": labels, "m": values}), path)
    out = tmp_path / "one.json"
    proc = console("report", path, "--label", "y", column, "m", "--profile", "fraud", "--json", out)
    assert proc.returncode == 0, proc.stderr
    # The note names the class seen and the one with no rows, whichever is which.
    note = f"only class {seen} occurs; treated as binary; no rows of class {absent}"
    assert note in " ".join(proc.stdout.split())
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema())
    assert doc["task"]["kind"] == "binary" and doc["task"]["pos_label"] == positive
    assert note in doc["source"]["notes"]
    assert [f["name"] for f in doc["findings"] if f["name"] == "single_class"] == ["single_class"]
    # Judged as binary: no check says the data compares nothing.
    assert all("no other class is declared" not in c["reason"] for c in doc["verdict"]["checks"])


def test_threshold_shows_cross_fitted_rows_and_the_in_sample_note(tmp_path):
    out = tmp_path / "demo"
    assert console("demo-data", str(out)).returncode == 0
    proc = console(
        "threshold",
        str(out / "predictions.parquet"),
        "--label",
        "y_true",
        "--score",
        "y_score",
        "--min-recall",
        "0.9",
    )
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "cross-fitted" in text and "in-sample:" in text
