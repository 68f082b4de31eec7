"""The ``keras-sanitize`` command (also ``python -m keras_sanitize``).

``keras-sanitize scan PATH... [--modality M] [--policy FILE] [--json]`` runs
every file (folders are walked) through the default pipeline of its sniffed
modality, or through ``--modality``'s, or through the pipeline of a policy
file, and prints a summary table (or one JSON document). ``--out FILE``
also writes one Parquet row per file; ``--ray [--address auto]`` checks the
files on a Ray cluster (see ``docs/scale.md``).

Exit codes: 0 every file accepted (possibly cleaned), 1 some file refused,
2 usage error (bad arguments, missing path, unreadable policy).

Further subcommands (``scan-model``, ``audit``) come from
``keras_sanitize._cli_artifacts`` when it is present; ``probe`` from
``keras_sanitize._cli_probe``.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "hello.txt").write_text("What time is it in Tokyo?")
    >>> main(["scan", str(folder), "--no-progress"])  # doctest: +ELLIPSIS
    file...
    1 file: 1 accepted, 0 cleaned, 0 refused
    0
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from keras_sanitize.errors import ConfigError, SanitizeError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo
from keras_sanitize.registry import MODALITIES as _MODALITY_REGISTRY

__all__ = ["EXIT_CLEAN", "EXIT_REFUSED", "EXIT_USAGE", "build_parser", "main"]

EXIT_CLEAN, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
MODALITIES = tuple(_MODALITY_REGISTRY)
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_FILES = 1_000_000
_BAR_WIDTH = 30
_MODEL_SUFFIXES = frozenset({".keras", ".h5", ".hdf5"})


class _UsageError(Exception):
    """Bad arguments: exit code 2."""


def _walk(paths: Sequence[str], limit: int) -> list[Path]:
    """Regular files under ``paths`` (folders walked in sorted order, symlinked folders skipped)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for root, dirs, names in os.walk(path, followlinks=False):
                dirs.sort()
                for name in sorted(names):
                    child = Path(root) / name
                    if child.is_file():
                        files.append(child)
                    if len(files) > limit:
                        raise _UsageError(f"more than {limit} files under {raw}; scan a smaller folder")
        else:
            raise _UsageError(f"no such file or folder: {raw}")
    return files


def _refused(code: str, message: str, modality: str | None = None) -> Report:
    finding = Finding(code, message, Severity.HIGH, Action.REJECT, stage="cli", fatal=True)
    return Report(False, None, (finding,), {}, modality)


def _load_value(path: Path, modality: str | None, max_bytes: int) -> tuple[Any, str | None] | Report:
    """The value to validate: the file's bytes, or an array for .npy files."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return _refused(
                "core.file_too_large",
                f"file has {size} bytes; limit is {max_bytes} (--max-bytes)",
                modality,
            )
        data = path.read_bytes()
    except OSError as exc:
        return _refused("core.unreadable", f"cannot read the file: {exc.strerror or exc}", modality)
    if path.suffix.lower() == ".npy" and modality in (None, "tensor"):
        import io

        import numpy as np

        try:
            return np.load(io.BytesIO(data), allow_pickle=False), "tensor"
        except Exception as exc:
            return _refused("tensor.bad_npy", f"not a loadable .npy array (no pickles): {echo(str(exc))}")
    return data, modality


def _check(path: Path, args: argparse.Namespace, pipeline: Any) -> Report:
    from keras_sanitize._dispatch import validate

    if pipeline is None and args.modality is None and path.suffix.lower() in _MODEL_SUFFIXES:
        return _refused(
            "core.model_file",
            f"{path.suffix} files are models, not inputs: check them with `keras-sanitize scan-model` "
            f"(or pass --modality to validate the bytes anyway)",
        )
    loaded = _load_value(path, args.modality, args.max_bytes)
    if isinstance(loaded, Report):
        return loaded
    value, modality = loaded
    box = getattr(args, "_sandbox_box", None)
    try:
        if pipeline is not None:
            return pipeline.run(value)  # type: ignore[no-any-return]
        if box is not None:
            return box.validate(value, modality=modality)  # type: ignore[no-any-return]
        checked: Report = validate(value, modality=modality)  # one file: never a batch
        return checked
    except SanitizeError as exc:
        return _refused("core.refused", str(exc), modality)
    except Exception as exc:
        return _refused("core.internal_error", f"{type(exc).__name__}: {echo(str(exc))}", modality)


def _verdict(report: Report) -> str:
    if not report.ok:
        return "refused"
    if any(f.action is Action.SANITIZE for f in report.findings):
        return "cleaned"
    return "accepted"


class _Progress:
    """A one-line progress bar on stderr (only on a terminal, only for several files)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and total > 1
        self.start = time.monotonic()

    def update(self, done: int, name: str) -> None:
        if not self.enabled:
            return
        filled = int(_BAR_WIDTH * done / self.total)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        label = name if len(name) <= 40 else "…" + name[-39:]
        rate = done / max(time.monotonic() - self.start, 1e-9)
        sys.stderr.write(f"\r[{bar}] {done}/{self.total} {rate:5.1f} files/s {label:<40}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * (_BAR_WIDTH + 70) + "\r")
            sys.stderr.flush()


def _table(rows: list[tuple[str, str, str, str]], out: TextIO) -> None:
    header = ("file", "modality", "verdict", "findings")
    widths = [min(60, max(len(r[i]) for r in [header, *rows])) for i in range(3)]
    print(
        f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:<{widths[2]}}  {header[3]}", file=out
    )
    print("  ".join("-" * w for w in widths) + "  " + "-" * 40, file=out)
    for name, modality, verdict, findings in rows:
        shown = name if len(name) <= widths[0] else "…" + name[-(widths[0] - 1) :]
        print(f"{shown:<{widths[0]}}  {modality:<{widths[1]}}  {verdict:<{widths[2]}}  {findings}", file=out)


