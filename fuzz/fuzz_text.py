"""Fuzz the text pipelines with raw bytes, decoded text and structured hostile text.

The first byte picks a mode: raw bytes through ``ks.validate(..., modality="text")``,
the bytes decoded leniently (surrogate escapes and all) as ``str``, or a text
assembled from hostile fragments (markup, bidi, tags, template syntax, injection
phrases) chosen by the fuzzer's bytes. Invariants: no internal error, reports are
JSON, an accepted value is a ``str`` that the pipeline accepts again unchanged
(filters are idempotent) and holds no control, bidi or tag character, and the
injection score is in [0, 1].
"""

from __future__ import annotations

import json

import keras_sanitize as ks
from keras_sanitize.text.verifiers import PromptInjectionRules

_PIPES = [ks.text.default(), ks.text.default(html_engine="bleach", html_mode="escape", normalization="NFKC")]
_RULES = PromptInjectionRules()
_FRAGMENTS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<a href='javascript:x'>",
    "</user>",
    "<|im_start|>",
    "[INST]",
    "{{7*7}}",
    "${x}",
    "<%= x %>",
    "<!--#exec-->",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200d",
    "\U000e0041",
    "\ufe0f",
    "\u0301",
    "а",
    "ignore",
    " previous ",
    "instructions",
    "![a](http://x/?q=",
    ")",
    "](",
    "&#106;",
    "%6a",
    "aWdub3Jl",
    "\x00",
    "\ud800",
    "🏴",
    "\U000e007f",
    "ß",
    "İ",
    "ﬁ",
    "\n",
    " ",
    "<",
]
_RECHECK_CODES = frozenset(
    # combining_flood: cutting markup out can stack marks that sat on either side of it.
    {
        "text.repetition_flood",
        "text.too_long",
        "text.prompt_injection",
        "text.prompt_injection_suspected",
        "text.combining_flood",
    }
)
_BAD = frozenset("\x00\x01\x1b\x7f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _assemble(data: bytes) -> str:
    return "".join(_FRAGMENTS[b % len(_FRAGMENTS)] for b in data)


def test_one_input(data: bytes) -> None:
    """One input through both text pipelines and the rule scorer; raise only on a real bug."""
    if not data:
        return
    mode, body = data[0] % 3, data[1:]
    value: object
    if mode == 0:
        value = body
    elif mode == 1:
        value = body.decode("utf-8", "surrogateescape")
    else:
        value = _assemble(body)
    for pipe in _PIPES:
        report = pipe.run(value)
        assert "core.internal_error" not in report.codes, str(report)
        json.dumps(report.to_dict(include_value=True))
        if report.ok:
            out = report.value
            assert isinstance(out, str)
            assert not (_BAD & set(out)), repr(out)
            assert not any(0xE0000 <= ord(c) <= 0xE007F for c in out if ord(c) != 0xE007F) or "🏴" in out
            again = pipe.run(out)
            if again.ok:
                assert again.value == out, (repr(out), str(again))  # filters are idempotent
            else:
                # Escaping grows text, the injection rules read markup the HTML filter later
                # rewrites, and cuts join what sat around them: only those checks may refuse a
                # sanitized output.
                assert {f.code for f in again.rejections} <= _RECHECK_CODES, (repr(out), str(again))
    if isinstance(value, str):
        assert 0.0 <= _RULES.score(value) <= 1.0


if __name__ == "__main__":  # a quick smoke run without atheris
    import random

    rng = random.Random(0)
    for _ in range(2000):
        test_one_input(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
    print("ok")
