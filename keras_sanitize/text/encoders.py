"""Text encoders: decode raw input to ``str``, and escape text for safe display or transport.

:class:`ToText` is the first stage of every text pipeline: it accepts ``str``
and UTF-8 ``bytes`` and halts on anything else. The escaping encoders turn
special characters into safe representations for one context each (HTML, JSON,
logs) and canonicalize whitespace.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from keras_sanitize.config import register_stage
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Encoder, check_choice, check_number
from keras_sanitize.text._limits import DEFAULT_LIMITS

__all__ = ["EscapeNonPrintable", "HtmlEscape", "JsonEscape", "ToText", "Whitespace"]

#: Default byte budget before decoding: 4 MiB.
DEFAULT_MAX_BYTES: int = DEFAULT_LIMITS.max_bytes


def require_str(ctx: Context, value: Any) -> str:
    """Halt unless ``value`` is a ``str`` (stages after :class:`ToText` expect one)."""
    if not isinstance(value, str):
        ctx.halt(
            "text.not_text",
            f"text stages need str (or UTF-8 bytes through ToText first); received {echo(value)}. "
            f"Pass a str, or put ks.text.encoders.ToText() first.",
        )
    return value


@register_stage()
class ToText(Encoder):
    """Accept ``str`` or UTF-8 ``bytes``; halt on anything else.

    Bytes are decoded strictly; the finding for invalid UTF-8 gives the byte
    offset of the first bad sequence. A leading UTF-8 byte-order mark is
    dropped. The byte budget is checked before decoding.

    Args:
        max_bytes: refuse byte input larger than this (``None``: no limit).

    Example:
        >>> ToText().run(b"caf\\xc3\\xa9").value
        'café'
        >>> ToText().run(b"ab\\xff").findings[0].detail["offset"]
        2
        >>> ToText().run(None).codes
        ('text.not_text',)
    """

    modality = "text"

    def __init__(self, max_bytes: int | None = DEFAULT_MAX_BYTES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_bytes = check_number(
            type(self).__name__, "max_bytes", max_bytes, minimum=0, integer=True, allow_none=True
        )

    def process(self, value: Any, ctx: Context) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            if self.max_bytes is not None and len(data) > self.max_bytes:
                ctx.halt(
                    "text.too_many_bytes",
                    f"text input has {len(data)} bytes; limit is {self.max_bytes} (max_bytes)",
                    detail={"bytes": len(data), "limit": self.max_bytes},
                )
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = data[exc.start : exc.start + 4]
                ctx.halt(
                    "text.invalid_utf8",
                    f"text bytes must be valid UTF-8; the first bad sequence is at byte offset "
                    f"{exc.start} ({bad!r}: {exc.reason}). Send UTF-8, or decode on the client.",
                    span=(exc.start, exc.end),
                    detail={"offset": exc.start, "bytes": bad.hex()},
                )
            return text[1:] if text.startswith("\ufeff") else text
        ctx.halt(
            "text.not_text",
            f"text input must be str or UTF-8 bytes; received {echo(value)} of type "
            f"{type(value).__name__}. Convert it to str first.",
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(max_bytes=self.max_bytes)
        return config


@register_stage()
class HtmlEscape(Encoder):
    """Escape ``& < >`` (and quotes) for display in an HTML context.

    Example:
        >>> HtmlEscape().run('<b title="x">').value
        '&lt;b title=&quot;x&quot;&gt;'
    """

    modality = "text"

    def __init__(self, quote: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.quote = bool(quote)

    def process(self, value: Any, ctx: Context) -> Any:
        return html.escape(require_str(ctx, value), quote=self.quote)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(quote=self.quote)
        return config


@register_stage()
class JsonEscape(Encoder):
    """Escape text for embedding inside a JSON string literal (no surrounding quotes).

    ``<``, ``>`` and ``&`` become ``\\u003c``-style escapes too, so the result is
    also safe inside an HTML ``<script>`` block.

    Example:
        >>> JsonEscape().run('say "hi"\\n</script>').value
        'say \\\\"hi\\\\"\\\\n\\\\u003c/script\\\\u003e'
    """

    modality = "text"

    def __init__(self, ensure_ascii: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ensure_ascii = bool(ensure_ascii)

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        out = json.dumps(text, ensure_ascii=self.ensure_ascii)[1:-1]
        out = out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(ensure_ascii=self.ensure_ascii)
        return config


def _visible(char: str) -> str:
    cp = ord(char)
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


@register_stage()
class EscapeNonPrintable(Encoder):
    """Make non-printable characters visible as escapes (``\\u202e``), for logs and review.

    Tab and newline are kept unless ``keep`` says otherwise.

    Example:
        >>> EscapeNonPrintable().run("a\\u202eb\\tc").value
        'a\\\\u202eb\\tc'
    """

    modality = "text"

    def __init__(self, keep: str = "\t\n", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(keep, str):
            from keras_sanitize.errors import ConfigError

            raise ConfigError(f"EscapeNonPrintable: keep must be a str. Received: keep={keep!r}")
        self.keep = keep

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        if text.isprintable():
            return text
        keep = self.keep
        return "".join(c if c.isprintable() or c in keep else _visible(c) for c in text)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(keep=self.keep)
        return config


_SPACES_RE = re.compile(r"[^\S\n]+")
_NEWLINES_RE = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_BLANKS_RE = re.compile(r"\n{3,}")


@register_stage()
class Whitespace(Encoder):
    """Canonicalize whitespace: one newline style, single spaces, stripped ends.

    Args:
        newlines: ``"keep"`` (normalized to ``\\n``, at most one blank line in a
            row) or ``"space"`` (every line break becomes a space).
        strip: strip leading and trailing whitespace.

    Example:
        >>> Whitespace().run("  a\\u00a0\\u2003b\\r\\n\\r\\n\\r\\nc  ").value
        'a b\\n\\nc'
    """

    modality = "text"

    def __init__(self, newlines: str = "keep", strip: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.newlines = check_choice(type(self).__name__, "newlines", newlines, ("keep", "space"))
        self.strip = bool(strip)

    def process(self, value: Any, ctx: Context) -> Any:
        text = _NEWLINES_RE.sub("\n", require_str(ctx, value))
        if self.newlines == "space":
            text = text.replace("\n", " ")
        text = _SPACES_RE.sub(" ", text)
        if self.newlines == "keep":
            text = _BLANKS_RE.sub("\n\n", text.replace(" \n", "\n").replace("\n ", "\n"))
        out = text.strip() if self.strip else text
        if out != value:
            ctx.add(
                "text.whitespace",
                "whitespace was canonicalized (single spaces, \\n line breaks)",
                severity=Severity.INFO,
                action=Action.SANITIZE,
            )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(newlines=self.newlines, strip=self.strip)
        return config
