"""docs/privacy.md's examples are real code: each Python block runs, printed output checked."""

from __future__ import annotations

from _docblocks import expectations, python_blocks

BLOCKS = python_blocks("docs/privacy.md")


def test_doc_has_checked_examples() -> None:
    assert len(BLOCKS) >= 5
    assert sum(len(expectations(b)) for b in BLOCKS) >= 8

# The blocks themselves run in tests/test_docs_blocks.py (one test over every doc).
