"""Run every ``benchmarks/bench_*.py`` and print one table.

Each module exposes ``run() -> list[Row]``. A row names what was measured, its
time per call, and, where a natural reference exists, the reference measured in
the same run and the ratio. Speed goals live here, never in timed tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row, render  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="run only these bench_<name> modules")
    args = parser.parse_args()
    rows: list[Row] = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem[len("bench_") :]
        if args.only and name not in args.only:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        start = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            rows.extend(module.run())
        except Exception as exc:
            rows.append(Row(name, f"FAILED: {type(exc).__name__}: {exc}"))
        print(f"[{name}: {time.perf_counter() - start:.1f} s]", file=sys.stderr, flush=True)
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
