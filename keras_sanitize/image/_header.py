"""Byte-level walkers of the PNG, JPEG, GIF and WebP container structure.

They read only headers, chunk/segment/block boundaries and lengths, never
pixel data, so they are safe to run on any bytes before a decoder sees them.
From that walk they report the declared size, frame count, bit depth, where
the format's own end marker is (so trailing bytes after it, the polyglot
trick, can be seen), and problems: truncation and structural corruption.

Everything is bounded: each loop advances by at least one byte and stops at
the end of the buffer; GIF sub-block walking is linear in the file size.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

__all__ = ["HeaderInfo", "walk"]

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_VALID_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# A JPEG entropy-coded segment ends at the first 0xFF not followed by a stuffed
# 0x00 or a restart marker (RST0-7).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# 32 MiB of full 255-byte GIF sub-blocks is ~130k of them; millions of tiny ones
# are a parser time bomb.
_GIF_MAX_SUBBLOCKS = 200_000
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass
class HeaderInfo:
    """What a walk found. ``end`` is the offset just past the format's end marker."""

    format: str
    width: int | None = None
    height: int | None = None
    frames: int = 1
    bit_depth: int | None = None
    end: int | None = None
    scans: int = 0
    truncated: str | None = None
    corrupt: str | None = None
    largest_frame: tuple[int, int] | None = None
    extra_images: int = 0
    chunks: int = 0
    too_many_chunks: bool = False
    quick: bool = False
    max_chunks: int = 1 << 62

    def count(self) -> bool:
        """Count one chunk/segment/block; ``False`` (and flagged) once over the limit."""
        self.chunks += 1
        if self.chunks > self.max_chunks:
            self.too_many_chunks = True
            return False
        return True


def walk(data: bytes, mime: str, max_chunks: int = 1 << 62, quick: bool = False) -> HeaderInfo | None:
    """Walk ``data`` as ``mime``; ``None`` when no walker exists for that type.

    The walk stops (``too_many_chunks``) after ``max_chunks`` chunks, segments or
    blocks: Pillow parses those one by one in Python, so a file made of a
    million empty chunks would cost it seconds. ``quick`` stops a JPEG walk at
    its first scan (all that Pillow's own Python code reads of a JPEG).
    """
    walker = _WALKERS.get(mime)
    if walker is None:
        return None
    info = HeaderInfo(mime, quick=quick, max_chunks=max_chunks)
    try:
        walker(data, info)
    except (struct.error, IndexError, ValueError) as exc:  # short reads inside a header
        info.truncated = info.truncated or f"header ends early ({exc})"
    return info


def _png(data: bytes, info: HeaderInfo) -> None:
    pos = len(_PNG_SIG)
    n = len(data)
    first = True
    frames = 0
    while info.count():
        if pos + 8 > n:
            info.truncated = f"file ends at byte {n} before the IEND chunk"
            return
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if length > 0x7FFFFFFF:
            info.corrupt = f"chunk {ctype!r} at byte {pos} declares length {length} (> 2**31-1)"
            return
        body = pos + 8
        nxt = body + length + 4
        if first:
            if ctype != b"IHDR" or length != 13:
                info.corrupt = f"first chunk must be a 13-byte IHDR; found {ctype!r} of {length} bytes"
                return
            first = False
            if body + 13 > n:
                info.truncated = "file ends inside IHDR"
                return
            w, h, depth, color = struct.unpack(">IIBB", data[body : body + 10])
            info.width, info.height, info.bit_depth = w, h, depth
            if depth not in _PNG_VALID_DEPTHS.get(color, ()):
                info.corrupt = f"IHDR bit depth {depth} with colour type {color} is not valid PNG"
                return
        elif ctype == b"acTL" and length >= 8 and body + 8 <= n:
            info.frames = max(1, struct.unpack(">I", data[body : body + 4])[0])
        elif ctype == b"fcTL" and length >= 12 and body + 12 <= n:
            frames += 1
            fw, fh = struct.unpack(">II", data[body + 4 : body + 12])
            _largest(info, fw, fh)
        if nxt > n:
            info.truncated = f"chunk {ctype!r} at byte {pos} runs past the end of the file"
            return
        pos = nxt
        if ctype == b"IEND":
            info.end = pos
            info.frames = max(info.frames, frames, 1)
            return


def _largest(info: HeaderInfo, w: int, h: int) -> None:
    if info.largest_frame is None or w * h > info.largest_frame[0] * info.largest_frame[1]:
        info.largest_frame = (w, h)


