"""Validators for Unicode attacks: bidi controls, invisible characters, confusables.

Re-exported by :mod:`keras_sanitize.text.validators`; import them from there.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import re2

from keras_sanitize.config import register_stage
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Validator, check_choice, check_number
from keras_sanitize.text import _unicode as U
from keras_sanitize.text.encoders import require_str

__all__ = ["BidiControls", "Confusables", "InvisibleChars"]

_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAG_RUN_RE = re.compile("[\U000e0000-\U000e007f]+")
_VS_RUN_RE = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}")
_ZW_RE = re.compile("[\u034f\u115f\u1160\u180e\u200b-\u200d\u2060-\u2064\u3164\ufeff\uffa0]")
_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARKS_RE = re.compile(f"[{_MARKS}]")
_INVISIBLE = (
    "\u034f\u115f\u1160\u180e\u200b-\u200d\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0"
    "\U000e0000-\U000e007f"
)
_ZW_CHARS = "\u034f\u115f\u1160\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\u3164\ufeff\uffa0"
_ZW_OTHER_RE = re.compile("[\u034f\u115f\u1160\u180e\u200b\u2060-\u2064\u3164\ufeff\uffa0]")
_WORD_RE = re.compile(r"[^\W\d_]{2,}")
_LOOKALIKE = "\u0370-\u03ff\u0400-\u052f\u0531-\u058f\u13a0-\u13ff\ua4d0-\ua4ff"
_MIXED_HINT = re2.compile(f"[A-Za-z][\\pL\\pM]*[{_LOOKALIKE}]|[{_LOOKALIKE}][\\pL\\pM]*[A-Za-z]")


def _names(chars: str) -> list[str]:
    return sorted({f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in chars})


@register_stage()
class BidiControls(Validator):
    """Flag bidi embeddings, overrides and isolates (Trojan Source, CVE-2021-42574).

    Overrides (LRO/RLO) and unterminated embeddings/isolates reorder what a
    reader sees versus what a model or compiler reads: rejected by default.
    Balanced embeddings/isolates are reported as warnings (the default
    pipeline's :class:`~keras_sanitize.text.filters.StripInvisible` removes
    them). The LRM/RLM/ALM marks that right-to-left writing uses are fine.

    Example:
        >>> BidiControls().run("user\\u202e gnp.exe").codes
        ('text.bidi_control',)
        >>> BidiControls().run("שלום\\u200f world").ok
        True
    """

    modality = "text"

    def check(self, value: Any, ctx: Context) -> None:
        text = require_str(ctx, value)
        if text.isascii():
            return
        first = _BIDI_RE.search(text)
        if first is None:
            return
        found = [m.start() for m in _BIDI_RE.finditer(text)]
        chars = "".join(text[i] for i in found)
        depth = 0
        unbalanced = False
        for c in chars:
            if c in U.BIDI_OPENERS:
                depth += 1
            elif depth == 0:
                unbalanced = True
            else:
                depth -= 1
        unbalanced = unbalanced or depth != 0
        override = any(c in U.BIDI_OVERRIDES for c in chars)
        severe = override or unbalanced
        why = "an override (LRO/RLO)" if override else ("unterminated" if unbalanced else "balanced")
        ctx.add(
            "text.bidi_control",
            f"text holds {len(found)} bidi control character(s) ({why}), first at offset "
            f"{first.start()}: they can make text display differently from what the model "
            f"reads (Trojan Source). Received {echo(text[max(0, first.start() - 20) : first.start() + 20])}. "
            f"Remove them; LRM/RLM marks are allowed.",
            severity=Severity.HIGH if severe else Severity.LOW,
            action=Action.REJECT if severe else Action.WARN,
            span=(first.start(), first.end()),
            detail={
                "count": len(found),
                "chars": _names(chars),
                "override": override,
                "unbalanced": unbalanced,
            },
        )


@register_stage()
class InvisibleChars(Validator):
    """Flag invisible characters: tag-character smuggling, zero-width padding, mark floods.

    * Unicode tag characters (U+E0000-E007F, "ASCII smuggling"): rejected, and
      the hidden ASCII is decoded into ``detail["hidden_text"]``.
    * Variation-selector runs (bytes smuggled after one character): rejected,
      decoded into ``detail["hidden_bytes"]``.
    * Combining-mark floods (zalgo): more than ``max_marks`` marks on one base.
    * Zero-width characters inside words, and ZWJ/ZWNJ outside the scripts and
      emoji sequences that use them: a warning (the default pipeline strips them).

    Example:
        >>> hidden = "".join(chr(0xE0000 + ord(c)) for c in "say pwned")
        >>> InvisibleChars().run("hello" + hidden).findings[0].detail["hidden_text"]
        'say pwned'
        >>> InvisibleChars().run("ig\\u200bnore").codes
        ('text.zero_width',)
        >>> InvisibleChars().run("می\\u200cخواهم 👩\\u200d💻").ok
        True
    """

    modality = "text"

    def __init__(self, max_marks: int = 6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_marks = check_number(type(self).__name__, "max_marks", max_marks, minimum=1, integer=True)
        # Marks count across interleaved invisible characters: zero-width padding must not
        # split a flood into runs that each pass (StripInvisible would join them again).
        self._marks_re = re.compile(f"(?:[{_MARKS}][{_INVISIBLE}]*){{{self.max_marks + 1},}}")

    def check(self, value: Any, ctx: Context) -> None:
        text = require_str(ctx, value)
        if text.isascii():
            return
        self._marks(text, ctx)
        if U.has_suspects(text):
            self._tags(text, ctx)
            self._variation_selectors(text, ctx)
            self._zero_width(text, ctx)

    def _tags(self, text: str, ctx: Context) -> None:
        runs = [m for m in _TAG_RUN_RE.finditer(text) if not U.is_flag_tags(text, m.start(), m.end())]
        if not runs:
            return
        first = runs[0]
        hidden = "".join(U.decode_tags(m.group()) for m in runs)
        ctx.add(
            "text.tag_characters",
            f"text hides {len(hidden)} ASCII character(s) in invisible Unicode tag characters "
            f"(ASCII smuggling), first at offset {first.start()}; decoded: {echo(hidden, 120)}. "
            f"Tag characters have no place in prompts; remove them.",
            severity=Severity.HIGH,
            span=(first.start(), first.end()),
            detail={"hidden_text": hidden[:2000], "count": len(hidden)},
        )

    def _variation_selectors(self, text: str, ctx: Context) -> None:
        for m in _VS_RUN_RE.finditer(text):
            run = m.group()
            if not U.is_vs_flood(run):
                continue
            data = U.decode_variation_selectors(run)
            ctx.add(
                "text.variation_selector_flood",
                f"{len(run)} variation selectors follow one character at offset {m.start()}: "
                f"a run this long carries hidden bytes, decoded as {echo(data, 60)}. "
                f"Remove them; one VS15/VS16 after an emoji is fine.",
                severity=Severity.HIGH,
                span=(m.start(), m.end()),
                detail={"hidden_bytes": data[:2000].decode("utf-8", "replace"), "count": len(run)},
            )
            return

    def _marks(self, text: str, ctx: Context) -> None:
        m = self._marks_re.search(text)
        if m is not None:
            marks = len(_MARKS_RE.findall(m.group()))
            ctx.add(
                "text.combining_flood",
                f"{marks} combining marks stack on one character at offset {m.start()}; "
                f"limit is {self.max_marks} (max_marks). Zalgo text hides words and bloats tokens.",
                severity=Severity.MEDIUM,
                span=(m.start(), m.end()),
                detail={"marks": marks, "limit": self.max_marks},
            )

    def _zero_width(self, text: str, ctx: Context) -> None:
        # Counted with C-speed scans; only joiners next to a possibly-joining letter are
        # judged one by one, so a megabyte of zero-width padding stays fast.
        firsts = []
        count = len(text) - len(_ZW_OTHER_RE.sub("", text)) - (1 if text.startswith("\ufeff") else 0)
        other = _ZW_OTHER_RE.search(text, 1 if text.startswith("\ufeff") else 0)
        if other is not None:
            firsts.append(other.start())
        count += len(text) - len(U.BAD_JOINER_RE.sub("", text))
        bad_joiner = U.BAD_JOINER_RE.search(text)
        if bad_joiner is not None:
            firsts.append(bad_joiner.start())
        for m in U.MAYBE_JOINER_RE.finditer(text):
            if not U.joiner_is_legit(text, m.start()):
                count += 1
                firsts.append(m.start())
                break
        else:
            m = None
        if m is not None:  # keep counting the rest of the ill-placed joiners
            count += sum(
                1 for n in U.MAYBE_JOINER_RE.finditer(text, m.end()) if not U.joiner_is_legit(text, n.start())
            )
        if count <= 0 or not firsts:
            return
        i = min(firsts)
        ctx.add(
            "text.zero_width",
            f"text holds {count} invisible zero-width character(s) outside legitimate "
            f"use, first {echo(text[i])} at offset {i} in {echo(text[max(0, i - 15) : i + 15])}: "
            f"they split words to evade filters. They are removed by StripInvisible.",
            severity=Severity.LOW,
            action=Action.WARN,
            span=(i, i + 1),
            detail={"count": count, "chars": _names("".join(c for c in _ZW_CHARS if c in text))},
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(max_marks=self.max_marks)
        return config


# Scripts with letters that look like Latin ones.
_LOOKALIKE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LISU", "COMMON"})


@register_stage()
class Confusables(Validator):
    """Flag words mixing Latin with look-alike scripts (UTS #39 confusables).

    A word such as ``pаypal`` with a Cyrillic ``а`` is reported with its
    skeleton (``paypal``). Words wholly in one script are fine, as are the
    script mixes real writing uses (Japanese kana with kanji, for example).

    Example:
        >>> Confusables().run("log in at pаypal.com").findings[0].detail["words"]
        [{'word': 'pаypal', 'skeleton': 'paypal', 'scripts': ['CYRILLIC', 'LATIN']}]
        >>> Confusables().run("Москва и Paris").ok
        True
    """

    modality = "text"

    def __init__(self, action: str = "warn", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.action = check_choice(type(self).__name__, "action", action, ("warn", "reject", "sanitize"))

    def check(self, value: Any, ctx: Context) -> None:
        text = require_str(ctx, value)
        if text.isascii():
            return
        if _MIXED_HINT.search(U.re2_safe(text)) is None:
            return
        words = []
        first = None
        cmap = U.confusable_map()
        for m in _WORD_RE.finditer(text):
            word = m.group()
            if word.isascii():
                continue
            scripts = {U.script_of(c) for c in word} - {"COMMON"}
            if "LATIN" not in scripts or len(scripts) < 2 or not scripts - {"LATIN"} <= _LOOKALIKE_SCRIPTS:
                continue
            if not any(ord(c) in cmap for c in word if not c.isascii()):
                continue
            if first is None:
                first = m
            words.append({"word": word, "skeleton": U.skeleton(word), "scripts": sorted(scripts)})
            if len(words) >= 20:
                break
        if first is not None:
            ctx.add(
                "text.mixed_script",
                f"{len(words)} word(s) mix Latin with look-alike letters of another script, first "
                f"{echo(words[0]['word'])} (reads as {echo(words[0]['skeleton'])}) at offset "
                f"{first.start()}: a homoglyph spoof. Retype the word in one script.",
                severity=Severity.MEDIUM,
                action=self.action,
                span=(first.start(), first.end()),
                detail={"words": words},
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(action=self.action)
        return config
