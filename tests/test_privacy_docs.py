"""docs/privacy.md's examples are real code: each Python block runs, printed output checked."""

from __future__ import annotations

import pytest
from _docblocks import expectations, python_blocks, run_block

BLOCKS = python_blocks("docs/privacy.md")


def test_doc_has_checked_examples() -> None:
    assert len(BLOCKS) >= 5
    assert sum(len(expectations(b)) for b in BLOCKS) >= 8


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_block_runs(index: int) -> None:
    run_block(BLOCKS[index], f"privacy.md block {index}")
