"""ONNX graphs: inputs fed by name and in the graph's dtype, class labels read from
the graph, outputs declared or told by the load check; every refusal is one line.

Tolerances: a float32 graph computes in float32, so its scores are compared with
onnxruntime's own output on the same input exactly, and with scikit-learn's float64
``predict_proba`` within 1e-6 (float32 has a 6e-8 relative step, and these scores
come out of a handful of float32 operations: measured differences are ~2e-7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liveeval.errors import ModelLoadError, ModelOutputError, ValidationError
from liveeval.serving import ModelSpec, load_model

from .test_load_sklearn import three_class_frame

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

CLASSES = ("maybe", "no", "yes")


def spec(path, **kw):
    return ModelSpec("m", path, **kw)


def fitted():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, y = three_class_frame()
    frame = frame.astype(np.float32)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y), frame


def save(graph, path):
    path.write_bytes(graph.SerializeToString())
    return path


def rows_of(frame, n=40):
    return [{k: float(v) for k, v in row.items()} for row in frame.iloc[:n].to_dict("records")]


def test_a_graph_from_a_dataframe_is_fed_by_name_with_names_and_classes_from_the_graph(tmp_path):
    model, frame = fitted()
    path = save(skl2onnx.to_onnx(model, frame[:1]), tmp_path / "frame.onnx")
    # Listed in another order: fed by name all the same.
    loaded = load_model(spec(path, features=("c", "a", "b")))
    assert loaded.features == ("a", "b", "c") and loaded.classes == CLASSES
    assert loaded.schema.container == "columns" and loaded.output == "probabilities"
    rows = rows_of(frame)
    probas = np.array(loaded.infer(loaded.inputs(rows)).probas)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {c: frame[[c]].to_numpy()[:40] for c in "abc"}
    own = session.run(["output_probability"], feed)[0]
    assert probas.tolist() == [[row[c] for c in CLASSES] for row in own]
    assert np.max(np.abs(probas - model.predict_proba(frame.iloc[:40]))) <= 1e-6
    # Without any config, too: the graph records both.
    assert load_model(spec(path)).features == ("a", "b", "c")


def test_a_graph_from_an_array_takes_declared_features_and_its_own_classes(tmp_path):
    model, frame = fitted()
    path = save(
        skl2onnx.to_onnx(model, frame.to_numpy()[:1], options={"zipmap": False}),
        tmp_path / "a.onnx",
    )
    with pytest.raises(
        ModelLoadError,
        match=r"declare 'features' \(its 3 inputs, in order; or --features\) in its \[\[models\]\] "
        r"entry in liveeval\.toml; from the graph: classes \['maybe', 'no', 'yes'\]$",
    ):
        load_model(spec(path))
    loaded = load_model(spec(path, features=("a", "b", "c")))
    assert loaded.classes == CLASSES and loaded.schema.dtype == "float32"
    probas = np.array(loaded.infer(loaded.inputs(rows_of(frame))).probas)
    assert np.max(np.abs(probas - model.predict_proba(frame.iloc[:40]))) <= 1e-6
    with pytest.raises(
        ModelLoadError,
        match=r"input 'X' takes 3 features per row, but 2 are listed: \['a', 'b'\]; list its 3",
    ):
        load_model(spec(path, features=("a", "b")))


def test_a_number_beyond_float32_is_a_validation_error_naming_row_and_field(tmp_path):
    model, frame = fitted()
    path = save(skl2onnx.to_onnx(model, frame[:1]), tmp_path / "frame.onnx")
    loaded = load_model(spec(path))
    with pytest.raises(
        ValidationError,
        match=r"^inputs\[1\]\.b is 1e\+39, which model 'm' cannot take: its float32 input holds "
        r"numbers from -3\.4028235e\+38 to 3\.4028235e\+38$",
    ):
        loaded.inputs([{"a": 0.0, "b": 0.0, "c": 0.0}, {"a": 0.0, "b": 1e39, "c": 0.0}])


def test_a_float64_graph_gets_float64_and_its_classes_checked_against_its_labels(tmp_path):
    model, frame = fitted()
    x64 = frame.to_numpy().astype(np.float64)
    path = save(
        skl2onnx.to_onnx(model, x64[:1], options={"zipmap": False}), tmp_path / "double.onnx"
    )
    # A double graph records no class labels: declared, and checked against its labels.
    with pytest.raises(
        ModelLoadError,
        match=r"declare 'classes' \(its 3 classes, in the order of its outputs\) in its "
        r"\[\[models\]\] entry in liveeval\.toml$",
    ):
        load_model(spec(path, features=("a", "b", "c")))
    loaded = load_model(spec(path, features=("a", "b", "c"), classes=CLASSES))
    x = loaded.inputs(rows_of(frame))
    assert x.dtype == np.float64
    probas = np.array(loaded.infer(x).probas)
    reference = model.predict_proba(pd.DataFrame(x64[:40], columns=list("abc")))
    assert np.max(np.abs(probas - reference)) <= 1e-6
    with pytest.raises(
        ModelLoadError,
        match=r"its label output says 'no' for a probe row where its largest score is for "
        r"'maybe' under the classes \['no', 'maybe', 'yes'\]: the classes are not in the order",
    ):
        load_model(spec(path, features=("a", "b", "c"), classes=("no", "maybe", "yes")))


def test_classes_against_the_graphs_labels_are_refused_when_reordered(tmp_path):
    model, frame = fitted()
    path = save(skl2onnx.to_onnx(model, frame[:1]), tmp_path / "frame.onnx")
    with pytest.raises(
        ModelLoadError,
        match=r"classes \['yes', 'no', 'maybe'\] in the config are the graph's class labels in "
        r"another order: the model's order is \['maybe', 'no', 'yes'\]; leave 'classes' out",
    ):
        load_model(spec(path, classes=("yes", "no", "maybe")))
    with pytest.raises(ModelLoadError, match=r"are too few for the graph's class labels"):
        load_model(spec(path, classes=("maybe", "no")))


def linear_graph(tmp_path, *, batch="N", softmax=False, name="logits", dtype=np.float32):
    """x (batch, 2) @ W + b: three logits per row (or their softmax)."""
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    w = numpy_helper.from_array(np.array([[1.0, -2.0, 0.5], [0.3, 1.0, -1.5]], dtype), "W")
    b = numpy_helper.from_array(np.array([0.1, -0.2, 0.3], dtype), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"])]
    nodes.append(helper.make_node("Add", ["xw", "B"], ["z" if softmax else name]))
    if softmax:
        nodes.append(helper.make_node("Softmax", ["z"], [name], axis=1))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", elem, [batch, 2])],
        [helper.make_tensor_value_info(name, elem, [batch, 3])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save(model, tmp_path / "linear.onnx")


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_an_onnx_logits_output_is_refused_as_probabilities_and_served_as_logits(tmp_path):
    path = linear_graph(tmp_path)
    declared = {"features": ("u", "v"), "classes": ("a", "b", "c")}
    with pytest.raises(
        ModelLoadError,
        match=r"output = 'probabilities' gives a score of -\d.* on a probe row; probabilities are "
        r"in \[0, 1\] and sum to 1 per row: set output = 'logits' \(softmax is then applied",
    ):
        load_model(spec(path, output="probabilities", **declared))
    x = np.array([[0.5, -1.0], [2.0, 0.1], [-3.0, 0.7]])
    w = np.array([[1.0, -2.0, 0.5], [0.3, 1.0, -1.5]])
    expected = softmax(x @ w + np.array([0.1, -0.2, 0.3]))
    for output in ("logits", None):  # declared, or told from the probe: rows not summing to 1
        loaded = load_model(spec(path, output=output, **declared))
        assert loaded.output == "logits"
        out = loaded.infer(loaded.inputs([{"u": u, "v": v} for u, v in x]))
        assert np.max(np.abs(np.array(out.probas) - expected)) <= 1e-6


def test_an_onnx_softmax_output_declared_as_logits_is_refused(tmp_path):
    path = linear_graph(tmp_path, softmax=True, name="probabilities")
    declared = {"features": ("u", "v"), "classes": ("a", "b", "c")}
    with pytest.raises(
        ModelLoadError,
        match=r"output = 'logits', but its scores are in \[0, 1\] and sum to 1 on every probe "
        r"row: the model already applies softmax, .*; set output = 'probabilities'$",
    ):
        load_model(spec(path, output="logits", **declared))
    assert load_model(spec(path, **declared)).output == "probabilities"


def test_an_onnx_graph_with_a_fixed_batch_size_is_refused(tmp_path):
    path = linear_graph(tmp_path, batch=1)
    with pytest.raises(
        ModelLoadError,
        match=r"input 'x' has shape \[1, 2\]: a fixed batch dimension \(1\), so a batch of another "
        r"size fails; export it with a dynamic batch dimension",
    ):
        load_model(spec(path, features=("u", "v"), classes=("a", "b", "c")))


def test_an_onnx_runtime_error_is_one_line_model_output_error(tmp_path):
    path = linear_graph(tmp_path)
    loaded = load_model(spec(path, features=("u", "v"), classes=("a", "b", "c")))
    with pytest.raises(ModelOutputError, match=r"^model 'm' returned an invalid output: \w+") as e:
        loaded.infer(np.zeros((2, 5), dtype=np.float32))  # not what inputs() builds
    assert "\n" not in str(e.value)


def test_not_an_onnx_file_is_one_line(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not really")
    with pytest.raises(ModelLoadError, match=r"m\.onnx: cannot be loaded: \w+") as e:
        load_model(spec(path))
    assert "\n" not in str(e.value)


def test_a_label_only_graph_is_served_with_labels(tmp_path):
    model, frame = fitted()
    path = save(skl2onnx.to_onnx(model, frame[:1]), tmp_path / "frame.onnx")
    loaded = load_model(spec(path, output="label"))
    out = loaded.infer(loaded.inputs(rows_of(frame, 10)))
    assert out.probas is None and out.labels == model.predict(frame.iloc[:10]).tolist()


def test_a_graph_from_a_frame_with_text_takes_strings_it_knows(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, 300).astype(np.float32),
            "country": rng.choice(["DE", "FR", "US"], 300),
        }
    )
    y = ((frame["amount"] > 100) ^ (frame["country"] == "US")).astype(int)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["country"]), (StandardScaler(), ["amount"])),
        LogisticRegression(),
    ).fit(frame, y)
    path = save(skl2onnx.to_onnx(model, frame[:1]), tmp_path / "text.onnx")
    loaded = load_model(spec(path))
    assert loaded.feature_types == {"amount": "number", "country": "string"}
    rows = frame.iloc[:20].to_dict("records")
    rows = [{"amount": float(r["amount"]), "country": r["country"]} for r in rows]
    scores = loaded.infer(loaded.inputs(rows)).scores
    assert np.max(np.abs(np.array(scores) - model.predict_proba(frame.iloc[:20])[:, 1])) <= 1e-6
    # The graph's encoder fails on other categories: a 422 naming them, not a runtime error.
    with pytest.raises(
        ValidationError, match=r"inputs\[0\]\.country is 'XX'; model 'm' knows only \['DE', 'FR'"
    ):
        loaded.inputs([{"amount": 1.0, "country": "XX"}])
