"""docs/integrations.md's examples are real code: each Python block runs, printed output checked."""

from __future__ import annotations

from _docblocks import expectations, python_blocks

BLOCKS = python_blocks("docs/integrations.md")


def test_doc_covers_the_three_ways_in() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("@ks.sanitize(", "ks.wrap(", "ks.layers.", "safe_mode=True"):
        assert needle in text
    assert all(expectations(block) for block in BLOCKS)

# Each block runs in tests/test_docs_blocks.py (one test over README.md and docs/**/*.md).
