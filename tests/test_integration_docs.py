"""docs/integrations.md's examples are real code: each Python block runs, printed output checked.

A ``print(...)  # expected`` line at the top level of a block must print ``expected``
(``...`` matches anything), in order.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "integrations.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _expectations(code: str) -> list[re.Pattern[str]]:
    out = []
    for line in code.splitlines():
        m = re.match(r"^print\(.*\)\s+#\s*(.+)$", line)
        if m:
            parts = [re.escape(p) for p in m.group(1).strip().split("...")]
            out.append(re.compile("^" + ".*".join(parts) + "$"))
    return out


def test_doc_covers_the_three_ways_in() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("@ks.sanitize(", "ks.wrap(", "ks.layers.", "safe_mode=True"):
        assert needle in text
    assert all(_expectations(block) for block in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_block_runs(index: int) -> None:
    code = BLOCKS[index]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, f"integrations.md block {index}", "exec"), {"__name__": "__doc__"})
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    pos = 0
    for pattern in _expectations(code):
        while pos < len(lines) and not pattern.match(lines[pos]):
            pos += 1
        assert pos < len(lines), f"block {index}: no output line matches {pattern.pattern!r}; got {lines}"
        pos += 1
