"""Stored label texts resolved onto a model's classes, for every engine's reads.

The service maps labels onto the model's classes before they are stored, so one
class has one text. Stores written before that rule (or a model whose classes were
declared later) may hold ``"1"``, ``"1.0"`` and ``"true"`` for one class: reads map
every stored text through :func:`~liveeval.metrics.labels.label_key`. A text that is
no declared class (an outcome accepted before its prediction was seen, so unchecked)
is resolved as an extra class after the declared ones; the statistics then leave the
pairs holding it out of the metrics and count them in a note
(:func:`~liveeval.store.duck.aggregate.assemble`) — a read never fails on data that
was accepted, and one stray label never turns a binary model into a 3-class one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import ValidationError
from ..metrics.labels import Label, canonical_label, label_key

__all__ = ["ResolvedLabels", "resolve_labels"]


def _decoded(text: str) -> Label:
    """The stored value; a text that is not JSON (written by hand) is a string label."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    try:
        return canonical_label(value)
    except ValidationError:
        return text  # NaN or a list in old data: keep it visible as its own class


@dataclass
class ResolvedLabels:
    """The classes to report, and the class index of every stored label text."""

    labels: tuple[Label, ...]
    index: dict[str, int]
    notes: list[str] = field(default_factory=list)
    # How many of ``labels`` are the model's declared classes (the first ones); the
    # rest are stored values outside them. None when the model declares no classes.
    declared: int | None = None

    @property
    def outside(self) -> frozenset[str]:
        """The texts that are none of the declared classes (empty without classes)."""
        if self.declared is None:
            return frozenset()
        return frozenset(t for t, i in self.index.items() if i >= self.declared)


def resolve_labels(texts: Iterable[str], classes: tuple[Label, ...] | None) -> ResolvedLabels:
    """Map stored label texts onto ``classes`` (declared first, in their order), with
    undeclared values appended as extra classes and named in a note. (Memoised: a
    windowed read resolves the same few texts for every window; callers do not
    mutate the answer.)"""
    try:
        return _resolve(frozenset(texts), classes)
    except TypeError:  # an unhashable class
        return _resolve.__wrapped__(frozenset(texts), classes)


@functools.lru_cache(maxsize=256)
def _resolve(texts: frozenset[str], classes: tuple[Label, ...] | None) -> ResolvedLabels:
    by_key: dict[str, Label] = {}
    ordered: list[Label] = []
    for cls in classes or ():
        key = _safe_key(cls)
        if key not in by_key:
            by_key[key] = cls
            ordered.append(cls)
    declared = len(ordered)
    extra: dict[str, Label] = {}
    for text in texts:
        value = _decoded(text)
        key = _safe_key(value)
        if key not in by_key and key not in extra:
            extra[key] = value
    ordered.extend(_sorted(list(extra.values())))
    for key, value in extra.items():
        by_key[key] = value
    position = {_safe_key(label): i for i, label in enumerate(ordered)}
    index = {text: position[_safe_key(_decoded(text))] for text in texts}
    notes = []
    if classes and len(ordered) > declared:
        notes.append(
            f"labels {[*ordered[declared:]]!r} are not among the model's classes "
            f"{list(classes)!r}; they are reported as extra classes"
        )
    return ResolvedLabels(tuple(ordered), index, notes, declared if classes else None)


def _safe_key(value: Label) -> str:
    try:
        return label_key(value)
    except ValidationError:
        return f"r:{value!r}"


def _sorted(values: list[Label]) -> list[Label]:
    try:
        return sorted(values)  # type: ignore[type-var]
    except TypeError:
        return sorted(values, key=lambda v: (isinstance(v, str), str(v)))
