"""Advisories from PyPA's ``pip-audit`` (PyPI/OSV vulnerability data), when it is installed and online.

The shipped advisory table (``audit()``) is dated and goes stale; ``pip-audit`` asks the
maintained databases at run time. This module runs it (``pip install
'keras-sanitize[audit]'``), or reads its JSON output from a file, and turns its verdicts
into the same ``audit.vulnerable`` findings. When pip-audit is missing, fails, or reached
no vulnerability service (``value["audited"] == 0``), the caller falls back to the table.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo

__all__ = ["from_pip_audit_json", "run_pip_audit"]

STAGE = "artifacts.audit"
#: pip-audit's own time limit; its queries are one HTTP request per package.
DEFAULT_TIMEOUT = 180.0


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pip-audit")
    except Exception:
        return "?"


def run_pip_audit(
    requirements: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> tuple[dict[str, Any] | None, str]:
    """Run pip-audit on this environment (or on ``requirements``' pins).

    Returns ``(its JSON document, "")``, or ``(None, why)`` when it is not installed,
    fails or times out.
    """
    if importlib.util.find_spec("pip_audit") is None:
        return None, "pip-audit is not installed (pip install 'keras-sanitize[audit]')"
    cmd = [sys.executable, "-m", "pip_audit", "-f", "json", "--progress-spinner", "off"]
    if requirements is not None:
        # pins only: no resolver, no pip download (a lock file already names every package)
        cmd += ["-r", os.fspath(requirements), "--no-deps", "--disable-pip"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"pip-audit did not finish within {timeout:g} s"
    except OSError as exc:
        return None, f"pip-audit could not start: {exc}"
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"pip-audit failed (exit {proc.returncode}): {echo(tail[0], 200)}"
    if not isinstance(doc, Mapping):
        return None, "pip-audit printed JSON that is not an object"
    return dict(doc), ""


def from_pip_audit_json(doc: Mapping[str, Any], *, source: str = "", date: str | None = None) -> Report:
    """Findings from pip-audit's JSON output (``pip-audit -f json``).

    Each vulnerability is an ``audit.vulnerable`` finding (reject); a package pip-audit
    could not look up is ``audit.not_audited`` (warn). ``value["audited"]`` counts the
    packages it did look up: 0 (typically: no network) means no verdict, and callers fall
    back to the shipped table. A document that is not pip-audit's JSON is a ``ConfigError``.

    Example:
        >>> doc = {"dependencies": [{"name": "keras", "version": "3.8.0", "vulns": [
        ...     {"id": "GHSA-x", "aliases": ["CVE-2025-1550"], "fix_versions": ["3.9.0"],
        ...      "description": "safe_mode bypass"}]}]}
        >>> r = from_pip_audit_json(doc, date="2026-12-02")
        >>> r.ok, r.codes, r.value["source"]["date"]
        (False, ('audit.vulnerable',), '2026-12-02')
    """
    deps = doc.get("dependencies")
    if not isinstance(deps, list):
        raise ConfigError("pip-audit JSON must hold a 'dependencies' list (pip-audit -f json). "
                          f"Received keys: {echo(sorted(doc)[:8])}")
    findings: list[Finding] = []
    versions: dict[str, str | None] = {}
    audited = 0
    for dep in deps:
        if not isinstance(dep, Mapping):
            continue
        name = str(dep.get("name", "?")).lower()
        version = dep.get("version")
        versions[name] = None if version is None else str(version)
        if dep.get("skip_reason"):
            findings.append(Finding(
                "audit.not_audited",
                f"pip-audit could not audit {name}: {echo(str(dep['skip_reason']), 200)}",
                Severity.LOW, Action.WARN, STAGE, detail={"package": name},
            ))
            continue
        audited += 1
        for vuln in dep.get("vulns") or ():
            if not isinstance(vuln, Mapping):
                continue
            fixed = [str(v) for v in vuln.get("fix_versions") or ()]
            aliases = [str(a) for a in vuln.get("aliases") or ()]
            vid = str(vuln.get("id", "?"))
            label = vid + (f" ({', '.join(aliases)})" if aliases else "")
            how = (f"upgrade: pip install -U '{name}>={fixed[0]}'" if fixed
                   else "no fixed release is known; check the advisory")
            desc = str(vuln.get("description") or "").strip()
            summary = (desc.splitlines()[0] if desc else "no description")[:160]
            findings.append(Finding(
                "audit.vulnerable",
                f"{name} {version} is affected by {label}: {summary} "
                f"(fixed in {', '.join(fixed) or 'none known'}); {how}",
                Severity.HIGH, Action.REJECT, STAGE,
                detail={"id": vid, "aliases": aliases, "package": name, "installed": version,
                        "fixed": fixed, "source": "pip-audit"},
            ))
    ok = not any(f.rejects for f in findings)
    when = date or _dt.date.today().isoformat()
    value = {
        "installed": versions,
        "audited": audited,
        "source": {"name": source or f"pip-audit {_version()} (PyPI/OSV vulnerability data)", "date": when},
    }
    return Report(ok, value, tuple(findings), modality="audit")
