"""The load check: a model is run on probe batches of 1 and 3 rows before it serves.

The probe rows are built from the model's inputs
(:meth:`~liveeval.serving.inputs.InputSchema.probe_rows`). The check refuses, with
one line naming the model, what was expected, what was found and the fix, a model
that fails on them, answers in the wrong shape or with another number of classes,
gives scores that are not finite, or whose output contradicts its declaration
(probabilities outside [0, 1] or rows not summing to 1; "logits" that already sum
to 1). Where the output is not declared, it is told from the probe: several
columns in [0, 1] summing to 1 on every row are probabilities, other columns are
logits; a single column is ambiguous (a probability or a logit) and must be declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LiveevalError, ModelLoadError, ModelOutputError
from ..metrics.labels import canonical_label
from .model import LoadedModel, short_error

__all__ = ["BATCHES", "SUM_TOLERANCE", "check_model", "probe_outputs"]

# Probe batch sizes: 1 and a size that a graph fixed at one row cannot take.
BATCHES = (1, 3)
# How far a row of probabilities may sum from 1 (float32 softmax and ZipMap outputs).
SUM_TOLERANCE = 1e-4

_BATCH_FIX = {
    "onnx": "export it with a dynamic batch dimension (skl2onnx: initial_types with None "
    "as the first dimension; torch.onnx.export: dynamic_shapes or dynamic_axes)",
    "torch": "export it with a dynamic batch dimension: torch.export.export(model, (x,), "
    "dynamic_shapes=({0: torch.export.Dim('batch')},))",
    "sklearn": "check that the model predicts several rows at once",
}


def probe_outputs(loaded: LoadedModel) -> list[tuple[int, Any]] | str:
    """The model's raw output on each probe batch, or what went wrong, on one line."""
    outputs: list[tuple[int, Any]] = []
    for n in BATCHES:
        rows = loaded.schema.probe_rows(n)
        try:
            x = loaded.inputs(rows)
            raw = loaded.raw(x)
        except ModelOutputError as exc:
            error = exc.reason
        except Exception as exc:  # the model's own code: any error is possible
            error = short_error(exc)
        else:
            outputs.append((n, raw))
            continue
        method = (
            "predict_proba()"
            if loaded.kind == "sklearn" and loaded.has_proba
            else ("predict()" if loaded.kind == "sklearn" else "it")
        )
        if n == 1:
            return f"{method} fails on a probe row {rows[0]}: {error}"
        return (
            f"it answers one row but fails on a batch of {n} rows ({error}); "
            f"{_BATCH_FIX[loaded.kind]}"
        )
    return outputs


def check_model(
    loaded: LoadedModel, path: Path, outputs: list[tuple[int, Any]] | str | None = None
) -> str:
    """Run the load check (see the module's docstring) and return the output kind:
    the declared one, or the one the probe shows. ``outputs`` are those of an earlier
    :func:`probe_outputs` call, if any.

    Raises
    ------
    ModelLoadError
        naming the model, the file, what was expected and found, and the fix.
    """
    found = probe_outputs(loaded) if outputs is None else outputs
    if isinstance(found, str):
        raise ModelLoadError(loaded.name, str(path), found)
    if not loaded.has_proba:
        for n, raw in found:
            _check_labels(loaded, path, raw, n)
        return "label"
    k = len(loaded.classes)
    declared = loaded.spec.output if loaded.spec.output != "proba" else "probabilities"
    if loaded.kind == "sklearn" and declared is None:
        declared = "probabilities"  # predict_proba
    kinds = set()
    for n, raw in found:
        out = _scores(loaded, path, raw, n)
        if out.ndim == 1:
            kinds.add(_single(loaded, path, out, declared))
        else:
            kinds.add(_columns(loaded, path, out, declared))
    kind = declared or kinds.pop()
    if len(kinds) > 1:  # undeclared, and the two batches disagree
        raise ModelLoadError(
            loaded.name,
            str(path),
            f"its {k} scores per row look like probabilities on one probe batch and not on "
            "another; declare output = 'probabilities' or 'logits'",
        )
    return kind


