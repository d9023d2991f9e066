"""The Open Inference Protocol (KServe's "V2", also spoken by MLServer and Triton).

Clients written for those servers work unchanged: health and readiness, model
metadata and ``infer`` with its tensors. A request's tensors are turned into rows of
the model's named features and handed to the same service call as the native
``/v1/models/{model}/predict`` route, so every v2 prediction is validated, logged,
committed and timed exactly like a native one.

Inputs, either way (row-major, ``data`` flat or nested as the shape):

- one tensor per feature, named like the feature, shape ``[N]`` or ``[N, 1]``;
- one 2-D tensor ``[N, F]`` (any name: MLServer's and Triton's clients name it as
  they like), its columns in the order the model's metadata lists the features.

Outputs: ``label`` (``[N]``), ``score`` (``[N]``, P(positive) of a binary model),
``probabilities`` (``[N, K]`` in the order of the metadata's ``classes``) and
``prediction_id`` (``[N]``, BYTES: the ids to send outcomes for). Errors are
``{"error": "..."}``; a model failure adds ``error_type`` and ``prediction_ids``.

Triton's binary tensor extension is read in requests (``tritonclient`` sends it by
default); answers are always JSON, which its client reads as well.
"""

from __future__ import annotations

import json
import math
import struct
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ..errors import ValidationError
from ..service.events import MAX_BATCH
from ..service.predict import predict

if TYPE_CHECKING:
    from ..service import Answer, Service
    from ..serving import LoadedModel

__all__ = [
    "BINARY_HEADER",
    "InferRequest",
    "InferResponse",
    "ModelMetadata",
    "ModelReady",
    "ServerLive",
    "ServerMetadata",
    "ServerReady",
    "V2Error",
    "V2ModelFailure",
    "infer",
    "model_metadata",
    "parse_infer",
    "v2_error",
]

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
Scalar = bool | int | float | str
# Triton's binary extension: the JSON header's length, when binary data follows it.
BINARY_HEADER = b"inference-header-content-length"
_NUMPY = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_DATATYPE: dict[str, Datatype] = {"float32": "FP32", "float64": "FP64", "int64": "INT64"}
_PLATFORM = {"sklearn": "sklearn", "onnx": "onnxruntime_onnx", "torch": "pytorch"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestInput(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    shape: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=2)]
    datatype: Datatype
    parameters: dict[str, Scalar] | None = None
    data: list[Any] = Field(default_factory=list, description="row-major, flat or nested")


class RequestOutput(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    parameters: dict[str, Scalar] | None = None


class InferRequest(_Strict):
    """An inference request: ``id`` is echoed; ``parameters`` are echoed, and a string
    ``segment`` among them is stored with the predictions."""

    id: Annotated[str, Field(max_length=200)] | None = None
    parameters: dict[str, Scalar] | None = None
    inputs: Annotated[list[RequestInput], Field(min_length=1, max_length=1000)]
    outputs: Annotated[list[RequestOutput], Field(max_length=10)] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Scalar] | None = None
    data: list[Any]


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Scalar] | None = None
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(BaseModel):
    """The protocol's model metadata, plus ``classes``: the order of the
    ``probabilities`` columns and the values ``label`` takes."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    classes: list[Any]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class V2Error(BaseModel):
    """The protocol's error body."""

    error: str


class V2ModelFailure(V2Error):
    """The served model raised or answered with something that is not a prediction:
    the predictions were logged as failed under ``prediction_ids``."""

    error_type: str
    prediction_ids: list[str]


def v2_error(detail: Any) -> dict[str, Any]:
    return {"error": detail if isinstance(detail, str) else json.dumps(detail)}


def validation_message(exc: PydanticValidationError) -> str:
    """Pydantic's errors on one line: where, and what is wrong."""
    parts = []
    for e in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and "[" in p))
        parts.append(f"{where}: {e['msg']}" if where else e["msg"])
    return "invalid inference request: " + "; ".join(parts)


_REQUEST = TypeAdapter(InferRequest)


