"""HTML cleaning engines behind :class:`keras_sanitize.text.filters.HtmlSanitizer`.

Two engines with one contract, ``clean(text) -> str``: ``nh3`` (Rust ammonia,
the default) and ``bleach`` (html5lib). bleach keeps the *text* of elements it
strips, so the contents of ``<script>``/``<style>`` and friends are removed
first by a linear scan that follows HTML's own rule (an unclosed ``<script>``
swallows the rest of the document).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BleachEngine", "Nh3Engine", "drop_element_contents"]


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
        self._args: dict[str, Any] = {
            "tags": set(tags),
            "attributes": {k: sorted(v) for k, v in attributes.items()},
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
