"""The HTML and JSON report's drift section (``--reference``) and windows section
(``--time ts --window 1h``)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from liveeval import evaluate
from liveeval.cli.app import app
from liveeval.errors import ValidationError
from liveeval.report.svg import CURRENT_COLOR, REFERENCE_COLOR

HOUR = 3600


def make(n: int, shift: float, seed: int, *, pending_after: int | None = None) -> pa.Table:
    """Six hours of scored predictions; after ``pending_after`` hours most labels are
    still missing (ground truth arriving)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    seconds = np.sort(rng.integers(0, 6 * HOUR, n))
    labelled = np.ones(n, dtype=bool)
    if pending_after is not None:
        labelled = (seconds < pending_after * HOUR) | (rng.random(n) < 0.3)
    return pa.table(
        {
            "ts": pa.array(np.datetime64("2026-11-02T00:00:00", "s") + seconds),
            "amount": rng.normal(shift, 1.0, n),
            "channel": rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2]),
            "y": pa.array(y, mask=~labelled),
            "s": s,
        }
    )


def schema() -> dict:
    return json.loads((resources.files("liveeval") / "schema" / "report.schema.json").read_text())


def test_a_reference_adds_the_drift_section_ranked_with_rule_and_histograms():
    report = evaluate(make(3000, 0.5, 2), label="y", score="s", reference=make(4000, 0.0, 1))
    doc = report.to_dict()
    jsonschema.validate(doc, schema())
    assert doc["schema_version"] == "1.3"
    drift = doc["drift"]
    names = [f["name"] for f in drift["features"]]
    assert names[0] == "amount" and drift["drifted_columns"] == ["amount"]
    assert set(names) == {"amount", "channel", "y", "s"}  # time is not a feature
    page = report.to_html()
    section = page[page.index('id="drift"') :]
    rows = re.findall(r'<td class="l" data-label="column">([^<]+)</td>', section)
    assert [r.split(" ")[0] for r in rows] == names
    amount = drift["features"][0]
    lower, upper = amount["effect"]["lower"], amount["effect"]["upper"]
    assert (
        f'{amount["effect"]["value"]:.3f} <span class="muted">[{lower:.3f}, {upper:.3f}]' in section
    )
    assert "decided by" in section and "≥ 0.05 and adjusted p" in section
    assert "wasserstein_std; kolmogorov_smirnov" in section
    # One reference-vs-current chart per column, in Okabe-Ito blue and orange.
    assert section.count("<details") == len(names)
    assert section.count(f'fill="{REFERENCE_COLOR}"') >= len(names)
    assert section.count(f'fill="{CURRENT_COLOR}"') >= len(names)


def test_labels_still_arriving_are_not_a_change_of_prevalence():
    current = make(3000, 0.0, 2, pending_after=3)
    assert current.column("y").null_count > 1000
    doc = evaluate(current, label="y", score="s", reference=make(4000, 0.0, 1)).to_dict()
    label = next(f for f in doc["drift"]["features"] if f["name"] == "y")
    assert not label["drifted"]
    assert label["rows"]["missing_current"] == 0  # compared over the labelled rows
    assert label["rows"]["current"] == 3000 - current.column("y").null_count


def test_the_windows_section_shows_coverage_maturity_and_intervals():
    report = evaluate(
        make(3000, 0.0, 2, pending_after=4), label="y", score="s", time="ts", window="1h"
    )
    doc = report.to_dict()
    jsonschema.validate(doc, schema())
    states = [w["state"] for w in doc["breakdowns"]["time"]]
    assert states == ["realized"] * 4 + ["estimating"] * 2
    assert doc["maturity"] == 0.9
    page = report.to_html()
    section = page[page.index('id="windows"') :]
    assert section.count('data-label="state">estimating') == 2
    assert section.count('data-label="state">realized') == 4
    first = report.breakdowns["time"][0]
    recall = first.metrics["recall"]
    assert (
        f'{recall.value:.3f} <span class="muted">[{recall.lower:.3f}, {recall.upper:.3f}]'
        in section
    )
    # Charts over time with interval bands; estimating windows drawn hollow.
    assert "<polygon" in section and 'fill="#fff"' in section
    # The windows are not listed twice (no separate "By time" table).
    assert "<h3>By time" not in page


def test_maturity_changes_which_windows_are_realized():
    table = make(3000, 0.0, 2, pending_after=4)
    doc = evaluate(table, label="y", score="s", time="ts", window="1h", maturity=0.2).to_dict()
    assert {w["state"] for w in doc["breakdowns"]["time"]} == {"realized"}
    with pytest.raises(ValidationError, match=r"maturity 1.5 is not a label coverage in \(0, 1\]"):
        evaluate(table, label="y", score="s", maturity=1.5)


def test_a_reference_that_shares_no_column_is_named():
    with pytest.raises(ValidationError, match="shares no feature, label or score column"):
        evaluate(make(500, 0.0, 2), label="y", score="s", reference=pa.table({"zip": [1, 2]}))


def test_report_cli_takes_a_reference_and_writes_the_drift_to_json_and_html(tmp_path: Path):
    cur, ref = tmp_path / "cur.parquet", tmp_path / "ref.parquet"
    pq.write_table(make(2000, 0.5, 2), cur)
    pq.write_table(make(3000, 0.0, 1), ref)
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    done = CliRunner().invoke(
        app,
        [
            "report", str(cur), "--label", "y", "--score", "s", "--time", "ts",
            "--window", "1h", "--reference", str(ref), "--json", str(out), "--html", str(html),
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Drift against" in done.output and "DRIFTED" in done.output
    doc = json.loads(out.read_text())
    assert doc["drift"]["drifted_columns"] == ["amount"]
    assert doc["drift"]["reference"]["path"] == str(ref)
    page = html.read_text()
    assert 'id="drift"' in page and 'id="windows"' in page
    missing = CliRunner().invoke(
        app,
        [
            "report",
            str(cur),
            "--label",
            "y",
            "--score",
            "s",
            "--reference",
            str(tmp_path / "no.parquet"),
        ],
    )
    assert missing.exit_code == 2
    assert "no.parquet" in missing.output
