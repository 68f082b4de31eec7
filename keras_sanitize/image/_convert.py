"""Helpers shared by the image stages: type checks and mode conversion."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from keras_sanitize.findings import echo
from keras_sanitize.stage import Context

_SIXTEEN_BIT = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


def need_image(ctx: Context, value: Any, stage: str) -> Image.Image:
    """Return ``value`` if it is a PIL image, else halt with a message naming the fix."""
    if not isinstance(value, Image.Image):
        ctx.halt(
            "image.not_decoded",
            f"{stage} needs a decoded PIL image; received {echo(value)}. Put a Decode encoder before it.",
        )
    return value


def to_mode(im: Image.Image, mode: str) -> Image.Image:
    """Convert ``im`` to ``"RGB"`` or ``"L"`` (16-bit and float images scaled, alpha dropped)."""
    if im.mode == mode:
        return im
    if im.mode in _SIXTEEN_BIT or im.mode == "F":
        arr = np.asarray(im)
        if im.mode == "F":
            arr8 = np.clip(np.nan_to_num(arr, nan=0.0), 0, 255).astype(np.uint8)
        else:
            wide = arr.astype(np.int64)
            # 16-bit data scaled to 8 bits; 32-bit "I" data that fits in 8 bits kept as is.
            arr8 = (
                np.clip(wide, 0, 65535) >> 8 if wide.max(initial=0) > 255 else np.clip(wide, 0, 255)
            ).astype(np.uint8)
        im = Image.fromarray(arr8)
        return im if mode == "L" else im.convert(mode)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return im.convert(mode)
