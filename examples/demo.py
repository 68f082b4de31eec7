"""`make demo`: a small Keras model behind keras_sanitize, fed benign and hostile inputs.

Each modality contributes a section module ``examples/demo_<name>.py`` with a
``section() -> tuple[str, list[Case]]``; this script runs whichever exist and
prints one table of verdicts and findings.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _demo import print_table  # noqa: E402

ORDER = ["tensor", "text", "image", "audio", "integration", "artifacts", "sandbox", "privacy", "probe"]


def _load(name: str) -> object | None:
    path = HERE / f"demo_{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"demo_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    counts = {"accepted": 0, "cleaned": 0, "refused": 0}
    for name in ORDER:
        module = _load(name)
        if module is None:
            continue
        title, cases = module.section()  # type: ignore[attr-defined]
        print_table(title, cases)
        for case in cases:
            counts[case.verdict] = counts.get(case.verdict, 0) + 1
    print(f"\n{counts['accepted']} accepted, {counts['cleaned']} cleaned, {counts['refused']} refused")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
