"""Image encoders: decode under limits, then to exactly what the model takes.

* :class:`Decode`: bytes / ImageUpload / PIL image / uint8 array -> a loaded PIL
  image, with the pixel cap checked from the header first and JPEG
  reduce-on-decode (Pillow's ``draft``) when a target size is known.
* :class:`Resize`, :class:`ToArray` (mode, dtype, value range, mean/std,
  HWC/CHW, batch axis): PIL image -> numpy array.
* :class:`Reencode`: PIL image -> clean bytes in a canonical format (only the
  pixels survive).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Severity, echo
from keras_sanitize.image import _header
from keras_sanitize.image._convert import need_image, to_mode
from keras_sanitize.image._decode import (
    DEFAULT_FORMATS,
    DEFAULT_MODES,
    as_bytes,
    describe_outcome,
    guarded,
    mp,
    open_lazy,
    report_warnings,
    sniffed_mime,
)
from keras_sanitize.image._limits import (
    DEFAULT_MAX_CHUNKS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SIDE,
    check_color,
    check_floats,
    check_formats,
    check_modes,
    check_size,
    image_stage,
)
from keras_sanitize.image._markup import find_markup
from keras_sanitize.image.validators import too_many_chunks
from keras_sanitize.stage import Context, Encoder, check_choice, check_number

__all__ = ["RESAMPLING", "Decode", "Reencode", "Resize", "ToArray"]

#: resampling filter names -> Pillow filters.
RESAMPLING = MappingProxyType({
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
})


@image_stage
class Decode(Encoder):
    """Decode image bytes (or take a PIL image / uint8 array) into a loaded PIL image.

    The size is read from the header and checked against ``max_pixels`` and
    ``max_side`` before any pixel is decoded; only the Pillow plugin matching the
    sniffed type may parse the bytes; a truncated or corrupt file is refused, not
    half-loaded; decoder warnings become findings. With ``draft=(height, width)``
    a large JPEG is decoded at a reduced scale that still covers that size.
    Only the first frame of an animation is decoded.

    Example:
        >>> import numpy as np
        >>> Decode()(np.zeros((4, 6, 3), np.uint8)).size
        (6, 4)
    """

    modality = "image"

    def __init__(
        self,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_side: int = DEFAULT_MAX_SIDE,
        modes: Iterable[str] = DEFAULT_MODES,
        formats: Iterable[str] = DEFAULT_FORMATS,
        draft: Sequence[int] | None = None,
        max_chunks: int = DEFAULT_MAX_CHUNKS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.max_chunks = check_number(owner, "max_chunks", max_chunks, minimum=1, integer=True)
        self.max_pixels = check_number(owner, "max_pixels", max_pixels, minimum=1, integer=True)
        self.max_side = check_number(owner, "max_side", max_side, minimum=1, integer=True)
        self.modes = check_modes(owner, modes)
        self.formats = check_formats(owner, formats)
        self.draft = check_size(owner, draft)

    def _check_size(self, w: int, h: int, ctx: Context) -> None:
        if w <= 0 or h <= 0 or w * h > self.max_pixels or max(w, h) > self.max_side:
            code = "image.zero_size" if w <= 0 or h <= 0 else "image.too_many_pixels"
            ctx.halt(
                code,
                f"image declares {w}x{h} = {mp(max(w, 0) * max(h, 0))}; limit is {mp(self.max_pixels)} "
                f"(max_pixels) and {self.max_side} per side (max_side); sides must be >= 1",
                detail={"width": w, "height": h},
            )

    def process(self, value: Any, ctx: Context) -> Any:
        if isinstance(value, np.ndarray):
            return self._from_array(value, ctx)
        if isinstance(value, Image.Image):
            self._check_size(*value.size, ctx)
            if value.mode not in self.modes:
                ctx.halt(
                    "image.mode_not_allowed", f"the image mode is {value.mode}; allowed: {list(self.modes)}"
                )
            return self._load(value, ctx)
        data = as_bytes(value)
        if data is None:
            ctx.halt(
                "image.not_image",
                f"image bytes, an ImageUpload, a PIL image or a uint8 array is required; received "
                f"{echo(value)}",
            )
        mime = sniffed_mime(ctx, data)
        if mime not in self.formats:
            ctx.halt(
                "image.format_not_allowed",
                f"the bytes are {mime}; allowed: {list(self.formats)} (formats)",
                detail={"mime": mime},
            )
        # The structure Pillow walks in Python (PNG chunks, JPEG segments up to the first
        # scan, GIF blocks): refuse a flood of them before Pillow loops over it.
        info = _header.walk(data, mime, max_chunks=self.max_chunks, quick=True)
        if info is not None and info.too_many_chunks:
            too_many_chunks(ctx, info, self.max_chunks)
        if info is not None and info.width is not None and info.height is not None:
            self._check_size(info.width, info.height, ctx)
        with guarded() as outcome:
            im = open_lazy(data, mime)
        if outcome.error is not None:
            code, reason = describe_outcome(outcome)
            ctx.halt(code, f"the image header could not be read: {echo(reason, 160)}")
        report_warnings(ctx, outcome, im.size[0] * im.size[1], self.max_pixels)
        self._check_size(*im.size, ctx)
        if im.mode not in self.modes:
            ctx.halt(
                "image.mode_not_allowed", f"the image mode is {im.mode}; allowed: {list(self.modes)} (modes)"
            )
        if self.draft is not None and im.format == "JPEG":
            side = max(self.draft)  # square request: the result covers the target in either orientation
            with guarded() as outcome:
                im.draft(None, (side, side))
        return self._load(im, ctx)

    def _load(self, im: Image.Image, ctx: Context) -> Image.Image:
        with guarded() as outcome:
            im.load()
        if outcome.error is not None:
            code, reason = describe_outcome(outcome)
            ctx.halt(code, f"the image could not be decoded: {echo(reason, 160)}; it was refused whole")
        report_warnings(ctx, outcome, im.size[0] * im.size[1], self.max_pixels)
        return im

    def _from_array(self, arr: np.ndarray, ctx: Context) -> Image.Image:
        ok_shape = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
        if arr.dtype != np.uint8 or not ok_shape:
            ctx.halt(
                "image.not_image",
                f"an image array must be uint8 of shape (H, W) or (H, W, 1|3|4); received "
                f"shape={arr.shape} dtype={arr.dtype}",
            )
        self._check_size(arr.shape[1], arr.shape[0], ctx)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return Image.fromarray(np.ascontiguousarray(arr))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            max_pixels=self.max_pixels,
            max_side=self.max_side,
            modes=list(self.modes),
            formats=list(self.formats),
            draft=list(self.draft) if self.draft else None,
            max_chunks=self.max_chunks,
        )
        return config


@image_stage
class Resize(Encoder):
    """Resize to ``size=(height, width)`` with a named resampling filter (Keras order).

    Palette, 1-bit, 16-bit and CMYK images are first converted to ``mode``, so
    that the filter interpolates colours rather than palette indices. Like
    ``keras.layers.Resizing``, the image is stretched by default;
    ``crop_to_aspect_ratio`` takes the largest centred box of the target aspect
    ratio first, ``pad_to_aspect_ratio`` pads with ``pad_color`` instead.

    Example:
        >>> from PIL import Image
        >>> Resize((2, 3))(Image.new("RGB", (10, 10))).size
        (3, 2)
        >>> pad = Resize((4, 4), pad_to_aspect_ratio=True, pad_color=(0, 0, 0))
        >>> pad(Image.new("RGB", (8, 4), "white")).getpixel((0, 0))
        (0, 0, 0)
    """

    modality = "image"

    def __init__(
        self,
        size: Sequence[int] = (224, 224),
        resample: str = "bilinear",
        mode: str = "RGB",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        pad_color: Sequence[int] = (0, 0, 0),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.size = check_size(owner, size, allow_none=False)
        self.resample = check_choice(owner, "resample", resample, RESAMPLING)
        self.mode = check_choice(owner, "mode", mode, ("RGB", "L"))
        for name, flag in (
            ("crop_to_aspect_ratio", crop_to_aspect_ratio),
            ("pad_to_aspect_ratio", pad_to_aspect_ratio),
        ):
            if not isinstance(flag, bool):
                raise ConfigError(f"{owner}: {name} must be a bool. Received: {name}={flag!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ConfigError(f"{owner}: set at most one of crop_to_aspect_ratio and pad_to_aspect_ratio")
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.pad_color = check_color(owner, "pad_color", pad_color)

    def process(self, value: Any, ctx: Context) -> Any:
        im = to_mode(need_image(ctx, value, self.name), self.mode)
        assert self.size is not None
        th, tw = self.size
        w, h = im.size
        if (w, h) == (tw, th):
            return im
        if self.crop_to_aspect_ratio:
            cw, ch = min(w, h * tw / th), min(h, w * th / tw)
            box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
            return im.resize((tw, th), RESAMPLING[self.resample], box=box)
        if self.pad_to_aspect_ratio:
            scale = min(tw / w, th / h)
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            color: Any = self.pad_color if self.mode == "RGB" else round(sum(self.pad_color) / 3)
            canvas = Image.new(self.mode, (tw, th), color)
            canvas.paste(im.resize((nw, nh), RESAMPLING[self.resample]), ((tw - nw) // 2, (th - nh) // 2))
            return canvas
        return im.resize((tw, th), RESAMPLING[self.resample])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        assert self.size is not None
        config.update(
            size=list(self.size),
            resample=self.resample,
            mode=self.mode,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            pad_color=list(self.pad_color),
        )
        return config


@image_stage
class ToArray(Encoder):
    """Turn a PIL image into the model's array: mode, dtype, value range, mean/std, layout.

    Pixels in ``[0, 255]`` map linearly onto ``value_range`` (``(0, 1)``,
    ``(-1, 1)``, ``(0, 255)``...), then ``(x - mean) / std`` per channel when given.
    ``layout`` is ``"HWC"`` (Keras's channels_last) or ``"CHW"``; ``batch=True``
    adds a leading axis of 1. Grayscale keeps a channel axis of 1.

    Example:
        >>> from PIL import Image
        >>> arr = ToArray(value_range=(-1, 1), layout="CHW")(Image.new("RGB", (4, 2), (255, 0, 0)))
        >>> arr.shape, arr.dtype, float(arr[0, 0, 0]), float(arr[1, 0, 0])
        ((3, 2, 4), dtype('float32'), 1.0, -1.0)
    """

    modality = "image"

    def __init__(
        self,
        mode: str = "RGB",
        dtype: str = "float32",
        value_range: Sequence[float] = (0.0, 1.0),
        mean: Sequence[float] | float | None = None,
        std: Sequence[float] | float | None = None,
        layout: str = "HWC",
        batch: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.mode = check_choice(owner, "mode", mode, ("RGB", "L"))
        self.dtype = check_choice(owner, "dtype", dtype, ("float32", "float16", "float64", "uint8"))
        rng = check_floats(owner, "value_range", value_range, 2)
        if rng is None or len(rng) != 2 or not rng[0] < rng[1]:
            raise ConfigError(
                f"{owner}: value_range must be (low, high) with low < high. Received: {value_range!r}"
            )
        self.value_range: tuple[float, float] = (rng[0], rng[1])
        self.mean = check_floats(owner, "mean", mean)
        self.std = check_floats(owner, "std", std)
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ConfigError(f"{owner}: std must be > 0. Received: std={std!r}")
        self.layout = check_choice(owner, "layout", layout, ("HWC", "CHW"))
        if not isinstance(batch, bool):
            raise ConfigError(f"{owner}: batch must be a bool. Received: batch={batch!r}")
        self.batch = batch
        if self.dtype == "uint8" and (self.value_range != (0.0, 255.0) or self.mean or self.std):
            raise ConfigError(f"{owner}: dtype='uint8' needs value_range=(0, 255) and no mean/std")

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value the output can hold (for range checks)."""
        lo, hi = self.value_range
        if not self.mean and not self.std:
            return lo, hi
        means = self.mean or (0.0,)
        stds = self.std or (1.0,)
        cands = [(v - m) / s for v in (lo, hi) for m in means for s in stds]
        return min(cands), max(cands)

    def process(self, value: Any, ctx: Context) -> Any:
        im = to_mode(need_image(ctx, value, self.name), self.mode)
        arr: np.ndarray = np.asarray(im)
        out: np.ndarray
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if self.dtype == "uint8":
            out = np.array(arr, dtype=np.uint8)
        else:
            lo, hi = self.value_range
            work = np.float64 if self.dtype == "float64" else np.float32
            out = arr.astype(work)
            scale = (hi - lo) / 255.0
            if scale != 1.0:
                out *= scale
            if lo:
                out += lo
            channels = out.shape[2]
            for name, vals in (("mean", self.mean), ("std", self.std)):
                if vals is not None and len(vals) not in (1, channels):
                    ctx.halt(
                        "image.config_mismatch",
                        f"{name} has {len(vals)} values but the image has {channels} channels; give 1 "
                        f"or {channels} values",
                    )
            if self.mean:
                out -= np.asarray(self.mean, work)
            if self.std:
                out /= np.asarray(self.std, work)
            if out.dtype != np.dtype(self.dtype):
                out = out.astype(self.dtype)
        if self.layout == "CHW":
            out = np.ascontiguousarray(out.transpose(2, 0, 1))
        if self.batch:
            out = out[None]
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            mode=self.mode,
            dtype=self.dtype,
            value_range=list(self.value_range),
            mean=list(self.mean) if self.mean else None,
            std=list(self.std) if self.std else None,
            layout=self.layout,
            batch=self.batch,
        )
        return config


