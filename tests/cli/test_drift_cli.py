"""``liveeval drift`` as a user runs it: table, JSON, exit codes 0/1/2, errors."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from liveeval.cli import app

runner = CliRunner()


def _write(path, rng: np.random.Generator, n: int, shift: float = 0.0) -> str:
    pq.write_table(
        pa.table(
            {
                "amount": rng.normal(100.0 + 10 * shift, 10.0, n),
                "channel": pa.array(rng.choice(["web", "app"], n)),
                "y_true": rng.binomial(1, 0.1, n),
                "y_score": rng.random(n),
            }
        ),
        path,
    )
    return str(path)


@pytest.fixture
def files(tmp_path) -> tuple[str, str, str]:
    rng = np.random.default_rng(5)
    return (
        _write(tmp_path / "ref.parquet", rng, 5000),
        _write(tmp_path / "same.parquet", rng, 5000),
        _write(tmp_path / "moved.parquet", rng, 5000, shift=0.5),
    )


def test_exit_code_is_0_without_drift_and_1_with_it(files) -> None:
    ref, same, moved = files
    quiet = runner.invoke(app, ["drift", ref, same, "--label", "y_true", "--score", "y_score"])
    assert quiet.exit_code == 0, quiet.output
    assert "no drift in 4 columns" in quiet.output
    loud = runner.invoke(app, ["drift", ref, moved, "--label", "y_true"])
    assert loud.exit_code == 1, loud.output
    assert "1 of 4 columns drifted: amount" in loud.output
    assert "DRIFTED" in loud.output
    assert "Benjamini-Hochberg-adjusted over the 4 tests made" in loud.output


def test_json_to_stdout_validates_against_the_schema(files) -> None:
    ref, _, moved = files
    result = runner.invoke(app, ["drift", ref, moved, "--json", "-", "--threshold", "numeric=0.2"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    schema = json.loads((resources.files("liveeval") / "schema" / "drift.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["rule"]["numeric_threshold"] == 0.2
    assert doc["drifted_columns"] == ["amount"]


def test_json_file_is_written_and_the_table_still_shown(files, tmp_path) -> None:
    ref, same, _ = files
    out = tmp_path / "drift.json"
    result = runner.invoke(app, ["drift", ref, same, "--json", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["drifted"] is False
    assert "JSON written to" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.parquet"], "missing.parquet: no such file"),
        (
            ["{same}", "--label", "y_tru"],
            "column 'y_tru': no such column (given by --label). Did you mean 'y_true'?",
        ),
        (
            ["{same}", "--threshold", "numeric=-1"],
            "--threshold 'numeric=-1': '-1' is not a number >= 0",
        ),
        (["{same}", "--threshold", "size=0.1"], "unknown kind 'size'"),
        (["{same}", "--alpha", "2"], "alpha must be in (0, 1), got 2.0"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_code_2(files, tmp_path, args, message) -> None:
    ref, same, _ = files
    argv = ["drift", ref] + [a.format(same=same) if "{" in a else a for a in args]
    if args[0] == "missing.parquet":
        argv[2] = str(tmp_path / "missing.parquet")
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr.replace("\n", " ")


def test_files_without_a_shared_column_exit_2(tmp_path) -> None:
    pq.write_table(pa.table({"a": [1.0, 2.0]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"b": [1.0, 2.0]}), tmp_path / "b.parquet")
    result = runner.invoke(app, ["drift", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
    assert result.exit_code == 2
    assert "share no column" in result.stderr


def test_html_page_shows_every_column_with_its_histograms(files, tmp_path) -> None:
    ref, _, moved = files
    out = tmp_path / "drift.html"
    result = runner.invoke(app, ["drift", ref, moved, "--label", "y_true", "--html", str(out)])
    assert result.exit_code == 1
    page = out.read_text()
    assert page.count("<svg") == 4
    assert "1 of 4 columns drifted" in page
    assert "<script" not in page


def test_help_states_the_exit_codes() -> None:
    result = runner.invoke(app, ["drift", "--help"])
    assert "0 no drift, 1 drift found, 2 bad input" in result.output
