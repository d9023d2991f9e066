"""Bad input is caught at the boundary with a message naming file, column and row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import liveeval
from liveeval.errors import ColumnNotFoundError, InputFileError, UnknownLabelError, ValidationError


def test_missing_column_suggests_the_closest_name(seeds_table):
    with pytest.raises(
        ColumnNotFoundError, match=r"column 'y_tru': no such column .*did you mean 'y_true'"
    ):
        liveeval.evaluate(seeds_table, label="y_tru", pred="y_pred")


def test_label_outside_declared_classes_names_the_row(seeds_table):
    with pytest.raises(
        UnknownLabelError,
        match=r"column 'y_true', row 1: label 1 is not one of the declared classes \[0, 2\]",
    ):
        liveeval.evaluate(seeds_table, label="y_true", pred="y_pred", labels=[0, 2], pos_label=2)


def test_score_outside_unit_interval_names_file_column_and_row(tmp_path):
    path = tmp_path / "p.csv"
    pacsv.write_csv(pa.table({"y": [0, 1, 1], "s": [0.2, 1.7, 0.9]}), path)
    with pytest.raises(
        ValidationError, match=rf"{path}, column 's', row 2: 1.7 is not a probability in \[0, 1\]"
    ):
        liveeval.evaluate(path, label="y", score="s")


def test_nan_score_is_an_error_not_a_dropped_row():
    table = pa.table({"y": [0, 1, 1], "s": [0.2, float("nan"), 0.9]})
    with pytest.raises(ValidationError, match=r"column 's', row 2: NaN is not a probability"):
        liveeval.evaluate(table, label="y", score="s")


def test_missing_score_on_a_successful_row_is_an_error():
    table = pa.table({"y": [0, 1, 1], "s": [0.2, None, 0.9]})
    with pytest.raises(ValidationError, match=r"row 2: missing value is not a probability"):
        liveeval.evaluate(table, label="y", score="s")


def test_probabilities_that_do_not_sum_to_one_are_rejected():
    table = pa.table(
        {
            "y": ["a", "b", "c"],
            "p_a": [0.5, 0.2, 0.1],
            "p_b": [0.5, 0.6, 0.1],
            "p_c": [0.0, 0.4, 0.8],
        }
    )
    with pytest.raises(ValidationError, match=r"row 2: class probabilities sum to 1.2, not 1"):
        liveeval.evaluate(table, label="y", proba_prefix="p_")


def test_empty_input_is_an_error():
    with pytest.raises(ValidationError, match="no rows"):
        liveeval.evaluate(
            pa.table({"y": pa.array([], pa.int64()), "p": pa.array([], pa.int64())}),
            label="y",
            pred="p",
        )


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"this is not parquet")
    with pytest.raises(InputFileError, match=r"broken.parquet: cannot read as parquet"):
        liveeval.evaluate(bad, label="y", pred="p")
    with pytest.raises(InputFileError, match="no such file"):
        liveeval.evaluate(tmp_path / "nope.csv", label="y", pred="p")
    sheet = tmp_path / "x.xlsx"
    sheet.write_text("x")
    with pytest.raises(InputFileError, match=r"spreadsheets \(.xlsx\) are not read; export"):
        liveeval.evaluate(sheet, label="y", pred="p")
    odd = tmp_path / "x.dat"
    odd.write_text("x")
    with pytest.raises(InputFileError, match="cannot tell the format"):
        liveeval.evaluate(odd, label="y", pred="p")


def test_unlabelled_and_failed_rows_are_counted_not_dropped():
    table = pa.table(
        {
            "y": [1, 0, None, 1, None, 0],
            "s": [0.9, 0.1, 0.5, None, 0.4, 0.3],
            "status": ["ok", "ok", "ok", "error", "ok", "ok"],
        }
    )
    report = liveeval.evaluate(table, label="y", score="s", status="status")
    assert report.rows_read == 6
    assert report.rows_evaluated == 3
    assert report.excluded == {
        "failed prediction (status not ok)": 1,
        "label missing (ground truth not yet arrived)": 2,
    }
    assert report.rows_evaluated + sum(report.excluded.values()) == report.rows_read
    assert report.metric("failed_prediction_rate").value == pytest.approx(1 / 6)


def test_string_labels_need_a_positive_class_for_a_score():
    table = pa.table({"y": ["fraud", "ok"], "s": [0.9, 0.1]})
    with pytest.raises(ValidationError, match=r"cannot tell which class is positive.*--pos-label"):
        liveeval.evaluate(table, label="y", score="s")
    report = liveeval.evaluate(table, label="y", score="s", pos_label="fraud")
    assert report.metric("recall").value == 1.0


def test_pandas_polars_and_arrow_inputs_give_the_same_report(seeds_table):
    import pandas as pd
    import polars as pl

    ref = liveeval.evaluate(seeds_table, label="y_true", pred="y_pred").metric("f1").value
    for data in (seeds_table.to_pandas(), pl.from_arrow(seeds_table), seeds_table.to_pydict()):
        assert liveeval.evaluate(data, label="y_true", pred="y_pred").metric("f1").value == ref
    assert isinstance(seeds_table.to_pandas(), pd.DataFrame)


def test_multiclass_probabilities_by_prefix_map_columns_to_classes():
    rng = np.random.default_rng(0)
    raw = rng.random((300, 3))
    p = raw / raw.sum(axis=1, keepdims=True)
    y = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, 300)]
    table = pa.table({"y": y, "p_eel": p[:, 2], "p_cat": p[:, 0], "p_dog": p[:, 1]})
    report = liveeval.evaluate(table, label="y", proba_prefix="p_")
    from sklearn.metrics import accuracy_score

    assert report.result.labels == ("cat", "dog", "eel")
    assert report.metric("accuracy").value == pytest.approx(
        accuracy_score(y, np.array(["cat", "dog", "eel"])[p.argmax(axis=1)])
    )


def test_jsonl_and_csv_files_are_read(tmp_path, seeds_table):
    import json

    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in seeds_table.to_pylist()))
    csv = tmp_path / "p.csv"
    pacsv.write_csv(seeds_table, csv)
    for path in (jsonl, csv):
        assert (
            liveeval.evaluate(path, label="y_true", pred="y_pred").metric("accuracy").value == 0.875
        )


def test_a_status_column_found_by_name_leaves_failed_rows_out():
    table = pa.table(
        {"y": [1, 0, 1, 0], "s": [0.9, None, 0.8, 0.1], "status": ["ok", "error", "ok", "ok"]}
    )
    report = liveeval.evaluate(table, label="y", score="s")
    assert report.excluded == {"failed prediction (status not ok)": 1}
    assert report.columns["status"] == "status"
    assert report.metric("failed_prediction_rate").value == 0.25
    assert "prediction status read from column 'status' (found by name)" in report.notes


def test_a_bare_latency_column_is_used_only_with_a_unit():
    table = pa.table({"y": [1, 0], "s": [0.9, 0.1], "latency": [12.0, 30.0]})
    assert "latency" not in liveeval.evaluate(table, label="y", score="s").columns
    report = liveeval.evaluate(table, label="y", score="s", latency_unit="ms")
    assert report.metric("latency_max_seconds").value == pytest.approx(0.030)


def test_boolean_labels_take_true_as_the_positive_class():
    report = liveeval.evaluate(
        {"y": [True, False, True, False], "s": [0.9, 0.2, 0.3, 0.1]}, label="y", score="s"
    )
    assert report.result.pos_label is True
    assert report.metric("recall").value == 0.5


def test_dictionary_columns_with_missing_values_group_as_missing():
    table = pa.table(
        {
            "y": pa.array(["a", "b", None, "a"]).dictionary_encode(),
            "p": pa.array(["a", "b", "a", "a"]).dictionary_encode(),
            "seg": pa.array(["x", None, "x", "y"]).dictionary_encode(),
        }
    )
    report = liveeval.evaluate(table, label="y", pred="p", segment="seg")
    assert [b.key for b in report.breakdowns["segment"]] == ["x", "y", "(missing)"]
    assert report.rows_evaluated == 3


def test_a_used_column_name_must_head_one_column():
    table = pa.Table.from_arrays(
        [pa.array([0, 1]), pa.array([0.1, 0.9]), pa.array([1, 2])], names=["y", "s", "s"]
    )
    with pytest.raises(
        ValidationError,
        match=r"column 's': the name \(given by --score\) is the "
        r"header of 2 columns \(columns 2, 3\)",
    ):
        liveeval.evaluate(table, label="y", score="s")


def test_numbers_written_as_text_are_read_and_text_names_its_row():
    report = liveeval.evaluate({"y": [0, 1], "s": ["0.2", "0.9"]}, label="y", score="s")
    assert report.metric("roc_auc").value == 1.0
    with pytest.raises(ValidationError, match=r"column 's', row 3: 'high' is not a number"):
        liveeval.evaluate({"y": [0, 1, 1], "s": ["0.2", "0.9", "high"]}, label="y", score="s")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.7e9, float("nan")], r"row 2: nan is not a time in epoch seconds"),
        ([1.7e9, 1e300], r"row 2: 1e\+300 is not a time in epoch seconds"),
        (["2026-01-01", "2026-01-02", "01/03/2026"], r"row 3: '01/03/2026' is not an ISO-8601"),
    ],
)
def test_bad_times_name_their_row(values, message):
    table = {"y": [0, 1, 0][: len(values)], "p": [0, 1, 0][: len(values)], "ts": values}
    with pytest.raises(ValidationError, match=rf"column 'ts', {message}"):
        liveeval.evaluate(table, label="y", pred="p", time="ts")


def test_a_row_named_after_filtering_is_the_row_of_the_file():
    # Rows 1 and 3 are unlabelled or failed, so the bad score is the 2nd row evaluated
    # but row 4 of the data.
    table = pa.table(
        {
            "y": [None, 0, 1, 1],
            "s": [0.5, 0.2, 0.3, 1.5],
            "status": ["ok", "ok", "error", "ok"],
        }
    )
    with pytest.raises(ValidationError, match=r"column 's', row 4: 1.5 is not a probability"):
        liveeval.evaluate(table, label="y", score="s")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_recall": 1.5}, r"min_recall 1.5 is not a recall in \[0, 1\]"),
        ({"min_precision": float("nan")}, r"min_precision nan is not a precision"),
        ({"cost_fp": float("inf")}, r"cost_fp inf is not a finite cost >= 0"),
        ({"cost_fp": 0.0}, r"cost_fp 0.0 is not|both 0"),
        ({"confidence": 1.0}, r"confidence 1.0 is not a confidence level in \(0, 1\)"),
    ],
)
def test_options_out_of_range_are_errors(kwargs, message):
    call = {"label": "y", "score": "s", **kwargs}
    if kwargs == {"cost_fp": 0.0}:
        # A missing cost counts as 1, so fp=0 alone is a valid choice.
        liveeval.evaluate({"y": [0, 1], "s": [0.2, 0.9]}, **call)
        call["cost_fn"] = 0.0
    with pytest.raises(ValidationError, match=message):
        liveeval.evaluate({"y": [0, 1], "s": [0.2, 0.9]}, **call)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("inf"), r"row 2: label inf is not a class"),
        (2.0**60, r"row 2: label 1.152921504606847e\+18 is too large to be held exactly"),
    ],
)
def test_float_labels_that_cannot_be_classes_name_their_row(value, message):
    with pytest.raises(ValidationError, match=rf"column 'y', {message}"):
        liveeval.evaluate({"y": [0.0, value, 1.0], "p": [0.0, 1.0, 1.0]}, label="y", pred="p")
