"""docs/scale.md's examples are real code: each Python block runs on a local Ray it starts and stops."""

from __future__ import annotations

import pytest
from _docblocks import expectations, python_blocks

BLOCKS = python_blocks("docs/scale.md")

pytestmark = [
    pytest.mark.xdist_group("ray"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # ray.init forks; JAX, when an earlier test loaded it, warns that fork and threads mix badly.
    pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning"),
]


def test_doc_shows_the_dataset_api() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("ks.scale.sanitize_dataset(", "ks.scale.summary(", "read_binary_files"):
        assert needle in text
    assert all(expectations(block) for block in BLOCKS)

# The blocks themselves run in tests/test_docs_blocks.py (one test over every doc).