def parse_infer(raw: bytes, headers: dict[bytes, bytes]) -> InferRequest:
    """The request body: JSON, or JSON followed by binary tensor data (Triton's
    extension, announced by the ``Inference-Header-Content-Length`` header).

    Raises
    ------
    pydantic.ValidationError
        for a body that is not an inference request.
    ValidationError
        for binary data that does not fit the tensors it is declared for.
    """
    length = headers.get(BINARY_HEADER)
    if length is None:
        return _REQUEST.validate_json(raw)
    if not length.isdigit() or int(length) > len(raw):
        raise ValidationError(
            f"Inference-Header-Content-Length {length.decode('latin-1')!r} is not a length "
            f"within the {len(raw)}-byte body"
        )
    request = _REQUEST.validate_json(raw[: int(length)])
    offset = int(length)
    for tensor in request.inputs:
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is None:
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValidationError(f"input {tensor.name!r}: binary_data_size {size!r} is not a size")
        chunk = raw[offset : offset + size]
        if len(chunk) != size:
            raise ValidationError(
                f"input {tensor.name!r}: binary_data_size {size} runs past the body's end"
            )
        offset += size
        tensor.data = _decode(tensor, chunk)
    return request


def _decode(tensor: RequestInput, chunk: bytes) -> list[Any]:
    if tensor.datatype == "BYTES":
        values: list[Any] = []
        at = 0
        while at < len(chunk):
            if at + 4 > len(chunk):
                raise ValidationError(f"input {tensor.name!r}: a BYTES element is cut short")
            (n,) = struct.unpack_from("<I", chunk, at)
            item = chunk[at + 4 : at + 4 + n]
            if len(item) != n:
                raise ValidationError(f"input {tensor.name!r}: a BYTES element is cut short")
            try:
                values.append(item.decode())
            except UnicodeDecodeError:
                raise ValidationError(
                    f"input {tensor.name!r}: a BYTES element is not UTF-8 text"
                ) from None
            at += 4 + n
        return values
    dtype = np.dtype(_NUMPY[tensor.datatype])
    if len(chunk) % dtype.itemsize:
        raise ValidationError(
            f"input {tensor.name!r}: {len(chunk)} bytes are not whole {tensor.datatype} values"
        )
    numbers: list[Any] = np.frombuffer(chunk, dtype=dtype).tolist()
    return numbers


# -- tensors to rows ----------------------------------------------------------------


def _flat(tensor: RequestInput) -> list[Any]:
    data = tensor.data
    if any(isinstance(v, list) for v in data):
        out: list[Any] = []
        stack = [iter(data)]
        while stack:
            for v in stack[-1]:
                if isinstance(v, list):
                    stack.append(iter(v))
                    break
                out.append(v)
            else:
                stack.pop()
        data = out
    if len(data) != math.prod(tensor.shape):
        raise ValidationError(
            f"input {tensor.name!r}: shape {tensor.shape} holds {math.prod(tensor.shape)} "
            f"values but data has {len(data)}"
        )
    for v in data:
        if isinstance(v, dict) or v is None:
            raise ValidationError(f"input {tensor.name!r}: {v!r} is not a tensor element")
    return data


def rows_of(loaded: LoadedModel, inputs: list[RequestInput]) -> list[dict[str, Any]]:
    """The request's tensors as rows of the model's features.

    Raises
    ------
    ValidationError
        naming the tensor and what the model takes.
    """
    features = loaded.features
    if len(inputs) == 1 and inputs[0].name not in features:
        tensor = inputs[0]
        if len(tensor.shape) != 2 or tensor.shape[1] != len(features):
            raise ValidationError(
                f"input {tensor.name!r} of shape {tensor.shape}: send one tensor per feature "
                f"({', '.join(features)}), shape [N] or [N, 1], or one tensor of shape "
                f"[N, {len(features)}] with the features in that order"
            )
        n = _rows(tensor)
        data = _flat(tensor)
        f = len(features)
        return [dict(zip(features, data[i * f : (i + 1) * f], strict=True)) for i in range(n)]
    known = set(features)
    by_name: dict[str, RequestInput] = {}
    for tensor in inputs:
        if tensor.name not in known:
            raise ValidationError(
                f"input {tensor.name!r} is not a feature of model {loaded.name!r}; its "
                f"features: {', '.join(features)}"
            )
        if tensor.name in by_name:
            raise ValidationError(f"input {tensor.name!r} is given twice")
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise ValidationError(
                f"input {tensor.name!r} has shape {tensor.shape}; a feature's tensor is [N] "
                "or [N, 1]"
            )
        by_name[tensor.name] = tensor
    missing = [f for f in features if f not in by_name]
    if missing:
        raise ValidationError(f"inputs lack the features {', '.join(missing)}")
    columns = {name: _flat(t) for name, t in by_name.items()}
    counts = {_rows(t) for t in by_name.values()}
    if len(counts) != 1:
        raise ValidationError(f"inputs have different row counts {sorted(counts)}")
    return [{f: columns[f][i] for f in features} for i in range(counts.pop())]


