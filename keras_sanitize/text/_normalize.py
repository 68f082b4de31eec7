"""Views of a text for the prompt-injection matcher: normalized, de-obfuscated, decoded.

:func:`views` yields ``(name, text)`` pairs. The first, ``"text"``, is the
folded text (NFKC, case-folded, Latin accents removed, invisibles dropped)
with an offset map back to the input. The others undo one obfuscation each:
confusable skeleton, separators inside words (``i.g.n.o.r.e``), leetspeak,
words broken across lines (``Ig\\nnore``, ``prev-\\nious``), and encoded
segments (base64, hex, ROT13, reversed text, URL/HTML escapes, tag
characters, Morse code when most of the text is Morse). Each is built only
when the text could hold that trick, and every pattern here is a character
class or a bounded repetition (linear).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
from collections.abc import Iterator
from itertools import accumulate
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

import re2

from keras_sanitize.text import _unicode as U

__all__ = ["Folded", "fold", "views"]

_DROP = U.INVISIBLES | U.CONTEXT_JOINERS | U.BIDI_CONTROLS | {"\u00ad"}


def _fold_char(c: str) -> str:
    if c in _DROP or 0xE0000 <= ord(c) <= 0xE007F or 0xFE00 <= ord(c) <= 0xFE0F:
        return ""
    if "\ud800" <= c <= "\udfff":
        return "\ufffd"
    if "\u064b" <= c <= "\u065f" or c in "\u0670\u0640":
        return ""  # Arabic harakat and tatweel: optional vowel marks, stretched letters
    out = []
    for ch in unicodedata.normalize("NFKC", c).casefold():
        decomposed = unicodedata.normalize("NFD", ch)
        if decomposed[0].isascii() and len(decomposed) > 1:
            out.append(decomposed[0])
        elif unicodedata.category(ch) == "Mn" and "\u0300" <= ch <= "\u036f":
            continue
        else:
            out.append(ch)
    return "".join(out)


class _FoldTable(dict[int, str]):
    """Code point -> folded string, filled on first use (``str.translate`` calls ``__missing__``)."""

    def __missing__(self, key: int) -> str:
        value = _fold_char(chr(key))
        if len(self) < 100_000:
            self[key] = value
        return value


_FOLD = _FoldTable()


class Folded:
    """The folded view of a text and, on demand, the map from its offsets back to the input."""

    __slots__ = ("_ends", "_source", "text")

    def __init__(self, text: str, source: str | None) -> None:
        self.text = text
        self._source = source  # None: same offsets as the input
        self._ends: list[int] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` in the folded text to the input's offsets."""
        if self._source is None:
            return start, end
        if self._ends is None:
            self._ends = list(accumulate(len(_FOLD[ord(c)]) for c in self._source))
        from bisect import bisect_right

        return bisect_right(self._ends, start), bisect_right(self._ends, max(start, end - 1)) + 1


def fold(text: str) -> Folded:
    """Fold ``text`` for matching; ASCII text is only lower-cased (offsets unchanged).

    Example:
        >>> fold("ＩＧＮＯＲＥ Précédentes").text
        'ignore precedentes'
    """
    if text.isascii():
        return Folded(text.lower(), None)
    return Folded(text.translate(_FOLD), text)


_SPACED_RE = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][ .\-_*|+~/\\]){2,}[^\W\d_](?![^\W\d_])")
_LEET_TOKEN_RE = re.compile(r"[a-z0-9@$|!]+")  # maximal runs: linear


def _is_leet(token: str) -> bool:
    return not token.isalpha() and not token.isdigit() and any(c.isalpha() for c in token)


