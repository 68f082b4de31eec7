"""Run the Python blocks of a Markdown document and check their printed output.

A ``print(...)  # expected`` line at the top level of a block must print ``expected``
(``...`` matches anything), in order.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(relpath: str) -> list[str]:
    """The ```python blocks of ``relpath`` (relative to the project root)."""
    text = (ROOT / relpath).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def expectations(code: str) -> list[re.Pattern[str]]:
    """The expected-output patterns of a block's top-level ``print(...)  # expected`` lines."""
    out = []
    for line in code.splitlines():
        m = re.match(r"^print\(.*\)\s+#\s*(.+)$", line)
        if m:
            parts = [re.escape(p) for p in m.group(1).strip().split("...")]
            out.append(re.compile("^" + ".*".join(parts) + "$"))
    return out


def run_block(code: str, label: str) -> None:
    """Execute ``code``; assert each expectation matches a printed line, in order."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, label, "exec"), {"__name__": "__docblock__"})
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    pos = 0
    for pattern in expectations(code):
        while pos < len(lines) and not pattern.match(lines[pos]):
            pos += 1
        assert pos < len(lines), f"{label}: no output line matches {pattern.pattern!r}; got {lines}"
        pos += 1
