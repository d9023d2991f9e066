"""Loading PyTorch programs: TorchScript (``torch.jit.save``, ``.pt``) and
``torch.export`` (``torch.export.save``, ``.pt2``).

The file's kind is read from its archive, whatever its suffix: a ``torch.save``
pickle (a whole module or a ``state_dict``) is refused, naming the two ways to
export a servable program. The program must take one tensor of shape
``(batch, features)``; an exported program records its input's shape and dtype, so a
fixed batch dimension and a feature count other than the declared one are refused
at load. PyTorch programs record no names: features and classes are declared.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ._declared import declared_features, declared_output, default_positive, import_runtime
from .check import check_model, probe_outputs
from .inputs import NUMBER, Feature, InputSchema
from .model import LoadedModel, ModelSpec, short_error

__all__ = ["load_torch"]

_EXPORT = (
    "export it with torch.jit.script(model).save(path) (a .pt file) or "
    "torch.export.save(torch.export.export(model, (x,), dynamic_shapes=({0: "
    "torch.export.Dim('batch')},)), path) (a .pt2 file)"
)
_DIM_FIX = (
    "export it with a dynamic batch dimension: torch.export.export(model, (x,), "
    "dynamic_shapes=({0: torch.export.Dim('batch')},))"
)


def load_torch(spec: ModelSpec, path: Path) -> LoadedModel:
    """Load a TorchScript or ``torch.export`` program and run the load check on it."""
    torch = import_runtime(spec, path, "torch", "a PyTorch", "torch")
    kind = _archive_kind(spec, path)
    width: int | None = None
    dtype: str | None = None
    try:
        with warnings.catch_warnings():
            # "torch.jit.load is deprecated": still what many teams have on disk.
            warnings.simplefilter("ignore", DeprecationWarning)
            if kind == "export":
                program = torch.export.load(str(path))
                width, dtype = _exported_input(spec, path, program)
                module = program.module()
            else:
                module = torch.jit.load(str(path), map_location="cpu")
                module.eval()
                _script_input(spec, path, module)
    except ModelLoadError:
        raise
    except Exception as exc:  # torch raises many untyped errors for bad files
        raise ModelLoadError(
            spec.name, str(path), f"cannot be loaded: {short_error(exc)}"
        ) from None
    torch.set_num_threads(1)
    output = declared_output(spec, path)
    declared = declared_features(spec, path)
    if declared is not None:
        text = [f.name for f in declared if f.type != NUMBER]
        if text:
            raise ModelLoadError(
                spec.name,
                str(path),
                f"a PyTorch model takes numbers only; {text} are declared text",
            )
        if width is not None and width != len(declared):
            raise ModelLoadError(
                spec.name,
                str(path),
                f"the program takes {width} features per row, but {len(declared)} are listed: "
                f"{[f.name for f in declared]}; list its {width} features in order",
            )
    if declared is None or spec.classes is None:
        _declare_missing(spec, path, module, width, dtype or "float32", declared is None)
    assert declared is not None and spec.classes is not None
    classes = tuple(spec.classes)
    loaded = _loaded(spec, path, module, declared, classes, output, dtype or "float32")
    found = probe_outputs(loaded)
    if isinstance(found, str) and dtype is None and _is_dtype_error(found):
        # TorchScript does not record dtypes: a float64 program fails on float32.
        retry = _loaded(spec, path, module, declared, classes, output, "float64")
        again = probe_outputs(retry)
        if not isinstance(again, str):
            loaded, found = retry, again
    loaded.output = check_model(loaded, path, found)
    return loaded


def _loaded(
    spec: ModelSpec,
    path: Path,
    module: Any,
    declared: tuple[Feature, ...],
    classes: tuple[Any, ...],
    output: str | None,
    dtype: str,
) -> LoadedModel:
    features = tuple(Feature(f.name, NUMBER, dtype=dtype) for f in declared)
    return LoadedModel(
        spec,
        module,
        InputSchema(spec.name, features),
        classes,
        default_positive(spec, path, classes),
        "torch",
        output=output or "probabilities",
        run=_runner(module),
        label_indexes=output == "label",
    )


def _archive_kind(spec: ModelSpec, path: Path) -> str:
    """``"export"`` or ``"script"``; a ``torch.save`` pickle or another file is refused."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head[:1] == b"\x80":
            raise ModelLoadError(
                spec.name,
                str(path),
                f"is a torch.save() pickle, not a TorchScript or torch.export program; {_EXPORT}",
            )
        raise ModelLoadError(
            spec.name,
            str(path),
            "is not a PyTorch program (neither TorchScript nor torch.export); " + _EXPORT,
        )
    with zipfile.ZipFile(path) as archive:
        entries = [n.split("/", 1)[-1] for n in archive.namelist()]
    if "archive_format" in entries:
        return "export"
    if "constants.pkl" in entries or any(e.startswith("code/") for e in entries):
        return "script"
    if "data.pkl" in entries:
        raise ModelLoadError(
            spec.name,
            str(path),
            "is a torch.save() pickle (a module or a state_dict), not a TorchScript or "
            f"torch.export program, and cannot be served; {_EXPORT}",
        )
    raise ModelLoadError(
        spec.name, str(path), f"is a zip archive but not a PyTorch program; {_EXPORT}"
    )