_LEET = str.maketrans("013457@$|!8", "oieastaslib")
#: International Morse code (letters and digits); letters are separated by spaces, words by
#: ``/`` or by two or more spaces or a line break.
MORSE = MappingProxyType({
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g",
    "....": "h", "..": "i", ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n",
    "---": "o", ".--.": "p", "--.-": "q", ".-.": "r", "...": "s", "-": "t", "..-": "u",
    "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z", "-----": "0",
    ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6",
    "--...": "7", "---..": "8", "----.": "9",
})  # fmt: skip
# Eight or more Morse letters in a row: the hint, and the runs that are decoded.
_MORSE_RUN = r"(?:[.-]{1,6}(?:[ \t]*/[ \t]*|[ \t\r\n]+)){7,}[.-]{1,6}"
_MORSE_RE = re2.compile(_MORSE_RUN)
#: Share of the text's non-space characters that Morse runs must cover to be decoded.
MORSE_SHARE = 0.5
_B64_RE = re2.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RE = re2.compile(r"(?:[0-9a-fA-F]{2}[ :]?){8,}")
# Cheap RE2 prefilters: a view is built only when its trick could be present.
_SPACED_HINT = re2.compile(r"(?:^|[^\pL\pN_])(?:\pL[ .\-_*|+~/\\]){2,}\pL(?:$|[^\pL\pN_])")
_LEET_HINT = re2.compile(r"\pL[0-9@$|!]|[0-9@$|!]\pL")
_LOOKALIKE = "\u0370-\u03ff\u0400-\u052f\u0531-\u058f\u13a0-\u13ff\ua4d0-\ua4ff"
_MIXED_HINT = re2.compile(f"[a-z][\\pL\\pM]*[{_LOOKALIKE}]|[{_LOOKALIKE}][\\pL\\pM]*[a-z]")
#: English trigger words; a ROT13 or reversed view is scanned only when one of them shows up
#: ROT13-encoded or reversed.
_TRIGGERS = (
    "ignore",
    "instruction",
    "previous",
    "prompt",
    "system",
    "forget",
    "disregard",
    "password",
    "secret",
    "reveal",
    "jailbreak",
    "pretend",
    "rules",
    "developer",
    "bypass",
    "override",
    "above",
    "restriction",
    "uncensored",
    "unfiltered",
)
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM",
)
#: Decoded segments scanned per text, and their total size.
MAX_SEGMENTS = 32
MAX_DECODED = 1 << 16


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 4:
        return None
    good = sum(1 for c in text if c.isprintable() or c in "\n\t\r")
    letters = sum(1 for c in text if c.isalpha())
    return text if good >= 0.95 * len(text) and letters >= 0.5 * len(text.replace(" ", "")) else None


def _join_broken(text: str) -> str:
    """Remove each line break (and a hyphen before it) that falls between two letters."""
    pieces = text.split("\n")
    out = [pieces[0]]
    for piece in pieces[1:]:
        prev = out[-1][:-1] if out[-1].endswith("\r") else out[-1]
        if piece[:1].isalpha() and prev[-1:].isalpha():
            out[-1] = prev
        elif piece[:1].isalpha() and prev.endswith("-") and prev[-2:-1].isalpha():
            out[-1] = prev[:-1]
        else:
            out.append("\n")
        out.append(piece)
    return "".join(out)


def _morse(text: str) -> str | None:
    """The decoded Morse runs of ``text`` when they make up most of it, else ``None``."""
    runs = [m.group() for m in _MORSE_RE.finditer(text[:MAX_DECODED])]
    dense = sum(len(r.replace(" ", "")) for r in runs)
    if not runs or dense < MORSE_SHARE * len(re.sub(r"\s", "", text)):
        return None
    words = []
    for run in runs:
        for word in re.split(r"[ \t]*/[ \t]*|[ \t]{2,}|[ \t]*\r?\n[ \t]*", run.strip()):
            words.append("".join(MORSE.get(code, "") for code in word.split()))
    return " ".join(w for w in words if w) or None


def _decoded_segments(text: str) -> Iterator[tuple[str, str]]:
    budget = MAX_DECODED
    count = 0
    for m in _B64_RE.finditer(text):
        seg = m.group()
        if count >= MAX_SEGMENTS or budget <= 0:
            return
        if seg.isalpha() and (seg.islower() or seg.isupper()):
            continue  # a plain long word, not base64
        try:
            raw = base64.b64decode(seg.replace("-", "+").replace("_", "/") + "=" * (-len(seg) % 4))
        except (binascii.Error, ValueError):
            continue
        decoded = _printable(raw)
        if decoded is not None:
            count += 1
            budget -= len(decoded)
            yield "base64", decoded
    for m in _HEX_RE.finditer(text):
        if count >= MAX_SEGMENTS or budget <= 0:
            return
        try:
            raw = bytes.fromhex(re.sub(r"[ :]", "", m.group()))
        except ValueError:
            continue
        decoded = _printable(raw)
        if decoded is not None:
            count += 1
            budget -= len(decoded)
            yield "hex", decoded


_ROT13_HINT = "|".join(w.translate(_ROT13) for w in _TRIGGERS)
_REVERSED_HINT = "|".join(w[::-1] for w in _TRIGGERS)


def _hint_set(patterns: list[str]) -> Any:
    hints = re2.Set.SearchSet(re2.Options())
    for pattern in patterns:
        hints.Add(pattern)
    hints.Compile()
    return hints


