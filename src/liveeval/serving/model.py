"""A loaded model and what predicting with it gives.

Models are loaded only from paths the operator gives (command line or config
file), never from request input (see :mod:`liveeval.serving.load`). What a model
answers is checked on every call: scores that are not finite, probabilities
outside [0, 1] and arrays of the wrong shape raise
:class:`~liveeval.errors.ModelOutputError` and are never returned as a prediction.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..errors import ModelOutputError
from ..metrics.labels import Label, normalise_label
from .inputs import InputSchema

__all__ = ["OUTPUTS", "LoadedModel", "ModelSpec", "Prediction", "Predictor", "short_error"]

# What a model's output is: class probabilities, scores that softmax (several
# columns) or sigmoid (one column) turn into probabilities, or predicted labels.
OUTPUTS = ("probabilities", "logits", "label")
# Float32 rounding: probabilities this far outside [0, 1] are clipped, beyond refused.
_SLACK = 1e-6
# Outputs up to this many values are checked in Python, larger ones with numpy.
_SMALL = 64
_INF = float("inf")


class Predictor(Protocol):
    """Anything that turns a feature matrix into class probabilities."""

    def predict_proba(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class ModelSpec:
    """A model as the operator declares it (``--model name=path`` or ``[[models]]``).

    ``features`` are ``name`` or ``name:type`` declarations
    (:func:`~liveeval.serving.inputs.parse_features`). ``output`` is one of
    :data:`OUTPUTS` or None: the load check then tells it from the model where it
    can (see docs/serving.md).
    """

    name: str
    path: Path
    version: str = "v1"
    features: tuple[str, ...] | None = None
    classes: tuple[Any, ...] | None = None
    pos_label: Any = None
    profile: str | None = None
    threshold: float = 0.5
    output: str | None = None
    # A challenger: predicts every request to the model's default version in the
    # background, logged under its own version, never answered with.
    shadow: bool = False
    # Whether requests that arrive together may go through the model in one call
    # (service._batch); false for a model whose rows are not independent.
    batch: bool = True


@dataclass(frozen=True)
class Prediction:
    """What a model said about a batch of rows.

    ``labels`` are plain Python values. A binary model with a positive class gives
    ``scores`` (P(positive), and the label is ``score >= threshold``); another model
    with probabilities gives ``probas`` (one list per row, in ``classes`` order); a
    model without ``predict_proba`` gives labels alone.
    """

    labels: list[Label]
    scores: list[float] | None
    probas: list[list[float]] | None
    model_seconds: float


def short_error(exc: BaseException) -> str:
    """One line for a model runtime's exception: TorchScript puts the real error last,
    after its interpreter traceback; others put it first."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[-1] if "Traceback of TorchScript" in text else lines[0]
    if len(line) > 300:
        line = line[:297] + "..."
    if line.startswith(f"{type(exc).__name__}: "):
        return line
    return f"{type(exc).__name__}: {line}"


