"""What an image model takes, and whether an image pipeline hands it that.

A pipeline and a model can disagree silently: MobileNetV3 rescales its input
itself and wants pixels in 0-255 while ``default()`` gives 0-1; ``color_mode="L"`` on
an RGB model ends in a shape error mid-predict. :func:`model_image_spec` reads a
Keras model's image input once; :func:`mismatches` compares an image pipeline's
output with it (``ks.wrap`` raises a ``ConfigError`` listing them) and
``default(for_model=model)`` derives size and channels from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ImageSpec", "mismatches", "model_image_spec", "pipeline_image_spec"]


@dataclass(frozen=True)
class ImageSpec:
    """One image input: ``(height, width)`` (``None`` = any), channels, layout, dtype, value range."""

    size: tuple[int | None, int | None]
    channels: int | None
    layout: str = "HWC"
    dtype: str = "float32"
    value_range: tuple[float, float] | None = None  # None: not known
    rescales: str = ""  # the layer that rescales the input inside the model, if any


def _first_layer(model: Any) -> Any:
    for layer in getattr(model, "layers", ()) or ():
        if type(layer).__name__ != "InputLayer":
            return layer
    return None


def model_image_spec(tensor: Any, model: Any = None) -> ImageSpec | None:
    """The image spec of one model input (a symbolic tensor of rank 4), or None when not an image."""
    shape = getattr(tensor, "shape", None)
    if shape is None or len(shape) != 4:
        return None
    dims = [None if d is None else int(d) for d in shape[1:]]
    if dims[2] in (1, 3, 4):
        layout, (h, w, c) = "HWC", dims
    elif dims[0] in (1, 3, 4):
        layout, (c, h, w) = "CHW", dims
    else:
        return None
    dtype = str(getattr(tensor, "dtype", "float32"))
    value_range: tuple[float, float] | None = None
    rescales = ""
    first = _first_layer(model) if model is not None else None
    if first is not None and type(first).__name__ == "Rescaling":
        scale = np.asarray(getattr(first, "scale", 1.0), dtype=float)
        offset = np.asarray(getattr(first, "offset", 0.0), dtype=float)
        if scale.size and float(np.max(np.abs(scale))) < 0.1:  # divides by ~127.5 or 255: raw pixels
            value_range = (0.0, 255.0)
            rescales = (
                f"{type(first).__name__}(scale={float(scale.ravel()[0]):.6g}, "
                f"offset={float(offset.ravel()[0]) if offset.size else 0.0:g})"
            )
    return ImageSpec((h, w), c, layout, dtype, value_range, rescales)


def pipeline_image_spec(stage: Any) -> ImageSpec | None:
    """The spec of what an image pipeline outputs, or None when it is not an array image pipeline."""
    from keras_sanitize.image import encoders
    from keras_sanitize.pipeline import Pipeline

    if not isinstance(stage, Pipeline):
        return None
    size: tuple[int | None, int | None] = (None, None)
    to_array = None
    for s in stage.stages:
        if isinstance(s, encoders.Resize) and s.size is not None:
            size = (int(s.size[0]), int(s.size[1]))
        elif isinstance(s, encoders.ToArray):
            to_array = s
    if to_array is None or to_array.batch:
        return None
    channels = 1 if to_array.mode == "L" else 3
    lo, hi = to_array.bounds()
    return ImageSpec(size, channels, to_array.layout, to_array.dtype, (lo, hi))


def _kind(dtype: str) -> str:
    try:
        return np.dtype(dtype).kind
    except TypeError:  # bfloat16 and other names numpy does not know
        return "f" if "float" in dtype else "?"


def mismatches(pipe: ImageSpec, model: ImageSpec) -> list[str]:
    """What to change so that the pipeline's output fits the model's input (empty when it fits)."""
    out: list[str] = []
    if model.layout != pipe.layout:
        out.append(f"the model takes {model.layout} images; the pipeline gives {pipe.layout}: "
                   f"use layout={model.layout!r}")
    if model.channels is not None and pipe.channels != model.channels:
        modes = {1: "color_mode='L'", 3: "color_mode='RGB'"}
        want = modes.get(model.channels, f"{model.channels}-channel images")
        out.append(f"the model takes {model.channels} channel(s); the pipeline gives {pipe.channels}: "
                   f"use {want}")
    if any(d is not None for d in model.size) and pipe.size != model.size:
        fixed = tuple(d for d in model.size)
        if pipe.size == (None, None):
            out.append(f"the model takes {fixed[0]}x{fixed[1]} images; the pipeline keeps each "
                       f"image's own size: use size={fixed}")
        elif any(m is not None and m != p for m, p in zip(model.size, pipe.size)):
            out.append(f"the model takes {fixed[0]}x{fixed[1]} images (height, width); the pipeline "
                       f"resizes to {pipe.size[0]}x{pipe.size[1]}: use size={fixed}")
    if _kind(model.dtype) in "iu" and _kind(pipe.dtype) == "f":
        out.append(f"the model takes {model.dtype} pixels; the pipeline gives {pipe.dtype}: "
                   f"use dtype='uint8', value_range=(0, 255)")
    if model.value_range is not None and pipe.value_range is not None:
        lo, hi = pipe.value_range
        if hi <= 1.5 and model.value_range[1] > 1.5:
            out.append(f"the model rescales its input itself ({model.rescales} first), so it takes "
                       f"pixels in 0-255; the pipeline gives values in [{lo:g}, {hi:g}]: use "
                       f"value_range=(0, 255)")
    return out
