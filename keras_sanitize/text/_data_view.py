"""Segments of an untrusted document, with spans, for the data-channel detector.

:func:`segments` turns a document (plain text, e-mail, markdown, HTML, a table, code) into
the places an instruction can hide, each with its character span in the document:

* a *view* of the document of the same length is scanned, in which HTML tags are blanked
  (a tag becomes a line break and spaces, so its text never joins a neighbour's), while the
  values of ``alt``, ``title``, ``aria-label`` and ``placeholder`` attributes and the text of
  comments stay in place; Unicode tag characters (U+E0020-E007E, invisible ASCII) are shown
  as the ASCII they smuggle; zero-width characters are dropped (with an offset map back);
* the view is split into lines, table cells (``|``, tabs) and sentences (``. ! ?`` followed by
  a space, and ``。！？`` anywhere); long pieces are cut at spaces;
* each segment says *where* it is: ``text``, ``comment``, ``attribute``, ``hidden`` (inside
  an element styled ``display:none``, ``visibility:hidden``, ``font-size:0``, ``opacity:0``
  or white/transparent text) or ``invisible`` (made of tag characters).

Everything here is linear in the document's length; no regex can backtrack badly on it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Segment", "View", "block_end", "segments", "view"]

#: Longest segment scored as one piece (longer lines are cut at a space).
MAX_SEGMENT_CHARS = 400
_TAG_RE = re.compile(r"<[A-Za-z/?][^<>]{0,4000}>?")
_ATTR_RE = re.compile(r"""\b(alt|title|aria-label|placeholder)\s*=\s*("[^"]*"|'[^']*')""", re.I)
_STYLE_RE = re.compile(r"""\bstyle\s*=\s*("[^"]*"|'[^']*')""", re.I)
_HIDDEN_RE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])"
    r"|opacity\s*:\s*0(?![.\d]*[1-9])|(?<![-\w])color\s*:\s*(?:#fff\b|#ffffff\b|white\b|transparent\b"
    r"|rgba\([^)]{0,40},\s*0\s*\))",
    re.I,
)
_NAME_RE = re.compile(r"<\s*([A-Za-z][A-Za-z0-9-]*)")
_BLANKED = ("style", "script")  # element contents that are code, not prose (blanked)
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u034f"
_ZW_RE = re.compile(f"[{_ZERO_WIDTH}]")
_TAGCHAR_RE = re.compile("[\U000e0020-\U000e007e]+")
_PIECE_RE = re.compile(r"[^\n\r\t|\u2028\u2029\x0b\x0c]+")
_SENT_END_RE = re.compile(
    r"(?:[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)|[\u3002\uff01\uff1f\u061f\u0964\u0965]+)"
)
_FENCE_RE = re.compile(r"\s*(```|~~~)")


@dataclass(frozen=True)
class Segment:
    """One place of a document: its span ``[start, end)`` in the document, its text and where it is."""

    start: int
    end: int
    text: str
    where: str = "text"


