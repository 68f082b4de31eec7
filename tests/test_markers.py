"""The ``slow`` marker really splits the suite: ``make test`` runs the fast tier, CI all of it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args: str) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert out.returncode in (0, 5), out.stdout[-2000:] + out.stderr[-2000:]
    return len(re.findall(r"^\S+::\S+$", out.stdout, re.M))  # one node id per collected test


def test_not_slow_deselects_the_slow_tier() -> None:
    files = ["tests/test_examples.py", "tests/test_project_files.py"]
    everything = _collect(*files)
    fast = _collect("-m", "not slow", *files)
    assert fast == 3  # the project-file tests
    assert everything > fast + 5  # the example scripts are the slow tier


def test_make_test_is_fast_and_ci_runs_the_slow_tier() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    unit = makefile[makefile.index("\nunit:") :].split("\n\n")[0]
    # the fast tier drops the slow tests unless SLOW is set (torch tests have their own target)
    assert '-m "not torch$(if $(SLOW),, and not slow)"' in unit
    assert re.search(r"^make test SLOW=1\b", (ROOT / ".ci/run").read_text("utf-8"), re.M)