def _exported_input(spec: ModelSpec, path: Path, program: Any) -> tuple[int | None, str]:
    """The feature count (None when dynamic) and dtype an exported program takes."""
    users = list(program.graph_signature.user_inputs)
    if len(users) != 1:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"the program takes {len(users)} inputs {users}; liveeval feeds one (batch, "
            "features) tensor: export a module whose forward takes one tensor",
        )
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == users[0])
    value = node.meta.get("val")
    shape = tuple(getattr(value, "shape", ()))
    if len(shape) != 2:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"the program's input has shape {list(shape)}; liveeval feeds (batch, features)",
        )
    if isinstance(shape[0], int):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"the program was exported with a fixed batch size of {shape[0]} (input shape "
            f"{list(shape)}), so a batch of another size fails; {_DIM_FIX}",
        )
    dtype = str(getattr(value, "dtype", "torch.float32")).removeprefix("torch.")
    if dtype not in ("float32", "float64"):
        raise ModelLoadError(
            spec.name,
            str(path),
            f"the program's input is {dtype}; liveeval feeds float32 or float64 tensors",
        )
    return (shape[1] if isinstance(shape[1], int) else None), dtype


def _script_input(spec: ModelSpec, path: Path, module: Any) -> None:
    arguments = list(module.forward.schema.arguments)[1:]  # after self
    needed = [a.name for a in arguments if not a.has_default_value()]
    if len(needed) != 1:
        raise ModelLoadError(
            spec.name,
            str(path),
            f"forward() takes {len(needed)} inputs {needed}; liveeval feeds one (batch, "
            "features) tensor: script a module whose forward takes one tensor",
        )


def _declare_missing(
    spec: ModelSpec, path: Path, module: Any, width: int | None, dtype: str, no_features: bool
) -> None:
    needs = []
    if no_features:
        count = f"its {width} inputs" if width is not None else "its inputs"
        needs.append(f"'features' ({count}, in order; or --features)")
    if spec.classes is None:
        scores = _width(module, width, dtype)
        count = f"its {scores} classes" if scores else "its classes"
        needs.append(f"'classes' ({count}, in the order of its outputs)")
    raise ModelLoadError(
        spec.name,
        str(path),
        f"a PyTorch program records no names: declare {' and '.join(needs)} in its "
        "[[models]] entry in liveeval.toml",
    )


def _width(module: Any, width: int | None, dtype: str) -> int | None:
    """How many scores per row the program gives, when its input width is known."""
    if width is None:
        return None
    import torch

    try:
        with torch.inference_mode():
            out = module(torch.zeros((1, width), dtype=getattr(torch, dtype)))
    except Exception:  # only a hint for the message: the load is refused anyway
        return None
    shape = tuple(getattr(out, "shape", ()))
    if len(shape) == 2:
        return 2 if shape[1] == 1 else int(shape[1])
    return 2 if len(shape) == 1 else None


def _is_dtype_error(message: str) -> bool:
    return any(w in message for w in ("dtype", "Double", "scalar type"))


def _runner(module: Any) -> Any:
    import torch

    from_numpy = torch.from_numpy
    mode = torch.inference_mode

    def run(x: Any) -> Any:
        with mode():
            out = module(from_numpy(x))
        return np.asarray(out.numpy())

    return run
