"""Markup and script detection in metadata and encoded bytes."""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Iterator

__all__ = ["MARKUP_PATTERN", "SCAN_LIMIT", "find_markup"]

_TAGS = (
    rb"<\s*/?\s*(?:script|iframe|object|embed|svg|img|body|html|a\s+href|meta|link|style|form|input|"
    rb"base|video|audio|math|details|marquee|frameset|applet)\b|<\?php"
)
_SCRIPT = (
    rb"\bon[a-z]{3,20}\s*=|javascript\s*:|vbscript\s*:|data\s*:\s*text/html|\beval\s*\(|"
    rb"\bdocument\.(?:cookie|write|location)|\bexpression\s*\(|\$\{jndi:|\bsystem\s*\(|\bexec\s*\(|"
    rb"\bpassthru\s*\(|\bshell_exec\s*\(|\bbase64_decode\s*\("
)
#: what counts as markup or script inside metadata (XMP's own XML tags do not). Every
#: alternative is at least five specific bytes long, so that binary metadata (ICC
#: profiles, maker notes) and re-encoded pixel data do not match by chance.
MARKUP_PATTERN = re.compile(_TAGS + b"|" + _SCRIPT, re.IGNORECASE)
# The scan itself is split for speed (a case-insensitive alternation costs ~3 MB/s
# in ``re``): tags start with a literal "<", which ``re`` finds at memchr speed;
# the script forms are looked for as literal tokens in a lowercased copy and the
# full expression only runs in a small window around each token.
_TAGS_RE = re.compile(_TAGS, re.IGNORECASE)
_SCRIPT_RE = re.compile(_SCRIPT)
_TOKENS = (
    b"javascript", b"vbscript", b"text/html", b"eval", b"document.", b"expression", b"${jndi",
    b"system", b"exec", b"passthru", b"base64_decode", b"onerror", b"onload", b"onmouse", b"onclick",
    b"onfocus", b"onblur", b"onanimation", b"ontoggle", b"onbegin", b"onpointer", b"onkey", b"oninput",
    b"onchange", b"onsubmit", b"onwheel", b"ontransition", b"onscroll", b"onresize", b"onbeforeunload",
)  # fmt: skip
_HITS_PER_TOKEN = 32
_ESCAPED = re.compile(rb"&(?:lt|#)", re.IGNORECASE)
#: bytes of one metadata field that are scanned.
SCAN_LIMIT = 1 << 20
_HEX_RUN = re.compile(rb"(?:[0-9a-fA-F]{2}\s*){16,}")


def find_markup(data: bytes, *, decode: bool = True) -> str | None:
    """Return the first markup/script snippet in metadata bytes, or ``None``.

    With ``decode`` (for metadata text), UTF-16 (EXIF's XP* tags), XML-escaped and
    hex-encoded (ImageMagick raw profiles) forms are scanned too; without it
    (for encoded pixel data) only the raw bytes.

    Example:
        >>> find_markup(b"Exif..<script>alert(1)</script>")
        '<script'
        >>> find_markup(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>') is None
        True
    """
    for variant in _variants(data) if decode else (data,):
        hit = _scan(variant)
        if hit is not None:
            return hit
    return None


def _scan(data: bytes) -> str | None:
    tag = _TAGS_RE.search(data)
    if tag is not None:
        return tag.group(0).decode("latin-1")
    low = data.lower()
    for token in _TOKENS:
        pos = low.find(token)
        for _ in range(_HITS_PER_TOKEN):
            if pos < 0:
                break
            hit = _SCRIPT_RE.search(low, max(0, pos - 2), pos + len(token) + 48)
            if hit is not None:
                return data[hit.start() : hit.end()].decode("latin-1")
            pos = low.find(token, pos + 1)
    return None


def _variants(data: bytes) -> Iterator[bytes]:
    """The encodings metadata text hides in: raw, UTF-16, XML-escaped, hex (ImageMagick raw profiles)."""
    yield data
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
        yield data
    if _ESCAPED.search(data):
        yield html.unescape(data.decode("latin-1")).encode("latin-1", "replace")
    decoded = []
    for run in _HEX_RUN.findall(data[: 2 * SCAN_LIMIT]):
        digits = b"".join(run.split())
        decoded.append(binascii.unhexlify(digits[: len(digits) // 2 * 2]))
    if decoded:
        yield b"\n".join(decoded)