def _jpeg_segments(data: bytes, start: int, info: HeaderInfo, primary: bool) -> int | None:
    """Walk one JPEG stream from its SOI at ``start``; return the offset past EOI."""
    n = len(data)
    pos = start + 2
    while True:
        if pos + 2 > n:
            if primary:
                info.truncated = f"file ends at byte {n} before the JPEG EOI marker"
            return None
        if data[pos] != 0xFF:
            if primary:
                info.corrupt = f"expected a JPEG marker at byte {pos}; found 0x{data[pos]:02x}"
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes before a marker are allowed
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if not info.count():
            return None
        if pos + 4 > n:
            if primary:
                info.truncated = f"file ends inside the JPEG segment header at byte {pos}"
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            if primary:
                info.corrupt = f"JPEG segment 0x{marker:02x} at byte {pos} declares length {length}"
            return None
        body = pos + 4
        end = pos + 2 + length
        if end > n:
            if primary:
                info.truncated = f"JPEG segment 0x{marker:02x} at byte {pos} runs past the end"
            return None
        if primary and marker in _JPEG_SOF and length >= 8:
            depth, h, w = struct.unpack(">BHH", data[body : body + 5])
            if info.width is None:
                info.bit_depth, info.height, info.width = depth, h, w
        if marker == 0xDA:
            if primary:
                info.scans += 1
                if info.quick:
                    return None
            hit = _JPEG_MARKER.search(data, end)
            if hit is None:
                if primary:
                    info.truncated = "file ends inside entropy-coded data before the JPEG EOI marker"
                return None
            pos = hit.start()
            continue
        pos = end


def _jpeg(data: bytes, info: HeaderInfo) -> None:
    end = _jpeg_segments(data, 0, info, primary=True)
    if end is None:
        return
    if info.width is None and info.corrupt is None:
        info.corrupt = "JPEG stream has no frame header (SOF)"
        return
    info.end = end
    # Multi-picture files (MPO, Ultra HDR gain maps) append further complete
    # JPEG streams after EOI; count them so they are not mistaken for a payload.
    if b"MPF\x00" in data[: min(end, 1 << 16)]:
        pos = end
        while info.extra_images < 64:
            start = pos
            while start < len(data) and start - pos < 4096 and data[start] == 0:
                start += 1  # writers pad between pictures
            if not data.startswith(b"\xff\xd8", start):
                break
            pos = start
            nxt = _jpeg_segments(data, pos, info, primary=False)
            if nxt is None:
                break
            info.extra_images += 1
            pos = nxt
        info.end = pos


def _gif(data: bytes, info: HeaderInfo) -> None:
    n = len(data)
    if n < 13:
        info.truncated = "file ends inside the GIF logical screen descriptor"
        return
    w, h, flags = struct.unpack("<HHB", data[6:11])
    info.width, info.height, info.bit_depth = w, h, 8  # palette entries are 8-bit samples
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    subblocks = 0
    while info.count():
        if pos >= n:
            info.truncated = f"file ends at byte {n} before the GIF trailer (0x3B)"
            info.frames = max(frames, 1)
            return
        block = data[pos]
        if block == 0x3B:
            info.end = pos + 1
            info.frames = max(frames, 1)
            return
        if block == 0x2C:
            if pos + 10 > n:
                info.truncated = "file ends inside a GIF image descriptor"
                return
            fw, fh, fflags = struct.unpack("<HHB", data[pos + 5 : pos + 10])
            frames += 1
            _largest(info, fw, fh)
            pos += 10 + (3 << ((fflags & 7) + 1) if fflags & 0x80 else 0) + 1  # + LZW code size
        elif block == 0x21:
            pos += 2
        else:
            info.corrupt = f"unknown GIF block 0x{block:02x} at byte {pos}"
            info.frames = max(frames, 1)
            return
        while True:  # data sub-blocks, each prefixed by its length, ended by 0
            if pos >= n:
                info.truncated = "file ends inside GIF data sub-blocks"
                info.frames = max(frames, 1)
                return
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
            subblocks += 1
            if subblocks > _GIF_MAX_SUBBLOCKS:  # legitimate encoders write full 255-byte blocks
                info.too_many_chunks = True
                return


def _webp(data: bytes, info: HeaderInfo) -> None:
    n = len(data)
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size + (riff_size & 1)
    if end > n:
        info.truncated = f"RIFF header declares {end} bytes; the file has {n}"
        end = n
    info.end = end
    pos = 12
    frames = 0
    while pos + 8 <= end and info.count():
        ctype, size = struct.unpack("<4sI", data[pos : pos + 8])
        body = pos + 8
        if ctype == b"VP8X" and size >= 10:
            w = int.from_bytes(data[body + 4 : body + 7], "little") + 1
            h = int.from_bytes(data[body + 7 : body + 10], "little") + 1
            info.width, info.height = w, h
        elif ctype == b"VP8 " and size >= 10 and info.width is None:
            w, h = struct.unpack("<HH", data[body + 6 : body + 10])
            info.width, info.height = w & 0x3FFF, h & 0x3FFF
        elif ctype == b"VP8L" and size >= 5 and info.width is None:
            (bits,) = struct.unpack("<I", data[body + 1 : body + 5])
            info.width, info.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif ctype == b"ANMF" and size >= 12:
            frames += 1
            fw = int.from_bytes(data[body + 6 : body + 9], "little") + 1
            fh = int.from_bytes(data[body + 9 : body + 12], "little") + 1
            _largest(info, fw, fh)
        pos = body + size + (size & 1)
    info.bit_depth = 8
    info.frames = max(frames, 1)
    if info.width is None:
        info.corrupt = "WebP file has no VP8, VP8L or VP8X chunk giving its size"


_WALKERS = {"image/png": _png, "image/jpeg": _jpeg, "image/gif": _gif, "image/webp": _webp}
