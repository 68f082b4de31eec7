"""Text filters: remove dangerous markup, links, template fragments and invisible characters.

Each filter returns the cleaned text and reports what it removed. Text with
nothing to remove passes through unchanged, byte for byte (fast paths: ``a < b``
is not HTML). Patterns run on RE2, which guarantees linear time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import re2

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Filter, check_choice
from keras_sanitize.text import _unicode as U
from keras_sanitize.text._html import BleachEngine, Nh3Engine
from keras_sanitize.text._links import (
    DEFAULT_BAD_SCHEMES,
    DEFAULT_FRAGMENT_PATTERNS,
    FragmentFilter,
    LinkFilter,
)
from keras_sanitize.text._unicode import frozen_names as _frozen
from keras_sanitize.text._unicode import recompose as _recompose
from keras_sanitize.text.encoders import require_str

__all__ = [
    "DEFAULT_BAD_SCHEMES",
    "DEFAULT_FRAGMENT_PATTERNS",
    "FragmentFilter",
    "HtmlSanitizer",
    "LinkFilter",
    "StripInvisible",
    "UnicodeNormalize",
]

#: Tags kept by ``mode="strip"``: text formatting only (no images, forms, media, frames).
DEFAULT_TAGS: frozenset[str] = frozenset(
    [
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "dd",
        "del",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "ins",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
)
#: Attributes kept per tag.
DEFAULT_ATTRIBUTES: Mapping[str, frozenset[str]] = MappingProxyType({
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
})
#: URL schemes allowed in kept attributes.
DEFAULT_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
#: Elements removed together with their contents.
DEFAULT_CLEAN_CONTENT_TAGS: frozenset[str] = frozenset(
    {
        "script",
        "style",
        "iframe",
        "noscript",
        "template",
        "xmp",
        "noembed",
        "noframes",
        "object",
        "embed",
        "math",
        "svg",
    }
)
_DANGER_RE = re2.compile(  # RE2: "<\s*/?\s*" would be quadratic under backtracking
    r"(?i)<\s*/?\s*(?:script|iframe|object|embed|svg|math|style|base|meta|link|form|frame|applet)\b"
    r"|\son[a-z]+\s*=|(?:java|vb|live)script\s*:|data\s*:\s*text/html"
)
_CONTROLS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_TAG_NAME_RE = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)")
_MODES = ("strip", "escape", "reject", "allow")
_ENGINES = ("nh3", "bleach")


#: Longest unclosed tag or comment the bleach engine is given (html5lib is quadratic on
#: attribute and comment floods such as ``<a <a <a ...``).
MAX_TAG_CHARS = 8192


def _longest_tag(text: str) -> tuple[int, int]:
    """The longest span from a markup start to the next ``>`` (linear), and where it starts."""
    longest = at = 0
    pos = 0
    while True:
        m = U.MARKUP_RE.search(text, pos)
        if m is None:
            return longest, at
        close = text.find(">", m.start())
        end = len(text) if close == -1 else close
        if end - m.start() > longest:
            longest, at = end - m.start(), m.start()
        if close == -1:
            return longest, at
        pos = close + 1


@register_stage()
class HtmlSanitizer(Filter):
    """Remove dangerous HTML with ``nh3`` (default) or ``bleach``, or escape or refuse markup.

    Args:
        engine: ``"nh3"`` (maintained, fast) or ``"bleach"``.
        mode: ``"strip"`` dangerous markup (keep ``tags``), ``"escape"`` all
            markup, ``"reject"`` any markup, or ``"allow"`` it unchanged.
        tags / attributes / url_schemes: what ``"strip"`` keeps.

    Text without markup (no ``<`` followed by a letter, ``/``, ``!`` or ``?``)
    passes through unchanged in every mode.

    Example:
        >>> HtmlSanitizer().run('hi <img src=x onerror=alert(1)><b>there</b>').value
        'hi <b>there</b>'
        >>> HtmlSanitizer(engine="bleach").run("a<script>alert(1)</script>b").value
        'ab'
        >>> HtmlSanitizer().run("if a < b && c > d").value
        'if a < b && c > d'
    """

    modality = "text"

    def __init__(
        self,
        engine: str = "nh3",
        mode: str = "strip",
        tags: Iterable[str] = DEFAULT_TAGS,
        attributes: Mapping[str, Iterable[str]] = DEFAULT_ATTRIBUTES,
        url_schemes: Iterable[str] = DEFAULT_URL_SCHEMES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.engine = check_choice(owner, "engine", engine, _ENGINES)
        self.mode = check_choice(owner, "mode", mode, _MODES)
        self.tags = _frozen(owner, "tags", tags)
        if not isinstance(attributes, Mapping):
            raise ConfigError(
                f"{owner}: attributes must map tag -> attribute names. Received: {attributes!r}"
            )
        self.attributes = {str(k): _frozen(owner, f"attributes[{k!r}]", v) for k, v in attributes.items()}
        self.url_schemes = _frozen(owner, "url_schemes", url_schemes)
        cls = Nh3Engine if self.engine == "nh3" else BleachEngine
        self._engine = cls(self.tags, self.attributes, self.url_schemes, DEFAULT_CLEAN_CONTENT_TAGS)

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        first = U.MARKUP_RE.search(text)
        if first is None or self.mode == "allow":
            return text
        tags = sorted({m.group(1).lower() for m in _TAG_NAME_RE.finditer(text[:100_000])})[:30]
        danger = _DANGER_RE.search(U.re2_safe(text))
        where = f"first at offset {first.start()}: {echo(text[first.start() : first.start() + 40])}"
        if self.mode == "reject":
            ctx.add(
                "text.html_markup",
                f"HTML markup is not allowed here (mode='reject'); found tags {tags}, {where}. "
                f"Send plain text, or use mode='strip'.",
                severity=Severity.HIGH if danger else Severity.MEDIUM,
                span=(first.start(), first.end()),
                detail={"tags": tags, "dangerous": danger is not None},
            )
            return text
        if self.engine == "bleach" and self.mode == "strip":
            longest, at = _longest_tag(text)
            if longest > MAX_TAG_CHARS:
                ctx.add(
                    "text.html_too_complex",
                    f"a tag or comment at offset {at} runs {longest} characters without closing; limit "
                    f"is {MAX_TAG_CHARS} for the bleach engine, whose parser slows down quadratically "
                    f"on such input. Use engine='nh3', or send shorter markup.",
                    severity=Severity.HIGH,
                    span=(at, at + 1),
                    detail={"chars": longest, "limit": MAX_TAG_CHARS},
                )
                return text
        if self.mode == "escape":
            out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        else:
            # Engines decode character references, so "&#1;" can come out as a raw control
            # character. Replace rather than delete: deleting could splice "java&#1;script:"
            # into a live "javascript:" URL.
            out = _recompose(text, _CONTROLS_RE.sub("\ufffd", self._engine.clean(text)))
        if out != text:
            removed = [t for t in tags if t not in self.tags] if self.mode == "strip" else tags
            ctx.add(
                "text.html_removed" if self.mode == "strip" else "text.html_escaped",
                f"HTML markup was {'cleaned' if self.mode == 'strip' else 'escaped'} "
                f"({self.engine}, mode={self.mode!r}): "
                f"{f'tags {removed} removed' if removed else 'disallowed attributes or markup removed'}"
                f"{', including script/event-handler/javascript: content' if danger else ''}; {where}",
                severity=Severity.HIGH if danger else Severity.LOW,
                action=Action.SANITIZE,
                span=(first.start(), first.end()),
                detail={"tags": removed, "dangerous": danger is not None, "engine": self.engine},
            )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            engine=self.engine,
            mode=self.mode,
            tags=sorted(self.tags),
            attributes={k: sorted(v) for k, v in sorted(self.attributes.items())},
            url_schemes=sorted(self.url_schemes),
        )
        return config


@register_stage()
class UnicodeNormalize(Filter):
    """Normalize to NFC (default) or NFKC.

    NFC only composes characters (no visible change) and is not reported;
    NFKC also folds compatibility forms (full-width letters, ligatures) and
    reports when it changed the text.

    Example:
        >>> UnicodeNormalize().run("e\\u0301").value == "\\u00e9"
        True
        >>> UnicodeNormalize("NFKC").run("ｉｇｎｏｒｅ").value
        'ignore'
    """

    modality = "text"

    def __init__(self, form: str = "NFC", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.form = check_choice(type(self).__name__, "form", form, ("NFC", "NFKC"))

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        if text.isascii() or unicodedata.is_normalized(self.form, text):
            return text
        out = unicodedata.normalize(self.form, text)
        if self.form == "NFKC":
            ctx.add(
                "text.normalized",
                "compatibility characters (full-width, ligatures, styled letters) were folded (NFKC)",
                severity=Severity.INFO,
                action=Action.SANITIZE,
            )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(form=self.form)
        return config


_STRIP_RE = re.compile(  # runs, so a flood costs one callback, not one per character
    "[\u034f\u115f\u1160\u180e\u200b\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0]+"
    "|[\U000e0000-\U000e007f]+"
)
_JOINER_RE = re.compile("[\u200c\u200d]")
_VS_RUN_RE = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}")


@register_stage()
class StripInvisible(Filter):
    """Remove bidi controls, tag characters, zero-width padding and variation-selector runs.

    ZWJ/ZWNJ stay where writing uses them (Persian, Indic, emoji sequences);
    LRM/RLM marks and single VS15/VS16 stay.

    Example:
        >>> StripInvisible().run("ig\\u200bno\\u202ere").value
        'ignore'
        >>> StripInvisible().run("می\\u200cخواهم").ok
        True
    """

    modality = "text"

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        if text.isascii() or not U.has_suspects(text):
            return text

        def drop(m: Any) -> str:
            if m.group()[0] >= "\U000e0000" and U.is_flag_tags(m.string, m.start(), m.end()):
                return str(m.group())
            return ""

        def judge(m: Any) -> str:
            return str(m.group()) if U.joiner_is_legit(m.string, m.start()) else ""

        out = U.BAD_JOINER_RE.sub("", text)  # padding joiners, judged on the input
        out = _STRIP_RE.sub(drop, out)
        out = _JOINER_RE.sub(judge, out) if "\u200c" in out or "\u200d" in out else out
        # Last: removing a joiner can merge variation selectors into a run.
        out = _VS_RUN_RE.sub(lambda m: "" if U.is_vs_flood(m.group()) else str(m.group()), out)
        removed = len(text) - len(out)
        if out != text:
            ctx.add(
                "text.invisible_removed",
                f"{removed} invisible/bidi/tag character(s) were removed",
                severity=Severity.LOW,
                action=Action.SANITIZE,
                detail={"removed": removed},
            )
        return out
