"""Requests that reach the server together go through the model in one call.

A scikit-learn model spends ~0.2 ms checking its input on every call, whatever the
number of rows: on this machine a LogisticRegression answers 1 row and 8 rows in the
same time. Under concurrent load the requests whose bytes arrive in one turn of the
event loop are therefore predicted together: the first request of a model asks the
loop to run the batch once every request already waiting has been validated and
queued (``call_soon``: nothing waits on a timer, a lone request runs alone one loop
step later). Each request is validated on its own before it joins, so a bad input
never touches another request; if the batch's call fails, every request is predicted
alone, so a failure is only ever the failing request's own.

A batch's rows are predicted exactly as in a single call with them all; a model whose
arithmetic depends on the number of rows (a BLAS product) may then give a score a few
ulp of 1.0 away from what the row alone would get (~1e-16 for float64 models, ~1e-7 for
float32 ONNX graphs). The served and stored score is always the same number. A request
that carries its own ``id`` is predicted alone, so that a retry of it computes the same
bits and is a duplicate, never a conflict. A model that must not be batched (its rows
are not independent) is declared ``batch = false``.

Every request of a batch is answered whatever the model raises: an exception of any
kind (a ``BaseException`` too) fails the batch call, then each request alone, and a
request left unanswered by an interrupt gets an error rather than waiting forever.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..serving import LoadedModel, Prediction

__all__ = ["MAX_JOINING_ROWS", "ModelBatcher"]

log = logging.getLogger("liveeval")

# Requests with more rows run alone: a large request amortises the model's overhead
# by itself, and must not make small ones wait for it.
MAX_JOINING_ROWS = 64


@dataclass
class _Batch:
    loaded: LoadedModel
    parts: list[tuple[Any, list[dict[str, Any]], asyncio.Future[Prediction]]] = field(
        default_factory=list
    )


class ModelBatcher:
    """Gathers the requests of one event-loop turn per served model and version."""

    def __init__(self) -> None:
        self._pending: dict[int, _Batch] = {}
        # (model, version) whose batch call failed once already: said once in the log.
        self._failed: set[tuple[str, str]] = set()

    async def infer(
        self, loaded: LoadedModel, x: Any, rows: list[dict[str, Any]], *, alone: bool = False
    ) -> Prediction:
        """The model's answer for ``x`` (built from ``rows``), predicted together with
        the other requests of this loop turn when the model allows it and ``alone`` is
        false."""
        if alone or not loaded.spec.batch or len(rows) > MAX_JOINING_ROWS:
            return loaded.infer(x)
        loop = asyncio.get_running_loop()
        key = id(loaded)
        batch = self._pending.get(key)
        if batch is None:
            batch = self._pending[key] = _Batch(loaded)
            loop.call_soon(self._run, key)
        done: asyncio.Future[Prediction] = loop.create_future()
        batch.parts.append((x, rows, done))
        return await done

    def _run(self, key: int) -> None:
        batch = self._pending.pop(key)
        try:
            self._answer(batch)
        finally:  # an interrupt mid-batch: no request may wait forever
            for _, _, done in batch.parts:
                if not done.done():
                    done.set_exception(
                        RuntimeError("the server stopped before this request was predicted")
                    )

    def _answer(self, batch: _Batch) -> None:
        parts, loaded = batch.parts, batch.loaded
        if len(parts) > 1:
            try:
                whole = loaded.infer(_stacked(loaded, parts))
            except BaseException as exc:  # some request's rows: each runs alone below
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                self._say_failed(loaded, len(parts), exc)
            else:
                start = 0
                for _, rows, done in parts:
                    end = start + len(rows)
                    if not done.done():
                        done.set_result(_rows_of(whole, start, end))
                    start = end
                return
        for x, _, done in parts:
            try:
                out = loaded.infer(x)
            except BaseException as exc:  # the request's own failure: its caller stores it
                if not done.done():
                    done.set_exception(exc)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
            else:
                if not done.done():
                    done.set_result(out)

    def _say_failed(self, loaded: LoadedModel, requests: int, exc: BaseException) -> None:
        """Log, once per model and version, that a batch call failed and its requests
        are predicted alone (each of them twice as costly while that lasts)."""
        key = (loaded.name, loaded.version)
        if key in self._failed or len(self._failed) >= 1000:
            return
        self._failed.add(key)
        log.warning(
            "model %r version %r failed on a batch of %d requests predicted together (%s); "
            "they are predicted alone. If the model fails only on batches, declare "
            "'batch = false' in its [[models]] entry (said once per model and version)",
            loaded.name,
            loaded.version,
            requests,
            type(exc).__name__,
        )


def _stacked(loaded: LoadedModel, parts: list[tuple[Any, list[dict[str, Any]], Any]]) -> Any:
    """One model input holding every part's rows in order: numeric matrices are stacked;
    other inputs (tables, typed columns) are built again from the rows, which passed
    validation part by part."""
    inputs = [x for x, _, _ in parts]
    if all(isinstance(x, np.ndarray) and x.ndim == 2 for x in inputs):
        return np.concatenate(inputs, axis=0)
    return loaded.inputs([row for _, rows, _ in parts for row in rows])


def _rows_of(whole: Prediction, start: int, end: int) -> Prediction:
    """The part of a batch's answer for rows ``start:end``. Its model time is the whole
    call's: what the request waited for the model."""
    return replace(
        whole,
        labels=whole.labels[start:end],
        scores=None if whole.scores is None else whole.scores[start:end],
        probas=None if whole.probas is None else whole.probas[start:end],
    )
