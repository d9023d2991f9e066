"""Loading ONNX models (``onnxruntime``; the graph itself is read with ``onnx``).

The graph is the source of truth for what it records:

- its inputs: one ``(batch, features)`` matrix (names from the config), or one
  ``(batch, 1)`` input per column, as ``skl2onnx`` makes from a DataFrame (names from
  the graph; each fed by name, whatever order the config lists them in);
- their element types: ``float`` inputs get float32, ``double`` float64, ``int64``
  whole numbers, ``string`` text;
- its class labels (``ai.onnx.ml`` classifiers' and ZipMap's ``classlabels_*``), in
  order; a config that lists others, or the same in another order, is refused;
- its outputs: a ZipMap or a float tensor of scores, or a label tensor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ._declared import (
    check_classes,
    declared_features,
    declared_output,
    default_positive,
    import_runtime,
)
from .check import check_model
from .inputs import NUMBER, STRING, Feature, InputSchema
from .model import LoadedModel, ModelSpec, short_error

__all__ = ["load_onnx"]

_ELEMENTS = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(string)": "string",
}
_SCORES = ("tensor(float)", "tensor(double)", "tensor(float16)")
_LABELS = ("tensor(int64)", "tensor(int32)", "tensor(string)")
_BATCH_FIX = (
    "export it with a dynamic batch dimension (skl2onnx: initial_types with None as the "
    "first dimension; torch.onnx.export: dynamic_shapes or dynamic_axes)"
)


def load_onnx(spec: ModelSpec, path: Path) -> LoadedModel:
    """Load an ONNX graph, take what it records, and run the load check on it."""
    ort = import_runtime(spec, path, "onnxruntime", "an ONNX", "onnx")
    onnx = import_runtime(spec, path, "onnx", "an ONNX", "onnx")
    options = ort.SessionOptions()
    # Per-request inference on few cores: one thread, like scikit-learn and torch here.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # errors are ours to report, on one line
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # onnxruntime and onnx raise their own untyped errors
        raise ModelLoadError(
            spec.name, str(path), f"cannot be loaded: {short_error(exc)}"
        ) from None
    features, per_column = _inputs(spec, path, session)
    output = declared_output(spec, path)
    score, label = _outputs(spec, path, session, output)
    recorded = _class_labels(graph)
    if recorded is not None:
        check_classes(
            spec,
            path,
            recorded,
            "the graph's class labels",
            "leave 'classes' out (they come from the graph) or list them in its order",
        )
    classes = recorded or (tuple(spec.classes) if spec.classes else None)
    _declare_missing(spec, path, session, features, classes, score, per_column)
    assert features is not None and classes is not None  # _declare_missing refused otherwise
    zipmap = score is not None and _session_type(session, score).startswith("seq(map(")
    if zipmap and recorded is None:
        raise ModelLoadError(
            spec.name, str(path), "its ZipMap output has no class labels in the graph"
        )
    if per_column:
        features = _with_categories(features, graph)
    schema = InputSchema(
        spec.name, features, frame=per_column, container="columns" if per_column else "arrow"
    )
    name = score if score is not None else label
    assert name is not None
    loaded = LoadedModel(
        spec,
        session,
        schema,
        classes,
        default_positive(spec, path, classes),
        "onnx",
        output=output or ("label" if score is None else "probabilities"),
        run=_runner(session, schema, name, classes if zipmap else None),
    )
    kind = check_model(loaded, path)
    loaded.output = kind
    if score is not None and label is not None:
        _agree(loaded, path, session, score, label)
    return loaded


def _session_type(session: Any, name: str) -> str:
    return str(next(o.type for o in session.get_outputs() if o.name == name))


def _inputs(spec: ModelSpec, path: Path, session: Any) -> tuple[tuple[Feature, ...] | None, bool]:
    """The model's features (None when they must be declared) and whether it takes one
    input per column."""
    inputs = session.get_inputs()
    declared = declared_features(spec, path)
    for i in inputs:
        if i.type not in _ELEMENTS:
            raise ModelLoadError(
                spec.name,
                str(path),
                f"input {i.name!r} is a {i.type}; liveeval feeds float, double, int64 and "
                "string tensors",
            )
        if not i.shape or isinstance(i.shape[0], int):
            batch = i.shape[0] if i.shape else "none"
            raise ModelLoadError(
                spec.name,
                str(path),
                f"input {i.name!r} has shape {i.shape}: a fixed batch dimension ({batch}), "
                f"so a batch of another size fails; {_BATCH_FIX}",
            )
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].shape[1] != 1:
        return _matrix(spec, path, inputs[0], declared), False
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and declared is not None:
        return _matrix(spec, path, inputs[0], declared), False
    for i in inputs:
        if len(i.shape) > 2 or (len(i.shape) == 2 and i.shape[1] != 1):
            raise ModelLoadError(
                spec.name,
                str(path),
                f"takes {len(inputs)} inputs and {i.name!r} has shape {i.shape}; liveeval feeds "
                "one (batch, features) matrix or one (batch, 1) input per column",
            )
    names = [i.name for i in inputs]
    if declared is not None:
        given = [f.name for f in declared]
        if sorted(given) != sorted(names):
            missing = [n for n in names if n not in given]
            unknown = [n for n in given if n not in names]
            raise ModelLoadError(
                spec.name,
                str(path),
                f"the graph takes one input per column, named {names}, but the config lists "
                f"{given}"
                + (f" (missing {missing})" if missing else "")
                + (f" (not in the graph: {unknown})" if unknown else "")
                + "; list the graph's names (any order: they are fed by name) or leave "
                "'features' out",
            )
        for f in declared:
            element = _ELEMENTS[next(i.type for i in inputs if i.name == f.name)]
            if (f.type == STRING) != (element == "string") and ":" in _text(spec, f.name):
                raise ModelLoadError(
                    spec.name,
                    str(path),
                    f"feature {f.name!r} is declared {f.type}, but the graph takes "
                    f"{element} there; declare it as {f.name}:"
                    f"{STRING if element == 'string' else NUMBER} or without a type",
                )
    features = tuple(
        Feature(i.name, STRING)
        if _ELEMENTS[i.type] == "string"
        else Feature(i.name, NUMBER, dtype=_ELEMENTS[i.type])
        for i in inputs
    )
    return features, True


def _text(spec: ModelSpec, name: str) -> str:
    return next((t for t in spec.features or () if t.rpartition(":")[0] == name), name)


def _matrix(
    spec: ModelSpec, path: Path, node: Any, declared: tuple[Feature, ...] | None
) -> tuple[Feature, ...] | None:
    element = _ELEMENTS[node.type]
    if element not in ("float32", "float64"):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"input {node.name!r} is a {node.type} matrix; liveeval feeds float or double "
            "matrices (or one input per column)",
        )
    width = node.shape[1]
    if declared is None:
        return None
    if isinstance(width, int) and width != len(declared):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"input {node.name!r} takes {width} features per row, but {len(declared)} are "
            f"listed: {[f.name for f in declared]}; list its {width} features in order",
        )
    text = [f.name for f in declared if f.type != NUMBER]
    if text:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"input {node.name!r} is a {node.type} matrix; {text} are declared text",
        )
    return tuple(Feature(f.name, NUMBER, dtype=element) for f in declared)


def _outputs(
    spec: ModelSpec, path: Path, session: Any, output: str | None
) -> tuple[str | None, str | None]:
    """The output read for scores (ZipMap or float tensor) and the label tensor, if any."""
    outputs = session.get_outputs()
    zipmaps = [o.name for o in outputs if o.type.startswith("seq(map(")]
    floats = [o.name for o in outputs if o.type in _SCORES]
    labels = [o.name for o in outputs if o.type in _LABELS]
    listed = ", ".join(f"{o.name!r} ({o.type})" for o in outputs)
    label = labels[0] if len(labels) == 1 else None
    if output == "label":
        if label is None:
            raise ModelLoadError(
                spec.name,
                str(path),
                f"output = 'label' needs one int64 or string label output; the graph has {listed}",
            )
        return None, label
    candidates = zipmaps or floats
    if len(candidates) > 1:
        word = "logit" if output == "logits" else "prob"
        candidates = [c for c in candidates if word in c.lower()]
    if len(candidates) == 1:
        return candidates[0], label
    if not zipmaps and not floats and output is None and label is not None:
        return None, label
    raise ModelLoadError(
        spec.name,
        str(path),
        f"cannot tell which output holds its scores: the graph has {listed}; keep one score "
        "output (probabilities or logits) or name it with 'prob' or 'logit'",
    )


def _class_labels(graph: Any) -> tuple[Any, ...] | None:
    """Class labels the graph records: ZipMap's, else those all classifier nodes agree on."""
    found: list[tuple[str, tuple[Any, ...]]] = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.name in ("classlabels_strings",) and attr.strings:
                found.append((node.op_type, tuple(s.decode() for s in attr.strings)))
            elif attr.name in ("classlabels_ints", "classlabels_int64s") and attr.ints:
                found.append((node.op_type, tuple(int(v) for v in attr.ints)))
    zipmap = [labels for op, labels in found if op == "ZipMap"]
    if zipmap:
        return zipmap[-1]
    distinct = {labels for _, labels in found}
    return distinct.pop() if len(distinct) == 1 else None


