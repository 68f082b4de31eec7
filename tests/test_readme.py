"""The README's examples are real code: each Python block runs and prints what it says."""

from __future__ import annotations

from _docblocks import python_blocks

BLOCKS = python_blocks("README.md")


def test_readme_has_the_four_ways_in() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("ks.validate(", "@ks.sanitize(", "ks.wrap(", "ks.layers."):
        assert needle in text

# Each block runs in tests/test_docs_blocks.py (one test over README.md and docs/**/*.md).
