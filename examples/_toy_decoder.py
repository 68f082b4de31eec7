"""A deliberately buggy decoder, standing in for a codec with a memory-safety bug.

The "TOY1" format is four magic bytes, a width and a height (uint16, big-endian),
then width*height grey pixels. Like many real decoders, this one trusts the
header: when it declares more pixels than the file holds, it reads through a
pointer it never checked -- here a NULL one, so the process dies with SIGSEGV.
In-process that would take the server down; in a sandbox worker it is one
refused report. It lives in its own module so that sandbox workers can import it.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import numpy as np

import keras_sanitize as ks


@ks.register_stage("examples")
class ToyDecode(ks.Encoder):
    """Decode TOY1 bytes into a float32 (height, width) array in [0, 1]."""

    def process(self, value: Any, ctx: ks.Context) -> Any:
        data = bytes(value)
        if data[:4] != b"TOY1" or len(data) < 8:
            ctx.add("image.format_not_allowed", f"not a TOY1 file; received {ks.findings.echo(data[:8])}",
                    fatal=True)  # fmt: skip
            return None
        width, height = struct.unpack(">HH", data[4:8])
        pixels = data[8:]
        if len(pixels) < width * height:
            ctypes.string_at(0)  # the bug: reads pixels through an unchecked (NULL) pointer
        grey = np.frombuffer(pixels[: width * height], np.uint8).reshape(height, width)
        return grey.astype(np.float32) / 255.0


def toy(width: int, height: int, missing: int = 0) -> bytes:
    """A TOY1 file; ``missing`` pixels short of what its header declares."""
    return b"TOY1" + struct.pack(">HH", width, height) + b"\x80" * (width * height - missing)
