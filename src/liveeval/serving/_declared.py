"""What the operator declared about a model, checked against what the model tells:
classes (the model's, in its order, when it records them), features, the positive
class and the output kind. Shared by the loaders of every model kind."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import LiveevalError, ModelLoadError
from ..metrics.labels import canonical_label
from .inputs import Feature, parse_features
from .model import OUTPUTS, ModelSpec

__all__ = [
    "check_classes",
    "declared_features",
    "declared_output",
    "default_positive",
    "import_runtime",
]


def _canon(value: Any) -> Any:
    try:
        return canonical_label(value)
    except LiveevalError:
        return value


def check_classes(
    spec: ModelSpec, path: Path, recorded: tuple[Any, ...], source: str, fix: str
) -> None:
    """Classes in the config must be the model's own, in its order (``1`` and ``1.0``
    are one class).

    ``source`` says where the model's classes come from (``"the model's classes"``);
    ``fix`` is the advice at the end of the message.
    """
    if spec.classes is None:
        return
    given = [_canon(c) for c in spec.classes]
    mine = [_canon(c) for c in recorded]
    if given == mine:
        return
    if sorted(map(repr, given)) == sorted(map(repr, mine)):
        found = f"are {source} in another order: the model's order is {list(recorded)}"
    elif set(map(repr, given)) < set(map(repr, mine)):
        missing = [c for c, k in zip(recorded, mine, strict=True) if k not in given]
        found = f"are too few for {source} {list(recorded)} (missing {missing})"
    elif set(map(repr, given)) > set(map(repr, mine)):
        extra = [c for c, k in zip(spec.classes, given, strict=True) if k not in mine]
        found = f"are too many for {source} {list(recorded)} (not in the model: {extra})"
    else:
        found = f"are not {source} {list(recorded)}"
    raise ModelLoadError(
        spec.name, str(path), f"classes {list(spec.classes)} in the config {found}; {fix}"
    )


def declared_features(spec: ModelSpec, path: Path) -> tuple[Feature, ...] | None:
    if spec.features is None:
        return None
    try:
        return parse_features(spec.features)
    except ValueError as exc:
        raise ModelLoadError(spec.name, str(path), f"features: {exc}") from None


def declared_output(spec: ModelSpec, path: Path, allowed: tuple[str, ...] = OUTPUTS) -> str | None:
    """The declared output kind (``"proba"`` is ``"probabilities"``), or None."""
    output = "probabilities" if spec.output == "proba" else spec.output
    if output is not None and output not in allowed:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"output {spec.output!r} does not fit this model; accepted: "
            f"{', '.join(repr(o) for o in allowed)}",
        )
    return output


def default_positive(spec: ModelSpec, path: Path, classes: tuple[Any, ...]) -> Any:
    declared = spec.pos_label
    if declared is not None:
        if _canon(declared) not in [_canon(c) for c in classes]:
            raise ModelLoadError(
                spec.name,
                str(path),
                f"pos_label {declared!r} is not one of the classes {list(classes)}",
            )
        return classes[[_canon(c) for c in classes].index(_canon(declared))]
    if len(classes) == 2 and set(classes) in ({0, 1}, {-1, 1}, {False, True}):
        return classes[1]
    return None


def import_runtime(spec: ModelSpec, path: Path, module: str, what: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"is {what} model; install {module} (pip install 'liveeval[{extra}]')",
        ) from None
