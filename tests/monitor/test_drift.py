"""Drift between two tables or files: column kinds, roles, ranking, errors, JSON schema."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from liveeval.errors import ColumnNotFoundError, InputFileError, ValidationError
from liveeval.metrics.drift import DriftRule, Histogram, measure_numeric, quantile_edges
from liveeval.monitor import compare_files, compare_tables, histogram_from_store
from liveeval.store.interface import FeatureHistogram


def _schema() -> dict:
    return json.loads((resources.files("liveeval") / "schema" / "drift.schema.json").read_text())


def _table(
    rng: np.random.Generator, n: int, *, shift: float = 0.0, mix=(0.5, 0.3, 0.2)
) -> pa.Table:
    return pa.table(
        {
            "amount": rng.lognormal(3.0 + shift, 1.0, n),
            "age": rng.integers(18, 90, n),
            "country": pa.array(rng.choice(["fr", "de", "us"], n, p=list(mix))),
            "is_new": pa.array(rng.random(n) < 0.3),
            "ts": pa.array(np.arange(n).astype("datetime64[s]")),
            "y_true": rng.binomial(1, 0.05, n),
            "y_score": rng.random(n),
        }
    )


@pytest.fixture
def tables() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(1)
    return _table(rng, 20_000), _table(rng, 20_000, shift=0.2, mix=(0.4, 0.3, 0.3))


def test_drifted_columns_are_found_ranked_first_and_kinds_follow_arrow_types(tables) -> None:
    ref, cur = tables
    report = compare_tables(ref, cur, label="y_true", score="y_score")
    names = [c.name for c in report.columns]
    assert set(names[:2]) == {"amount", "country"}
    assert report.drifted
    assert {c.name for c in report.columns if c.drifted} == {"amount", "country"}
    kinds = {c.name: (c.kind, c.role) for c in report.columns}
    assert kinds["age"] == ("numeric", "feature")
    assert kinds["is_new"] == ("categorical", "feature")
    assert kinds["y_true"] == ("categorical", "label")
    assert kinds["y_score"] == ("numeric", "score")
    assert [s.name for s in report.skipped] == ["ts"]
    assert "time moves on" in report.skipped[0].reason


def test_same_distribution_calls_nothing(tables) -> None:
    ref, _ = tables
    rng = np.random.default_rng(2)
    report = compare_tables(ref, _table(rng, 30_000), label="y_true")
    assert not report.drifted
    assert report.tests == 6


def test_json_result_validates_against_the_versioned_schema(tables) -> None:
    ref, cur = tables
    report = compare_tables(ref, cur, label="y_true", score="y_score", prediction="is_new")
    doc = json.loads(report.to_json())
    jsonschema.validate(doc, _schema())
    assert doc["schema_version"] == "1.0"
    assert doc["rule"]["min_rows"] == 100
    first = doc["features"][0]
    assert first["drifted"] is True
    assert first["effect"]["lower"] <= first["effect"]["value"] <= first["effect"]["upper"]
    assert first["p_adjusted"] >= first["p_value"]
    assert "Benjamini-Hochberg" in first["rule"]


def test_too_few_rows_and_a_constant_reference_still_validate() -> None:
    ref = pa.table({"x": np.ones(500), "c": ["a"] * 500})
    cur = pa.table({"x": np.r_[np.ones(30), np.full(20, 2.0)], "c": ["a"] * 25 + ["b"] * 25})
    report = compare_tables(ref, cur)
    doc = report.to_dict()
    jsonschema.validate(doc, _schema())
    assert {f["status"] for f in doc["features"]} == {"too_few_rows"}
    assert not report.drifted
    big = compare_tables(
        pa.table({"x": np.ones(500)}), pa.table({"x": np.r_[np.ones(400), np.full(100, 2.0)]})
    )
    x = big.to_dict()["features"][0]
    assert x["effect"]["value"] is None and "constant" in x["reason"]
    assert x["drifted"] is True
    jsonschema.validate(big.to_dict(), _schema())


def test_nulls_count_as_missing_and_unseen_categories_are_reported() -> None:
    ref = pa.table({"x": pa.array([1.0, None] * 300), "c": ["a", "b", "c"] * 200})
    cur = pa.table({"x": pa.array([1.0, 2.0, None] * 200), "c": ["a", "b", "z"] * 200})
    report = compare_tables(ref, cur)
    x = report.column("x").call.measurement
    assert (x.missing_reference, x.missing_current) == (300, 200)
    c = report.column("c").call.measurement
    assert (c.unseen_categories, c.unseen_current) == (1, 200)
    assert report.column("c").drifted


def test_a_column_missing_from_one_file_is_named_with_a_suggestion(tables) -> None:
    ref, cur = tables
    with pytest.raises(
        ColumnNotFoundError,
        match=r"<reference>, column 'y_tru': no such column \(given by --label\)\. Did you mean 'y_true'",
    ):
        compare_tables(ref, cur, label="y_tru")
    with pytest.raises(ColumnNotFoundError, match=r"<current>, column 'age'.*given by --columns"):
        compare_tables(ref, cur.drop_columns(["age"]), columns=["amount", "age"])


def test_tables_without_a_shared_column_are_refused() -> None:
    with pytest.raises(ValidationError, match="share no column"):
        compare_tables(pa.table({"a": [1.0]}), pa.table({"b": [1.0]}))
    with pytest.raises(ValidationError, match="no shared column can be compared: ts"):
        t = pa.table({"ts": pa.array(np.arange(3).astype("datetime64[s]"))})
        compare_tables(t, t)


def test_a_column_whose_type_changed_is_skipped_with_its_reason() -> None:
    ref = pa.table({"x": np.arange(200.0), "y": np.arange(200.0)})
    cur = pa.table({"x": [str(i) for i in range(200)], "y": np.arange(200.0)})
    report = compare_tables(ref, cur)
    assert [s.name for s in report.skipped] == ["x"]
    assert "numeric in the reference" in report.skipped[0].reason


def test_files_give_the_same_result_as_tables_parquet_and_csv(tmp_path, tables) -> None:
    ref, cur = tables
    pq.write_table(ref, tmp_path / "ref.parquet")
    pacsv.write_csv(cur.drop_columns(["ts"]), tmp_path / "cur.csv")
    from_files = compare_files(tmp_path / "ref.parquet", tmp_path / "cur.csv", label="y_true")
    in_memory = compare_tables(ref, cur.drop_columns(["ts"]), label="y_true")
    assert [c.name for c in from_files.columns] == [c.name for c in in_memory.columns]
    for a, b in zip(from_files.columns, in_memory.columns, strict=True):
        assert a.call.measurement.p_value == pytest.approx(b.call.measurement.p_value)
        assert a.drifted == b.drifted
    with pytest.raises(InputFileError, match="no such file"):
        compare_files(tmp_path / "nope.parquet", tmp_path / "cur.csv")


def test_store_histograms_convert_and_give_the_same_measurement() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=5000), rng.normal(0.2, 1.0, size=5000)
    edges = quantile_edges(x, bins=100)
    ours = [Histogram.from_values(v, edges) for v in (x, y)]
    stored = [
        FeatureHistogram(
            name="x",
            rows=h.rows,
            edges=tuple(edges),
            counts=tuple(int(c) for c in h.counts),
            below=h.below,
            above=h.above,
        )
        for h in ours
    ]
    converted = [histogram_from_store(h) for h in stored]
    rule = DriftRule()
    std = ours[0].std()
    a = measure_numeric(*converted, rule, reference_std=std)
    b = measure_numeric(*ours, rule)
    assert a.effect == pytest.approx(b.effect)
    assert a.p_value == pytest.approx(b.p_value)
