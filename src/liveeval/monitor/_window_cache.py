"""The metric results of a read's binary windows, kept for the next read of the same
windows (:class:`WindowResults`).

A live monitor reads the same 720 hourly windows again and again; between two reads
only the windows that gained predictions or labels changed. A window's results are a
function of its statistics alone, so a window whose statistics are exactly those of
the last read — confusion matrix, prediction and failure counts, loss sums and the
labelled score counts per bin, compared value for value, never by a hash — takes the
results computed then; any other (a late label, a new prediction) is computed again.
Correct under late labels by construction: nothing is keyed on time or on a window
being "closed".
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..metrics.evaluation import EvaluationResult
from ..metrics.loss import LossSums
from ..store.interface import GroupedArrays

__all__ = ["WindowResults"]


@dataclass(frozen=True)
class _Read:
    """One read's binary windows: their groups in ``arrays`` and their results."""

    arrays: GroupedArrays
    groups: tuple[int, ...]
    results: tuple[EvaluationResult, ...]
    at: dict[tuple[Any, ...], int]  # window key -> position in groups


def _loss_key(sums: LossSums | None) -> tuple[Any, ...] | None:
    if sums is None:
        return None
    return (
        sums.weight,
        sums.weight_sq,
        sums.rows,
        sums.log_loss,
        sums.log_loss_sq,
        sums.brier,
        sums.brier_sq,
        sums.log_loss_cu,
        sums.brier_cu,
    )


class WindowResults:
    """The last read of up to ``size`` scopes (model, version, segment, grouping, window
    length, classes, confidence and metrics make a scope), safe to share between
    threads. Only binary windows read with their score counts per bin
    (``GroupedArrays.score_counts``) and without latency metrics are kept; the rest is
    always computed."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._reads: OrderedDict[Hashable, _Read] = OrderedDict()
        self._lock = threading.Lock()

    def results(
        self,
        scope: Hashable,
        arrays: GroupedArrays,
        groups: Sequence[int],
        compute: Callable[[list[int]], list[EvaluationResult]],
    ) -> list[EvaluationResult]:
        """The results of the binary windows ``groups`` of ``arrays``: the last read's
        for every window whose statistics are the same, ``compute(rest)`` for the
        rest (in the order of ``rest``); this read replaces the last one."""
        with self._lock:
            last = self._reads.get(scope)
        found: dict[int, EvaluationResult] = {}
        if last is not None and (last.arrays.labels, last.arrays.pos_label) == (
            arrays.labels,
            arrays.pos_label,
        ):
            found = _unchanged(last, arrays, groups)
        rest = [g for g in groups if g not in found]
        found.update(zip(rest, compute(rest), strict=True))
        out = [found[g] for g in groups]
        # Kept: the columns compared next time (not the histograms, distributions or
        # other groups' statistics); the score counts are a view of the read's score
        # matrix, some 25 MB for 720 hourly windows.
        kept = replace(arrays, scores=(), other={}, histograms=None)
        read = _Read(
            kept,
            tuple(groups),
            tuple(out),
            {kept.keys[g]: i for i, g in enumerate(groups)},
        )
        with self._lock:
            self._reads[scope] = read
            self._reads.move_to_end(scope)
            while len(self._reads) > self.size:
                self._reads.popitem(last=False)
        return out


def _unchanged(
    last: _Read, arrays: GroupedArrays, groups: Sequence[int]
) -> dict[int, EvaluationResult]:
    """The last read's result of every window of ``groups`` whose statistics equal its
    statistics then."""
    before, now = last.arrays, arrays
    if before.score_counts is None or now.score_counts is None:
        return {}
    pairs = [(g, last.at.get(now.keys[g], -1)) for g in groups]
    pairs = [(g, i) for g, i in pairs if i >= 0]
    if not pairs:
        return {}
    new = np.array([g for g, _ in pairs], np.int64)
    old = np.array([last.groups[i] for _, i in pairs], np.int64)
    same = (
        (now.confusion[new] == before.confusion[old]).all(axis=(1, 2))
        & (now.predictions[new] == before.predictions[old])
        & (now.failed[new] == before.failed[old])
        & _same_counts(now.score_counts, new, before.score_counts, old)
    )
    out = {}
    for g, i, ok in zip(new.tolist(), (i for _, i in pairs), same.tolist(), strict=True):
        if ok and _loss_key(now.losses[g]) == _loss_key(before.losses[last.groups[i]]):
            out[g] = last.results[i]
    return out


def _same_counts(
    now: np.ndarray[Any, Any],
    new: np.ndarray[Any, Any],
    before: np.ndarray[Any, Any],
    old: np.ndarray[Any, Any],
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Whether each window's score counts per bin are the same, value for value (the
    arrays compared in place when both reads hold the windows in the same rows)."""
    if now.shape == before.shape and np.array_equal(new, old) and new.size == now.shape[0]:
        if (new == np.arange(new.size)).all():
            same: np.ndarray[Any, np.dtype[np.bool_]] = (now == before).all(axis=(1, 2))
            return same
    return np.asarray((now[new] == before[old]).all(axis=(1, 2)), np.bool_)
