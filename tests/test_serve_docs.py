"""docs/serve.md's Python blocks are real code: each runs, printed output checked."""

from __future__ import annotations

import pytest
from _docblocks import expectations, python_blocks

pytest.importorskip("starlette")
pytest.importorskip("tritonclient.http")

BLOCKS = python_blocks("docs/serve.md")


def test_doc_has_checked_blocks() -> None:
    assert BLOCKS and all(expectations(block) for block in BLOCKS)
    assert "ks.serve.app(" in "\n".join(BLOCKS)




def test_doc_lists_every_limit_and_every_code() -> None:
    import dataclasses
    import re
    from pathlib import Path

    import keras_sanitize as ks

    text = (Path(__file__).resolve().parents[1] / "docs" / "serve.md").read_text()
    for f in dataclasses.fields(ks.serve.ServeLimits):
        assert f"`{f.name}`" in text, f.name
    src = "\n".join(p.read_text() for p in (Path(ks.serve.__file__).parent).glob("*.py"))
    for code in set(re.findall(r'"(serve\.[a-z_]+)"', src)):
        if code != "serve.refused":  # the fallback when a refusal carries no finding
            assert code in text, code

# The blocks themselves run in tests/test_docs_blocks.py (one test over every doc).
