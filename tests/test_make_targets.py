"""`make test` on a fresh machine stays small: no torch (PyPI's torch is the CUDA build), TF-CPU instead."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n|#.*\n|\n)*)", text, re.M)
    assert m, f"no {target} target"
    return m.group(1)


def test_make_test_installs_no_torch_and_runs_the_tensorflow_backend() -> None:
    commands = [ln for ln in _recipe("$(STAMP)").splitlines() if ln.startswith("\t") and "#" not in ln]
    assert any("pip install" in ln for ln in commands)
    assert not any("torch" in ln for ln in commands)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert not any(req.startswith("torch") for req in extras["test"])
    assert any(req.startswith("tensorflow-cpu") for req in extras["test"])
    assert '-m "not torch"' in _recipe("unit")


def test_torch_has_its_own_target_that_ci_runs() -> None:
    recipe = _recipe("test-torch")
    assert "torch==$(TORCH_VERSION)" in recipe and "-m torch" in recipe
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index("make test\n") < ci.index("make test-torch")
    assert "test-torch" in (ROOT / "README.md").read_text(encoding="utf-8")
