"""The JSON schema declares the verdict's evidence, whatever the verdict's mode."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import jsonschema
import pyarrow as pa
import pytest

import liveeval
from liveeval.readiness import verdict
from liveeval.readiness.profile import Check, Profile


def schema() -> dict:
    text = (resources.files("liveeval") / "schema" / "report.schema.json").read_text()
    return json.loads(text)


def test_an_anytime_verdict_with_a_fixed_sample_check_matches_the_schema(scored_file):
    report = liveeval.evaluate(scored_file, label="y_true", score="y_score")
    profile = Profile("live", "", (Check("recall", ">=", 0.15), Check("roc_auc", ">=", 0.5)))
    live = verdict(profile, report.result, [], mode="anytime")
    doc = replace(report, verdict=live).to_dict()
    jsonschema.validate(doc, schema())
    v = doc["verdict"]
    assert v["mode"] == "anytime" and v["error_rates"]["fixed_checks"] == ["roc_auc"]
    modes = {c["metric"]: c["mode"] for c in v["checks"]}
    assert modes == {"recall": "anytime", "roc_auc": "fixed"}


def test_an_inconclusive_check_states_the_power_of_its_rows_to_settle():
    # 12 of 20 positives found: recall 0.6, its interval straddles a 0.6 target.
    table = pa.table({"y": [1] * 20 + [0] * 20, "p": [1] * 12 + [0] * 8 + [0] * 20})
    profile = Profile("p", "", (Check("recall", ">=", 0.55),))
    doc = liveeval.evaluate(table, label="y", pred="p", profile=profile).to_dict()
    jsonschema.validate(doc, schema())
    (check,) = doc["verdict"]["checks"]
    assert check["status"] == "inconclusive"
    assert check["more_rows_to_settle"] > 0 and check["settle_power"] == 0.8


def test_the_schema_refuses_an_unknown_mode(scored_file):
    report = liveeval.evaluate(scored_file, label="y_true", score="y_score", profile="fraud")
    doc = report.to_dict()
    doc["verdict"]["mode"] = "sometimes"
    with pytest.raises(jsonschema.ValidationError, match=r"'sometimes' is not one of"):
        jsonschema.validate(doc, schema())