def _rows(tensor: RequestInput) -> int:
    n = tensor.shape[0]
    if n < 1 or n > MAX_BATCH:
        raise ValidationError(
            f"input {tensor.name!r} has {n} rows; send 1 to {MAX_BATCH:,} per request"
        )
    return n


# -- outputs ------------------------------------------------------------------------


def _label_datatype(classes: tuple[Any, ...]) -> Datatype:
    if classes and all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if classes and all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "FP64"
    return "BYTES"


def _outputs(loaded: LoadedModel) -> list[TensorMetadata]:
    out = [TensorMetadata(name="label", datatype=_label_datatype(loaded.classes), shape=[-1])]
    if loaded.is_binary:
        out.append(TensorMetadata(name="score", datatype="FP64", shape=[-1]))
    elif loaded.has_proba:
        out.append(
            TensorMetadata(name="probabilities", datatype="FP64", shape=[-1, len(loaded.classes)])
        )
    out.append(TensorMetadata(name="prediction_id", datatype="BYTES", shape=[-1]))
    return out


def model_metadata(service: Service, model: str, version: str | None) -> dict[str, Any]:
    """The protocol's metadata of a served model (raises NotFoundError)."""
    loaded = service.served(model, version)
    return {
        "name": model,
        "versions": list(service.models[model]),
        "platform": _PLATFORM.get(loaded.kind, loaded.kind),
        "inputs": [
            {
                "name": f.name,
                # What the model is handed: a float32 ONNX graph's inputs are FP32.
                "datatype": "BYTES" if f.type == "string" else _DATATYPE.get(f.dtype, "FP64"),
                "shape": [-1],
            }
            for f in loaded.schema.features
        ],
        "outputs": [o.model_dump() for o in _outputs(loaded)],
        "classes": list(loaded.classes),
    }


async def infer(
    service: Service, model: str, version: str | None, request: InferRequest, arrived: float
) -> Answer:
    """Predict through the native service call; the answer's body in the protocol's shape.

    Raises
    ------
    NotFoundError
        for a model or version not served.
    ValidationError
        for tensors that do not fit the model, or outputs it does not have.
    """
    from ..service import Answer

    loaded = service.served(model, version)
    available = [o.name for o in _outputs(loaded)]
    wanted = [o.name for o in request.outputs] if request.outputs else available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise ValidationError(
            f"model {model!r} has no output {unknown[0]!r}; its outputs: {', '.join(available)}"
        )
    rows = rows_of(loaded, request.inputs)
    segment = (request.parameters or {}).get("segment")
    answer = await predict(
        service,
        model,
        loaded.version,
        rows,
        segment=segment if isinstance(segment, str) else None,
        arrived=arrived,
    )
    body = answer.body
    if answer.outcome == "model_failed":
        failure = {
            "error": body["detail"],
            "error_type": body["error_type"],
            "prediction_ids": body["ids"],
        }
        return Answer("model_failed", failure, answer.served)
    if answer.outcome != "ok":  # conflicts cannot happen: every id is new
        return Answer(answer.outcome, v2_error(body.get("detail", "not stored")), answer.served)
    predictions = body["predictions"]
    n = len(predictions)
    tensors: dict[str, dict[str, Any]] = {}
    meta = {o.name: o for o in _outputs(loaded)}
    for name in wanted:
        if name == "label":
            data = [p["label"] for p in predictions]
            shape = [n]
        elif name == "score":
            data = [p["score"] for p in predictions]
            shape = [n]
        elif name == "probabilities":
            data = [v for p in predictions for v in p["probas"].values()]
            shape = [n, len(loaded.classes)]
        else:
            data = [p["id"] for p in predictions]
            shape = [n]
        tensors[name] = {
            "name": name,
            "shape": shape,
            "datatype": meta[name].datatype,
            "data": data,
        }
    response: dict[str, Any] = {
        "model_name": model,
        "model_version": body["version"],
        "outputs": list(tensors.values()),
    }
    if request.id is not None:
        response["id"] = request.id
    if request.parameters is not None:
        response["parameters"] = request.parameters
    return Answer("ok", response, answer.served)
