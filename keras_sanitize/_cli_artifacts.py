"""The ``scan-model`` and ``audit`` subcommands of ``keras-sanitize``.

``keras_sanitize.cli`` calls :func:`add_commands` with its subparsers; each
subcommand sets ``func`` to a callable taking the parsed namespace and returning
the exit code.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
from typing import Any, TextIO

from keras_sanitize.errors import ConfigError, SanitizeError
from keras_sanitize.findings import Report

__all__ = ["EXIT_CLEAN", "EXIT_ERROR", "EXIT_FINDINGS", "add_commands", "run_audit", "run_scan"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
#: Scan findings that mean "could not scan" (exit 2) rather than "scanned and found" (exit 1).
ERROR_CODES = frozenset({"artifact.unreadable", "artifact.not_a_file", "artifact.remote_path",
                         "artifact.internal_error"})


def add_commands(subparsers: Any) -> None:
    """Register ``scan-model`` and ``audit`` on an ``argparse`` subparsers object.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser(prog="keras-sanitize")
        >>> add_commands(parser.add_subparsers())
        >>> parser.parse_args(["scan-model", "m.keras", "--json"]).paths
        ['m.keras']
    """
    scan = subparsers.add_parser(
        "scan-model", help="scan model files without loading them",
        description="Inspect .keras / .h5 files (zip members, config.json, HDF5 structure) without "
                    "importing anything from them. Exit 0: clean; 1: findings; 2: a file could not be "
                    "scanned.",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="model files to scan")
    scan.add_argument("--json", action="store_true", help="print one JSON document")
    scan.add_argument("--allow-module", action="append", default=[], metavar="PKG",
                      help="also allow this top-level package in configs (repeatable)")
    scan.add_argument("--allow-legacy-h5", action="store_true", help="accept legacy HDF5 models")
    scan.add_argument("--sha256", metavar="HEX", help="pinned SHA-256 (only with a single PATH)")
    scan.add_argument("--strict", action="store_true", help="warnings count as findings too")
    scan.add_argument("-r", "--recursive", action="store_true",
                      help="scan every file under directory PATHs (formats are sniffed, not guessed)")
    scan.set_defaults(func=run_scan)

    aud = subparsers.add_parser(
        "audit", help="check installed library versions against known advisories",
        description="Compare keras, pillow, numpy, h5py, libmagic, libsndfile, bleach, nh3 and the "
                    "backend against the shipped advisory table. Exit 0: none apply; 1: upgrades needed.",
    )
    aud.add_argument("--json", action="store_true", help="print one JSON document")
    aud.add_argument("--table", metavar="TOML", help="use this advisory table instead of the shipped one")
    aud.add_argument("--requirements", metavar="FILE",
                     help="audit the name==version pins of a requirements/lock file instead of this "
                          "environment's packages; this machine's interpreter and native libraries are "
                          "reported as a separate check that does not change the exit code")
    aud.add_argument("--source", choices=("auto", "pip-audit", "table"), default="auto",
                     help="where advisories come from: pip-audit (live PyPI/OSV data; pip install "
                          "'keras-sanitize[audit]'), the shipped dated table, or auto (pip-audit when "
                          "it is installed and online, else the table)")
    aud.add_argument("--pip-audit-json", metavar="FILE",
                     help="read pip-audit's JSON output (pip-audit -f json) from FILE instead of running it")
    aud.set_defaults(func=run_audit)


def _print_report(title: str, report: Report, out: TextIO) -> None:
    print(f"{title}: {report.summary()}", file=out)
    for f in report.findings:
        print(f"  {f.severity.value.upper():8} {f.action.value:6} {f.code}: {f.message}", file=out)


def run_scan(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``scan-model``; return 0 (clean), 1 (findings) or 2 (a file could not be scanned)."""
    from keras_sanitize.artifacts import scan

    out = out or sys.stdout
    if args.sha256 and len(args.paths) != 1:
        print("error: --sha256 pins one file; pass exactly one PATH", file=sys.stderr)
        return EXIT_ERROR
    results: list[dict[str, Any]] = []
    code = EXIT_CLEAN
    for path in _expand(args.paths, args.recursive):
        try:
            report = scan(path, tuple(args.allow_module), allow_legacy_h5=args.allow_legacy_h5,
                          sha256=args.sha256)
        except SanitizeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if any(f.code in ERROR_CODES for f in report.findings):
            status = EXIT_ERROR
        elif not report.ok or (args.strict and report.findings):
            status = EXIT_FINDINGS
        else:
            status = EXIT_CLEAN
        code = max(code, status)
        if args.json:
            results.append({"path": path, "exit": status, **report.to_dict(include_value=True)})
        else:
            _print_report(path, report, out)
    if args.json:
        print(json.dumps({"exit": code, "results": results}, indent=2, default=str), file=out)
    return code