_REENCODE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@image_stage
class Reencode(Encoder):
    """Re-encode a PIL image from its raw pixels into ``format``: only the pixels survive.

    The pixels are copied into a fresh image (no info, no EXIF, no palette
    tricks, no trailing bytes), which is then saved with no metadata.

    Example:
        >>> from PIL import Image
        >>> Reencode()(Image.new("RGB", (2, 2)))[:8]
        b'\\x89PNG\\r\\n\\x1a\\n'
    """

    modality = "image"

    def __init__(
        self, format: str = "png", quality: int = 90, compress_level: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.format = check_choice(owner, "format", format, _REENCODE_FORMATS)
        self.quality = check_number(owner, "quality", quality, minimum=1, maximum=100, integer=True)
        # zlib level 1 is ~4x faster than Pillow's default 6 for a few % more bytes.
        self.compress_level = check_number(
            owner, "compress_level", compress_level, minimum=0, maximum=9, integer=True
        )

    def process(self, value: Any, ctx: Context) -> Any:
        im = need_image(ctx, value, self.name)
        alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") and self.format != "jpeg"
        gray = im.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")
        target = ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")
        if alpha and im.mode != target:
            im = im.convert(target)
        elif not alpha:
            im = to_mode(im, target)
        clean = Image.frombytes(target, im.size, im.tobytes())
        buf = io.BytesIO()
        options: dict[str, Any] = (
            {"compress_level": self.compress_level} if self.format == "png" else {"quality": self.quality}
        )
        icc = im.info.get("icc_profile")
        if isinstance(icc, bytes) and icc:
            options["icc_profile"] = icc  # only present when StripMetadata(keep_icc=True) kept it
        with guarded() as outcome:
            clean.save(buf, _REENCODE_FORMATS[self.format], **options)
        if outcome.error is not None:
            _, reason = describe_outcome(outcome)
            ctx.halt("image.encode_failed", f"re-encoding to {self.format} failed: {echo(reason, 160)}")
        out = buf.getvalue()
        # Payloads crafted to survive one encoder's compression (the "resize bypass"
        # PNGs) rarely survive another's; check that this output carries none.
        snippet = find_markup(out, decode=False)
        if snippet is not None:
            ctx.add(
                "image.output_markup",
                f"the re-encoded {self.format} bytes still contain markup ({echo(snippet)}): the pixels "
                f"were crafted to compress into a payload; use output='array' or another format",
                severity=Severity.HIGH,
            )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(format=self.format, quality=self.quality, compress_level=self.compress_level)
        return config