# Nodes that hand a column on unchanged, on the way from a graph input to an encoder.
_PASS_THROUGH = ("Gather", "Identity", "Reshape", "Cast", "Squeeze", "Unsqueeze", "Flatten")


def _with_categories(features: tuple[Feature, ...], graph: Any) -> tuple[Feature, ...]:
    """Text inputs get the categories of the encoder that reads them (``cats_strings`` of
    a OneHotEncoder or CategoryMapper, ``keys_strings`` of a LabelEncoder): the probe
    rows use known ones, and where the encoder fails on others (a OneHotEncoder with
    ``zeros=0``), an unknown category is a 422 rather than a runtime error."""
    producer = {out: node for node in graph.node for out in node.output}
    found: dict[str, tuple[frozenset[str], bool]] = {}
    for node in graph.node:
        attrs = {a.name: a for a in node.attribute}
        cats = attrs.get("cats_strings") or attrs.get("keys_strings")
        if cats is None or not cats.strings or not node.input:
            continue
        name = node.input[0]
        while name in producer and producer[name].op_type in _PASS_THROUGH:
            name = producer[name].input[0]
        strict = node.op_type == "OneHotEncoder" and "zeros" in attrs and attrs["zeros"].i == 0
        found[name] = (frozenset(c.decode() for c in cats.strings), strict)
    return tuple(
        Feature(f.name, f.type, *found[f.name], dtype=f.dtype)
        if f.type == STRING and f.name in found
        else f
        for f in features
    )


