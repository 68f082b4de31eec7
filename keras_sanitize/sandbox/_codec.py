"""What crosses the process boundary: tagged JSON plus shared-memory arenas. Never pickle.

A worker may be compromised by the input it decodes, so nothing it sends back
may run code in the caller: unpickling its answer would. Messages are JSON with
a few tags (tuples, bytes, arrays, non-string keys); the bytes of every array
and byte string live in an *arena*, a ``memfd`` the caller creates, sizes and
maps, and passes to the worker over the Unix socket. The caller checks every
array descriptor (dtype without objects, shape matching the byte count, inside
the arena) before copying the data out.
"""

from __future__ import annotations

import contextlib
import enum
import json
import mmap
import os
import socket
from collections.abc import Mapping
from typing import Any

import numpy as np

from keras_sanitize.findings import Finding, Report

__all__ = [
    "MAX_HEADER",
    "Arena",
    "ProtocolError",
    "Unsupported",
    "decode",
    "encode",
    "finding_from_wire",
    "finding_to_wire",
    "recv",
    "report_from_wire",
    "report_to_wire",
    "send",
]

MAX_HEADER = 60_000  # bytes of JSON in one socket message; larger bodies travel in the arena
_INLINE_STR = 4096
_ALIGN = 64
_MAX_DEPTH = 64
_MAX_NODES = 1_000_000


class ProtocolError(Exception):
    """A message that does not follow the protocol (a buggy or compromised worker)."""


class Unsupported(Exception):
    """A value of a type that cannot cross the boundary."""


class Arena:
    """A shared-memory buffer: an anonymous ``memfd`` mapped in this process."""

    def __init__(self, size: int, fd: int | None = None) -> None:
        self.size = int(size)
        own = fd is None
        if fd is None:
            fd = os.memfd_create("ks_sandbox_arena", os.MFD_CLOEXEC)
            try:
                os.ftruncate(fd, self.size)
            except OSError:
                os.close(fd)
                raise
        try:
            self.mm = mmap.mmap(fd, self.size)
        except Exception:
            if own:
                os.close(fd)
            raise
        self.fd: int | None = fd

    def release_fd(self) -> None:
        """Close the descriptor (the mapping stays)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close(self) -> None:
        """Unmap and close."""
        self.release_fd()
        # An exported view still alive: the GC unmaps it later.
        with contextlib.suppress(BufferError):
            self.mm.close()


# -- encoding (trusted side: any process encoding its own values) --------------------------
def encode(obj: Any, bufs: list[tuple[dict[str, Any], memoryview]], depth: int = 0) -> Any:
    """Turn ``obj`` into tagged JSON; append large byte payloads to ``bufs``."""
    if depth > _MAX_DEPTH:
        raise Unsupported("value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if isinstance(obj, str):
        if len(obj) <= _INLINE_STR:
            return obj
        bufs.append(({"k": "s"}, memoryview(obj.encode("utf-8", "surrogatepass"))))
        return {"$s": len(bufs) - 1}
    if isinstance(obj, enum.Enum):
        return encode(obj.value, bufs, depth + 1)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        bufs.append(({"k": "b"}, memoryview(obj).cast("B")))
        return {"$b": len(bufs) - 1}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise Unsupported(f"an array of dtype {obj.dtype} (Python objects)")
        arr = np.ascontiguousarray(obj)
        meta = {"k": "a", "dtype": arr.dtype.str, "shape": list(arr.shape)}
        raw: Any = arr.reshape(-1).view(np.uint8)
        bufs.append((meta, memoryview(raw) if arr.size else memoryview(b"")))
        return {"$a": len(bufs) - 1}
    if isinstance(obj, np.generic):
        return encode(obj.item(), bufs, depth + 1)
    if isinstance(obj, tuple):
        return {"$t": [encode(v, bufs, depth + 1) for v in obj]}
    if isinstance(obj, list):
        return [encode(v, bufs, depth + 1) for v in obj]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: encode(v, bufs, depth + 1) for k, v in obj.items()}
        return {"$d": [[encode(k, bufs, depth + 1), encode(v, bufs, depth + 1)] for k, v in obj.items()]}
    raise Unsupported(f"a value of type {type(obj).__name__}")


def layout(bufs: list[tuple[dict[str, Any], memoryview]], start: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Give each buffer an aligned offset; return descriptors and the end offset."""
    descs, off = [], start
    for meta, view in bufs:
        off = (off + _ALIGN - 1) // _ALIGN * _ALIGN
        descs.append({**meta, "o": off, "n": view.nbytes})
        off += view.nbytes
    return descs, off


