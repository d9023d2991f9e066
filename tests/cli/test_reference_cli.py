"""``liveeval reference``: upload, list and delete a model's references on a server."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from typer.testing import CliRunner

from liveeval.cli.app import app
from tests.e2e.conftest import server

__all__ = ["server"]


def _files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    table = pa.table(
        {"amount": rng.gamma(2.0, 50.0, 500), "distance_km": rng.exponential(10.0, 500)}
    )
    parquet, csv = tmp_path / "train.parquet", tmp_path / "valid.csv"
    pq.write_table(table, parquet)
    pacsv.write_csv(table, csv)
    return parquet, csv


def test_reference_upload_list_and_delete_against_a_server(server, tmp_path):
    parquet, csv = _files(tmp_path)
    runner = CliRunner()
    common = ["--url", server.url, "--model", "fraud"]
    done = runner.invoke(app, ["reference", "upload", *common, "--name", "train", str(parquet)])
    assert done.exit_code == 0, done.output
    assert "Registered upload:train for model fraud: 500 rows, 2 features" in done.output
    # A CSV is read here and sent as an Arrow stream.
    done = runner.invoke(app, ["reference", "upload", *common, "--name", "valid", str(csv)])
    assert done.exit_code == 0, done.output
    listed = runner.invoke(app, ["reference", "list", *common])
    assert listed.exit_code == 0 and "train" in listed.output and "valid" in listed.output
    with urllib.request.urlopen(f"{server.url}/v1/models/fraud/references") as response:
        names = [r["name"] for r in json.loads(response.read())["references"]]
    assert names == ["train", "valid"]
    again = runner.invoke(app, ["reference", "upload", *common, "--name", "train", str(parquet)])
    assert again.exit_code == 2
    assert "409" in again.output and "already has a reference named 'train'" in again.output
    replaced = runner.invoke(
        app, ["reference", "upload", *common, "--name", "train", "--replace", str(parquet)]
    )
    assert replaced.exit_code == 0, replaced.output
    gone = runner.invoke(app, ["reference", "delete", *common, "--name", "valid"])
    assert gone.exit_code == 0
    missing = runner.invoke(app, ["reference", "delete", *common, "--name", "valid"])
    assert missing.exit_code == 2 and "no reference named 'valid'" in missing.output


def test_reference_upload_of_a_missing_file_is_one_line(tmp_path):
    done = CliRunner().invoke(
        app, ["reference", "upload", "--model", "m", "--name", "n", str(tmp_path / "nope.parquet")]
    )
    assert done.exit_code == 2
    assert "nope.parquet: no such file" in done.output