def _declare_missing(
    spec: ModelSpec,
    path: Path,
    session: Any,
    features: tuple[Feature, ...] | None,
    classes: tuple[Any, ...] | None,
    score: str | None,
    per_column: bool,
) -> None:
    """One line saying what must still be declared, and what came from the graph."""
    if features is not None and classes is not None:
        return
    needs = []
    if features is None:
        width = session.get_inputs()[0].shape[1]
        count = f"its {width} inputs" if isinstance(width, int) else "its inputs"
        needs.append(f"'features' ({count}, in order; or --features)")
    if classes is None:
        shape = next((o.shape for o in session.get_outputs() if o.name == score), None)
        width = shape[1] if shape and len(shape) == 2 else None
        count = f"its {width} classes" if isinstance(width, int) else "its classes"
        needs.append(f"'classes' ({count}, in the order of its outputs)")
    known = []
    if features is not None and per_column:
        known.append(f"features {[f.name for f in features]}")
    if classes is not None:
        known.append(f"classes {list(classes)}")
    raise ModelLoadError(
        spec.name,
        str(path),
        f"declare {' and '.join(needs)} in its [[models]] entry in liveeval.toml"
        + (f"; from the graph: {', '.join(known)}" if known else ""),
    )


def _runner(session: Any, schema: InputSchema, output: str, zipmap: tuple[Any, ...] | None) -> Any:
    outputs = [output]
    run = session.run
    if schema.frame:
        flat = [i.name for i in session.get_inputs() if len(i.shape) == 1]

        def feed_columns(x: dict[str, Any]) -> Any:
            for name in flat:
                x[name] = x[name].reshape(-1)
            return run(outputs, x)[0]

        feed = feed_columns
    else:
        first = session.get_inputs()[0].name

        def feed_matrix(x: Any) -> Any:
            return run(outputs, {first: x})[0]

        feed = feed_matrix
    if zipmap is None:
        return feed

    def unzip(x: Any) -> Any:  # skl2onnx's ZipMap: one dict per row
        return np.array([[row[c] for c in zipmap] for row in feed(x)], dtype=np.float64)

    return unzip


def _agree(loaded: LoadedModel, path: Path, session: Any, score: str, label: str) -> None:
    """The graph's label output must be the class with the largest score: else the
    classes are listed in another order than the model's outputs."""
    rows = loaded.schema.probe_rows(3)
    x = loaded.inputs(rows)
    proba = loaded.proba(x)
    feed = x if loaded.schema.frame else {session.get_inputs()[0].name: x}
    for name in [i.name for i in session.get_inputs() if len(i.shape) == 1]:
        feed[name] = feed[name].reshape(-1)
    said = session.run([label], feed)[0].reshape(-1).tolist()
    best = [loaded.classes[i] for i in np.argmax(proba, axis=1).tolist()]
    top = np.sort(proba, axis=1)
    for k, (a, b) in enumerate(zip(said, best, strict=True)):
        if str(a) != str(b) and top[k, -1] - top[k, -2] > 1e-6:  # not a tie
            raise ModelLoadError(
                loaded.name,
                str(path),
                f"its label output says {a!r} for a probe row where its largest score is for "
                f"{b!r} under the classes {list(loaded.classes)}: the classes are not in the "
                "order of its scores; list them in the model's order",
            )