def write(arena: Arena, bufs: list[tuple[dict[str, Any], memoryview]], descs: list[dict[str, Any]]) -> None:
    """Copy the buffers into the arena at their descriptors' offsets."""
    for (_, view), d in zip(bufs, descs):
        if view.nbytes:
            arena.mm[d["o"] : d["o"] + view.nbytes] = view


# -- decoding (untrusted side: checks everything) -------------------------------------------
def _buffer(desc: Any, arena: Arena | None, copy: bool = True) -> Any:
    if not isinstance(desc, dict) or arena is None:
        raise ProtocolError("buffer descriptor without an arena")
    off, n, kind = desc.get("o"), desc.get("n"), desc.get("k")
    if not (isinstance(off, int) and isinstance(n, int) and off >= 0 and n >= 0 and off + n <= arena.size):
        raise ProtocolError(f"buffer outside the arena: offset={off!r} size={n!r} arena={arena.size}")
    if kind == "b":
        return bytes(arena.mm[off : off + n])
    if kind == "s":
        try:
            return bytes(arena.mm[off : off + n]).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"bad text buffer: {exc}") from None
    if kind == "a":
        spec, shape = desc.get("dtype"), desc.get("shape")
        if not isinstance(spec, str) or len(spec) > 16:
            raise ProtocolError(f"bad dtype {spec!r}")
        try:
            dtype = np.dtype(spec)
        except TypeError:
            raise ProtocolError(f"bad dtype {spec!r}") from None
        if dtype.hasobject or dtype.itemsize == 0:
            raise ProtocolError(f"refused dtype {spec!r}")
        if not isinstance(shape, list) or len(shape) > 32 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise ProtocolError(f"bad shape {shape!r}")
        count = 1
        for s in shape:
            count *= s
        if count * dtype.itemsize != n:
            raise ProtocolError(f"shape {shape} of {spec} does not fill {n} bytes")
        view = np.frombuffer(arena.mm, dtype=dtype, count=count, offset=off).reshape(shape)
        return view.copy() if copy else view
    raise ProtocolError(f"unknown buffer kind {kind!r}")


def decode(obj: Any, descs: list[Any], arena: Arena | None, copy: bool = True) -> Any:
    """Undo :func:`encode`, reading buffers from ``arena``; raises :class:`ProtocolError`.

    ``copy=False`` leaves arrays as views of the arena (only for a trusted sender).
    """
    budget = [_MAX_NODES]

    def walk(o: Any, depth: int) -> Any:
        budget[0] -= 1
        if depth > _MAX_DEPTH + 4 or budget[0] < 0:
            raise ProtocolError("message nested too deeply or too large")
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        if isinstance(o, list):
            return [walk(v, depth + 1) for v in o]
        if isinstance(o, dict):
            if len(o) == 1:
                (tag, inner), = o.items()
                if tag in ("$s", "$b", "$a"):
                    if not isinstance(inner, int) or not 0 <= inner < len(descs):
                        raise ProtocolError(f"bad buffer reference {inner!r}")
                    return _buffer(descs[inner], arena, copy)
                if tag == "$t" and isinstance(inner, list):
                    return tuple(walk(v, depth + 1) for v in inner)
                if tag == "$d" and isinstance(inner, list):
                    out = {}
                    for pair in inner:
                        if not isinstance(pair, list) or len(pair) != 2:
                            raise ProtocolError("bad mapping entry")
                        key = walk(pair[0], depth + 1)
                        try:
                            out[key] = walk(pair[1], depth + 1)
                        except TypeError:
                            raise ProtocolError("unhashable mapping key") from None
                    return out
            if any(isinstance(k, str) and k.startswith("$") for k in o):
                raise ProtocolError(f"unknown tag in {sorted(o)[:3]}")
            return {k: walk(v, depth + 1) for k, v in o.items()}
        raise ProtocolError(f"unexpected JSON value {type(o).__name__}")

    return walk(obj, 0)


