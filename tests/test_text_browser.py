"""XSS in a real browser: what the default pipeline lets through must be inert HTML.

Every payload of the public XSS corpora that ``ks.text.default()`` passes is
rendered as HTML in headless Chromium, once per engine (nh3, bleach). The page
must execute nothing (alert/confirm/prompt/print/eval hooks stay untouched) and
leave no element with an event-handler attribute, no ``<script>``, and no
``javascript:``/``vbscript:`` URL.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import keras_sanitize as ks
from tests.conftest import corpus_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt install chromium)"
    ),
]

_HOOKS = """<script>
window.__hits = [];
for (const name of ['alert', 'confirm', 'prompt', 'print', 'open']) {
  window[name] = function () { window.__hits.push(name); };
}
const _eval = window.eval;
window.eval = function (x) { window.__hits.push('eval'); return _eval(x); };
</script>"""

_CHECK = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    const bad = [];
    document.querySelectorAll('.p').forEach(function (div) {
      div.querySelectorAll('*').forEach(function (el) {
        const tag = el.tagName.toLowerCase();
        if (['script', 'iframe', 'object', 'embed'].includes(tag)) bad.push([div.id, tag]);
        for (const attr of el.attributes) {
          if (attr.name.toLowerCase().startsWith('on')) bad.push([div.id, attr.name]);
          let url = null;  // parse as the browser does when it follows the attribute as a URL
          try { url = new URL(attr.value, document.baseURI); } catch (e) { url = null; }
          const scheme = url ? url.protocol : '';
          if (['javascript:', 'vbscript:', 'livescript:'].includes(scheme)
              || (url && /^data:text\\/html/i.test(url.href))) {
            bad.push([div.id, attr.name + '=' + url.href.slice(0, 40)]);
          }
        }
      });
    });
    document.body.setAttribute('data-result', JSON.stringify({hits: window.__hits, bad: bad}));
  }, 300);
});
</script>"""


def _payloads() -> list[str]:
    root = corpus_path("02_xss_script_injection")
    files = [
        root / "payloadbox" / "xss-payload-list.txt",
        *sorted((root / "payloadsallthethings" / "intruders").glob("*.txt")),
        *sorted((root / "fuzzdb" / "xss").glob("*.txt")),
        root / "fuzzdb" / "html_js_fuzz" / "HTML5sec_Injections.txt",
    ]
    out: dict[str, None] = {}
    for path in files:
        if path.exists():
            for line in path.read_text("utf-8", errors="replace").splitlines():
                if line.strip():
                    out[line] = None
    vectors = root / "owasp_cheatsheets" / "xss_filter_evasion_vectors.jsonl"
    if vectors.exists():
        for line in vectors.read_text("utf-8").splitlines():
            if line.strip():
                out[json.loads(line)["vector"]] = None
    return list(out)


def _render(fragments: list[str], tmp: Path) -> dict[str, list[object]]:
    body = "\n".join(f'<div class="p" id="p{i}">{frag}</div>' for i, frag in enumerate(fragments))
    tmp.mkdir(parents=True, exist_ok=True)
    page = tmp / "page.html"
    page.write_text(
        f"<!doctype html><html><head>{_HOOKS}</head><body>{body}\n{_CHECK}</body></html>", "utf-8"
    )
    proc = subprocess.run(
        [
            CHROMIUM or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    found = re.search(r'<body[^>]*data-result="([^"]*)"', proc.stdout)
    assert found, (
        f"the page did not finish loading (navigated away?): {proc.stdout[:300]} {proc.stderr[-300:]}"
    )
    result: dict[str, list[object]] = json.loads(html.unescape(found.group(1)))
    return result


@pytest.mark.timeout(400)
@pytest.mark.parametrize("engine", ["nh3", "bleach"])
def test_passed_payloads_are_inert_in_chromium(engine: str, tmp_path: Path) -> None:
    payloads = _payloads()
    assert len(payloads) > 1000
    pipe = ks.text.default(html_engine=engine)
    passed = [r.value for r in map(pipe.run, payloads) if r.ok]
    assert len(passed) > 500  # most payloads are cleaned and passed, so the browser sees them
    # The control: the raw payloads do execute in this harness, so a silent page means something.
    raw = _render(payloads[:300], tmp_path / "raw")
    assert raw["hits"] or raw["bad"]
    result = _render(passed, tmp_path / "clean")
    assert result == {"hits": [], "bad": []}, f"{engine}: {result['hits'][:5]} {result['bad'][:10]}"
