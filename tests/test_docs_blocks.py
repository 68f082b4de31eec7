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


_RAY_MARKS = [
    pytest.mark.xdist_group("ray"),  # one local Ray at a time: the scale tests' xdist worker
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # ray.init forks; JAX, when an earlier test loaded it, warns that fork and threads mix badly.
    pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning"),
]


def _uses_ray(doc: str, index: int) -> bool:
    return "import ray" in python_blocks(doc)[index]


def _marks(doc: str, index: int) -> list[pytest.MarkDecorator]:
    if not _uses_ray(doc, index):
        return []
    # a Ray Serve application (proxy, controller, replica with its sandbox) takes a minute here
    return [*_RAY_MARKS, pytest.mark.slow] if "serve.run(" in python_blocks(doc)[index] else _RAY_MARKS


@pytest.mark.parametrize(
    ("doc", "index"),
    [pytest.param(d, i, marks=_marks(d, i)) for d, i in BLOCKS],
    ids=[f"{d}#{i}" for d, i in BLOCKS],
)
def test_doc_block_runs(doc: str, index: int, tmp_path: Path) -> None:
    if _uses_ray(doc, index):
        pytest.importorskip("ray", reason="the ray extra is not installed (pip install keras-sanitize[ray])")
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        run_block(python_blocks(doc)[index], f"{doc} block {index}")
    finally:
        os.chdir(here)
        if _uses_ray(doc, index):  # a failed block must not leave Ray up for the next test
            import ray

            if ray.is_initialized():
                ray.shutdown()
