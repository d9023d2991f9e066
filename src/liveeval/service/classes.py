"""Labels mapped onto each model's classes at the ingestion boundary.

A model declares its classes (its file tells them, or ``classes = [...]`` in the
config). Every predicted or true label is mapped onto them by
:func:`~liveeval.metrics.labels.label_key`: for a model with classes ``0.0/1.0``,
``1``, ``1.0``, ``"1"`` and ``true`` are all stored as the class ``1.0``, and ``2``
is rejected naming the classes. A model known only from its logs, with no declared
classes, stores :func:`~liveeval.metrics.labels.canonical_label` of each value, so the
same value in another JSON type is never a new class.

Outcomes name a prediction, not a model: an outcome whose prediction this process
has seen recently (kept in a bounded map of id -> model) is checked against that
model's classes; any other is stored in canonical form, and reads resolve it onto
the classes (:mod:`liveeval.store.labels`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..errors import UnknownLabelError, ValidationError
from ..metrics.labels import Label, canonical_label, label_key

__all__ = ["ClassMap", "RecentPredictions"]


class ClassMap:
    """The declared classes of each model, and the stored text of each label."""

    def __init__(self, declared: dict[str, tuple[Label, ...]] | None = None) -> None:
        self._classes: dict[str, tuple[Label, ...]] = {}
        self._texts: dict[str, dict[str, str]] = {}
        # (model, type, value) -> stored text: labels repeat, and mapping one costs
        # more than the rest of an event's ingestion. Bounded; rejections not cached.
        self._memo: dict[tuple[str | None, type, object], str] = {}
        for model, classes in (declared or {}).items():
            self.declare(model, classes)

    def declare(self, model: str, classes: Iterable[Label]) -> None:
        classes = tuple(classes)
        texts: dict[str, str] = {}
        for cls in classes:
            key = label_key(cls)
            if key in texts:
                raise ValidationError(
                    f"model {model!r} declares classes {list(classes)!r}, two of which are "
                    "the same label"
                )
            texts[key] = json.dumps(cls)
        self._classes[model] = classes
        self._texts[model] = texts
        self._memo.clear()

    def classes(self, model: str) -> tuple[Label, ...] | None:
        return self._classes.get(model)

    def encode(self, model: str | None, value: object, *, field: str = "label") -> str:
        """The stored text of ``value`` as a label of ``model``.

        Raises
        ------
        UnknownLabelError
            when ``model`` declares classes and ``value`` is none of them.
        ValidationError
            when ``value`` is not a finite scalar.
        """
        try:
            memo_key = (model, type(value), value)
            cached = self._memo.get(memo_key)
        except TypeError:  # unhashable: label_key below names the problem
            memo_key, cached = None, None
        if cached is not None:
            return cached
        text = self._encode(model, value, field)
        if memo_key is not None:
            if len(self._memo) >= 10_000:
                self._memo.clear()
            self._memo[memo_key] = text
        return text

    def _encode(self, model: str | None, value: object, field: str) -> str:
        key = label_key(value)
        texts = self._texts.get(model) if model is not None else None
        if texts is None:
            return json.dumps(canonical_label(value))
        text = texts.get(key)
        if text is None:
            raise UnknownLabelError(
                f"{field} {value!r} is not one of model {model!r}'s classes "
                f"{list(self._classes[model])!r}",  # type: ignore[index]
                column=field,
            )
        return text

    def check_outputs(self, model: str, score: object, probas: list[float] | None) -> None:
        """A score needs a binary model, probabilities one per declared class.

        Raises
        ------
        ValidationError
            naming the field and the model's classes.
        """
        classes = self._classes.get(model)
        if classes is None:
            return
        if score is not None and len(classes) != 2:
            raise ValidationError(
                f"'score' is for binary models; model {model!r} has classes {list(classes)!r}: "
                "send 'probas', one per class in that order",
                column="score",
            )
        if probas is not None and len(probas) != len(classes):
            raise ValidationError(
                f"'probas' has {len(probas)} values but model {model!r} has "
                f"{len(classes)} classes {list(classes)!r}",
                column="probas",
            )


class RecentPredictions:
    """Which model made each recent prediction (bounded: the oldest are forgotten).

    Written from the event loop only (ingestion and predict run there), so a plain
    insertion-ordered dict does: its first key is the oldest.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._models: dict[str, str] = {}

    def remember(self, key: str, model: str) -> None:
        models = self._models
        models[key] = model
        if len(models) > self.capacity:
            del models[next(iter(models))]

    def model_of(self, key: str) -> str | None:
        return self._models.get(key)
