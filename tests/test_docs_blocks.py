"""Every Python block in README.md and docs/**/*.md is self-contained and runs (printed output checked).

One parametrized test over a glob, so a new document is covered the day it lands. A block runs in a
fresh namespace (nothing carries over from the block before it) and in a scratch working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _docblocks import ROOT, python_blocks, run_block

DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
BLOCKS = [(doc, i) for doc in DOCS for i in range(len(python_blocks(doc)))]


def test_the_glob_sees_the_docs() -> None:
    assert "docs/core.md" in DOCS and "README.md" in DOCS
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize(("doc", "index"), BLOCKS, ids=[f"{d}#{i}" for d, i in BLOCKS])
def test_doc_block_runs(doc: str, index: int, tmp_path: Path) -> None:
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        run_block(python_blocks(doc)[index], f"{doc} block {index}")
    finally:
        os.chdir(here)
