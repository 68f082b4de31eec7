"""The image modality: hostile image bytes in, a safe canonical array (or clean bytes) out.

Pipeline of :func:`default`, in order:

1. :class:`~validators.ImageFormat`: byte budget, real type sniffed against an
   allowlist (JPEG, PNG, GIF, WebP; others opt-in; SVG never), declared type.
2. :class:`~validators.ImageHeader`: header-only limits (pixels, sides, frames,
   bit depth, mode, JPEG scans), truncation, trailing bytes (polyglots).
3. :class:`~encoders.Decode`: bounded decode of the first frame (JPEG
   reduce-on-decode when ``size`` is small).
4. Filters: :class:`~filters.FirstFrame`, :class:`~filters.ApplyOrientation`,
   :class:`~filters.StripMetadata`, :class:`~filters.FlattenAlpha`.
5. ``output="array"``: :class:`~encoders.Resize` + :class:`~encoders.ToArray` +
   :class:`~verifiers.ContentStats` (+ an optional detector such as
   :class:`~verifiers.FeatureSqueezing`); ``output="bytes"``:
   :class:`~encoders.Reencode`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from keras_sanitize._compat import deprecated_positional, warn_deprecated
from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Report
from keras_sanitize.image import encoders, filters, validators, verifiers
from keras_sanitize.image._decode import DEFAULT_FORMATS, DEFAULT_MODES
from keras_sanitize.image._limits import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SIDE,
    Limits,
    check_formats,
    check_size,
)
from keras_sanitize.image._types import ImageUpload
from keras_sanitize.pipeline import Pipeline
from keras_sanitize.stage import Stage, check_choice, resolve_limits

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_MODES",
    "ImageUpload",
    "Limits",
    "default",
    "encoders",
    "filters",
    "stack",
    "validators",
    "verifiers",
]


#: colour modes the deprecated ``default(mode=...)`` spelling may name (Pillow's)
_COLOR_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F", "I;16"})
_PIPELINE_MODES = ("enforce", "monitor")


@deprecated_positional("output")
def default(
    size: Sequence[int] | None = None,
    *,
    output: str = "array",
    color_mode: str = "RGB",
    dtype: str = "float32",
    value_range: Sequence[float] = (0.0, 1.0),
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
    layout: str = "HWC",
    batch: bool = False,
    resample: str = "bilinear",
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    formats: Iterable[str] = DEFAULT_FORMATS,
    max_bytes: int = validators.DEFAULT_MAX_BYTES,
    max_pixels: int = validators.DEFAULT_MAX_PIXELS,
    max_side: int = validators.DEFAULT_MAX_SIDE,
    max_frames: int = validators.DEFAULT_MAX_FRAMES,
    background: Sequence[int] = (255, 255, 255),
    keep_icc: bool = False,
    reencode_format: str = "png",
    detector: Stage | None = None,
    limits: Limits | None = None,
    policy: Mapping[str, str] | None = None,
    mode: str = "enforce",
    for_model: Any = None,
    sandbox: Any = None,
) -> Pipeline:
    """A strict image pipeline: image bytes (or a PIL image / uint8 array) to an array or clean bytes.

    Args:
        size: ``(height, width)`` to resize to (Keras order); ``None`` keeps the
            original size (still capped by ``max_pixels``).
        output: ``"array"`` (what the model takes) or ``"bytes"`` (re-encoded to
            ``reencode_format``; nothing outside the pixels survives).
        color_mode, dtype, value_range, mean, std, layout, batch: see
            :class:`~encoders.ToArray` (its ``mode``).
        resample: resampling filter name (see :data:`encoders.RESAMPLING`).
        crop_to_aspect_ratio, pad_to_aspect_ratio: keep the aspect ratio when
            resizing by centre-cropping, or by padding with ``background``
            (default: stretch, like ``keras.layers.Resizing``).
        formats: allowed MIME types (see :data:`DEFAULT_FORMATS`).
        max_bytes, max_pixels, max_side, max_frames: limits checked before decoding.
        limits: all the limits at once (a :class:`Limits`), instead of the ``max_*``
            keywords.
        background: colour transparency is composited onto (and padding uses).
        keep_icc: keep the ICC colour profile (bytes output only matters).
        detector: a verifier run last on the array (e.g. a calibrated
            :class:`~verifiers.FeatureSqueezing`).
        policy: finding code -> action for the whole pipeline, e.g.
            ``{"image.metadata_markup": "reject"}``.
        mode: ``"enforce"`` or ``"monitor"`` (see :class:`~keras_sanitize.Pipeline`).
            A colour mode here (``mode="L"``) is the deprecated spelling of
            ``color_mode``.
        for_model: a Keras model with one image input: ``size`` (when not
            given), ``color_mode`` (from its channels), ``layout`` and, when the
            model rescales its own input (a ``Rescaling`` layer first, as
            MobileNetV3), ``value_range=(0, 255)`` are taken from it.
        sandbox: run the decoders in sandbox workers: a
            :class:`keras_sanitize.sandbox.Sandbox`, or ``True`` for the default
            one (see ``docs/sandbox.md``); ``None`` runs in-process.

    Example:
        >>> import io, keras_sanitize as ks
        >>> from PIL import Image
        >>> buf = io.BytesIO(); Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "JPEG")
        >>> report = ks.image.default(size=(32, 32)).run(buf.getvalue())
        >>> report.ok, report.value.shape, report.value.dtype
        (True, (32, 32, 3), dtype('float32'))
        >>> ks.image.default().run(buf.getvalue() + b"<script>alert(1)</script>").codes
        ('image.trailing_data',)
    """
    owner = "image.default"
    if mode not in _PIPELINE_MODES and isinstance(mode, str) and mode in _COLOR_MODES:
        warn_deprecated(f"image.default(mode={mode!r}) is a colour mode: use color_mode={mode!r}")
        color_mode, mode = mode, "enforce"
    if for_model is not None:
        size, color_mode, layout, value_range = _from_model(
            for_model, size, color_mode, layout, value_range
        )
    check_choice(owner, "output", output, ("array", "bytes"))
    size_t = check_size(owner, size)
    fmts = check_formats(owner, formats)
    given = {"max_bytes": max_bytes, "max_pixels": max_pixels, "max_side": max_side, "max_frames": max_frames}
    lim: Limits = resolve_limits(owner, limits, DEFAULT_LIMITS, given)
    stages: list[Stage] = [
        validators.ImageFormat(max_bytes=lim.max_bytes, formats=fmts),
        validators.ImageHeader(
            max_pixels=lim.max_pixels,
            max_side=lim.max_side,
            max_frames=lim.max_frames,
            max_scans=lim.max_scans,
            max_chunks=lim.max_chunks,
            formats=fmts,
        ),
        encoders.Decode(
            max_pixels=lim.max_pixels,
            max_side=lim.max_side,
            max_chunks=lim.max_chunks,
            formats=fmts,
            draft=size_t,
        ),
        filters.FirstFrame(),
        filters.ApplyOrientation(),
        filters.StripMetadata(keep_icc=keep_icc),
        filters.FlattenAlpha(background=background),
    ]
    resize = []
    if size_t is not None:
        resize = [
            encoders.Resize(
                size_t,
                resample=resample,
                mode=color_mode,
                crop_to_aspect_ratio=crop_to_aspect_ratio,
                pad_to_aspect_ratio=pad_to_aspect_ratio,
                pad_color=background,
            )
        ]
    if output == "bytes":
        stages.extend(resize)
        stages.append(encoders.Reencode(format=reencode_format))
        if detector is not None:
            raise ConfigError(f"{owner}: a detector needs output='array'. Received: detector={detector!r}")
    else:
        stages.extend(resize)
        to_array = encoders.ToArray(
            mode=color_mode,
            dtype=dtype,
            value_range=value_range,
            mean=mean,
            std=std,
            layout=layout,
            batch=batch,
        )
        stages.append(to_array)
        stages.append(verifiers.ContentStats(value_range=to_array.bounds()))
        if detector is not None:
            if not isinstance(detector, Stage):
                raise ConfigError(f"{owner}: detector must be a Stage. Received: detector={detector!r}")
            stages.append(detector)
    pipe = Pipeline(stages, modality="image", name="image_default", policy=policy, mode=mode)
    return pipe.isolated(sandbox) if sandbox is not None and sandbox is not False else pipe


def _from_model(
    model: Any,
    size: Sequence[int] | None,
    mode: str,
    layout: str,
    value_range: Sequence[float],
) -> tuple[Sequence[int] | None, str, str, Sequence[float]]:
    """``default(for_model=...)``: size, mode, layout and value range from the model's input."""
    from keras_sanitize.image._for_model import model_image_spec

    try:
        inputs = list(model.inputs)
    except Exception:
        inputs = []
    if len(inputs) != 1:
        raise ConfigError(
            f"image.default: for_model must be a built Keras model with one input. Received: "
            f"{type(model).__name__} with {len(inputs)} inputs"
        )
    spec = model_image_spec(inputs[0], model)
    if spec is None or spec.channels not in (1, 3):
        raise ConfigError(
            f"image.default: for_model's input {tuple(inputs[0].shape)} is not an image with 1 or 3 "
            f"channels (HWC or CHW); pass size= and color_mode= instead"
        )
    if size is None and None not in spec.size:
        size = (int(spec.size[0] or 0), int(spec.size[1] or 0))
    want_mode = "L" if spec.channels == 1 else "RGB"
    if mode not in ("RGB", want_mode):
        raise ConfigError(
            f"image.default: color_mode={mode!r} gives {1 if mode == 'L' else 3} channel(s) but "
            f"for_model takes {spec.channels}; drop color_mode= or use color_mode={want_mode!r}"
        )
    if spec.value_range is not None and tuple(float(v) for v in value_range) == (0.0, 1.0):
        value_range = spec.value_range
    return size, want_mode, spec.layout, value_range


def stack(reports: Iterable[Report]) -> tuple[np.ndarray, list[int]]:
    """Stack the arrays of accepted reports into one batch; also return their indices.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> pipe = ks.image.default(size=(8, 8))
        >>> batch, kept = ks.image.stack(pipe.run_batch([np.zeros((9, 9, 3), np.uint8), b"junk"]))
        >>> batch.shape, kept
        ((1, 8, 8, 3), [0])
    """
    arrays, kept = [], []
    for i, r in enumerate(reports):
        if r.ok and isinstance(r.value, np.ndarray):
            arrays.append(r.value)
            kept.append(i)
    if not arrays:
        return np.zeros((0,), np.float32), kept
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ConfigError(
            f"stack needs equal shapes; give default() a size. Received shapes: {sorted(shapes)[:4]}"
        )
    return np.stack(arrays), kept


def __dir__() -> list[str]:
    # the public names, not the helpers imported to build default()
    return sorted(__all__)
