"""Shared test fixtures: corpus access that skips cleanly without ../shared."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

ROOT = Path(__file__).resolve().parents[1]
# Test helper modules (tests/_*.py) import by name under --import-mode=importlib.
sys.path.insert(0, str(ROOT / "tests"))
# ... and only by that name: --doctest-modules would import them a second time as
# ``tests._x`` (a second class under one registered stage name is a ConfigError).
collect_ignore_glob = ["_*.py"]
SHARED = Path(os.environ.get("KERAS_SANITIZE_SHARED", ROOT.parent / "shared"))
CORPORA = SHARED / "corpora"


def corpus_path(*parts: str) -> Path:
    """Path to a corpus under ../shared/corpora, or skip the test with a clear reason."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"corpus {path} is absent: these tests read ../shared/corpora, which a fresh "
            f"clone does not have (CI does)"
        )
    return path


@pytest.fixture
def corpora() -> Path:
    """The corpora root; skips when ../shared is absent."""
    return corpus_path()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``torch`` skip with the reason when torch is absent (``make test-torch`` adds it)."""
    if item.get_closest_marker("torch") is not None:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            pytest.skip("torch is not installed: `make test-torch` installs the pinned wheel and runs these")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Torch-backend tests are marked ``torch`` even when their file does not say so.

    ``make test`` deselects them (it installs no torch: PyPI's torch is the CUDA build) and
    ``make test-torch`` runs exactly them: a test named ``*torch_backend*`` or parametrized
    with the value ``"torch"`` (e.g. ``backend="torch"``) is one.
    """
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "torch_backend" in item.name or any(isinstance(v, str) and v == "torch" for v in params.values()):
            item.add_marker(pytest.mark.torch)