def run_scan(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``scan``; return 0 (all accepted), 1 (some refused) or 2 (usage error)."""
    out = out or sys.stdout
    pipeline = None
    if args.policy:
        from keras_sanitize.pipeline import Pipeline

        try:
            pipeline = Pipeline.from_file(args.policy)
        except ConfigError as exc:
            raise _UsageError(f"bad policy file: {exc}") from None
    files = _walk(args.paths, MAX_FILES)
    results: list[tuple[Path, Report]] = []
    digests = None
    if getattr(args, "ray", False) and getattr(args, "sandbox", False):
        raise _UsageError("--ray and --sandbox do not combine yet (use one or the other)")
    if getattr(args, "ray", False):
        from keras_sanitize.scale._scan import ray_results

        try:
            results, digests = ray_results(files, args, pipeline, _check)
        except ConfigError as exc:
            raise _UsageError(str(exc)) from None
    else:
        tty = not args.no_progress and not args.json and sys.stderr.isatty()
        progress = _Progress(len(files), enabled=tty)
        if getattr(args, "sandbox", False):  # decoders run in sandbox workers (docs/sandbox.md)
            from keras_sanitize.sandbox import Sandbox

            args._sandbox_box = Sandbox()
            pipeline = pipeline.isolated(args._sandbox_box) if pipeline is not None else None
        try:
            for done, path in enumerate(files, 1):
                results.append((path, _check(path, args, pipeline)))
                progress.update(done, str(path))
        finally:
            if getattr(args, "_sandbox_box", None) is not None:
                args._sandbox_box.close()
        progress.close()
    if getattr(args, "out", None):
        from keras_sanitize.scale._scan import write_rows

        try:
            write_rows(args.out, results, digests)
        except ConfigError as exc:
            raise _UsageError(str(exc)) from None
    counts = {"accepted": 0, "cleaned": 0, "refused": 0}
    for _, report in results:
        counts[_verdict(report)] += 1
    if args.json:
        doc = {
            "files": [
                {"path": str(path), "verdict": _verdict(report), **report.to_dict()}
                for path, report in results
            ],
            "summary": {"files": len(results), **counts},
        }
        print(json.dumps(doc, indent=2), file=out)
    else:
        rows = []
        for path, report in results:
            codes = ", ".join(dict.fromkeys(f.code for f in report.findings)) or "-"
            rows.append((str(path), report.modality or "?", _verdict(report), codes))
        _table(rows, out)
        if args.verbose:
            for path, report in results:
                for finding in report.findings:
                    print(f"{path}: {finding}", file=out)
        noun = "file" if len(results) == 1 else "files"
        print(
            f"{len(results)} {noun}: {counts['accepted']} accepted, {counts['cleaned']} cleaned, "
            f"{counts['refused']} refused",
            file=out,
        )
    return EXIT_REFUSED if counts["refused"] else EXIT_CLEAN


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer. Received: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer. Received: {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` returns the exit code."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def build_parser() -> argparse.ArgumentParser:
    """The ``keras-sanitize`` argument parser with every subcommand.

    Example:
        >>> build_parser().parse_args(["scan", "uploads/", "--modality", "image"]).modality
        'image'
    """
    parser = _Parser(
        prog="keras-sanitize",
        description="Input sanitization for Keras models: validate files before a model sees them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    scan = subparsers.add_parser(
        "scan",
        help="validate files or folders with the default (or a policy's) pipeline",
        description="Validate files or folders. Exit 0: every file accepted (possibly cleaned); "
        "1: some file refused; 2: usage error.",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked recursively)")
    scan.add_argument(
        "--modality", choices=MODALITIES, help="force a modality (default: sniffed per file; .npy = tensor)"
    )
    scan.add_argument(
        "--policy", metavar="FILE", help="a TOML/JSON policy file: its pipeline checks every file"
    )
    scan.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    scan.add_argument("--verbose", "-v", action="store_true", help="also print every finding's message")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    scan.add_argument(
        "--max-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_FILE_BYTES,
        metavar="N",
        help=f"refuse files larger than N bytes without reading them (default {DEFAULT_MAX_FILE_BYTES})",
    )
    scan.add_argument(
        "--sandbox",
        action="store_true",
        help="decode every file in locked-down sandbox worker processes (see docs/sandbox.md)",
    )
    scan.add_argument(
        "--out",
        metavar="FILE",
        help="also write one Parquet row per file (path, sha256, modality, ok, codes, findings)",
    )
    scan.add_argument("--ray", action="store_true", help="check the files on Ray (the ray extra)")
    scan.add_argument("--address", default=None, help="with --ray: a cluster ('auto'); default: local Ray")
    scan.add_argument("--ray-actors", type=_positive_int, default=None, metavar="N", help="Ray actors")
    scan.add_argument("--ray-batch-size", type=_positive_int, default=16, help=argparse.SUPPRESS)
    scan.set_defaults(func=run_scan)
    try:
        extra = importlib.import_module("keras_sanitize._cli_artifacts")
    except ImportError:
        extra = None
    if extra is not None:
        extra.add_commands(subparsers)
    from keras_sanitize.serve._cli import add_command as add_serve

    add_serve(subparsers)
    from keras_sanitize._cli_privacy import add_commands as add_privacy

    add_privacy(subparsers)
    from keras_sanitize._cli_probe import add_command as add_probe

    add_probe(subparsers)
    return parser


def _version() -> str:
    from keras_sanitize import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``keras-sanitize``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(func(args))
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
