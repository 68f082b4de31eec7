"""Run every ``benchmarks/bench_*.py`` and print one table.

Each module exposes ``run() -> list[Row]``. A row names what was measured, its
time per call, and, where a natural reference exists, the reference measured in
the same run and the ratio. Speed goals live here, never in timed tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row, markdown, render  # noqa: E402

GENERATED = HERE.parent / "docs" / "_generated"
DOCS = HERE.parent / "docs"
_REGION = re.compile(r"(<!-- bench:([a-z_]+) -->\n)(.*?)(<!-- /bench -->)", re.S)


def write_tables(tables: dict[str, list[Row]]) -> None:
    """Write each module's table to docs/_generated/bench_NAME.md and refresh the docs quoting it.

    A doc quotes a table between ``<!-- bench:NAME -->`` and ``<!-- /bench -->``; the
    figures there are whatever the last ``make bench`` measured, never typed by hand.
    """
    GENERATED.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for name, rows in tables.items():
        body = (
            f"Measured by `make bench` on {stamp} ({os.cpu_count()} CPUs, load average {load:.1f} when "
            f"written; a load above the CPU count makes end-to-end ratios noisy).\n\n" + markdown(rows)
        )
        (GENERATED / f"bench_{name}.md").write_text(body, encoding="utf-8")
    for doc in [HERE.parent / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        new = _REGION.sub(lambda m: _quote(m, tables), text)
        if new != text:
            doc.write_text(new, encoding="utf-8")


def _quote(m: re.Match[str], tables: dict[str, list[Row]]) -> str:
    name = m.group(2)
    path = GENERATED / f"bench_{name}.md"
    if name not in tables or not path.exists():
        return m.group(0)
    return m.group(1) + path.read_text(encoding="utf-8") + m.group(4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="run only these bench_<name> modules")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; do not update docs/_generated/ and the docs"
    )
    args = parser.parse_args()
    rows: list[Row] = []
    tables: dict[str, list[Row]] = {}
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
            got = list(module.run())
        except Exception as exc:
            got = [Row(name, f"FAILED: {type(exc).__name__}: {exc}")]
        rows.extend(got)
        tables[name] = got
        print(f"[{name}: {time.perf_counter() - start:.1f} s]", file=sys.stderr, flush=True)
    print(render(rows))
    if not args.no_write:
        write_tables(tables)
        print(f"tables written to {GENERATED.relative_to(HERE.parent)}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
