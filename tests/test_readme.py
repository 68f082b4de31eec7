"""The README's examples are real code: each Python block runs and prints what it says."""

from __future__ import annotations

import pytest
from _docblocks import python_blocks, run_block

BLOCKS = python_blocks("README.md")


def test_readme_has_the_four_ways_in() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("ks.validate(", "@ks.sanitize(", "ks.wrap(", "ks.layers."):
        assert needle in text


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int) -> None:
    run_block(BLOCKS[index], f"README.md block {index}")
