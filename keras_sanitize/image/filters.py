"""Image filters on decoded PIL images: each removes something and says what.

* :class:`FirstFrame`: keep the first frame of an animation.
* :class:`ApplyOrientation`: apply the EXIF orientation to the pixels, drop the tag.
* :class:`StripMetadata`: drop EXIF (incl. GPS), XMP, text chunks, comments and
  (optionally) the ICC profile; markup or script found in them is reported
  (default action *sanitize*: the pixels are innocent and go on).
* :class:`FlattenAlpha`: composite transparency onto a background colour, so no
  content can hide in fully transparent pixels.

All are idempotent and never modify the image they are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageOps

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.image._convert import need_image
from keras_sanitize.image._decode import describe_outcome, guarded
from keras_sanitize.image._limits import check_color, image_stage
from keras_sanitize.image._markup import MARKUP_PATTERN, SCAN_LIMIT, find_markup
from keras_sanitize.stage import Context, Filter

__all__ = ["MARKUP_PATTERN", "ApplyOrientation", "FirstFrame", "FlattenAlpha", "StripMetadata"]

# Info keys that describe the pixels themselves and survive stripping.
_PIXEL_KEYS = frozenset({"transparency"})
# Info keys that are mere decoding facts; dropped without a finding.
_QUIET_KEYS = frozenset(
    {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progression", "progressive", "adobe",
     "adobe_transform", "gamma", "aspect", "duration", "loop", "background", "version", "interlace",
     "compression", "srgb", "chromaticity", "disposal", "default_image", "mp", "mpoffset", "mpentry",
     "bbox", "blend", "timestamp", "lossless", "extension", "mode", "dqt", "ycbcr_subsampling"}
)  # fmt: skip
#: metadata bytes scanned for markup per image; the rest is stripped without a scan.
SCAN_BUDGET = 8 << 20
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112


def _text_of(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value[:SCAN_LIMIT]
    if isinstance(value, str):
        return value[:SCAN_LIMIT].encode("utf-8", "replace")
    if isinstance(value, (tuple, list)):
        return b"\n".join(_text_of(v) for v in value[:64])
    return str(value)[:SCAN_LIMIT].encode("utf-8", "replace")


@image_stage
class FirstFrame(Filter):
    """Keep only the first frame of an animated image (GIF, APNG, WebP, MPO).

    Example:
        >>> from PIL import Image
        >>> im = Image.new("L", (2, 2))
        >>> FirstFrame()(im) is im
        True
    """

    modality = "image"

    def process(self, value: Any, ctx: Context) -> Any:
        im = need_image(ctx, value, self.name)
        with guarded() as outcome:
            animated = bool(getattr(im, "is_animated", False))
            # Pillow counts GIF frames by walking them all; other formats declare the count.
            frames = None if not animated or im.format == "GIF" else int(getattr(im, "n_frames", 1))
        if outcome.error is not None or not animated:
            return im
        with guarded() as outcome:
            if im.tell() != 0:
                im.seek(0)
            out = im.copy()
        if outcome.error is not None:
            code, reason = describe_outcome(outcome)
            ctx.halt(code, f"the first frame could not be read: {echo(reason, 160)}")
        ctx.add(
            "image.animation_dropped",
            f"kept frame 1 of {frames or 'several'}; the model takes one still image",
            severity=Severity.INFO,
            action=Action.SANITIZE,
            detail={"frames": frames},
        )
        return out


@image_stage
class ApplyOrientation(Filter):
    """Rotate/flip the pixels as the EXIF orientation tag says, then drop the tag.

    Example:
        >>> from PIL import Image
        >>> im = Image.new("RGB", (4, 2))
        >>> exif = im.getexif(); exif[0x0112] = 6
        >>> im.info["exif"] = exif.tobytes()
        >>> ApplyOrientation()(im).size
        (2, 4)
    """

    modality = "image"

    def process(self, value: Any, ctx: Context) -> Any:
        im = need_image(ctx, value, self.name)
        with guarded() as outcome:
            orientation = im.getexif().get(_ORIENTATION)
        if outcome.error is not None or orientation in (None, 1):
            return im
        if not isinstance(orientation, int) or not 2 <= orientation <= 8:
            ctx.add(
                "image.orientation_invalid",
                f"EXIF orientation must be 1-8; received {echo(orientation)}; it was ignored",
                severity=Severity.LOW,
                action=Action.WARN,
            )
            return im
        with guarded() as outcome:
            out = ImageOps.exif_transpose(im)
        if outcome.error is not None or out is None:
            return im
        ctx.add(
            "image.orientation_applied",
            f"applied EXIF orientation {orientation} to the pixels and dropped the tag",
            severity=Severity.INFO,
            action=Action.SANITIZE,
            detail={"orientation": orientation},
        )
        return out


@image_stage
class StripMetadata(Filter):
    """Drop all metadata; report markup or script found in it, and GPS positions.

    Looks at EXIF (incl. the GPS IFD), XMP, PNG text chunks, JPEG/GIF comments,
    JPEG APPn segments (Photoshop/IPTC...) and the ICC profile (kept when
    ``keep_icc=True``). Findings: ``image.metadata_markup`` (high; default
    action sanitize, set the policy to ``reject`` to refuse such files),
    ``image.metadata_gps`` (a privacy leak, stripped) and ``image.metadata_stripped``.
    Only ``transparency`` (pixel semantics) survives.

    Example:
        >>> from PIL import Image
        >>> im = Image.new("RGB", (2, 2)); im.info["comment"] = b"<script>alert(1)</script>"
        >>> StripMetadata().run(im).codes
        ('image.metadata_markup', 'image.metadata_stripped')
    """

    modality = "image"

    def __init__(self, keep_icc: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(keep_icc, bool):
            raise ConfigError(f"StripMetadata: keep_icc must be a bool. Received: keep_icc={keep_icc!r}")
        self.keep_icc = keep_icc

    def _fields(self, im: Image.Image) -> dict[str, bytes]:
        fields: dict[str, bytes] = {}
        for key, val in im.info.items():
            if key in _PIXEL_KEYS or key in _QUIET_KEYS:
                continue
            fields[str(key)[:64]] = _text_of(val)
        for marker, segment in getattr(im, "applist", [])[:64]:
            if marker in ("APP0", "APP2", "APP14") or marker.startswith("SOF"):
                continue  # JFIF, ICC/MPF, Adobe: structural
            fields.setdefault(f"jpeg {marker}", b"")
            fields[f"jpeg {marker}"] += _text_of(segment)
        return fields

    def process(self, value: Any, ctx: Context) -> Any:
        im = need_image(ctx, value, self.name)
        with guarded() as outcome:
            fields = self._fields(im)
            exif = im.getexif() if "exif" in im.info else None
            gps = dict(exif.get_ifd(_GPS_IFD)) if exif is not None else {}
        if outcome.error is not None:
            fields.setdefault("exif", b"")
            gps = {}
        kept = _PIXEL_KEYS | ({"icc_profile"} if self.keep_icc else set())
        stripped = sorted(k for k in fields if k not in kept)
        hits = {}
        budget = SCAN_BUDGET
        for key, data in fields.items():
            if budget <= 0:
                break  # the rest is stripped unscanned: a flood of metadata is itself suspect
            budget -= len(data)
            snippet = find_markup(data)
            if snippet is not None:
                hits[key] = snippet
        if hits:
            first = next(iter(hits.values()))
            ctx.add(
                "image.metadata_markup",
                f"metadata carries markup or script ({echo(first)}) in {len(hits)} field(s) "
                f"{', '.join(echo(k, 40) for k in list(hits)[:6])}; the metadata was stripped and the "
                f"pixels went on",
                severity=Severity.HIGH,
                action=Action.SANITIZE,
                detail={"fields": {k: echo(v, 40) for k, v in list(hits.items())[:64]}},
            )
        if gps:
            ctx.add(
                "image.metadata_gps",
                f"EXIF carries a GPS position ({len(gps)} GPS tags): a privacy leak; it was stripped",
                severity=Severity.MEDIUM,
                action=Action.SANITIZE,
                detail={"gps_tags": len(gps)},
            )
        if stripped:
            ctx.add(
                "image.metadata_stripped",
                f"stripped metadata: {', '.join(echo(k, 40) for k in stripped[:12])}",
                severity=Severity.INFO,
                action=Action.SANITIZE,
                detail={"fields": stripped[:64]},
            )
        if not stripped and set(im.info) <= kept:
            return im
        keep: dict[str | tuple[int, int], Any] = {k: v for k, v in im.info.items() if k in kept}
        with guarded() as outcome:
            im.load()
            out = im._new(im.im)
        if outcome.error is not None:
            code, reason = describe_outcome(outcome)
            ctx.halt(code, f"the image could not be copied: {echo(reason, 160)}")
        out.info = keep
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["keep_icc"] = self.keep_icc
        return config


@image_stage
class FlattenAlpha(Filter):
    """Composite transparency onto ``background`` (RGB); the result has no alpha.

    Fully transparent pixels can carry content a person never sees but a model
    does; after flattening every pixel is what a viewer would show on that
    background. Partially transparent images are reported.

    Example:
        >>> from PIL import Image
        >>> out = FlattenAlpha(background=(0, 0, 255))(Image.new("RGBA", (1, 1), (255, 0, 0, 0)))
        >>> out.mode, out.getpixel((0, 0))
        ('RGB', (0, 0, 255))
    """

    modality = "image"

    def __init__(self, background: Sequence[int] = (255, 255, 255), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.background = check_color(type(self).__name__, "background", background)

    def process(self, value: Any, ctx: Context) -> Any:
        im = need_image(ctx, value, self.name)
        has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
        if not has_alpha:
            return im
        with guarded() as outcome:
            rgba = im.convert("RGBA")
            alpha = rgba.getchannel("A")
            extrema = alpha.getextrema()
            first: Any = extrema[0] if isinstance(extrema, tuple) else extrema
            lo = int(first)
            if lo < 255:
                base = Image.new("RGB", rgba.size, self.background)
                base.paste(rgba, mask=alpha)
                out = base
            else:
                out = rgba.convert("RGB")
            transparent = alpha.histogram()[0] if lo < 255 else 0
        if outcome.error is not None:
            code, reason = describe_outcome(outcome)
            ctx.halt(code, f"the alpha channel could not be flattened: {echo(reason, 160)}")
        if lo < 255:
            ctx.add(
                "image.alpha_flattened",
                f"composited transparency onto background {self.background}; {transparent} pixels were "
                f"fully transparent",
                severity=Severity.INFO,
                action=Action.SANITIZE,
                detail={"transparent_pixels": int(transparent)},
            )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["background"] = list(self.background)
        return config
