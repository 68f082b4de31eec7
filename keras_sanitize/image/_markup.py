"""Markup and script detection in metadata and encoded bytes."""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Iterator

__all__ = ["MARKUP_PATTERN", "SCAN_LIMIT", "find_markup"]

#: what counts as markup or script inside metadata (XMP's own XML tags do not). Every
#: alternative is at least five specific bytes long, so that binary metadata (ICC
#: profiles, maker notes) and re-encoded pixel data do not match by chance.
MARKUP_PATTERN = re.compile(
    rb"<\s*/?\s*(?:script|iframe|object|embed|svg|img|body|html|a\s+href|meta|link|style|form|input|"
    rb"base|video|audio|math|details|marquee|frameset|applet)\b"
    rb"|\bon[a-z]{3,20}\s*=|javascript\s*:|vbscript\s*:|data\s*:\s*text/html|<\?php|"
    rb"\beval\s*\(|\bdocument\.(?:cookie|write|location)|\bexpression\s*\(|\$\{jndi:|"
    rb"\bsystem\s*\(|\bexec\s*\(|\bpassthru\s*\(|\bshell_exec\s*\(|\bbase64_decode\s*\(",
    re.IGNORECASE,
)
#: bytes of one metadata field that are scanned.
SCAN_LIMIT = 1 << 20
_HEX_RUN = re.compile(rb"(?:[0-9a-fA-F]{2}\s*){16,}")


def find_markup(data: bytes) -> str | None:
    """Return the first markup/script snippet in metadata bytes, or ``None``.

    UTF-16 text (EXIF's XP* tags) is scanned with its NUL bytes removed.

    Example:
        >>> find_markup(b"Exif..<script>alert(1)</script>")
        '<script'
        >>> find_markup(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>') is None
        True
    """
    for variant in _variants(data):
        hit = MARKUP_PATTERN.search(variant)
        if hit is not None:
            return hit.group(0).decode("latin-1")
    return None


def _variants(data: bytes) -> Iterator[bytes]:
    """The encodings metadata text hides in: raw, UTF-16, XML-escaped, hex (ImageMagick raw profiles)."""
    yield data
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
        yield data
    if b"&" in data:
        yield html.unescape(data.decode("latin-1")).encode("latin-1", "replace")
    decoded = []
    for run in _HEX_RUN.findall(data[: 2 * SCAN_LIMIT]):
        digits = b"".join(run.split())
        decoded.append(binascii.unhexlify(digits[: len(digits) // 2 * 2]))
    if decoded:
        yield b"\n".join(decoded)
