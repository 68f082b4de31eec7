"""Character classes and Unicode helpers shared by the text stages.

Everything here is a pure function of the text or an immutable table built once
at import (or on first use, for the confusables data), so stages stay
stateless and thread-safe.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from importlib import resources

from keras_sanitize.errors import ConfigError

__all__ = [
    "BIDI_CONTROLS",
    "BIDI_OVERRIDES",
    "CONTEXT_JOINERS",
    "INVISIBLES",
    "MARKUP_RE",
    "confusable_map",
    "decode_tags",
    "decode_variation_selectors",
    "joiner_is_legit",
    "script_of",
    "skeleton",
]

#: Explicit bidi embeddings, overrides, pops and isolates (Trojan Source, CVE-2021-42574).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: The two that reorder text outright (LRO, RLO).
BIDI_OVERRIDES = frozenset("\u202d\u202e")
BIDI_OPENERS = frozenset("\u202a\u202b\u202d\u202e\u2066\u2067\u2068")
BIDI_CLOSERS = frozenset("\u202c\u2069")
#: Invisible characters that have no business inside a word (ZWJ/ZWNJ are judged in context).
INVISIBLES = frozenset("\u200b\u2060\u2061\u2062\u2063\u2064\u180e\ufeff\u115f\u1160\u3164\uffa0\u034f")
#: Zero-width joiner and non-joiner: legitimate in Arabic-script, Indic and emoji text.
CONTEXT_JOINERS = frozenset("\u200c\u200d")
TAG_FIRST, TAG_LAST = 0xE0000, 0xE007F

#: Characters the fast paths look for: anything a Unicode stage may care about is non-ASCII.
_SUSPECT_RE = re.compile(
    "[\u034f\u115f\u1160\u180e\u200b-\u200d\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)

#: Start of HTML markup per the HTML5 tokenizer: ``<`` then a letter, ``/``, ``!`` or ``?``.
#: ``a < b`` is text, and character references cannot create elements.
MARKUP_RE = re.compile(r"<[A-Za-z/!?]")

# Scripts whose letters use joiners inside words (Unicode name prefixes).
_JOINER_SCRIPTS = frozenset(
    {
        "ARABIC",
        "SYRIAC",
        "NKO",
        "MONGOLIAN",
        "DEVANAGARI",
        "BENGALI",
        "GURMUKHI",
        "GUJARATI",
        "ORIYA",
        "TAMIL",
        "TELUGU",
        "KANNADA",
        "MALAYALAM",
        "SINHALA",
        "KHMER",
        "MYANMAR",
        "TIBETAN",
        "THAI",
        "LAO",
        "HEBREW",
        "PERSIAN",
    }
)


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def re2_safe(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (RE2 needs valid UTF-8; offsets kept).

    Example:
        >>> re2_safe("a\\ud800b")
        'a\\ufffdb'
    """
    if text.isascii() or _SURROGATE_RE.search(text) is None:
        return text
    return _SURROGATE_RE.sub("\ufffd", text)


# Characters that can never make a neighbouring ZWJ/ZWNJ legitimate (ASCII, other format
# characters). A joiner between two of them is padding for sure: found in one C-speed scan.
_NOT_JOINING = "\x00-\x7f\u200b-\u200f\u2060-\u2064\ufeff"
#: Joiners that are padding whatever the context.
BAD_JOINER_RE = re.compile(f"(?<![^{_NOT_JOINING}])[\u200c\u200d](?![^{_NOT_JOINING}])")
#: Joiners with at least one neighbour that may make them legitimate (judge each in Python).
MAYBE_JOINER_RE = re.compile(f"(?<=[^{_NOT_JOINING}])[\u200c\u200d]|[\u200c\u200d](?=[^{_NOT_JOINING}])")


def has_suspects(text: str) -> bool:
    """Whether ``text`` holds any bidi, invisible, tag or variation-selector character."""
    return _SUSPECT_RE.search(text) is not None


@functools.lru_cache(maxsize=8192)
def script_of(char: str) -> str:
    """A coarse script name of ``char`` from its Unicode name ("LATIN", "CYRILLIC"...).

    Digits, punctuation and marks return ``"COMMON"``.

    Example:
        >>> script_of("а"), script_of("a"), script_of("1")
        ('CYRILLIC', 'LATIN', 'COMMON')
    """
    if not char.isalpha():
        return "COMMON"
    name = unicodedata.name(char, "")
    if not name:
        return "UNKNOWN"
    first = name.split(" ", 1)[0]
    if first == "CJK" or first in ("HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"):
        return first if first != "CJK" else "HAN"
    if first in ("FULLWIDTH", "HALFWIDTH", "MATHEMATICAL", "MODIFIER", "SMALL", "SUPERSCRIPT"):
        return "COMMON"
    return first


def _is_emoji(char: str) -> bool:
    if len(char) != 1:
        return False
    cp = ord(char)
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or cp in (0x20E3, 0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D)
        or 0x1F3FB <= cp <= 0x1F3FF
    )


def joiner_is_legit(text: str, i: int) -> bool:
    """Whether the ZWJ/ZWNJ at ``text[i]`` sits where real writing uses it.

    Legitimate: between letters/marks of Arabic-script, Indic and other joining
    scripts (Persian ZWNJ, Devanagari half forms), and ZWJ inside emoji
    sequences. Anywhere else (inside a Latin word) it is invisible padding.

    Example:
        >>> joiner_is_legit("می\u200cخواهم", 2), joiner_is_legit("ig\u200dnore", 2)
        (True, False)
    """
    j = i - 1
    while j >= 0 and i - j <= 32 and _is_mark(text[j]):
        j -= 1  # judge a joiner after combining marks by their base letter
    before = text[j] if j >= 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    return _legit(text[i], before, after)


