"""Request rows against a model's input schema: every problem names the row and the
field; numbers become a float matrix, text makes a typed table."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from liveeval.errors import ValidationError
from liveeval.serving import Feature, InputSchema, parse_features

NUMERIC = InputSchema("m", (Feature("a"), Feature("b")))
MIXED = InputSchema(
    "m",
    (Feature("a"), Feature("c", "string", frozenset({"x", "y"}), strict=True)),
    frame=True,
)


def test_features_parse_names_and_types():
    assert parse_features(["a", "country:string", "x:y:number"]) == (
        Feature("a"),
        Feature("country", "string"),
        Feature("x:y", "number"),
    )


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["a", "a:number"], r"feature 'a' is listed twice"),
        ([":string"], r"feature ':string': empty name"),
        (["a:text"], r"unknown type 'text' \(types: number, string; a name containing ':'"),
        ([], r"no features listed"),
    ],
)
def test_bad_feature_declarations_are_refused(texts, message):
    with pytest.raises(ValueError, match=message):
        parse_features(texts)


def test_numbers_become_a_float_matrix_in_feature_order():
    x = NUMERIC.build([{"b": 2, "a": 1.5}, {"a": -1, "b": 0.0}])
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    assert x.tolist() == [[1.5, 2.0], [-1.0, 0.0]]


@pytest.mark.parametrize("schema", [NUMERIC, MIXED], ids=["matrix", "table"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"z": 1}, r"inputs\[1\] has unknown feature\(s\) \['z'\]; model 'm' expects \['a', "),
        ({"a": "7"}, r"inputs\[1\]\.a is '7'; expected a number \(if model 'm' takes text here, "),
        ({"a": True}, r"inputs\[1\]\.a is True; expected a number$"),
        ({"a": None}, r"inputs\[1\]\.a is None; expected a number$"),
        ({"a": float("nan")}, r"inputs\[1\]\.a is nan; expected a finite number$"),
        ({"a": float("-inf")}, r"inputs\[1\]\.a is -inf; expected a finite number$"),
    ],
    ids=["unknown", "text-for-number", "bool", "null", "nan", "inf"],
)
def test_each_bad_field_is_named_with_its_row(schema, change, message):
    good = {"a": 1.0, "b": 2.0} if schema is NUMERIC else {"a": 1.0, "c": "x"}
    with pytest.raises(ValidationError, match=message):
        schema.build([good, good | change])


@pytest.mark.parametrize("schema", [NUMERIC, MIXED], ids=["matrix", "table"])
def test_a_missing_field_is_named_with_its_row(schema):
    last = schema.names[-1]
    with pytest.raises(
        ValidationError, match=rf"inputs\[0\] lacks feature\(s\) \['{last}'\]; model 'm' expects"
    ):
        schema.build([{"a": 1.0}])
    # As many keys as features, one of them misspelt.
    with pytest.raises(ValidationError, match=r"inputs\[0\] lacks feature\(s\) \['a'\]"):
        schema.build([{"A": 1.0, last: 1.0}])


def test_a_text_field_must_be_a_known_string():
    good = {"a": 1.0, "c": "x"}
    with pytest.raises(ValidationError, match=r"inputs\[1\]\.c is 3; expected a string"):
        MIXED.build([good, {"a": 1.0, "c": 3}])
    with pytest.raises(ValidationError, match=r"inputs\[0\]\.c is 'q'; model 'm' knows only"):
        MIXED.build([{"a": 1.0, "c": "q"}])


def test_text_makes_a_typed_arrow_table():
    table = MIXED.build([{"a": 1, "c": "x"}, {"c": "y", "a": 2.5}])
    assert isinstance(table, pa.Table)
    assert table.schema == pa.schema([("a", pa.float64()), ("c", pa.string())])
    assert table.to_pydict() == {"a": [1.0, 2.5], "c": ["x", "y"]}


def test_long_category_lists_are_cut_in_messages():
    schema = InputSchema(
        "m", (Feature("c", "string", frozenset(f"k{i:02d}" for i in range(30)), strict=True),), True
    )
    with pytest.raises(ValidationError, match=r"'k19' and 10 more\]$"):
        schema.build([{"c": "zz"}])


def test_a_text_pipeline_is_served_without_pandas(text_pipeline):
    # The Arrow table path: scikit-learn reads it as a DataFrame; pandas is an extra.
    script = textwrap.dedent(
        f"""
        import sys

        class NoPandas:  # as if pandas were not installed
            def find_spec(self, name, path=None, target=None):
                if name == "pandas" or name.startswith("pandas."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, NoPandas())
        from liveeval.serving import ModelSpec, load_model
        loaded = load_model(ModelSpec("m", {str(text_pipeline)!r}))
        out = loaded.infer(loaded.inputs([{{"amount": 5.0, "country": "FR", "channel": "app"}}]))
        print(loaded.schema.container, out.labels, round(out.scores[0], 6))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    container, *_ = proc.stdout.split()
    assert container == "arrow"
    assert "pandas" not in proc.stderr


FLOAT32 = InputSchema("m", (Feature("a", dtype="float32"), Feature("b", dtype="float32")))


def test_a_float32_model_gets_a_float32_matrix_and_refuses_what_overflows_it():
    x = FLOAT32.build([{"a": 1.5, "b": -3.4e38}])
    assert x.dtype == np.float32 and x.tolist() == [[1.5, np.float32(-3.4e38)]]
    with pytest.raises(
        ValidationError,
        match=r"^inputs\[1\]\.b is -1e\+39, which model 'm' cannot take: its float32 input holds "
        r"numbers from -3\.4028235e\+38 to 3\.4028235e\+38$",
    ):
        FLOAT32.build([{"a": 0.0, "b": 0.0}, {"a": 0.0, "b": -1e39}])


def test_an_integer_too_large_for_float64_is_refused_not_an_overflow():
    with pytest.raises(ValidationError, match=r"^inputs\[0\]\.a is 1000000.*\.\.\., which model"):
        NUMERIC.build([{"a": 10**400, "b": 0.0}])


def test_per_column_inputs_come_by_name_in_each_columns_dtype():
    schema = InputSchema(
        "m",
        (Feature("n", dtype="int64"), Feature("s", "string"), Feature("f", dtype="float32")),
        frame=True,
        container="columns",
    )
    feed = schema.build([{"f": 0.5, "s": "x", "n": 3}, {"n": 4.0, "s": "y", "f": 1.0}])
    assert {k: (v.dtype.name, v.shape) for k, v in feed.items()} == {
        "n": ("int64", (2, 1)),
        "s": ("object", (2, 1)),
        "f": ("float32", (2, 1)),
    }
    assert feed["n"].ravel().tolist() == [3, 4]
    with pytest.raises(
        ValidationError, match=r"^inputs\[0\]\.n is 2\.5; model 'm' takes a whole number here$"
    ):
        schema.build([{"f": 0.5, "s": "x", "n": 2.5}])
    with pytest.raises(ValidationError, match=r"inputs\[0\]\.n is 1e\+19, which model 'm' cannot"):
        schema.build([{"f": 0.5, "s": "x", "n": 1e19}])
