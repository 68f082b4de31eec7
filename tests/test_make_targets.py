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
    assert '-m "not torch' in _recipe("unit")


def test_torch_has_its_own_target_that_ci_runs() -> None:
    recipe = _recipe("test-torch")
    assert "torch==$(TORCH_VERSION)" in recipe and "-m torch" in recipe
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index("make test SLOW=1") < ci.index("make test-torch")
    assert "test-torch" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_torch_backend_tests_are_marked_wherever_they_live() -> None:
    import conftest

    class Item:
        def __init__(self, name: str, params: dict[str, object] | None = None) -> None:
            self.name, self.marks = name, []
            if params is not None:
                self.callspec = type("C", (), {"params": params})()

        def add_marker(self, mark: object) -> None:
            self.marks.append(mark)

    items = [
        Item("test_known_results_on_torch_backend"),
        Item("test_round_trip[torch]", {"backend": "torch"}),
        Item("test_round_trip[jax]", {"backend": "jax"}),
        Item("test_make_test_installs_no_torch"),
        Item("test_arrays[x]", {"x": __import__("numpy").zeros(3)}),
    ]
    conftest.pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    assert [bool(i.marks) for i in items] == [True, True, False, False, False]
