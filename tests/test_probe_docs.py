"""docs/probe.md's examples are real code: each Python block runs, printed output checked."""

from __future__ import annotations

from _docblocks import expectations, python_blocks

BLOCKS = python_blocks("docs/probe.md")


def test_doc_covers_probe_report_calibration_and_strategies() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("ks.fuzzing.probe(", "to_html(", "calibrate(", "attacks=", "hostile_tensors("):
        assert needle in text
    assert all(expectations(block) for block in BLOCKS)

# The blocks themselves run in tests/test_docs_blocks.py (one test over every doc).
