"""`make fuzz`: run every ``fuzz/fuzz_<name>.py`` harness for a bounded time.

Each harness exposes ``test_one_input(data: bytes) -> None`` that raises only on a
real bug. With atheris (coverage-guided, libFuzzer) installed each harness runs in
its own process for ``--seconds / N``; without it, a Hypothesis fallback feeds
random bytes for the same time. Exit status is non-zero if any harness failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(path: Path, seconds: float) -> bool:
    """Run one harness in-process (used by the child process)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import atheris
    except ImportError:
        atheris = None
    if atheris is not None:
        # Coverage feedback on our own code (and the decoders' Python parts).
        with atheris.instrument_imports(include=["keras_sanitize", "PIL"]):
            module = _load(path)
    else:
        module = _load(path)
    if atheris is not None and os.environ.get("KS_FUZZ_ENGINE", "atheris") == "atheris":
        corpus = HERE / "corpus" / path.stem[len("fuzz_") :]
        crashes = HERE / "crashes"
        crashes.mkdir(exist_ok=True)
        args = [
            sys.argv[0],
            f"-max_total_time={max(1, int(seconds))}",
            "-rss_limit_mb=2048",
            "-timeout=10",
            f"-artifact_prefix={crashes}/{path.stem}-",
        ]
        if corpus.is_dir():
            args.append(str(corpus))
        atheris.Setup(args, module.test_one_input)
        atheris.Fuzz()
        return True
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:

        @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(st.binary(max_size=4096))
        def prop(data: bytes) -> None:
            module.test_one_input(data)

        prop()
        count += 200
    print(f"{path.stem}: {count} Hypothesis examples, no failure")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="total time budget")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("only", nargs="*", help="harness names (fuzz_<name>.py) to run")
    args = parser.parse_args()
    if args.child:
        sys.argv = [sys.argv[0]]
        return 0 if run_one(Path(args.child), args.seconds) else 1
    harnesses = [p for p in sorted(HERE.glob("fuzz_*.py")) if not args.only or p.stem[5:] in args.only]
    per = max(2.0, args.seconds / max(1, len(harnesses)))
    failed = []
    for path in harnesses:
        print(f"== {path.stem} ({per:.0f} s) ==", flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(path), "--seconds", str(per)],
            timeout=per + 120,
            check=False,
        )
        if proc.returncode != 0:
            failed.append(path.stem)
    print(f"{len(harnesses) - len(failed)} passed, {len(failed)} failed" + (f": {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
