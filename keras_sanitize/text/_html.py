"""HTML cleaning engines behind :class:`keras_sanitize.text.filters.HtmlSanitizer`.

Two engines with one contract, ``clean(text) -> str``: ``nh3`` (Rust ammonia,
the default) and ``bleach`` (html5lib). bleach keeps the *text* of elements it
strips, so the contents of ``<script>``/``<style>`` and friends are removed
first by a linear scan that follows HTML's own rule (an unclosed ``<script>``
swallows the rest of the document).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["URL_ATTRIBUTES", "BleachEngine", "Nh3Engine", "browser_scheme", "drop_element_contents",
           "markup_complexity"]

#: Attributes a browser follows or fetches as a URL.
URL_ATTRIBUTES = frozenset({
    "action", "archive", "background", "cite", "classid", "codebase", "data", "datasrc", "dynsrc",
    "formaction", "href", "icon", "longdesc", "lowsrc", "manifest", "ping", "poster", "profile", "src",
    "srcset", "usemap", "xlink:href", "xml:base",
})
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_NEWLINE = re.compile("[\t\n\r]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_ATTR = re.compile(r"""[\s"'/][^\s"'<>/=]+\s*=""")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
                   "param", "source", "track", "wbr"})


def browser_scheme(value: str) -> str | None:
    """The scheme a browser reads in an attribute URL (WHATWG URL parsing), lower-cased; ``None`` if relative.

    Character references are decoded, leading and trailing C0 controls and spaces
    stripped, tabs and newlines removed anywhere, and the scheme case-folded, as
    Chromium does before it follows a link.

    Example:
        >>> browser_scheme(" \\x01JaVa&#x09;script&colon;alert(1)"), browser_scheme("/a:b"), browser_scheme("HTTPS://x")
        ('javascript', None, 'https')
    """
    url = _TAB_NEWLINE.sub("", html.unescape(value).strip(_C0_AND_SPACE))
    m = _SCHEME.match(url)
    return m.group(1).lower() if m else None


def markup_complexity(text: str) -> tuple[int, int, int]:
    """``(tags, depth, attributes)`` of markup, counted in one linear pass, before any parser runs.

    ``depth`` is the most elements open at once (start tags minus end tags, void
    elements excluded): an upper bound of the parser's stack of open elements.

    Example:
        >>> markup_complexity('<b title="x"><i>a</i></b><br>')
        (5, 2, 1)
    """
    tags = depth = deepest = 0
    for m in _TAG.finditer(text):
        tags += 1
        if m.group(1):
            depth = max(0, depth - 1)
        elif m.group(2).lower() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
    attributes = sum(1 for _ in _ATTR.finditer(text)) if tags else 0
    return tags, deepest, attributes


def drop_element_contents(text: str, tags: Iterable[str]) -> str:
    """Remove ``<tag ...>...</tag>`` including contents, case-insensitively, in linear time.

    Example:
        >>> drop_element_contents("a<SCRIPT>x</script >b<style>c", ["script", "style"])
        'ab'
    """
    names = tuple(t.lower() for t in tags)
    lower = text.lower()
    n = len(text)

    def opener(name: str, start: int) -> int:
        i = lower.find("<" + name, start)
        while i != -1:
            after = lower[i + 1 + len(name) : i + 2 + len(name)]
            if after == "" or after in " \t\n\r\f/>":
                return i
            i = lower.find("<" + name, i + 1)
        return n

    nxt = {name: opener(name, 0) for name in names}
    out: list[str] = []
    pos = 0
    while pos < n and nxt:
        for name, i in nxt.items():
            if i < pos:
                nxt[name] = opener(name, pos)
        tag = min(nxt, key=nxt.__getitem__)
        best = nxt[tag]
        if best >= n:
            break
        out.append(text[pos:best])
        end = lower.find("</" + tag, best)
        close = -1 if end == -1 else lower.find(">", end)
        pos = n if close == -1 else close + 1
    out.append(text[pos:])
    return "".join(out)


class Nh3Engine:
    """nh3 (ammonia) with a reusable, thread-safe ``nh3.Cleaner``."""

    def __init__(
        self,
        tags: frozenset[str],
        attributes: Mapping[str, frozenset[str]],
        url_schemes: frozenset[str],
        clean_content_tags: frozenset[str],
    ) -> None:
        import nh3

        self._cleaner = nh3.Cleaner(
            tags=set(tags),
            clean_content_tags=set(clean_content_tags - tags),
            attributes={k: set(v) for k, v in attributes.items()},
            url_schemes=set(url_schemes),
            strip_comments=True,
            link_rel="noopener noreferrer",
        )

    def clean(self, text: str) -> str:
        out: str = self._cleaner.clean(text)
        return out


class BleachEngine:
    """bleach (html5lib); one ``bleach.Cleaner`` per thread (it is not thread-safe)."""

    def __init__(
        self,
        tags: frozenset[str],
        attributes: Mapping[str, frozenset[str]],
        url_schemes: frozenset[str],
        clean_content_tags: frozenset[str],
    ) -> None:
        allowed = {k: frozenset(v) for k, v in attributes.items()}
        schemes = frozenset(url_schemes)
        everywhere = allowed.get("*", frozenset())

        def allow(tag: str, name: str, value: str) -> bool:
            # bleach's own URL check reads "javascript:123" as a relative path (Python's urlparse
            # takes "123" for a port) and misses " javascript:"; a browser reads both as javascript:.
            if name not in allowed.get(tag, everywhere) and name not in everywhere:
                return False
            if name in URL_ATTRIBUTES:
                urls = value.split(",") if name == "srcset" else [value]
                return all(browser_scheme(u.strip().split(" ", 1)[0] if name == "srcset" else u)
                           in (None, *schemes) for u in urls)
            return True

        self._args: dict[str, Any] = {
            "tags": set(tags),
            "attributes": allow,
            "protocols": set(url_schemes),
            "strip": True,
            "strip_comments": True,
        }
        self._drop = tuple(sorted(clean_content_tags - tags))
        self._local = threading.local()

    def clean(self, text: str) -> str:
        cleaner = getattr(self._local, "cleaner", None)
        if cleaner is None:
            import bleach

            cleaner = bleach.Cleaner(**self._args)
            self._local.cleaner = cleaner
        out: str = cleaner.clean(drop_element_contents(text, self._drop))
        return out
