"""docs/probe.md's examples are real code: each Python block runs, printed output checked."""

from __future__ import annotations

import pytest
from _docblocks import expectations, python_blocks, run_block

BLOCKS = python_blocks("docs/probe.md")


def test_doc_covers_probe_report_calibration_and_strategies() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("ks.fuzzing.probe(", "to_html(", "calibrate(", "attacks=", "hostile_tensors("):
        assert needle in text
    assert all(expectations(block) for block in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_block_runs(index: int) -> None:
    pytest.importorskip("matplotlib")
    run_block(BLOCKS[index], f"probe.md block {index}")
