"""Stages that misbehave on purpose, for the sandbox tests (importable by sandbox workers).

Registered under the ``ks_faults`` package so that a pipeline holding them
serializes, and a worker rebuilds it from its config after importing this module.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import zlib
from typing import Any

import keras_sanitize as ks


@ks.register_stage("ks_faults")
class Segfault(ks.Filter):
    """Dereference NULL (SIGSEGV) on inputs starting with ``prefix`` (every input by default)."""

    def __init__(self, prefix: str = "", **kw: Any) -> None:
        super().__init__(**kw)
        self.prefix = prefix

    def process(self, value: Any, ctx: ks.Context) -> Any:
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if text.startswith(self.prefix):
            ctypes.string_at(0)
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"prefix": self.prefix})
        return config


@ks.register_stage("ks_faults")
class BusyLoop(ks.Filter):
    """``while True: pass``."""

    def process(self, value: Any, ctx: ks.Context) -> Any:
        while True:
            pass


@ks.register_stage("ks_faults")
class Connect(ks.Filter):
    """Connect to ``127.0.0.1:port`` and send the input."""

    def __init__(self, port: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.port = port

    def process(self, value: Any, ctx: ks.Context) -> Any:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"leak")
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"port": self.port})
        return config


@ks.register_stage("ks_faults")
class WriteFile(ks.Filter):
    """Write the input to ``path``."""

    def __init__(self, path: str = "", **kw: Any) -> None:
        super().__init__(**kw)
        self.path = path

    def process(self, value: Any, ctx: ks.Context) -> Any:
        with open(self.path, "wb") as f:
            f.write(b"escaped")
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"path": self.path})
        return config


@ks.register_stage("ks_faults")
class Shell(ks.Filter):
    """Run ``/bin/sh -c 'touch marker'``: through subprocess (fork+exec) or os.execv (exec only)."""

    def __init__(self, marker: str = "", how: str = "subprocess", **kw: Any) -> None:
        super().__init__(**kw)
        self.marker = marker
        self.how = how

    def process(self, value: Any, ctx: ks.Context) -> Any:
        if self.how == "execv":
            os.execv("/bin/sh", ["/bin/sh", "-c", f"touch {self.marker}"])
        import subprocess

        subprocess.run(["/bin/sh", "-c", f"touch {self.marker}"], check=True, timeout=5)
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"marker": self.marker, "how": self.how})
        return config


def huge_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid all-black RGB PNG of ``width`` x ``height``, built without compressing gigabytes.

    Rows are identical and independent after a full flush, so one compressed block of
    rows is repeated; the Adler-32 of all-zero data is a closed formula.
    """
    row = b"\x00" * (1 + 3 * width)  # filter byte + pixels
    per = 64
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(row * per) + comp.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(height, per)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(row * rest) + tail.flush(zlib.Z_FINISH) if rest else b"\x03\x00"
    total = len(row) * height
    adler = ((total % 65521) << 16) | 1
    data = b"\x78\xda" + block * full + last + struct.pack(">I", adler)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@ks.register_stage("ks_faults")
class UncheckedDecode(ks.Encoder):
    """Decode with Pillow with every check off (``Image.MAX_IMAGE_PIXELS = None``)."""

    def process(self, value: Any, ctx: ks.Context) -> Any:
        import io

        import numpy as np
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None
        with Image.open(io.BytesIO(value)) as im:
            im.load()
            return np.asarray(im)


@ks.register_stage("ks_faults")
class Probe(ks.Filter):
    """Return what the worker sees: environment, working directory, limits, uid map."""

    def process(self, value: Any, ctx: ks.Context) -> Any:
        import resource
        import tempfile

        def read(path: str) -> str:
            try:
                with open(path) as f:
                    return f.read()
            except OSError as exc:
                return f"error: {exc}"

        return {
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "tmp": tempfile.gettempdir(),
            "fsize": list(resource.getrlimit(resource.RLIMIT_FSIZE)),
            "core": list(resource.getrlimit(resource.RLIMIT_CORE)),
            "as": list(resource.getrlimit(resource.RLIMIT_AS)),
            "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            "status": read("/proc/self/status"),
            "passwd": read("/etc/passwd"),
        }
