"""``liveeval monitor`` over a store file, an export folder and an unreachable server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liveeval.api import ServerConfig, create_app
from liveeval.cli.app import app
from liveeval.config import LoggedModel

T0 = datetime(2026, 11, 2)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    config = ServerConfig(store=str(path), logged=[LoggedModel("ext", (0, 1), 1)])
    preds = [
        {
            "id": f"p{i}",
            "model": "ext",
            "ts": (T0 + timedelta(minutes=3 * i)).isoformat(),
            "label": i % 2,
            "score": 0.9 if i % 2 else 0.1,
        }
        for i in range(60)
    ]
    outcomes = [{"prediction_id": f"p{i}", "label": (i % 3 == 0) * 1} for i in range(0, 60, 2)]
    with TestClient(create_app(config)) as client:
        assert client.post("/v1/predictions", json={"predictions": preds}).status_code == 200
        assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    return path


def test_monitor_reads_windows_from_a_store_file(store_file):
    result = CliRunner().invoke(app, ["monitor", "ext", "--store", str(store_file), "--json", "-"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [w["predictions"] for w in body["windows"]] == [20, 20, 20]
    assert [w["label_coverage"] for w in body["windows"]] == [0.5, 0.5, 0.5]
    assert {w["state"] for w in body["windows"]} == {"estimating"}


def test_monitor_renders_a_table_and_reads_an_export_folder(store_file, tmp_path):
    out = tmp_path / "export"
    assert (
        CliRunner().invoke(app, ["export", "--store", str(store_file), "--out", str(out)]).exit_code
        == 0
    )
    result = CliRunner().invoke(app, ["monitor", "ext", "--store", str(out), "--maturity", "0.5"])
    assert result.exit_code == 0, result.output
    assert "realized" in result.stdout and "50%" in result.stdout


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--size", "soon"], "neither a duration"),
        (["--metrics", "recal"], "did you mean 'recall'"),
    ],
)
def test_monitor_bad_options_are_one_line_errors(store_file, args, match):
    result = CliRunner().invoke(app, ["monitor", "ext", "--store", str(store_file), *args])
    assert result.exit_code == 2
    assert "Error:" in result.stderr and match in " ".join(result.stderr.split())


def test_monitor_unknown_model_names_the_known_ones(store_file):
    result = CliRunner().invoke(app, ["monitor", "nope", "--store", str(store_file)])
    assert result.exit_code == 2 and "ext" in result.stderr


def test_monitor_without_a_server_says_how_to_start_one():
    result = CliRunner().invoke(app, ["monitor", "ext", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "liveeval serve" in " ".join(result.stderr.split())


def test_monitor_prices_errors_by_a_profiles_costs_in_columns_and_json(store_file):
    # Labelled predictions are all negative: no false alarm; hour 0 misses i = 0, 6, 12, 18.
    args = ["monitor", "ext", "--store", str(store_file), "--profile", "fraud"]
    result = CliRunner().invoke(app, [*args, "--json", "-"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)["windows"][0]["business"]
    assert (first["false_alarms"], first["misses"], first["labelled"]) == (0, 4, 10)
    assert first["expected_cost"]["value"] == pytest.approx(4 * 50 / 10)
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "false alarms/day" in table.stdout and "cost/label" in table.stdout
    plain = CliRunner().invoke(app, ["monitor", "ext", "--store", str(store_file)])
    assert "false alarms/day" in plain.stdout and "cost/label" not in plain.stdout


def test_monitor_profile_goes_with_a_store_only():
    result = CliRunner().invoke(app, ["monitor", "ext", "--profile", "fraud"])
    assert result.exit_code == 2
    assert "--profile goes with --store" in result.stderr