@dataclass(frozen=True)
class View:
    """The scanned view of a document: ``text``, and for each of its characters the offset in
    the document (``None``: the same offset); plus the document's hidden regions."""

    text: str
    offsets: npt.NDArray[np.int64] | None
    regions: tuple[tuple[int, int, str], ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The document span of the view's ``[start, end)``."""
        if self.offsets is None or end <= start:
            return start, end
        return int(self.offsets[start]), int(self.offsets[end - 1]) + 1

    def where(self, pos: int) -> str:
        """Where the view's character at ``pos`` is (``text`` unless inside a hidden region)."""
        for a, b, kind in self.regions:
            if a <= pos < b:
                return kind
        return "text"


def _blank(chars: list[str], start: int, end: int) -> None:
    if end > start:
        chars[start] = "\n"
        for i in range(start + 1, end):
            chars[i] = " " if chars[i] != "\n" else "\n"


def _markup(text: str, chars: list[str], regions: list[tuple[int, int, str]]) -> None:
    """Blank tags in ``chars`` (same length as ``text``); record comments, attributes, hidden text."""
    pos = 0
    n = len(text)
    lower = text.lower()
    while True:
        lt = text.find("<", pos)
        if lt < 0 or lt + 1 >= n:
            return
        if text.startswith("<!--", lt):
            close = text.find("-->", lt + 4)
            stop = n if close < 0 else close
            _blank(chars, lt, lt + 4)
            if close >= 0:
                _blank(chars, close, close + 3)
                chars[close + 2] = "\n"
            regions.append((lt + 4, stop, "comment"))
            pos = stop + 3
            continue
        m = _TAG_RE.match(text, lt)
        if m is None:
            pos = lt + 1
            continue
        tag = m.group()
        _blank(chars, m.start(), m.end())
        for a in _ATTR_RE.finditer(tag):
            s, e = m.start() + a.start(2) + 1, m.start() + a.end(2) - 1
            chars[s - 1] = "\n"
            chars[s:e] = text[s:e]
            if e < m.end():
                chars[e] = "\n"
            regions.append((s, e, "attribute"))
        name_m = _NAME_RE.match(tag)
        name = name_m.group(1).lower() if name_m else ""
        style = _STYLE_RE.search(tag)
        if name in _BLANKED or (style is not None and _HIDDEN_RE.search(style.group(1))):
            close = lower.find(f"</{name}", m.end()) if name else -1
            stop = n if close < 0 else close
            if name in _BLANKED:
                _blank(chars, m.end(), stop)
            else:
                regions.append((m.end(), stop, "hidden"))
            if name in _BLANKED:
                pos = stop
                continue
        pos = m.end()


def view(text: str) -> View:
    """The view of ``text`` that is segmented and scanned (see the module docstring).

    Example:
        >>> v = view("<p>Hi <img alt='look here'></p>")
        >>> v.text.split()
        ['Hi', 'look', 'here']
        >>> v.where(v.text.index("look"))
        'attribute'
    """
    if "<" not in text and text.isascii():
        return View(text, None, ())
    regions: list[tuple[int, int, str]] = []
    chars: list[str] | None = None
    if "<" in text:
        chars = list(text)
        _markup(text, chars, regions)
    if not text.isascii():
        for m in _TAGCHAR_RE.finditer(text):
            if chars is None:
                chars = list(text)
            chars[m.start() : m.end()] = [chr(ord(c) - 0xE0000) for c in m.group()]
            regions.append((m.start(), m.end(), "invisible"))
    out = text if chars is None else "".join(chars)
    if not out.isascii() and _ZW_RE.search(out):
        keep = np.array([c not in _ZERO_WIDTH for c in out], dtype=bool)
        offsets = np.flatnonzero(keep).astype(np.int64)
        squeezed = _ZW_RE.sub("", out)
        # regions are in document offsets; map them to the squeezed view
        mapped = tuple(
            (int(np.searchsorted(offsets, a)), int(np.searchsorted(offsets, b)), k) for a, b, k in regions
        )
        return View(squeezed, offsets, tuple(sorted(mapped)))
    return View(out, None, tuple(sorted(regions)))


def _pieces(v: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut ``v[start:end]`` into sentences, and sentences longer than the limit at spaces."""
    out: list[tuple[int, int]] = []
    s = start
    for m in _SENT_END_RE.finditer(v, start, end):
        out.append((s, m.end()))
        s = m.end()
    out.append((s, end))
    cut: list[tuple[int, int]] = []
    for a, b in out:
        while b - a > MAX_SEGMENT_CHARS:
            sp = v.rfind(" ", a + MAX_SEGMENT_CHARS // 2, a + MAX_SEGMENT_CHARS)
            c = sp if sp > a else a + MAX_SEGMENT_CHARS
            cut.append((a, c))
            a = c
        cut.append((a, b))
    return cut


def _lines(v: str) -> list[tuple[int, int]]:
    """Lines and cells of ``v``; a line wrapped inside a sentence (no end mark, the next line
    going on in lower case) is joined with the next, so wrapped prose is scored as sentences."""
    out: list[tuple[int, int]] = []
    for m in _PIECE_RE.finditer(v):
        a, b = m.start(), m.end()
        if out:
            pa, pb = out[-1]
            prev = v[pa:pb].rstrip()
            nxt = v[a:b].lstrip()
            if (
                v[pb:a] == "\n"
                and len(prev) >= 30
                and (prev[-1].isalpha() or prev[-1] == ",")
                and nxt[:1].isalpha()
                and nxt[:1].islower()
                and " " in nxt
            ):
                out[-1] = (pa, b)
                continue
        out.append((a, b))
    return out


def _split_at(pieces: list[tuple[int, int]], cuts: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in pieces:
        k = bisect.bisect_right(cuts, a)
        while k < len(cuts) and cuts[k] < b:
            out.append((a, cuts[k]))
            a = cuts[k]
            k += 1
        out.append((a, b))
    return out


def segments(text: str, v: View | None = None, min_letters: int = 2) -> list[Segment]:
    """The segments of ``text`` (in document order), each with its span in ``text``.

    Example:
        >>> [s.text for s in segments("Hello Bob. See you at 5!\\n| a cell | other cell |")]
        ['Hello Bob.', 'See you at 5!', 'a cell', 'other cell']
    """
    v = view(text) if v is None else v
    out: list[Segment] = []
    starts = [r[0] for r in v.regions]
    # invisible (tag-character) text has no line break around it: cut there too
    cuts = sorted({x for a, b, k in v.regions if k == "invisible" for x in (a, b)})
    for la, lb in _lines(v.text):
        pieces = _pieces(v.text, la, lb)
        if cuts:
            pieces = _split_at(pieces, cuts)
        for a, b in pieces:
            piece = v.text[a:b]
            lead = len(piece) - len(piece.lstrip())
            a, b = a + lead, b - (len(piece) - len(piece.rstrip()))
            if b <= a:
                continue
            seg = v.text[a:b]
            letters = 0
            for ch in seg:
                if ch.isalpha():
                    letters += 1
                    if letters >= min_letters:
                        break
            if letters < min_letters:
                continue
            where = "text"
            k = bisect.bisect_right(starts, a) - 1
            for j in range(k, max(-1, k - 8), -1):  # nested regions: look a few back
                ra, rb, kind = v.regions[j]
                if ra <= a < rb:
                    where = kind
                    break
            s, e = v.span(a, b)
            out.append(Segment(s, e, seg, where))
    return out


def block_end(text: str, end: int, limit: int = 2000) -> int:
    """Where the block announced by a ``:`` at ``end`` ends: a fenced code block, a quoted or
    indented block, else the next paragraph (up to a blank line); at most ``limit`` characters on.

    Example:
        >>> t = "Add this to your reply:\\n```\\nprint(1)\\n```\\nThanks"
        >>> t[: block_end(t, 23)].endswith("```")
        True
    """
    stop = min(len(text), end + limit)
    fence = _FENCE_RE.match(text, end, stop)
    if fence is not None:
        close = text.find(fence.group(1), fence.end(), stop)
        return stop if close < 0 else close + 3
    para = text.find("\n\n", end, stop)
    nl = text.find("\n", end, stop)
    if nl == end or (nl >= 0 and text[end:nl].strip() == ""):
        # the block starts on the next line: up to the blank line that ends it
        para = text.find("\n\n", nl + 1, stop)
    return stop if para < 0 else para
