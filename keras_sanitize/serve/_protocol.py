"""Open Inference Protocol (KServe v2) request parsing and response encoding.

Parsing is bounded before any work: the JSON header's size and nesting depth are
checked on the raw bytes, then each tensor's declared element count, and only
then is data converted. The binary tensor extension (``Inference-Header-Content-Length``,
what ``tritonclient`` sends by default) carries numbers and raw ``BYTES`` items
(text, image or audio bytes) without base64.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from keras_sanitize.findings import Action, Finding, Severity, echo

from ._limits import ServeLimits

__all__ = ["DATATYPES", "InferRequest", "ProtocolError", "Tensor", "encode_response", "parse_infer"]

#: KServe v2 datatype -> numpy dtype (``BYTES`` items are Python ``bytes``).
DATATYPES: Mapping[str, str] = MappingProxyType({
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
})
_TO_V2 = {np.dtype(v).str: k for k, v in DATATYPES.items() if k != "BYTES"}
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')
_MAX_ID = 256


class ProtocolError(Exception):
    """A malformed or oversize infer request (internal; the app turns it into a 4xx body)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.finding = Finding(code, message, Severity.MEDIUM, Action.REJECT, "serve", fatal=True)


@dataclass
class Tensor:
    """One input tensor: name, v2 datatype, shape and data (an array, or a list of bytes)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any


@dataclass
class InferRequest:
    """A parsed infer request."""

    id: str | None
    inputs: list[Tensor]
    binary_outputs: set[str] = field(default_factory=set)
    binary_all: bool = False
    requested: list[str] | None = None

    @property
    def batch(self) -> int:
        """Items in the request (the first dimension of the first input)."""
        shape = self.inputs[0].shape
        return shape[0] if shape else 1


def json_depth(raw: bytes) -> int:
    """Deepest ``[``/``{`` nesting in ``raw``, skipping string contents (linear time)."""
    if b"[" not in raw and b"{" not in raw:
        return 0
    depth = deepest = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def parse_json(raw: bytes, limits: ServeLimits) -> Any:
    """Decode a JSON document within ``limits`` (size, depth, strict UTF-8)."""
    if len(raw) > limits.max_json_bytes:
        raise ProtocolError(
            413,
            "serve.json_too_large",
            f"the JSON part has {len(raw)} bytes; limit is "
            f"{limits.max_json_bytes} (max_json_bytes). Send tensor data in binary form",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            400,
            "serve.invalid_utf8",
            f"the JSON part is not valid UTF-8 (byte "
            f"{exc.start}: {echo(raw[exc.start : exc.start + 8])}); encode it as UTF-8",
        ) from None
    depth = json_depth(raw)
    if depth > limits.max_json_depth:
        raise ProtocolError(
            400,
            "serve.json_too_deep",
            f"the JSON nests {depth} levels deep; limit is "
            f"{limits.max_json_depth} (max_json_depth). Send flat data with a shape",
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(
            400, "serve.invalid_json", f"the body is not valid JSON: {echo(str(exc))}"
        ) from None


def _bad(message: str, code: str = "serve.bad_request", status: int = 400) -> ProtocolError:
    return ProtocolError(status, code, message)


def _flatten(data: Any, out: list[Any]) -> None:
    for item in data:
        if isinstance(item, list):
            _flatten(item, out)
        else:
            out.append(item)


def _bytes_items(raw: memoryview, count: int, name: str) -> list[bytes]:
    items: list[bytes] = []
    pos, end = 0, len(raw)
    while pos < end:
        if end - pos < 4:
            raise _bad(f"input {echo(name)}: BYTES data ends inside a 4-byte length prefix")
        (size,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if size > end - pos:
            raise _bad(f"input {echo(name)}: a BYTES item declares {size} bytes; only {end - pos} remain")
        items.append(bytes(raw[pos : pos + size]))
        pos += size
        if len(items) > count:
            break
    if len(items) != count:
        raise _bad(
            f"input {echo(name)}: shape holds {count} items; the BYTES data holds "
            f"{len(items)}{'+' if len(items) > count else ''}",
            "serve.shape_mismatch",
        )
    return items


def _tensor(spec: Any, binary: memoryview, offset: int, limits: ServeLimits) -> tuple[Tensor, int]:
    if not isinstance(spec, dict):
        raise _bad(f"each input must be an object. Received: {echo(spec)}")
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str) or not 0 < len(name) <= 256:
        raise _bad(f"an input needs a name (a string of 1-256 chars). Received: name={echo(name)}")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise _bad(
            f"input {echo(name)}: datatype must be one of {sorted(DATATYPES)}. "
            f"Received: datatype={echo(datatype)}",
            "serve.datatype",
        )
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 8
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in shape)
    ):
        raise _bad(
            f"input {echo(name)}: shape must be a list of 1-8 non-negative integers. "
            f"Received: shape={echo(json.dumps(shape) if shape is not None else None)}",
            "serve.shape",
        )
    count = math.prod(shape)
    if count > limits.max_elements:
        raise _bad(
            f"input {echo(name)}: shape {shape} holds {count} elements; limit is {limits.max_elements} "
            f"(max_elements)",
            "serve.too_many_elements",
            413,
        )
    params = spec.get("parameters") or {}
    if not isinstance(params, dict):
        raise _bad(f"input {echo(name)}: parameters must be an object")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary) - offset:
            raise _bad(
                f"input {echo(name)}: binary_data_size={echo(size)} does not fit the "
                f"{len(binary) - offset} binary bytes left in the body"
            )
        chunk = binary[offset : offset + size]
        offset += size
        if datatype == "BYTES":
            data: Any = _bytes_items(chunk, count, name)
        else:
            dtype = np.dtype(DATATYPES[datatype])
            if size != count * dtype.itemsize:
                raise _bad(
                    f"input {echo(name)}: shape {shape} of {datatype} needs {count * dtype.itemsize} "
                    f"bytes; binary_data_size is {size}",
                    "serve.shape_mismatch",
                )
            data = np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
        return Tensor(name, datatype, tuple(shape), data), offset
    if "data" not in spec:
        raise _bad(f"input {echo(name)} has neither data nor parameters.binary_data_size")
    raw = spec["data"]
    flat: list[Any] = []
    if isinstance(raw, list):
        _flatten(raw, flat)
    else:
        flat.append(raw)
    if len(flat) != count:
        raise _bad(
            f"input {echo(name)}: shape {shape} holds {count} elements; data holds {len(flat)}",
            "serve.shape_mismatch",
        )
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise _bad(f"input {echo(name)}: BYTES data in JSON must be strings", "serve.datatype")
        return Tensor(
            name, datatype, tuple(shape), [v.encode("utf-8", "surrogatepass") for v in flat]
        ), offset
    numeric = bool if datatype == "BOOL" else (int, float)
    if not all(isinstance(v, numeric) and (datatype == "BOOL" or not isinstance(v, bool)) for v in flat):
        raise _bad(
            f"input {echo(name)}: {datatype} data must be JSON "
            f"{'booleans' if datatype == 'BOOL' else 'numbers'}",
            "serve.datatype",
        )
    try:
        array = np.asarray(flat, dtype=DATATYPES[datatype]).reshape(shape)
    except (OverflowError, ValueError) as exc:
        raise _bad(
            f"input {echo(name)}: data does not fit {datatype}: {echo(str(exc))}", "serve.datatype"
        ) from None
    return Tensor(name, datatype, tuple(shape), array), offset


def parse_infer(body: bytes, header_length: str | None, limits: ServeLimits) -> InferRequest:
    """Parse an infer request body (JSON, or JSON + binary tensors) within ``limits``."""
    view = memoryview(body)
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            n = -1
        if not 0 < n <= len(body):
            raise _bad(
                f"Inference-Header-Content-Length={echo(header_length)} must be an integer in "
                f"[1, {len(body)}] (the body's length)"
            )
        doc, binary = parse_json(body[:n], limits), view[n:]
    else:
        doc, binary = parse_json(body, limits), view[:0]
    if not isinstance(doc, dict):
        raise _bad(f"an infer request is a JSON object. Received: {type(doc).__name__}")
    rid = doc.get("id")
    if rid is not None and (not isinstance(rid, str) or len(rid) > _MAX_ID):
        raise _bad(f"id must be a string of at most {_MAX_ID} chars. Received: {echo(rid)}")
    specs = doc.get("inputs")
    if not isinstance(specs, list) or not 1 <= len(specs) <= 16:
        raise _bad("inputs must be a list of 1-16 tensors")
    inputs: list[Tensor] = []
    offset = 0
    for spec in specs:
        tensor, offset = _tensor(spec, binary, offset, limits)
        inputs.append(tensor)
    if offset != len(binary):
        raise _bad(f"{len(binary) - offset} binary bytes follow the tensors the JSON declares")
    params = doc.get("parameters") or {}
    binary_all = isinstance(params, dict) and params.get("binary_data_output") is True
    requested: list[str] | None = None
    binary_outputs: set[str] = set()
    outs = doc.get("outputs")
    if outs is not None:
        if (
            not isinstance(outs, list)
            or len(outs) > 64
            or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outs)
        ):
            raise _bad("outputs must be a list of objects with a name")
        requested = [o["name"] for o in outs]
        for o in outs:
            p = o.get("parameters") or {}
            if isinstance(p, dict) and p.get("binary_data") is True:
                binary_outputs.add(o["name"])
    return InferRequest(rid, inputs, binary_outputs, binary_all, requested)


def v2_datatype(array: np.ndarray) -> str:
    """The v2 datatype name of a numpy array (``BYTES`` for strings and objects)."""
    return _TO_V2.get(array.dtype.str.replace(">", "<"), "BYTES")


def _bytes_payload(array: np.ndarray) -> bytes:
    parts = []
    for item in array.reshape(-1):
        data = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)


def _json_data(array: np.ndarray) -> list[Any]:
    if v2_datatype(array) == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
    if array.dtype.kind == "f":
        # JSON has no NaN: refused items' rows (NaN) become null.
        return [None if not math.isfinite(v) else v for v in array.reshape(-1).tolist()]
    return list(array.reshape(-1).tolist())


def encode_response(
    model: str, request: InferRequest, outputs: list[tuple[str, np.ndarray]], extra: dict[str, Any]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in outputs:
        if request.requested is not None and name not in request.requested:
            continue
        entry: dict[str, Any] = {"name": name, "datatype": v2_datatype(array), "shape": list(array.shape)}
        if request.binary_all or name in request.binary_outputs:
            if entry["datatype"] == "BYTES":
                blob = _bytes_payload(array)
            else:
                blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_data(array)
        tensors.append(entry)
    doc: dict[str, Any] = {"model_name": model, "model_version": "1", "outputs": tensors, **extra}
    if request.id is not None:
        doc["id"] = request.id
    head = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