@dataclass
class LoadedModel:
    """A model that passed the load check (:mod:`liveeval.serving.check`).

    ``run`` calls the model on what :meth:`inputs` built and returns its raw output as
    an array: probabilities or logits (``(n, classes)``, or ``(n,)`` / ``(n, 1)`` for a
    binary model's P(``classes[1]``) or its logit), or labels (``(n,)``; class indexes
    when ``label_indexes``).
    """

    spec: ModelSpec
    predictor: Any
    schema: InputSchema
    classes: tuple[Any, ...]
    pos_label: Any = None
    kind: str = "sklearn"
    output: str = "probabilities"
    run: Callable[[Any], Any] | None = None
    # Whether scikit-learn would warn that a bare matrix has no feature names (a
    # Pipeline fitted on a DataFrame, given the matrix we build in its order).
    quiet_names: bool = False
    # Label outputs that are indexes into ``classes`` (a PyTorch argmax head).
    label_indexes: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def features(self) -> tuple[str, ...]:
        return self.schema.names

    @property
    def feature_types(self) -> dict[str, str]:
        return {f.name: f.type for f in self.schema.features}

    @property
    def has_proba(self) -> bool:
        """False for models served with labels only (``output = "label"``, or a
        scikit-learn classifier without ``predict_proba``)."""
        return self.output != "label"

    @property
    def is_binary(self) -> bool:
        return self.has_proba and len(self.classes) == 2 and self.pos_label is not None

    def inputs(self, rows: list[dict[str, Any]]) -> Any:
        """Validate request rows against the input schema and build the model's input
        (raises :class:`~liveeval.errors.ValidationError` naming the row and field,
        also for a number the model's dtype cannot hold)."""
        return self.schema.build(rows)

    def infer(self, x: Any) -> Prediction:
        """Labels and, where the model has them, scores or class probabilities.

        Raises
        ------
        ModelOutputError
            when the model's output has the wrong shape, is not finite, or (declared
            probabilities) is outside [0, 1]; and for any exception of an ONNX or
            PyTorch runtime (its first line only). Exceptions from a scikit-learn
            model propagate: the caller logs them as failed predictions.
        """
        started = time.perf_counter()
        raw = self.raw(x)
        seconds = time.perf_counter() - started
        n = _rows(x)
        if not self.has_proba:
            return Prediction(self.labels_of(raw, n), None, None, seconds)
        proba = self.probabilities(raw, n)
        if self.is_binary:
            pos = self.classes.index(self.pos_label)
            scores: list[float] = proba[:, pos].tolist()
            neg = normalise_label(self.classes[1 - pos])
            positive = normalise_label(self.pos_label)
            threshold = self.spec.threshold
            return Prediction(
                [positive if s >= threshold else neg for s in scores], scores, None, seconds
            )
        names = [normalise_label(c) for c in self.classes]
        labels = [names[i] for i in np.argmax(proba, axis=1).tolist()]
        return Prediction(labels, None, proba.tolist(), seconds)

    def raw(self, x: Any) -> Any:
        """The model's own output for ``x``, before any activation or check."""
        if self.run is None:
            method = "predict_proba" if self.has_proba else "predict"
            return self._call(method, x)
        if self.kind == "sklearn":
            return self.run(x)
        try:
            return self.run(x)
        except ModelOutputError:
            raise
        except Exception as exc:  # a runtime's own untyped errors; never its traceback
            raise ModelOutputError(self.name, short_error(exc)) from None

    def proba(self, x: Any) -> npt.NDArray[np.float64]:
        """Class probabilities, one row per input row, columns in ``classes`` order."""
        return self.probabilities(self.raw(x), _rows(x))

    def predict(self, x: Any) -> tuple[npt.NDArray[np.float64], float]:
        """Class probabilities (columns in ``classes`` order) and the model's seconds."""
        started = time.perf_counter()
        proba = self.proba(x)
        return proba, time.perf_counter() - started

    def probabilities(self, raw: Any, n: int) -> npt.NDArray[np.float64]:
        """Turn a raw score output into checked probabilities ``(n, classes)``.

        Raises
        ------
        ModelOutputError
            for a wrong shape, a value that is not finite, or (declared probabilities)
            a value outside [0, 1].
        """
        out = np.asarray(raw, dtype=np.float64)
        k = len(self.classes)
        single = k == 2 and (out.shape == (n,) or out.shape == (n, 1))
        if not single and out.shape != (n, k):
            raise ModelOutputError(
                self.name,
                f"an array of shape {out.shape} for {n} row(s); expected ({n}, {k}) for the "
                f"classes {list(self.classes)}",
            )
        if n == 0:
            return out.reshape(0, k)
        logits = self.output == "logits"
        # The common case costs one pass: in Python over a small output (a numpy
        # reduction costs more than the values), two reductions over a large one.
        # Every comparison is False for NaN, so NaN fails both checks.
        if out.size <= _SMALL:
            flat = out.ravel().tolist()
            if logits:
                fine = all(-_INF < v < _INF for v in flat)
            else:
                fine = all(0.0 <= v <= 1.0 for v in flat)
        else:
            lo, hi = out.min(), out.max()
            fine = (-_INF < lo and hi < _INF) if logits else (0.0 <= lo and hi <= 1.0)
        if not fine:
            out = self._repaired(out, n)
        if logits:
            if single:
                p: npt.NDArray[np.float64] = np.exp(-np.logaddexp(0.0, -out.reshape(-1)))
                return _two_columns(p)  # sigmoid, without overflow
            z: npt.NDArray[np.float64] = out - out.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            return z
        if single:
            return _two_columns(out.reshape(-1))
        return out

    def _repaired(self, out: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
        """``out`` clipped into [0, 1] when it is off by float rounding only; else the
        ModelOutputError that says which row has what."""
        rows = out.reshape(n, -1)
        if not np.isfinite(rows).all():
            raise ModelOutputError(self.name, _non_finite(rows))
        if rows.min() >= -_SLACK and rows.max() <= 1.0 + _SLACK:  # logits end above
            return np.clip(out, 0.0, 1.0)
        i = int(np.flatnonzero(((rows < 0) | (rows > 1)).any(axis=1))[0])
        raise ModelOutputError(
            self.name, f"probabilities {rows[i].tolist()} for inputs[{i}] are not in [0, 1]"
        )

    def labels_of(self, raw: Any, n: int) -> list[Label]:
        """Checked labels from a label output (class indexes mapped onto ``classes``)."""
        labels = np.asarray(raw)
        if labels.shape not in ((n,), (n, 1)):
            raise ModelOutputError(
                self.name, f"labels of shape {labels.shape} for {n} row(s); expected ({n},)"
            )
        values = labels.reshape(-1).tolist()
        if self.label_indexes:
            k = len(self.classes)
            out: list[Label] = []
            for i, v in enumerate(values):
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < k:
                    raise ModelOutputError(
                        self.name,
                        f"label {v!r} for inputs[{i}] is not a class index in 0..{k - 1}",
                    )
                out.append(normalise_label(self.classes[v]))
            return out
        return [normalise_label(v) for v in values]

    def _call(self, method: str, x: Any) -> Any:
        if not self.quiet_names:
            return getattr(self.predictor, method)(x)
        with warnings.catch_warnings():
            # We check names and order ourselves and pass a bare matrix on purpose.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return getattr(self.predictor, method)(x)

    # Until every caller uses inputs()/infer(): the float-matrix name of before.
    def matrix(self, rows: list[dict[str, Any]]) -> Any:
        return self.inputs(rows)


def _two_columns(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(classes[0]) and P(classes[1]) from P(classes[1])."""
    out = np.empty((len(p), 2))
    out[:, 1] = p
    np.subtract(1.0, p, out=out[:, 0])
    return out


def _rows(x: Any) -> int:
    """Rows in a model input: a matrix, a table or a dict of per-column arrays."""
    if isinstance(x, dict):
        return len(next(iter(x.values()))) if x else 0
    if hasattr(x, "num_rows"):  # pyarrow.Table
        return int(x.num_rows)
    return len(x)


def _non_finite(out: npt.NDArray[np.float64]) -> str:
    finite = np.isfinite(out).all(axis=1)
    i = int(np.flatnonzero(~finite)[0])
    value = out[i][~np.isfinite(out[i])][0]
    more = int((~finite).sum()) - 1
    return (
        f"{value} for inputs[{i}]"
        + (f" (and {more} more row(s))" if more else "")
        + "; expected finite scores"
    )
