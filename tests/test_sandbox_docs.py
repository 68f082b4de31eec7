"""docs/sandbox.md's examples run, the README's sandbox example is there, the demo contains its crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _docblocks import expectations, python_blocks

BLOCKS = python_blocks("docs/sandbox.md")
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="the sandbox needs Linux")


def test_doc_covers_pipelines_isolation_crashes_and_models() -> None:
    text = "\n".join(BLOCKS)
    for needle in (".isolated(box)", "require=", "isolation()", "sandbox.memory_exceeded", "SandboxedModel("):
        assert needle in text
    assert all(expectations(block) for block in BLOCKS)
    assert "BENCH_" not in (ROOT / "docs/sandbox.md").read_text(encoding="utf-8")




def test_readme_shows_the_sandbox() -> None:
    assert any("sandbox" in block for block in python_blocks("README.md"))


def test_demo_contains_a_crashing_decoder() -> None:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run([sys.executable, "demo_sandbox.py"], cwd=ROOT / "examples", env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("a valid 16x16 TOY1 file: accepted")
    assert lines[1].startswith("crafted: header claims 4096x4096 pixels: refused reject sandbox.crashed")
    assert "SIGSEGV" in lines[1]
    assert lines[2].startswith("the next valid file (worker replaced): accepted")

# The blocks themselves run in tests/test_docs_blocks.py (one test over every doc).
