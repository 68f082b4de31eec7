"""Image validators: real type, byte budget and header limits, all before decoding.

* :class:`ImageFormat` sniffs the real type (signatures, then libmagic) against
  an allowlist and compares it with the declared filename / content type.
* :class:`ImageHeader` walks the container structure and opens the header
  lazily: size, pixel count, frames, bit depth, mode, JPEG scans, truncation,
  and trailing bytes after the end marker (polyglots). It never decodes pixels.

Both pass PIL images and numpy arrays through untouched (there are no bytes
to check; :class:`~keras_sanitize.image.encoders.Decode` checks their size).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from PIL import Image

from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.image import _header
from keras_sanitize.image._decode import (
    DEFAULT_FORMATS,
    DEFAULT_MODES,
    REFUSED_FORMATS,
    as_bytes,
    describe_outcome,
    guarded,
    mp,
    normalize_mime,
    open_lazy,
    report_warnings,
    sniffed_mime,
)
from keras_sanitize.image._limits import (
    DEFAULT_BIT_DEPTHS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CHUNKS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SCANS,
    DEFAULT_MAX_SIDE,
    check_formats,
    check_modes,
    image_stage,
)
from keras_sanitize.sniff import LibmagicMissing, sniff_mime
from keras_sanitize.stage import Context, Validator, check_number
from keras_sanitize.upload import Upload

__all__ = [
    "DEFAULT_BIT_DEPTHS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CHUNKS",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SCANS",
    "DEFAULT_MAX_SIDE",
    "ImageFormat",
    "ImageHeader",
]

_EXTENSIONS = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "jfif": "image/jpeg",
    "png": "image/png", "apng": "image/png", "gif": "image/gif", "webp": "image/webp",
    "bmp": "image/bmp", "dib": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
    "avif": "image/avif", "ico": "image/vnd.microsoft.icon", "tga": "image/x-tga",
    "pbm": "image/x-portable-bitmap", "pgm": "image/x-portable-graymap",
    "ppm": "image/x-portable-pixmap", "pnm": "image/x-portable-anymap",
}  # fmt: skip
# Extensions a web server may execute or render; in any position of a filename
# ("shell.php.jpg") they are the classic upload-filter bypass.
_ACTIVE_EXTENSIONS = frozenset(
    {
        "php", "php3", "php4", "php5", "php7", "phtml", "phar", "asp", "aspx", "ashx", "asmx", "jsp",
        "jspx", "cgi", "pl", "py", "rb", "sh", "exe", "dll", "html", "htm", "xhtml", "shtml", "svg",
        "svgz", "xml", "js", "mjs", "hta", "swf", "htaccess", "config",
    }
)  # fmt: skip


def _pass_through(value: Any) -> bool:
    return isinstance(value, (Image.Image, np.ndarray))


def _need_bytes(ctx: Context, value: Any) -> bytes:
    data = as_bytes(value)
    if data is None:
        ctx.halt(
            "image.not_image",
            f"image bytes, an ImageUpload, a PIL image or a uint8 array is required; received {echo(value)}",
        )
    if not data:
        ctx.halt("image.empty", "the image is empty (0 bytes); send the file's contents")
    return data


@image_stage
class ImageFormat(Validator):
    """Check the byte budget and the real type (sniffed from the bytes) against an allowlist.

    SVG and other non-raster types are always refused. For an
    :class:`~keras_sanitize.image.ImageUpload`, a declared content type or
    filename extension that disagrees with the bytes is a finding: a warning
    between two image types (a renamed file), a rejection when the claim is not
    an image or the filename carries an executable extension (``shell.php.jpg``).

    Example:
        >>> ImageFormat().run(b"<svg onload=alert(1)>").codes
        ('image.format_not_allowed',)
    """

    modality = "image"

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        formats: Iterable[str] = DEFAULT_FORMATS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.max_bytes = check_number(owner, "max_bytes", max_bytes, minimum=1, integer=True)
        self.formats = check_formats(owner, formats)

    def check(self, value: Any, ctx: Context) -> None:
        if _pass_through(value):
            return
        data = _need_bytes(ctx, value)
        if len(data) > self.max_bytes:
            ctx.halt(
                "image.too_many_bytes",
                f"the image has {len(data)} bytes; limit is {self.max_bytes} (max_bytes)",
                detail={"bytes": len(data), "limit": self.max_bytes},
            )
        mime = sniffed_mime(ctx, data)
        if mime not in self.formats:
            svg = mime.startswith("image/svg") or b"<svg" in data[:4096].lower()
            kind = "an image type not on the allowlist" if mime.startswith("image/") else "not an image"
            if svg:
                kind = "SVG, a document that can carry script, not a raster image"
            ctx.halt(
                "image.format_not_allowed",
                f"the bytes are {mime} ({kind}); allowed: {list(self.formats)} (formats). "
                f"Opt in to other raster types with formats=",
                severity=Severity.HIGH,
                detail={"mime": mime, "head": echo(data[:16])},
            )
        if not isinstance(value, (bytes, bytearray, memoryview)):
            up = Upload.of(value)  # an Upload or an upload mapping carries a declaration
            if up is not None:
                self._check_declared(up, mime, ctx)

    def _check_declared(self, up: Upload, mime: str, ctx: Context) -> None:
        declared = up.content_type
        if isinstance(declared, str) and declared.strip():
            claim = normalize_mime(declared)
            if claim != mime:
                reject = not claim.startswith("image/") or claim in REFUSED_FORMATS
                ctx.add(
                    "image.declared_type_mismatch",
                    f"the upload declares content type {echo(declared)} but the bytes are {mime}; "
                    f"send the real type",
                    severity=Severity.HIGH if reject else Severity.LOW,
                    action=Action.REJECT if reject else Action.WARN,
                    detail={"declared": echo(declared), "sniffed": mime},
                )
        name = up.filename
        if isinstance(name, str) and name:
            base = name.replace("\\", "/").rsplit("/", 1)[-1]
            parts = [p.strip().lower() for p in base.split(".")[1:]]
            active = [p for p in parts if p.rstrip(" \x00") in _ACTIVE_EXTENSIONS]
            if "\x00" in name or active:
                ctx.add(
                    "image.suspicious_filename",
                    f"the filename {echo(name)} carries an executable or markup extension "
                    f"{active or ['NUL byte']}; rename the file",
                    severity=Severity.HIGH,
                    detail={"filename": echo(name)},
                )
            elif parts and _EXTENSIONS.get(parts[-1]) != mime:
                ctx.add(
                    "image.declared_type_mismatch",
                    f"the filename {echo(name)} says {_EXTENSIONS.get(parts[-1], 'not an image')} "
                    f"but the bytes are {mime}; use the matching extension",
                    severity=Severity.LOW,
                    action=Action.WARN,
                    detail={"filename": echo(name), "sniffed": mime},
                )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(max_bytes=self.max_bytes, formats=list(self.formats))
        return config


@image_stage
class ImageHeader(Validator):
    """Header-only limits, checked before any pixel is decoded.

    Walks the PNG/JPEG/GIF/WebP structure (chunks, segments, blocks) and opens
    the header lazily with only the matching Pillow plugin, then checks: zero
    or absurd dimensions, pixel count (``max_pixels``, per stage; Pillow's
    global is never touched), longest side, frame count and the largest frame,
    bit depth, mode, JPEG scan count, truncation, and bytes after the format's
    end marker (refused by default: a file that is both an image and an HTML
    page or a ZIP is a polyglot). All-zero padding after the end marker and the
    extra pictures of an MPO / Ultra HDR JPEG are noted and dropped.

    Example:
        >>> import struct, zlib
        >>> ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
        >>> png = b"\\x89PNG\\r\\n\\x1a\\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + bytes(4)
        >>> print(ImageHeader().run(png).findings[0].message)
        image declares 60000x60000 = 3.6 GP; limit is 40 MP (max_pixels)
    """

    modality = "image"

    def __init__(
        self,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_side: int = DEFAULT_MAX_SIDE,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_scans: int = DEFAULT_MAX_SCANS,
        max_chunks: int = DEFAULT_MAX_CHUNKS,
        bit_depths: Iterable[int] = DEFAULT_BIT_DEPTHS,
        modes: Iterable[str] = DEFAULT_MODES,
        formats: Iterable[str] = DEFAULT_FORMATS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.max_pixels = check_number(owner, "max_pixels", max_pixels, minimum=1, integer=True)
        self.max_side = check_number(owner, "max_side", max_side, minimum=1, integer=True)
        self.max_frames = check_number(owner, "max_frames", max_frames, minimum=1, integer=True)
        self.max_scans = check_number(owner, "max_scans", max_scans, minimum=1, integer=True)
        self.max_chunks = check_number(owner, "max_chunks", max_chunks, minimum=1, integer=True)
        self.bit_depths = tuple(
            sorted(
                {
                    check_number(owner, "bit_depths[]", b, minimum=1, maximum=32, integer=True)
                    for b in bit_depths
                }
            )
        )
        self.modes = check_modes(owner, modes)
        self.formats = check_formats(owner, formats)

    def check(self, value: Any, ctx: Context) -> None:
        if _pass_through(value):
            return
        data = _need_bytes(ctx, value)
        mime = sniffed_mime(ctx, data)
        if mime not in self.formats:
            ctx.halt(
                "image.format_not_allowed",
                f"the bytes are {mime}; allowed: {list(self.formats)} (formats)",
                detail={"mime": mime},
            )
        info = _header.walk(data, mime, max_chunks=self.max_chunks)
        if info is not None:
            self._check_walk(info, data, ctx)
        self._check_pillow(data, mime, info, ctx)

    def _check_size(self, w: int, h: int, ctx: Context, what: str = "image") -> None:
        if w <= 0 or h <= 0:
            ctx.halt(
                "image.zero_size",
                f"{what} declares {w}x{h}; both sides must be >= 1",
                detail={"width": w, "height": h},
            )
        if w * h > self.max_pixels:
            ctx.halt(
                "image.too_many_pixels",
                f"{what} declares {w}x{h} = {mp(w * h)}; limit is {mp(self.max_pixels)} (max_pixels)",
                detail={"width": w, "height": h, "pixels": w * h, "limit": self.max_pixels},
            )
        if max(w, h) > self.max_side:
            ctx.halt(
                "image.too_large_side",
                f"{what} declares {w}x{h}; the longest side may be {self.max_side} (max_side)",
                detail={"width": w, "height": h, "limit": self.max_side},
            )

    def _check_walk(self, info: _header.HeaderInfo, data: bytes, ctx: Context) -> None:
        if info.width is not None and info.height is not None:
            self._check_size(info.width, info.height, ctx)
        if info.largest_frame is not None:
            self._check_size(*info.largest_frame, ctx, what="an animation frame")
        if info.too_many_chunks:
            too_many_chunks(ctx, info, self.max_chunks)
        if info.corrupt:
            ctx.halt("image.corrupt", f"the {info.format} structure is invalid: {info.corrupt}")
        if info.truncated:
            ctx.halt(
                "image.truncated",
                f"the {info.format} file is truncated: {info.truncated}; send the whole file",
            )
        if info.frames > self.max_frames:
            ctx.halt(
                "image.too_many_frames",
                f"the animation declares {info.frames} frames; limit is {self.max_frames} (max_frames)",
                detail={"frames": info.frames, "limit": self.max_frames},
            )
        if info.scans > self.max_scans:
            ctx.halt(
                "image.too_many_scans",
                f"the progressive JPEG has {info.scans} scans; limit is {self.max_scans} (max_scans): "
                f"each scan re-reads the whole image",
                detail={"scans": info.scans, "limit": self.max_scans},
            )
        if info.bit_depth is not None and info.bit_depth not in self.bit_depths:
            ctx.add(
                "image.bit_depth",
                f"the image has {info.bit_depth} bits per sample; allowed: {list(self.bit_depths)} "
                f"(bit_depths)",
                detail={"bit_depth": info.bit_depth},
            )
        if info.extra_images:
            ctx.add(
                "image.extra_images",
                f"the JPEG carries {info.extra_images} further picture(s) after the first (MPO / gain "
                f"map); only the first is used",
                severity=Severity.INFO,
                action=Action.SANITIZE,
            )
        if info.end is not None and info.end < len(data):
            self._check_trailing(data, info.end, info.format, ctx)

    def _check_trailing(self, data: bytes, end: int, fmt: str, ctx: Context) -> None:
        tail = data[end:]
        if not tail.strip(b"\x00\r\n\t "):
            ctx.add(
                "image.trailing_padding",
                f"{len(tail)} zero or whitespace bytes follow the {fmt} end marker; they are dropped",
                severity=Severity.INFO,
                action=Action.SANITIZE,
            )
            return
        try:
            kind = sniff_mime(tail)
        except LibmagicMissing:
            kind = "unknown"
        ctx.add(
            "image.trailing_data",
            f"{len(tail)} bytes ({kind}) follow the {fmt} end marker at byte {end}: an image that is "
            f"also another file (polyglot); starts {echo(tail[:24], 40)}. Re-encode the image to drop them",
            severity=Severity.HIGH,
            detail={"offset": end, "length": len(tail), "sniffed": kind},
        )

    def _check_pillow(self, data: bytes, mime: str, info: _header.HeaderInfo | None, ctx: Context) -> None:
        with guarded() as outcome:
            im = open_lazy(data, mime)
            size, mode = im.size, im.mode
            frames = int(getattr(im, "n_frames", 1)) if info is None else info.frames
        if outcome.error is not None:
            code, reason = describe_outcome(outcome)
            ctx.halt(code, f"the header could not be read: {echo(reason, 160)}")
        # Other decoder warnings are Decode's to report (once), not the header's.
        report_warnings(ctx, outcome, size[0] * size[1], self.max_pixels, others=False)
        self._check_size(size[0], size[1], ctx)
        if info is None and frames > self.max_frames:
            ctx.halt(
                "image.too_many_frames",
                f"the image has {frames} frames; limit is {self.max_frames} (max_frames)",
                detail={"frames": frames, "limit": self.max_frames},
            )
        if mode not in self.modes:
            ctx.add(
                "image.mode_not_allowed",
                f"the image mode is {mode}; allowed: {list(self.modes)} (modes)",
                detail={"mode": mode},
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            max_pixels=self.max_pixels,
            max_side=self.max_side,
            max_frames=self.max_frames,
            max_scans=self.max_scans,
            max_chunks=self.max_chunks,
            bit_depths=list(self.bit_depths),
            modes=list(self.modes),
            formats=list(self.formats),
        )
        return config


def too_many_chunks(ctx: Context, info: _header.HeaderInfo, limit: int) -> None:
    """Halt on a file made of more chunks/segments/blocks than ``limit`` (a parser time bomb)."""
    ctx.halt(
        "image.too_many_chunks",
        f"the {info.format} file has more than {limit} chunks/segments/blocks (or millions of tiny GIF "
        f"data sub-blocks); limit is {limit} (max_chunks): decoders parse each one, so a flood of "
        f"empty ones is a time bomb",
        detail={"limit": limit},
    )
