"""Text validators: they look and never change the text.

Length (characters, bytes, tokens), control characters and lone surrogates,
allowed characters by category and script, repetition floods, plus the
Unicode-attack validators (bidi controls, invisible and tag characters,
confusables) re-exported from :mod:`keras_sanitize.text._unicode_validators`.

Every check has an ASCII or "nothing to see" fast path, and every pattern is
either a plain character class (linear in the text) or runs under the
``regex`` module's timeout.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import regex

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Severity, echo
from keras_sanitize.stage import Context, Validator, check_number
from keras_sanitize.text._limits import DEFAULT_LIMITS
from keras_sanitize.text._unicode_validators import BidiControls, Confusables, InvisibleChars
from keras_sanitize.text.encoders import require_str

__all__ = [
    "BidiControls",
    "Charset",
    "Confusables",
    "ControlChars",
    "InvisibleChars",
    "Repetition",
    "TextLength",
]

#: Default character budget: 100 000 characters (~25k tokens).
DEFAULT_MAX_CHARS: int = DEFAULT_LIMITS.max_chars
#: Controls allowed by default: tab, newline, carriage return.
DEFAULT_ALLOWED_CONTROLS: str = "\t\n\r"
#: Seconds a ``regex`` pattern may run before the input is refused.
REGEX_TIMEOUT: float = 0.5

_C0_ASCII = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"


@register_stage()
class TextLength(Validator):
    """Limit length in characters, UTF-8 bytes and (optionally) tokens.

    Args:
        max_chars: most characters allowed (``None``: no limit). Keep a limit on untrusted
            text: the HTML engines are quadratic on deeply nested tags (nh3 took 0.85-3.2 s
            on 800k characters of them; docs/text.md).
        max_bytes: most UTF-8 bytes allowed (``None``: no limit).
        min_chars: fewest characters required (default 0: empty text is fine).
        max_tokens: token budget, counted by ``tokenizer`` (a callable
            ``str -> sequence`` or ``str -> int``). The tokenizer is code, not
            config: it is left out of ``get_config`` and must be passed again.

    Example:
        >>> TextLength(max_chars=5).run("too long").codes
        ('text.too_long',)
        >>> TextLength(max_tokens=2, tokenizer=str.split).run("one two three").codes
        ('text.too_many_tokens',)
    """

    modality = "text"

    def __init__(
        self,
        max_chars: int | None = DEFAULT_MAX_CHARS,
        max_bytes: int | None = None,
        min_chars: int = 0,
        max_tokens: int | None = None,
        tokenizer: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.max_chars = check_number(owner, "max_chars", max_chars, minimum=0, integer=True, allow_none=True)
        self.max_bytes = check_number(owner, "max_bytes", max_bytes, minimum=0, integer=True, allow_none=True)
        self.min_chars = check_number(owner, "min_chars", min_chars, minimum=0, integer=True)
        self.max_tokens = check_number(
            owner, "max_tokens", max_tokens, minimum=0, integer=True, allow_none=True
        )
        if tokenizer is not None and not callable(tokenizer):
            raise ConfigError(f"{owner}: tokenizer must be a callable. Received: tokenizer={tokenizer!r}")
        if self.max_tokens is not None and tokenizer is None:
            raise ConfigError(f"{owner}: max_tokens needs a tokenizer callable. Received: tokenizer=None")
        self.tokenizer = tokenizer

    def check(self, value: Any, ctx: Context) -> None:
        text = require_str(ctx, value)
        n = len(text)
        if self.max_chars is not None and n > self.max_chars:
            ctx.halt(
                "text.too_long",
                f"text has {n} characters; limit is {self.max_chars} (max_chars)",
                severity=Severity.MEDIUM,
                detail={"chars": n, "limit": self.max_chars},
            )
        if n < self.min_chars:
            ctx.add(
                "text.too_short",
                f"text has {n} characters; at least {self.min_chars} required (min_chars)",
                severity=Severity.LOW,
                detail={"chars": n, "limit": self.min_chars},
            )
        if self.max_bytes is not None and n * 4 > self.max_bytes:
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > self.max_bytes:
                ctx.halt(
                    "text.too_many_bytes",
                    f"text has {size} UTF-8 bytes; limit is {self.max_bytes} (max_bytes)",
                    detail={"bytes": size, "limit": self.max_bytes},
                )
        if self.max_tokens is not None and self.tokenizer is not None:
            self._check_tokens(text, ctx)

    def _check_tokens(self, text: str, ctx: Context) -> None:
        assert self.tokenizer is not None
        try:
            tokens = self.tokenizer(text)
            count = tokens if isinstance(tokens, int) else len(tokens)
        except Exception as exc:
            ctx.add(
                "text.tokenizer_failed",
                f"the tokenizer raised {type(exc).__name__} on this text; the token budget "
                f"could not be checked",
                severity=Severity.HIGH,
            )
            return
        if self.max_tokens is not None and count > self.max_tokens:
            ctx.halt(
                "text.too_many_tokens",
                f"text has {count} tokens; limit is {self.max_tokens} (max_tokens)",
                detail={"tokens": count, "limit": self.max_tokens},
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            max_chars=self.max_chars,
            max_bytes=self.max_bytes,
            min_chars=self.min_chars,
            max_tokens=None,  # the tokenizer is code and does not serialize
        )
        return config

    def _pickle_args(self) -> dict[str, Any]:
        # A pickle carries the tokenizer (code), so it keeps the token budget too.
        args = super()._pickle_args()
        args["max_tokens"] = self.max_tokens
        return args


@register_stage()
class ControlChars(Validator):
    """Refuse NUL and C0/C1 control characters (except ``allowed``) and lone surrogates.

    Noncharacters U+FFFE/U+FFFF are refused too: no text legitimately holds them.

    Example:
        >>> ControlChars().run("tab\\tok").ok
        True
        >>> ControlChars().run("nul\\x00").findings[0].span
        (3, 4)
    """

    modality = "text"

    def __init__(self, allowed: str = DEFAULT_ALLOWED_CONTROLS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(allowed, str):
            raise ConfigError(f"ControlChars: allowed must be a str. Received: allowed={allowed!r}")
        self.allowed = allowed
        bad = "".join(f"\\x{i:02x}" for i in [*range(0x20), 0x7F] if chr(i) not in allowed)
        self._ascii_re = re.compile(f"[{bad}]" if bad else "(?!)")
        # ASCII fast path: bytes.translate deletes the forbidden bytes at C speed
        self._bad_bytes = bytes(i for i in [*range(0x20), 0x7F] if chr(i) not in allowed)
        c1 = "".join(f"\\x{i:02x}" for i in range(0x80, 0xA0) if chr(i) not in allowed)
        self._full_re = re.compile(f"[{bad}{c1}\ud800-\udfff\ufffe\uffff]")

    def check(self, value: Any, ctx: Context) -> None:
        text = require_str(ctx, value)
        if text.isascii():
            raw = text.encode("ascii")
            if len(raw.translate(None, self._bad_bytes)) == len(raw):
                return
            pattern = self._ascii_re
        else:
            pattern = self._full_re
        match = pattern.search(text)
        if match is None:
            return
        total = sum(1 for _ in pattern.finditer(text)) if len(text) < 1 << 20 else None
        char = match.group()
        surrogate = "\ud800" <= char <= "\udfff"
        code = "text.lone_surrogate" if surrogate else "text.control_char"
        what = "a lone surrogate" if surrogate else "a control character"
        ctx.add(
            code,
            f"text contains {what} {char.encode('unicode_escape', 'backslashreplace').decode()!s} at "
            f"offset {match.start()} ({total if total is not None else 'many'} in all); only "
            f"{echo(self.allowed)} are allowed. Remove them on the client.",
            severity=Severity.HIGH,
            span=(match.start(), match.end()),
            detail={"codepoint": f"U+{ord(char):04X}", "count": total},
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(allowed=self.allowed)
        return config


def _class_items(name: str, items: Iterable[str] | None, kind: str) -> tuple[str, ...] | None:
    if items is None:
        return None
    if isinstance(items, str) or not all(isinstance(x, str) and x for x in items):
        raise ConfigError(f"Charset: {name} must be a list of {kind} names. Received: {name}={items!r}")
    out = tuple(items)
    for x in out:
        try:
            regex.compile(rf"\p{{{x}}}")
        except regex.error:
            raise ConfigError(f"Charset: unknown {kind} {x!r} in {name}") from None
    return out


@register_stage()
class Charset(Validator):
    """Allowed characters by Unicode category and script (``regex``'s ``\\p{...}``).

    A character passes when it is in ``allow_chars`` or matches one of the
    allowed categories/scripts (when any are given), and is not in
    ``deny_chars`` nor any denied category/script.

    Args:
        allow: category or script names (``"L"``, ``"Nd"``, ``"Latin"``,
            ``"Han"``...); ``None`` allows everything not denied.
        deny: category or script names to refuse.
        allow_chars / deny_chars: explicit characters.

    Example:
        >>> Charset(allow=["Latin", "Zs", "P", "Nd"]).run("hello, world 42").ok
        True
        >>> Charset(allow=["Latin", "Zs"]).run("hello мир").codes
        ('text.charset',)
    """

    modality = "text"

    def __init__(
        self,
        allow: Iterable[str] | None = None,
        deny: Iterable[str] | None = None,
        allow_chars: str = "",
        deny_chars: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.allow = _class_items("allow", allow, "category/script")
        self.deny = _class_items("deny", deny, "category/script")
        if not isinstance(allow_chars, str) or not isinstance(deny_chars, str):
            raise ConfigError("Charset: allow_chars and deny_chars must be str")
        self.allow_chars = allow_chars
        self.deny_chars = deny_chars
        parts = []
        if self.allow is not None:
            ok = "".join(rf"\p{{{x}}}" for x in self.allow) + regex.escape(allow_chars, special_only=False)
            parts.append(f"[^{ok}]" if ok else r"[\s\S]")
        denied = "".join(rf"\p{{{x}}}" for x in self.deny or ()) + (
            regex.escape(deny_chars, special_only=False) if deny_chars else ""
        )
        if denied:
            keep = regex.escape(allow_chars, special_only=False) if allow_chars else ""
            parts.append(f"[{denied}--[{keep}]]" if keep else f"[{denied}]")
        self._bad = regex.compile("|".join(parts), regex.V1) if parts else None

    def check(self, value: Any, ctx: Context) -> None:
        text = require_str(ctx, value)
        if self._bad is None:
            return
        try:
            match = self._bad.search(text, timeout=REGEX_TIMEOUT)
        except TimeoutError:
            ctx.add(
                "text.regex_timeout", "charset check timed out; the text was refused", severity=Severity.HIGH
            )
            return
        if match is not None:
            char = match.group()
            ctx.add(
                "text.charset",
                f"character {echo(char)} (U+{ord(char):04X}) at offset {match.start()} is not "
                f"allowed (allow={list(self.allow) if self.allow else None}, "
                f"deny={list(self.deny) if self.deny else None})",
                severity=Severity.MEDIUM,
                span=(match.start(), match.end()),
                detail={"codepoint": f"U+{ord(char):04X}"},
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            allow=list(self.allow) if self.allow is not None else None,
            deny=list(self.deny) if self.deny is not None else None,
            allow_chars=self.allow_chars,
            deny_chars=self.deny_chars,
        )
        return config


@register_stage()
class Repetition(Validator):
    """Refuse repetition floods ("poem poem poem...", "AAAA...") that waste or derail a model.

    The text is compressed in windows of ``window`` characters (zlib, level 1,
    linear time); a window that compresses below ``max_ratio`` of its size is
    a flood. Ordinary prose compresses to ~40%, code and tables to ~15-25%.

    Example:
        >>> Repetition().run("ha " * 2000).codes
        ('text.repetition_flood',)
        >>> Repetition().run("An ordinary sentence.").ok
        True
    """

    modality = "text"

    def __init__(self, window: int = 4096, max_ratio: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.window = check_number(owner, "window", window, minimum=256, integer=True)
        self.max_ratio = float(check_number(owner, "max_ratio", max_ratio, minimum=0.0, maximum=1.0))

    def check(self, value: Any, ctx: Context) -> None:
        text = require_str(ctx, value)
        w = self.window
        if len(text) < w:
            return
        starts = list(range(0, len(text) - w + 1, w))
        if starts[-1] != len(text) - w:
            starts.append(len(text) - w)  # the tail, overlapping the last full window
        for start in starts:
            chunk = text[start : start + w].encode("utf-8", "surrogatepass")
            ratio = len(zlib.compress(chunk, 1)) / len(chunk)
            if ratio < self.max_ratio:
                ctx.add(
                    "text.repetition_flood",
                    f"characters {start}-{start + w} repeat so much that they compress to "
                    f"{ratio:.1%} of their size; limit is {self.max_ratio:.0%} (max_ratio). "
                    f"Received {echo(text[start : start + 40])}",
                    severity=Severity.MEDIUM,
                    span=(start, start + w),
                    detail={"ratio": round(ratio, 4)},
                )
                return

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(window=self.window, max_ratio=self.max_ratio)
        return config