# -- findings and reports --------------------------------------------------------------------
def finding_to_wire(f: Finding, bufs: list[tuple[dict[str, Any], memoryview]]) -> list[Any]:
    """A finding as a JSON list (detail tagged)."""
    span = [int(f.span[0]), int(f.span[1])] if f.span is not None else None
    score = float(f.score) if f.score is not None else None
    return [f.code, f.message, f.severity.value, f.action.value, f.stage, f.index, span, score,
            encode(dict(f.detail), bufs), bool(f.fatal)]  # fmt: skip


def _opt_int(v: Any) -> int | None:
    if v is None or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    raise ProtocolError(f"expected an integer or null, got {type(v).__name__}")


def finding_from_wire(w: Any, descs: list[Any], arena: Arena | None) -> Finding:
    """Rebuild a finding, checking every field's type."""
    if not isinstance(w, list) or len(w) != 10:
        raise ProtocolError("bad finding")
    code, message, severity, action, stage, index, span, score, detail, fatal = w
    if not all(isinstance(s, str) for s in (code, message, severity, action, stage)):
        raise ProtocolError("bad finding text fields")
    if span is not None:
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(s, int) for s in span)):
            raise ProtocolError("bad span")
        span = (span[0], span[1])
    if score is not None and not isinstance(score, (int, float)):
        raise ProtocolError("bad score")
    detail = decode(detail, descs, arena)
    if not isinstance(detail, dict) or not isinstance(fatal, bool):
        raise ProtocolError("bad detail or fatal flag")
    try:
        return Finding(code, message, severity, action, stage, _opt_int(index), span, score, detail, fatal)
    except ValueError as exc:  # an unknown severity or action
        raise ProtocolError(str(exc)) from None


def report_to_wire(r: Report, bufs: list[tuple[dict[str, Any], memoryview]]) -> dict[str, Any]:
    """A report as JSON (value and details tagged)."""
    return {
        "ok": bool(r.ok),
        "value": encode(r.value, bufs),
        "findings": [finding_to_wire(f, bufs) for f in r.findings],
        "timings": {str(k): float(v) for k, v in r.timings.items()},
        "modality": r.modality,
        "index": r.index,
    }


def report_from_wire(w: Any, descs: list[Any], arena: Arena | None) -> Report:
    """Rebuild a report from a worker's JSON, checking every field."""
    if not isinstance(w, dict) or not isinstance(w.get("ok"), bool):
        raise ProtocolError("bad report")
    findings = w.get("findings")
    timings = w.get("timings")
    modality = w.get("modality")
    if not isinstance(findings, list) or not isinstance(timings, dict):
        raise ProtocolError("bad report findings or timings")
    if modality is not None and not isinstance(modality, str):
        raise ProtocolError("bad modality")
    if not all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in timings.items()):
        raise ProtocolError("bad timings")
    return Report(
        w["ok"],
        decode(w.get("value"), descs, arena),
        tuple(finding_from_wire(f, descs, arena) for f in findings),
        dict(timings),
        modality,
        _opt_int(w.get("index")),
    )


# -- the socket ------------------------------------------------------------------------------
def send(sock: socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one JSON message (with descriptors) on a SOCK_SEQPACKET socket."""
    data = json.dumps(msg, separators=(",", ":"), allow_nan=True).encode("utf-8")
    if len(data) > MAX_HEADER:
        raise Unsupported(f"a message of {len(data)} bytes (the caller should use the arena)")
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def recv(sock: socket.socket, max_fds: int = 2) -> tuple[dict[str, Any], list[int]]:
    """Receive one message; raise EOFError when the peer is gone, ProtocolError on garbage."""
    data, fds, flags, _ = socket.recv_fds(sock, MAX_HEADER + 4096, max_fds)
    if not data and not fds:
        raise EOFError
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise ProtocolError("message truncated")
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError) as exc:
        for fd in fds:
            os.close(fd)
        raise ProtocolError(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        for fd in fds:
            os.close(fd)
        raise ProtocolError("message without an op")
    return msg, list(fds)
