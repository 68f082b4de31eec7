"""Project files a library is expected to have: one version source, a changelog, a security policy."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import keras_sanitize as ks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_version_has_one_source() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert "version" not in project["project"], "the version lives in keras_sanitize.__version__ only"
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "keras_sanitize.__version__"
    from setuptools.config.expand import read_attr

    assert read_attr(attr, root_dir=str(ROOT)) == ks.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", ks.__version__)


def test_changelog_keeps_a_changelog_and_knows_the_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text("utf-8")
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d\d-\d\d)$", text, re.M)
    assert releases, "no dated release section"
    assert releases[0][0] == ks.__version__, "the newest released section must be the current version"
    for version, _ in releases:
        assert re.search(rf"^\[{re.escape(version)}\]: ", text, re.M), f"no link for {version}"
    sections = set(re.findall(r"^### (\w+)$", text, re.M))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, sections


def test_security_policy_says_how_to_report() -> None:
    text = (ROOT / "SECURITY.md").read_text("utf-8")
    assert "Reporting a vulnerability" in text
    assert "Do not open a public issue" in text
