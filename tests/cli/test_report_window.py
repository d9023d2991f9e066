"""``liveeval report --time ts --window 1h``: windows with label coverage, from a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sklearn.metrics as skm
from typer.testing import CliRunner

from liveeval import evaluate
from liveeval.cli.app import app


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Four hours of predictions; the last two hours have fewer labels (and none at all
    in the last one), as when ground truth is still arriving."""
    rng = np.random.default_rng(3)
    n = 4 * 300
    ts = np.datetime64("2026-11-02T00:00:00", "s") + np.arange(n) * 12
    y = (rng.random(n) < 0.3).astype(float)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    hour = np.arange(n) // 300
    labelled = np.where(hour == 2, rng.random(n) < 0.4, hour < 2)
    label = pa.array(np.where(labelled, y, np.nan), mask=~labelled)
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"ts": ts, "y": label, "s": s}), path)
    return path, {"y": y, "s": s, "hour": hour, "labelled": labelled}


def test_windows_carry_label_coverage_and_equal_sklearn(log):
    path, data = log
    report = evaluate(path, label="y", score="s", time="ts", window="1h")
    assert report.time_unit == "1h"
    windows = report.breakdowns["time"]
    assert [w.key for w in windows] == [f"2026-11-02 0{h}:00" for h in range(4)]
    assert [w.predictions for w in windows] == [300, 300, 300, 300]
    for h, w in enumerate(windows):
        keep = (data["hour"] == h) & data["labelled"]
        assert w.rows == int(keep.sum())
        assert w.label_coverage == pytest.approx(keep.sum() / 300)
        if keep.any():
            pred = (data["s"][keep] >= 0.5).astype(float)
            assert w.metrics["recall"].value == pytest.approx(
                skm.recall_score(data["y"][keep], pred)
            )
    assert windows[3].metrics == {} and windows[3].label_coverage == 0.0


def test_report_json_and_terminal_show_the_windows(log, tmp_path):
    path, _ = log
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(path),
            "--label",
            "y",
            "--score",
            "s",
            "--time",
            "ts",
            "--window",
            "30m",
            "--json",
            str(out),
            "--html",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == "1.3" and doc["time_unit"] == "30m"
    windows = doc["breakdowns"]["time"]
    assert len(windows) == 8 and windows[-1]["label_coverage"] == 0.0
    assert "predicted" in result.stdout and "(0%)" in result.stdout, result.stdout
    page = (tmp_path / "r.html").read_text()
    assert 'data-label="coverage">0.0%' in page and 'data-label="state">empty' not in page


@pytest.fixture
def monitor_limit(monkeypatch):
    """A small window limit, so that 1-minute windows over four hours exceed it."""
    from liveeval.data import columns

    monkeypatch.setattr(columns, "MAX_TIME_BUCKETS", 100)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--time", "ts", "--window", "1x"], "--window '1x' is not a duration"),
        (["--window", "1h"], "--window needs --time"),
        (["--time", "ts", "--window", "1m"], "choose a larger --window"),
    ],
)
def test_bad_windows_are_one_line_errors(log, args, match, monitor_limit):
    result = CliRunner().invoke(app, ["report", str(log[0]), "--label", "y", "--score", "s", *args])
    assert result.exit_code == 2
    assert match in " ".join(result.stderr.split())
