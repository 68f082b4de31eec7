"""Issue 20 items 3-4: the bleach engine's URL check follows browser rules; its cost is budgeted.

The URL cases are DOMPurify's and the red team's; the browser check renders both engines'
output in headless Chromium, as tests/test_text_browser.py does.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_sanitize.text._html import browser_scheme, markup_complexity
from keras_sanitize.text.filters import DEFAULT_TAGS, MAX_BLEACH_COMPLEXITY, HtmlSanitizer

#: Links a browser follows as javascript: (DOMPurify's cases and the red team's).
SCRIPT_LINKS = [
    '<a href="javascript:123" onclick="alert(1)">x</a>',
    '<a href=" javascript:1">x</a>',
    '<a href="&#x20;javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="java\nscript:alert(1)">x</a>',
    '<a href="&#1;javascript:alert(1)">x</a>',
    '<a href="\x01javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="javascript&#58;alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="  data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="javascript:123">x</a>',
    '<a title="t" href="&#x6A;avascript:0">x</a>',
]
KEPT_LINKS = [
    ('<a href="https://example.com/a?b=c">x</a>', "https://example.com/a?b=c"),
    ('<a href="/relative:path">x</a>', "/relative:path"),
    ('<a href="mailto:a@example.com">x</a>', "mailto:a@example.com"),
    ('<a href=" HTTPS://example.com">x</a>', "example.com"),
]


@pytest.mark.parametrize("engine", ["nh3", "bleach"])
@pytest.mark.parametrize("payload", SCRIPT_LINKS)
def test_script_links_lose_their_href(engine: str, payload: str) -> None:
    out = HtmlSanitizer(engine=engine).run(payload).value
    assert "href" not in out, out
    assert "onclick" not in out


@pytest.mark.parametrize("engine", ["nh3", "bleach"])
@pytest.mark.parametrize(("payload", "kept"), KEPT_LINKS)
def test_ordinary_links_keep_their_href(engine: str, payload: str, kept: str) -> None:
    out = HtmlSanitizer(engine=engine).run(payload).value
    assert "href=" in out and kept in out, out


@given(st.sampled_from(["javascript", "JavaScript", "VBSCRIPT"]),
       st.text(alphabet="".join(map(chr, range(0x21))), max_size=5),
       st.lists(st.sampled_from(["\t", "\n", "\r"]), max_size=3))
def test_browser_scheme_strips_what_browsers_strip(scheme: str, lead: str, inner: list[str]) -> None:
    spelled = lead + scheme[:2] + "".join(inner) + scheme[2:] + ":alert(1)"
    assert browser_scheme(spelled) == scheme.lower()


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_complexity_counts_are_bounded(text: str) -> None:
    tags, depth, attrs = markup_complexity(text)
    assert 0 <= depth <= tags <= text.count("<")
    assert attrs <= text.count("=")


def _nested(chars: int, tags: list[str], seed: int = 0) -> str:
    """The red team's shape: random nested allowed tags, each with a title attribute."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < chars:
        piece = f'<{rng.choice(tags)} title="x{rng.randrange(10)}">'
        out.append(piece)
        size += len(piece)
    return "".join(out)[:chars]


FORMATTING = ["a", "b", "i", "em", "strong", "small", "s", "u", "code"]


@pytest.mark.parametrize("chars", [12_500, 50_000, 99_990])
def test_bleach_refuses_deep_nesting_before_parsing(chars: int) -> None:
    text = _nested(chars, FORMATTING)
    report = HtmlSanitizer(engine="bleach").run(text)
    assert report.codes == ("text.html_too_complex",)
    detail = report.findings[0].detail
    assert detail["complexity"] > MAX_BLEACH_COMPLEXITY
    assert "depth" in report.findings[0].message
    assert HtmlSanitizer(engine="nh3").run(text).codes == ("text.html_removed",)  # nh3 copes


def test_ordinary_long_html_is_not_too_complex() -> None:
    rows = "".join(f"<tr><td><b>{i}</b></td><td><a href='https://x.test/{i}' title='t'>link</a></td></tr>"
                   for i in range(900))
    doc = f"<h1>Report</h1><p>intro <em>text</em></p><table><tbody>{rows}</tbody></table>"
    doc += "".join(f"<ul><li><i>item {i}</i></li></ul>" for i in range(300))
    assert 60_000 < len(doc) < 100_000
    report = HtmlSanitizer(engine="bleach").run(doc)
    assert "text.html_too_complex" not in report.codes
    tags, depth, attrs = markup_complexity(doc)
    assert (tags + attrs) * depth < MAX_BLEACH_COMPLEXITY


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bleach_and_nh3_links_are_inert_in_chromium(tmp_path: Path) -> None:
    from tests.test_text_browser import CHROMIUM, _render

    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian: apt install chromium)")
    raw = _render(SCRIPT_LINKS, tmp_path / "raw")
    flagged = {entry[0] for entry in raw["bad"]}  # type: ignore[index]
    assert len(flagged) >= len(SCRIPT_LINKS) - 1, raw  # the harness sees the raw links as script URLs
    for engine in ("nh3", "bleach"):
        cleaner = HtmlSanitizer(engine=engine)
        cleaned = [cleaner.run(p).value for p in SCRIPT_LINKS + [k for k, _ in KEPT_LINKS]]
        result = _render(cleaned, tmp_path / engine)
        assert result == {"hits": [], "bad": []}, (engine, result)


def test_default_tags_cover_the_formatting_shape() -> None:
    assert set(FORMATTING) <= DEFAULT_TAGS
