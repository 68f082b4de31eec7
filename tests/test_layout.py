"""The tests mirror the package, flat in ``tests/``.

A stage module ``keras_sanitize/<area>/<kind>.py`` is tested in ``tests/test_<area>_<kind>.py``
and a public core module ``keras_sanitize/<name>.py`` in ``tests/test_<name>.py``: the place of
a test follows from the code it exercises. Shared samples and stages live in
``tests/_<area>_helpers.py`` (imported by name; see ``conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "keras_sanitize"
TESTS = ROOT / "tests"
KINDS = ("validators", "filters", "encoders", "verifiers")


def _expected(module: Path) -> Path:
    parts = module.relative_to(PACKAGE).with_suffix("").parts
    return TESTS / f"test_{'_'.join(parts)}.py"


def _missing(modules: list[Path]) -> str:
    """One "module -> expected test file" line per module whose test file does not exist."""
    absent = [m for m in modules if not _expected(m).exists()]
    return "\n".join(f"{m.relative_to(ROOT)} -> {_expected(m).relative_to(ROOT)}" for m in absent)


def test_every_stage_module_has_its_test_file() -> None:
    modules = sorted(m for m in PACKAGE.rglob("*.py") if m.stem in KINDS and m.parent != PACKAGE)
    assert modules, f"no stage modules ({', '.join(KINDS)}) found under {PACKAGE}"
    missing = _missing(modules)
    assert not missing, f"stage modules without their test file:\n{missing}"


def test_every_public_core_module_has_its_test_file() -> None:
    modules = sorted(m for m in PACKAGE.glob("*.py") if not m.name.startswith("_"))
    assert modules, f"no modules found in {PACKAGE}"
    missing = _missing(modules)
    assert not missing, f"core modules without their test file:\n{missing}"


def test_no_catch_all_test_file_and_a_flat_layout() -> None:
    catch_all = TESTS / "test_core.py"
    assert not catch_all.exists(), "core tests go to test_<module>.py (test_findings.py, ...)"
    nested = sorted(str(p.relative_to(ROOT)) for p in TESTS.rglob("test_*.py") if p.parent != TESTS)
    assert not nested, f"tests stay flat in tests/ (helpers are imported by name): {nested}"
