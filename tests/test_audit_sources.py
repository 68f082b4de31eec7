"""`keras-sanitize audit`: pip-audit as the live source, the shipped table as the offline fallback,
the source and date printed; `--requirements FILE` judges the file's pins only.

Offline by design: pip-audit's verdict comes from a response in pip-audit's JSON format
(tests/data/audit/), or pip-audit is kept off the path; nothing here reaches a network.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from keras_sanitize import _cli_artifacts as cli
from keras_sanitize.artifacts._pipaudit import from_pip_audit_json, run_pip_audit

RECORDED = Path(__file__).resolve().parent / "data" / "audit" / "pip_audit_keras_3.8.0.json"


def _run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="keras-sanitize")
    cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    return args.func(args, out), out.getvalue()


def _python_everywhere_table(tmp_path: Path) -> Path:
    table = tmp_path / "t.toml"
    table.write_text('[meta]\nupdated = 2026-11-01\n\n[[advisory]]\nid = "X-PY"\npackage = "python"\n'
                     'affected = [">=0"]\nfixed = ""\nseverity = "high"\nsummary = "every python"\n')
    return table


def test_requirements_verdict_ignores_this_machines_interpreter(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("keras==3.13.0\n")
    table = _python_everywhere_table(tmp_path)  # this machine's python is "vulnerable"
    code, out = _run(["audit", "--requirements", str(req), "--table", str(table)])
    assert code == 0, out  # the file pins nothing affected: exit 0
    assert "this machine" in out and "not counted in the exit code" in out and "X-PY" in out
    code, out = _run(["audit", "--requirements", str(req), "--table", str(table), "--json"])
    doc = json.loads(out)
    assert code == doc["exit"] == 0 and doc["value"]["installed"]["python"] is None
    assert doc["this_machine"]["counts_for_exit"] is False and not doc["this_machine"]["ok"]
    # without --requirements the interpreter is part of the environment being audited
    assert _run(["audit", "--table", str(table)])[0] == 1


def test_recorded_pip_audit_response_gives_the_verdict_and_names_its_source(tmp_path: Path) -> None:
    code, out = _run(["audit", "--pip-audit-json", str(RECORDED)])
    assert code == 1
    assert "source: pip-audit JSON read from" in out and ", queried 20" in out
    assert "GHSA-48g7-3x6r-xfhp (CVE-2025-1550)" in out and "pip install -U 'keras>=3.9.0'" in out
    assert "audit.not_audited" in out and "private-pkg" in out
    code, out = _run(["audit", "--pip-audit-json", str(RECORDED), "--json"])
    doc = json.loads(out)
    assert doc["source"].startswith("pip-audit JSON read from") and doc["value"]["audited"] == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"no": "deps"}')
    assert _run(["audit", "--pip-audit-json", str(bad)])[0] == 2
    bad.write_text("not json")
    assert _run(["audit", "--pip-audit-json", str(bad)])[0] == 2


def test_an_offline_pip_audit_falls_back_to_the_table_and_says_why(tmp_path: Path) -> None:
    offline = tmp_path / "offline.json"  # what pip-audit prints when its service is unreachable
    offline.write_text(json.dumps({"dependencies": [
        {"name": "keras", "skip_reason": "Dependency not found on PyPI and could not be audited"}]}))
    report = from_pip_audit_json(json.loads(offline.read_text()))
    assert report.value["audited"] == 0 and report.ok
    assert _run(["audit", "--pip-audit-json", str(offline)])[0] == 2  # asked for it: an error, not a guess


def test_auto_without_pip_audit_uses_the_dated_table(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pip_audit" else real(name, *a))
    doc, why = run_pip_audit()
    assert doc is None and "not installed" in why
    _code, out = _run(["audit"])
    assert "source: shipped advisory table" in out and "dated 20" in out
    assert "pip-audit not used: pip-audit is not installed" in out
    assert _run(["audit", "--source", "pip-audit"])[0] == 2


def test_pip_audit_is_an_optional_extra() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("pip-audit") for r in extras["audit"])
    assert "pip_audit" not in sys.modules  # run in a child process when used, never imported