def _expand(paths: list[str], recursive: bool) -> list[str]:
    if not recursive:
        return paths
    out: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            out.append(path)
            continue
        for root, dirs, files in os.walk(path):  # symlinked directories are not followed
            dirs.sort()
            out.extend(os.path.join(root, f) for f in sorted(files))
    return out


_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;#,]+)")


def _pins(path: str) -> dict[str, str]:
    """``name==version`` pins of a requirements or lock file (other lines are ignored)."""
    with open(path, encoding="utf-8") as fh:
        found = (_PIN.match(line) for line in fh)
        return {m.group(1).lower().replace("_", "-"): m.group(2) for m in found if m}


def run_audit(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``audit``; return 0 (no advisory applies), 1 (upgrades needed) or 2 (bad table or file)."""
    from keras_sanitize.artifacts import audit
    from keras_sanitize.artifacts._audit import COMPONENTS, NATIVE_COMPONENTS

    out = out or sys.stdout
    source = "table" if args.table else getattr(args, "source", "auto")  # a given table is the source
    recorded = getattr(args, "pip_audit_json", None)
    fallback = ""
    local = None
    try:
        report = None
        if recorded is not None or source in ("auto", "pip-audit"):
            report, fallback = _from_pip_audit(args.requirements, recorded, required=source == "pip-audit")
        if report is None:
            installed: dict[str, str | None] | None = None
            if args.requirements:
                # the file's pins only; this machine's natives are a separate, labelled check
                installed = dict.fromkeys(COMPONENTS)
                installed.update(_pins(args.requirements))
            report = audit(table=args.table, installed=installed)
        if args.requirements:
            local = audit(table=args.table, installed={
                c: None for c in COMPONENTS if c not in NATIVE_COMPONENTS
            })
    except OSError as exc:
        print(f"error: cannot read {exc.filename or args.requirements}: {exc.strerror}", file=sys.stderr)
        return EXIT_ERROR
    except SanitizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    code = EXIT_CLEAN if report.ok else EXIT_FINDINGS
    where = _source_line(report, fallback)
    if args.json:
        doc = {"exit": code, "source": where, **report.to_dict(include_value=True)}
        if local is not None:
            doc["this_machine"] = {"counts_for_exit": False, **local.to_dict(include_value=True)}
        print(json.dumps(doc, indent=2, default=str), file=out)
        return code
    print(f"source: {where}", file=out)
    subject = f"pins of {args.requirements}" if args.requirements else "this environment"
    print(f"audited: {subject}", file=out)
    versions = report.value["installed"]
    if "audited" in report.value:  # pip-audit: every package of the environment; name the count only
        print(f"  {report.value['audited']} of {len(versions)} packages looked up", file=out)
    else:
        for name, version in versions.items():
            if version is not None or not args.requirements:
                print(f"  {name:14} {version or '-'}", file=out)
    _print_report("audit", report, out)
    if local is not None:
        print("\nthis machine (interpreter and native libraries; not in the file, not counted in the "
              "exit code):", file=out)
        for name in sorted(NATIVE_COMPONENTS):
            print(f"  {name:14} {local.value['installed'].get(name) or '-'}", file=out)
        _print_report("this machine", local, out)
    return code


def _from_pip_audit(requirements: str | None, recorded: str | None,
                    *, required: bool) -> tuple[Report | None, str]:
    """pip-audit's verdict, or ``(None, why)`` to fall back to the table (a ConfigError when required)."""
    from keras_sanitize.artifacts._pipaudit import from_pip_audit_json, run_pip_audit

    report: Report | None = None
    if recorded is not None:
        with open(recorded, encoding="utf-8") as fh:
            try:
                doc = json.load(fh)
            except ValueError as exc:
                raise ConfigError(f"--pip-audit-json: {recorded} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"--pip-audit-json: {recorded} holds no JSON object")
        stamp = _dt.datetime.fromtimestamp(os.path.getmtime(recorded), _dt.timezone.utc).date()
        report = from_pip_audit_json(
            doc, source=f"pip-audit JSON read from {recorded}", date=stamp.isoformat()
        )
        why = ""
    else:
        live, why = run_pip_audit(requirements)
        if live is not None:
            report = from_pip_audit_json(live)
    if report is not None and not report.value["audited"] and report.value["installed"]:
        why = f"pip-audit could look up none of {len(report.value['installed'])} packages (offline?)"
        report = None
    if report is None and (required or recorded is not None):
        raise ConfigError(f"audit --source pip-audit: {why}")
    return report, why


def _source_line(report: Report, fallback: str) -> str:
    src = report.value.get("source")
    if isinstance(src, dict):
        return f"{src['name']}, queried {src['date']}"
    table = report.value["table"]
    line = f"shipped advisory table ({table['count']} advisories), dated {table['updated']}"
    return line + (f" (pip-audit not used: {fallback})" if fallback else "")
