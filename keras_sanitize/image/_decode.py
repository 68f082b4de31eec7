"""Pillow behind a guard: header-only opens, bounded loads, warnings as findings.

Pillow reports some problems as Python warnings (``DecompressionBombWarning``,
"Corrupt EXIF data", malformed MPO). Python 3.11's warning filters are
process-global, so recording them per call needs ``catch_warnings``, which is
only correct when no two threads do it at once: every Pillow call that can
warn runs under one process-wide lock. The lock serializes Pillow work within
one process (decoding a 224x224 JPEG takes ~0.3 ms); run several worker
processes for parallel decoding. Pillow's own ``MAX_IMAGE_PIXELS`` is never
touched: our limits are checked first, from the header.

Decoding happens in-process: time and memory are bounded by the pixel cap
checked before any pixel is decoded (decoders for the allowed formats are
linear in pixels and bytes), not by a child process, which would cost
milliseconds per image. Deployments that want process isolation on top can run
the pipeline in worker processes.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from PIL import Image, ImageFile, UnidentifiedImageError

from keras_sanitize._stderr import captured_stderr
from keras_sanitize.errors import LibmagicMissing
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.sniff import sniff_mime
from keras_sanitize.stage import Context
from keras_sanitize.upload import Upload

#: image types Pillow may open by default.
DEFAULT_FORMATS: tuple[str, ...] = ("image/gif", "image/jpeg", "image/png", "image/webp")
#: MIME type -> the only Pillow plugins allowed to parse it.
PILLOW_FORMATS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "image/jpeg": ("JPEG",),
    "image/png": ("PNG",),
    "image/gif": ("GIF",),
    "image/webp": ("WEBP",),
    "image/bmp": ("BMP",),
    "image/x-ms-bmp": ("BMP",),
    "image/tiff": ("TIFF",),
    "image/avif": ("AVIF",),
    "image/x-portable-bitmap": ("PPM",),
    "image/x-portable-graymap": ("PPM",),
    "image/x-portable-pixmap": ("PPM",),
    "image/x-portable-anymap": ("PPM",),
    "image/x-tga": ("TGA",),
    "image/vnd.microsoft.icon": ("ICO",),
})
#: never allowed: not raster images, or documents that can carry script.
REFUSED_FORMATS: frozenset[str] = frozenset(
    {"image/svg+xml", "image/svg", "image/x-eps", "application/postscript"}
)
#: Pillow modes allowed by default (bit depths 1 to 16 per channel).
DEFAULT_MODES: tuple[str, ...] = (
    "1", "CMYK", "I", "I;16", "I;16B", "I;16L", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBX",
    "RGBa", "YCbCr",
)  # fmt: skip

_LOCK = threading.Lock()


@dataclass
class Outcome:
    """Warnings and the exception (if any) raised by a guarded Pillow call."""

    warnings: list[warnings.WarningMessage]
    error: BaseException | None = None
    stderr: list[str] = field(default_factory=list)  # what libtiff & co printed to fd 2


@contextmanager
def guarded() -> Iterator[Outcome]:
    """Run Pillow code with its warnings recorded and any exception captured."""
    out = Outcome([])
    with _LOCK, warnings.catch_warnings(record=True) as caught, captured_stderr("Pillow decoder") as err:
        warnings.simplefilter("always")
        try:
            yield out
        except (Exception, RecursionError, MemoryError) as exc:
            out.error = exc
        out.warnings = list(caught)
    out.stderr = err.lines


def report_warnings(
    ctx: Context, outcome: Outcome, pixels: int, max_pixels: int, *, others: bool = True
) -> None:
    """Turn recorded Pillow warnings into findings (``others=False``: only bomb warnings).

    Pillow's ``DecompressionBombWarning`` follows its own global limit (89 MP); the
    stage's ``max_pixels`` decides instead, so the warning refuses only an image of
    more than ``max_pixels`` (``pixels`` is the size from the header).
    """
    if others and outcome.stderr:
        ctx.add(
            "image.decoder_warning",
            f"the decoder library printed {len(outcome.stderr)} message(s) to stderr (captured, "
            f"not printed), first {echo(outcome.stderr[0], 160)}: the file is malformed; recorded "
            f"only; set policy {{'image.decoder_warning': 'reject'}} to refuse such files",
            severity=Severity.LOW,
            action=Action.WARN,
            detail={"category": "stderr", "messages": [m[:200] for m in outcome.stderr[:5]]},
        )
    for w in outcome.warnings[:8]:
        if issubclass(w.category, Image.DecompressionBombWarning):
            if pixels > max_pixels:
                ctx.halt(
                    "image.too_many_pixels",
                    f"image declares {mp(pixels)}; limit is {mp(max_pixels)} (max_pixels)",
                    severity=Severity.HIGH,
                )
            continue
        if not others:
            continue
        ctx.add(
            "image.decoder_warning",
            f"the decoder warned: {echo(str(w.message), 160)}; recorded only; set policy "
            f"{{'image.decoder_warning': 'reject'}} to refuse such files",
            severity=Severity.LOW,
            action=Action.WARN,
            detail={"category": w.category.__name__},
        )


def mp(pixels: int | float) -> str:
    """Render a pixel count: ``40 MP``, ``3.6 GP``."""
    if pixels >= 1e12:
        return f"{pixels:.3g} px"
    if pixels >= 1e9:
        return f"{pixels / 1e9:.3g} GP"
    if pixels >= 1e6:
        return f"{pixels / 1e6:.3g} MP"
    if pixels >= 1e3:
        return f"{pixels / 1e3:.3g} kP"
    return f"{int(pixels)} px"


_SAME_TYPE = {"image/x-ms-bmp": "image/bmp", "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


def normalize_mime(mime: str) -> str:
    """Lower-case, drop parameters, and map aliases (``image/x-ms-bmp`` -> ``image/bmp``)."""
    mime = mime.split(";", 1)[0].strip().lower()
    return _SAME_TYPE.get(mime, mime)


def open_lazy(data: bytes, mime: str) -> ImageFile.ImageFile:
    """Open ``data`` with only the Pillow plugin(s) for ``mime``; reads the header only."""
    formats = PILLOW_FORMATS.get(mime)
    if not formats:
        raise ValueError(f"no Pillow plugin is mapped to {mime}")
    return Image.open(io.BytesIO(data), formats=list(formats))


def describe_error(exc: BaseException) -> tuple[str, str]:
    """Finding code and a short reason for a decoder exception."""
    text = str(exc)
    if isinstance(exc, Image.DecompressionBombError):
        return "image.too_many_pixels", text
    if isinstance(exc, UnidentifiedImageError):
        return "image.corrupt", "the format's decoder does not recognise this header"
    if isinstance(exc, MemoryError):
        return "image.too_many_pixels", "the decoder ran out of memory"
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return "image.truncated", text or type(exc).__name__
    return "image.corrupt", f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_outcome(outcome: Outcome) -> tuple[str, str]:
    """:func:`describe_error` for a guarded call, with what the decoder library printed to stderr."""
    assert outcome.error is not None
    code, reason = describe_error(outcome.error)
    if outcome.stderr:
        reason = f"{reason}; the decoder printed {outcome.stderr[0][:160]!r}"
    return code, reason


def as_bytes(value: Any) -> bytes | None:
    """The bytes of a bytes-like value, an :class:`~keras_sanitize.Upload` or an upload
    mapping (``{"data": ...}``, as in audio), else ``None``."""
    if isinstance(value, bytes):
        return value
    up = Upload.of(value)
    return None if up is None else up.data
    return None


def sniffed_mime(ctx: Context, data: bytes) -> str:
    """The real MIME type of ``data``: sniffed once per input, then handed on through ``ctx``.

    The first stage that needs it (``ImageFormat``) sniffs; ``ImageHeader`` and ``Decode``
    read the remembered answer for the same bytes instead of sniffing again.
    """
    mime = ctx.recall("image.mime", data)
    if mime is None:
        try:
            mime = normalize_mime(sniff_mime(data))
        except LibmagicMissing as exc:
            ctx.halt("image.libmagic_missing", str(exc))
        ctx.remember("image.mime", data, mime)
    return str(mime)
