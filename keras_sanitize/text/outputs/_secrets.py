"""Find registered secrets and canaries, plain or encoded, and verbatim system-prompt passages."""

from __future__ import annotations

import base64
import bisect
import re
from collections.abc import Iterable, Sequence

import ahocorasick_rs

from keras_sanitize.findings import Severity
from keras_sanitize.text.outputs._redact import Hit

__all__ = ["SEPARATORS", "SecretIndex", "prompt_overlaps", "skeleton"]

#: Characters a model (or an attacker) can put between a secret's characters without hiding it:
#: whitespace, zero-width characters, soft hyphens, word joiners.
SEPARATORS = "\\s\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff"
_SEP_RE = re.compile(f"[{SEPARATORS}]+")
_KEEP_RE = re.compile(f"[^{SEPARATORS}]+")
_WORD_RE = re.compile(r"\w+")


def skeleton(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` without separators, with the piece starts in both strings for mapping offsets back.

    Example:
        >>> skeleton("a b\\u200bc")[0]
        'abc'
    """
    pieces: list[str] = []
    sk_starts: list[int] = []
    orig_starts: list[int] = []
    total = 0
    for m in _KEEP_RE.finditer(text):
        pieces.append(m.group())
        sk_starts.append(total)
        orig_starts.append(m.start())
        total += m.end() - m.start()
    return "".join(pieces), sk_starts, orig_starts


def _to_original(pos: int, sk_starts: list[int], orig_starts: list[int]) -> int:
    i = bisect.bisect_right(sk_starts, pos) - 1
    return orig_starts[i] + (pos - sk_starts[i])


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters fixed by ``raw`` at each of the three byte alignments, both alphabets."""
    out: set[str] = set()
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        start = (0, 2, 3)[shift]
        stop = (shift + len(raw)) * 8 // 6
        core = enc[start:stop]
        if len(core) >= 8:
            out.add(core)
            out.add(core.replace("+", "-").replace("/", "_"))
    return out


class SecretIndex:
    """Every registered string as it may appear: plain, reversed, hex, base64; separators ignored."""

    def __init__(self, secrets: Sequence[str], canaries: Sequence[str]) -> None:
        needles: dict[str, tuple[str, str, str]] = {}
        for entity, values in (("secret", secrets), ("canary", canaries)):
            for i, value in enumerate(values):
                plain = _SEP_RE.sub("", value)
                raw = value.encode("utf-8")
                forms = {plain: "plain", plain[::-1]: "reversed", raw.hex(): "hex", raw.hex().upper(): "hex"}
                for core in _base64_cores(raw):
                    forms.setdefault(core, "base64")
                for needle, form in forms.items():
                    needles.setdefault(needle, (entity, form, f"{entity}[{i}]"))
        self._meta = list(needles.values())
        self._ac = (
            ahocorasick_rs.AhoCorasick(list(needles), matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if needles
            else None
        )

    def hits(self, text: str) -> list[Hit]:
        """Spans of ``text`` holding a registered secret or canary in any known form."""
        if self._ac is None:
            return []
        sk, sk_starts, orig_starts = skeleton(text)
        out = []
        for idx, s, e in self._ac.find_matches_as_indexes(sk, overlapping=False):
            entity, form, which = self._meta[idx]
            start = _to_original(s, sk_starts, orig_starts)
            end = _to_original(e - 1, sk_starts, orig_starts) + 1
            sev = Severity.CRITICAL if entity == "secret" else Severity.HIGH
            code = "text.secret.secret" if entity == "secret" else "text.secret.canary"
            out.append(Hit(start, end, entity, code, sev, {"form": form, "which": which}))
        return out


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group().casefold(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


def shingles(prompt: str, n: int) -> set[tuple[str, ...]]:
    """The ``n``-word shingles of ``prompt`` (case-folded words)."""
    words = [w for w, _, _ in _words(prompt)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def prompt_overlaps(text: str, grams: Iterable[tuple[str, ...]] | set[tuple[str, ...]], n: int) -> list[Hit]:
    """Spans of ``text`` that repeat ``n`` or more consecutive words of the system prompt."""
    table = grams if isinstance(grams, set) else set(grams)
    words = _words(text)
    covered_until = -1
    spans: list[list[int]] = []
    for i in range(len(words) - n + 1):
        if tuple(w for w, _, _ in words[i : i + n]) in table:
            start, end = words[i][1], words[i + n - 1][2]
            if spans and i <= covered_until:
                spans[-1][1] = end
            else:
                spans.append([start, end])
            covered_until = i + n - 1
    return [
        Hit(s, e, "system_prompt", "text.secret.system_prompt", Severity.HIGH, {"min_words": n})
        for s, e in spans
    ]