@functools.lru_cache(maxsize=8192)
def _legit(joiner: str, before: str, after: str) -> bool:
    if joiner == "\u200d" and (_is_emoji(before) or _is_emoji(after)):
        return True
    return _joins(before) or (not _is_mark(after) and _joins(after))


@functools.lru_cache(maxsize=4096)
def _is_mark(char: str) -> bool:
    return len(char) == 1 and unicodedata.category(char).startswith("M")


@functools.lru_cache(maxsize=4096)
def _joins(char: str) -> bool:
    """Whether ``char`` is a letter of a script that uses ZWJ/ZWNJ inside words."""
    if len(char) != 1 or char.isascii() or _is_mark(char):
        return False
    return unicodedata.name(char, "").split(" ", 1)[0] in _JOINER_SCRIPTS


def is_flag_tags(text: str, start: int, end: int) -> bool:
    """Whether the tag run ``text[start:end]`` is an emoji subdivision flag (🏴 + tags).

    Example:
        >>> flag = "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in "gbeng") + "\U000e007f"
        >>> is_flag_tags(flag, 1, len(flag))
        True
    """
    return (
        start > 0
        and text[start - 1] == "\U0001f3f4"
        and 3 <= end - start <= 8
        and text[end - 1] == "\U000e007f"
        and all("\U000e0030" <= c <= "\U000e007a" for c in text[start : end - 1])
    )


def decode_tags(text: str) -> str:
    """Decode Unicode tag characters (U+E0020-E007E) into the ASCII they smuggle.

    Example:
        >>> decode_tags("hi" + "".join(chr(0xE0000 + ord(c)) for c in "run rm"))
        'run rm'
    """
    return "".join(chr(ord(c) - TAG_FIRST) for c in text if 0xE0020 <= ord(c) <= 0xE007E)


def is_vs_flood(run: str) -> bool:
    """Whether a run of 2+ variation selectors carries more than emoji presentation.

    One or two VS15/VS16 are ordinary; longer runs or other selectors smuggle bytes.

    Example:
        >>> is_vs_flood("\ufe0f\ufe0f"), is_vs_flood("\ufe00\ufe01")
        (False, True)
    """
    return len(run) > 2 or not set(run) <= {"\ufe0e", "\ufe0f"}


def decode_variation_selectors(run: str) -> bytes:
    """Decode a run of variation selectors as bytes (the "emoji smuggling" scheme).

    VS1-VS16 (U+FE00-FE0F) carry 0-15, VS17-VS256 (U+E0100-E01EF) carry 16-255.

    Example:
        >>> decode_variation_selectors("\U000e0158\U000e0159")
        b'hi'
    """
    out = bytearray()
    for c in run:
        cp = ord(c)
        if 0xFE00 <= cp <= 0xFE0F:
            out.append(cp - 0xFE00)
        elif 0xE0100 <= cp <= 0xE01EF:
            out.append(cp - 0xE0100 + 16)
    return bytes(out)


@functools.lru_cache(maxsize=1)
def confusable_map() -> dict[int, str]:
    """Non-ASCII character -> ASCII prototype (UTS #39 confusables, shipped data)."""
    table: dict[int, str] = {}
    data = resources.files("keras_sanitize.data").joinpath("confusables_ascii.txt")
    for line in data.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        hexcode, target = line.split("\t")
        table[int(hexcode, 16)] = target
    return table


def skeleton(text: str) -> str:
    """The lower-case ASCII skeleton of ``text``: confusables mapped to their prototype.

    Example:
        >>> skeleton("pаypal.com")  # Cyrillic а
        'paypal.com'
    """
    if text.isascii():
        return text.lower()
    return text.lower().translate(confusable_map())


_VS_RUN_RE = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}")


def recompose(before: str, after: str) -> str:
    """Settle text after a filter cut something out of it.

    A cut can bring a combining mark next to a new base letter (NFC would then
    compose it, so a second pass would change the text) or join variation
    selectors into a run the validators refuse: re-compose NFC text, and drop
    such runs.

    Example:
        >>> recompose("a<b></b>\u0301", "a\u0301") == "\u00e1"
        True
        >>> recompose("x\ufe0f<i></i>\ufe0f\ufe0f", "x\ufe0f\ufe0f\ufe0f")
        'x'
    """
    if after.isascii() or after == before:
        return after
    if _VS_RUN_RE.search(after):
        after = _VS_RUN_RE.sub(lambda m: "" if is_vs_flood(m.group()) else str(m.group()), after)
    if unicodedata.is_normalized("NFC", before) and not unicodedata.is_normalized("NFC", after):
        after = unicodedata.normalize("NFC", after)
    return after


def frozen_names(owner: str, name: str, value: Iterable[str]) -> frozenset[str]:
    """Validate a list-of-names argument and return it lower-cased as a frozenset.

    Example:
        >>> sorted(frozen_names("HtmlSanitizer", "tags", ["B", "i"]))
        ['b', 'i']
    """
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{owner}: {name} must be a list of strings. Received: {name}={value!r}")
    return frozenset(v.lower() for v in value)