def _scores(loaded: LoadedModel, path: Path, raw: Any, n: int) -> np.ndarray[Any, Any]:
    """The probe's scores as floats of shape (n, classes) or (n,) (one column)."""
    k = len(loaded.classes)
    try:
        out = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelLoadError(
            loaded.name,
            str(path),
            f"its output on {n} probe row(s) is not numeric ({type(raw).__name__}); expected "
            f"scores of shape ({n}, {k}); for a label output set output = 'label'",
        ) from None
    if out.shape in ((n,), (n, 1)) and k == 2:
        out = out.reshape(n)
    elif out.shape in ((n,), (n, 1)):
        raise ModelLoadError(
            loaded.name,
            str(path),
            f"it gives one score per row, but {k} classes {list(loaded.classes)} are declared; "
            "a single score is for two classes (P of the second, or its logit)",
        )
    elif out.ndim != 2 or out.shape[0] != n:
        raise ModelLoadError(
            loaded.name,
            str(path),
            f"it returned an array of shape {out.shape} for {n} probe row(s); expected "
            f"({n}, {k}) for the classes {list(loaded.classes)}",
        )
    elif out.shape[1] != k:
        w = out.shape[1]
        if loaded.kind == "sklearn":
            where, fix = "its classes_ are", "predict_proba() must give one column per class"
        else:
            where = "the config declares"
            fix = f"list its {w} classes in 'classes', in the order of its outputs"
        raise ModelLoadError(
            loaded.name,
            str(path),
            f"it gives {w} scores per row for {n} probe row(s), but {where} {k} classes "
            f"{list(loaded.classes)} ({'too few' if w > k else 'too many'}); {fix}",
        )
    if not np.isfinite(out).all():
        bad = out[~np.isfinite(out)][0]
        raise ModelLoadError(
            loaded.name,
            str(path),
            f"it returned {bad} on probe rows {loaded.schema.probe_rows(n)}; expected finite "
            "scores",
        )
    return out


def _single(
    loaded: LoadedModel, path: Path, out: np.ndarray[Any, Any], declared: str | None
) -> str:
    inside = bool(((out >= 0) & (out <= 1)).all())
    if declared == "probabilities":
        if not inside:
            raise ModelLoadError(
                loaded.name,
                str(path),
                f"output = 'probabilities', but its single score is {_outside(out)} on a probe "
                "row; it looks like a logit: set output = 'logits'",
            )
        return declared
    if declared == "logits":
        return declared
    hint = "" if inside else f" (the probe gave {_outside(out)}, so likely 'logits')"
    raise ModelLoadError(
        loaded.name,
        str(path),
        "it gives one score per row, which can be a probability (after a sigmoid) or a "
        f"logit{hint}; declare output = 'probabilities' or 'logits' in its [[models]] entry",
    )


def _columns(
    loaded: LoadedModel, path: Path, out: np.ndarray[Any, Any], declared: str | None
) -> str:
    inside = bool(((out >= 0) & (out <= 1)).all())
    sums = out.sum(axis=1)
    summing = bool((np.abs(sums - 1.0) <= SUM_TOLERANCE).all())
    looks = inside and summing
    if declared == "probabilities" and not looks:
        what = (
            f"a score of {_outside(out)}"
            if not inside
            else f"a row summing to {sums[np.argmax(np.abs(sums - 1.0))]:.6g}"
        )
        fix = (
            "set output = 'logits' (softmax is then applied here)"
            if loaded.kind != "sklearn"
            else "its predict_proba() must give probabilities"
        )
        raise ModelLoadError(
            loaded.name,
            str(path),
            f"{'output = ' + repr(declared) if loaded.spec.output else 'predict_proba()'} gives "
            f"{what} on a probe row; probabilities are in [0, 1] and sum to 1 per row: {fix}",
        )
    if declared == "logits" and looks:
        raise ModelLoadError(
            loaded.name,
            str(path),
            "output = 'logits', but its scores are in [0, 1] and sum to 1 on every probe row: "
            "the model already applies softmax, and applying it twice flattens the scores; "
            "set output = 'probabilities'",
        )
    return declared or ("probabilities" if looks else "logits")


def _outside(out: np.ndarray[Any, Any]) -> str:
    flat = out.reshape(-1)
    bad = flat[(flat < 0) | (flat > 1)]
    return f"{(bad if bad.size else flat)[0]:.6g}"


def _check_labels(loaded: LoadedModel, path: Path, raw: Any, n: int) -> None:
    try:
        labels = loaded.labels_of(raw, n)
    except ModelOutputError as exc:
        raise ModelLoadError(loaded.name, str(path), f"on {n} probe row(s): {exc.reason}") from None
    known = _canonical(loaded.classes)
    for i, label in enumerate(labels):
        try:
            ok = canonical_label(label) in known
        except LiveevalError:
            ok = False
        if not ok:
            raise ModelLoadError(
                loaded.name,
                str(path),
                f"it predicted {label!r} for the probe row {loaded.schema.probe_rows(n)[i]}, "
                f"which is not one of the classes "
                f"{list(loaded.classes)} (a regressor cannot be served as a classifier)",
            )


def _canonical(values: tuple[Any, ...]) -> set[Any]:
    out = set()
    for v in values:
        try:
            out.add(canonical_label(v))
        except LiveevalError:
            out.add(v)
    return out