# One RE2 Set call per side tells which tricks could be present (indices below).
#: A trigger word broken across lines (``ig\\nnore``, ``instruc-\\ntions``): only then is the
#: joined view built, so ordinary multi-line text does not pay for it.
_BROKEN_HINT = "|".join(
    w[:k] + r"-?\r?\n" + w[k:]
    for w in (*_TRIGGERS, "anweisung", "ignorier", "vergiss", "instruccion", "consigne", "istruzion")
    for k in range(1, len(w))
)
_FOLDED_HINTS = _hint_set(
    [
        _MIXED_HINT.pattern,
        _SPACED_HINT.pattern,
        _LEET_HINT.pattern,
        _ROT13_HINT,
        _REVERSED_HINT,
        _BROKEN_HINT,
    ]
)
_RAW_HINTS = _hint_set(
    [
        _B64_RE.pattern,
        _HEX_RE.pattern,
        r"%[0-9a-fA-F]{2}",
        r"&#?\w{1,32};",
        "[\U000e0020-\U000e007e]",
        _MORSE_RUN,
    ]
)
MIXED, SPACED, LEET, ROT13, REVERSED, BROKEN = range(6)
B64, HEX, PCT, ENTITY, TAGS, MORSE_HINT = range(6)
#: The hints that can fire on ASCII text, as ``(side, index, pattern)``: on ASCII text the raw
#: hints match the lower-cased text the same way (their classes are case-blind), so a matcher
#: can add them to its own RE2 Set and learn the hints in the same pass as its rules.
#: On lower-cased ASCII text ``\pL`` is ``[a-z]`` and ``\pN`` is ``[0-9]``: the ASCII spellings
#: keep the combined automaton small.
ASCII_HINTS: tuple[tuple[str, int, str], ...] = (
    ("folded", SPACED, r"(?:^|[^a-z0-9_])(?:[a-z][ .\-_*|+~/\\]){2,}[a-z](?:$|[^a-z0-9_])"),
    ("folded", LEET, r"[a-z][0-9@$|!]|[0-9@$|!][a-z]"),
    ("folded", ROT13, _ROT13_HINT),
    ("folded", REVERSED, _REVERSED_HINT),
    ("folded", BROKEN, _BROKEN_HINT),
    ("raw", B64, _B64_RE.pattern),
    ("raw", HEX, _HEX_RE.pattern),
    ("raw", PCT, r"%[0-9a-fA-F]{2}"),
    ("raw", ENTITY, r"&#?\w{1,32};"),
    ("raw", MORSE_HINT, _MORSE_RUN),
)


def views(
    text: str,
    folded: Folded,
    *,
    decode: bool = True,
    hints: tuple[set[int], set[int]] | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield the de-obfuscated views of ``text`` (after the folded one) as ``(name, text)``.

    ``hints`` (folded, raw) are the hint indices when the caller already matched
    :data:`ASCII_HINTS` on ASCII text; otherwise they are matched here.

    Example:
        >>> [name for name, _ in views("i.g.n.o.r.e 1nstruct10ns", fold("i.g.n.o.r.e 1nstruct10ns"))]
        ['despaced', 'leet']
    """
    base = folded.text
    text = U.re2_safe(text)
    if hints is not None:
        found, raw = hints
    else:
        found, raw = set(_FOLDED_HINTS.Match(base) or ()), set()
    if MIXED in found:
        skel = base.translate(U.confusable_map())
        if skel != base:
            yield "skeleton", skel
            base = skel
    if SPACED in found:
        yield "despaced", _SPACED_RE.sub(lambda m: re.sub(r"[ .\-_*|+~/\\]", "", m.group()), base)
    if LEET in found:
        leet = _LEET_TOKEN_RE.sub(
            lambda m: m.group().translate(_LEET) if _is_leet(m.group()) else m.group(), base
        )
        if leet != base:
            yield "leet", leet
    if BROKEN in found:
        yield "joined", _join_broken(base)
    if not decode:
        return
    if hints is None:
        raw = set(_RAW_HINTS.Match(text) or ())
    if PCT in raw:
        yield "percent", fold(unquote(text)).text
    if ENTITY in raw:
        unescaped = html.unescape(text)
        if unescaped != text:
            yield "entities", fold(unescaped).text
    if TAGS in raw:
        yield "tags", U.decode_tags(text).lower()
    if MORSE_HINT in raw:
        decoded_morse = _morse(text)
        if decoded_morse is not None:
            yield "morse", decoded_morse
    for name, decoded in _decoded_segments(text) if raw & {B64, HEX} else ():
        yield name, fold(decoded).text
        for inner_name, inner in _decoded_segments(decoded):
            yield f"{name}+{inner_name}", fold(inner).text
    if ROT13 in found:
        yield "rot13", codecs.encode(base, "rot13") if base.isascii() else base.translate(_ROT13)
    if REVERSED in found:
        yield "reversed", base[::-1]
