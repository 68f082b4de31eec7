"""audit(): installed versions against the shipped, dated advisory table."""

from __future__ import annotations

import datetime as dt

import pytest

import keras_sanitize as ks
from keras_sanitize.artifacts import Advisory, advisories, audit
from keras_sanitize.artifacts._audit import COMPONENTS, _upgrade_target, installed_versions

TODAY = dt.date(2026, 11, 25)


def test_shipped_table_is_valid_and_dated():
    table = advisories()
    assert len(table) >= 20
    ids = [a.id for a in table]
    assert len(ids) == len(set(ids))
    for cve in ("CVE-2024-3660", "CVE-2025-1550", "CVE-2025-8747", "CVE-2025-9906", "CVE-2025-9905",
                "CVE-2025-49655", "CVE-2026-1669"):
        assert cve in ids
    packages = {a.package for a in table}
    assert packages <= set(COMPONENTS)
    for a in table:
        assert a.summary and a.url.startswith("https://")
        for fixed in a.fixed:
            assert not a.affects(fixed), f"{a.id}: its fixed version {fixed} is inside its affected range"


@pytest.mark.parametrize(
    "version, expected, target",
    [
        ("3.8.0", {"CVE-2025-1550", "CVE-2025-8747", "CVE-2025-9906", "CVE-2025-9905"}, ">3.14.0"),
        ("3.11.1", {"CVE-2025-49655", "CVE-2025-9905"}, ">3.14.0"),
        ("3.13.0", {"CVE-2026-0897", "CVE-2026-1462", "CVE-2026-1669"}, ">3.14.0"),
        ("2.12.0", {"CVE-2024-3660"}, ">3.14.0"),
    ],
)
def test_keras_versions(version, expected, target):
    report = audit(installed={"keras": version}, today=TODAY)
    found = {f.detail["id"] for f in report.findings if f.detail.get("package") == "keras"}
    assert expected <= found
    assert not report.ok
    assert _upgrade_target("keras", version, advisories()) == target
    msg = next(f.message for f in report.findings if f.detail.get("package") == "keras")
    assert f"keras{target}" in msg and version in msg


def test_branch_fixes_pick_the_nearest_safe_release():
    table = (
        Advisory("A", "python", (">=3.11.0,<3.11.8", ">=3.12.0,<3.12.2"), ("3.11.8", "3.12.2"),
                 "medium", "a"),
    )
    assert _upgrade_target("python", "3.11.7", table) == ">=3.11.8"
    assert _upgrade_target("python", "3.12.0", table) == ">=3.12.2"
    assert _upgrade_target("python", "3.13.0", table) is None
    pinned = (Advisory("B", "keras", ("==3.14.0",), (), "high", "b"),
              Advisory("C", "keras", ("<3.14.0",), ("3.14.0",), "high", "c"))
    assert _upgrade_target("keras", "3.10.0", pinned) == ">3.14.0"


def test_current_versions_and_clean_environment():
    report = audit(installed={c: None for c in COMPONENTS} | {"keras": "3.15.1", "pillow": "12.0.0"},
                   today=TODAY)
    assert report.ok and report.findings == ()
    assert report.value["installed"]["keras"] == "3.15.1"


def test_native_libraries_get_os_advice():
    report = audit(installed={"libmagic": "5.40", "libsndfile": "1.0.28"}, today=TODAY)
    codes = {(f.detail["package"], f.detail["id"]) for f in report.findings}
    assert ("libmagic", "CVE-2022-48554") in codes and ("libsndfile", "CVE-2021-3246") in codes
    assert all("package manager" in f.message for f in report.findings if f.detail["package"] == "libmagic")


def test_unknown_fix_says_so():
    report = audit(installed={"keras": "3.14.0"}, today=TODAY)
    (f,) = [f for f in report.findings if f.detail["id"] == "CVE-2026-12481"]
    assert "none known" in f.message and "keras>3.14.0" in f.message


def test_stale_table_warns():
    report = audit(installed={c: None for c in COMPONENTS}, today=TODAY + dt.timedelta(days=400))
    assert report.codes == ("audit.table_stale",)
    assert report.ok  # staleness warns, it does not fail the audit


def test_unparseable_versions_never_match():
    report = audit(installed={c: None for c in COMPONENTS} | {"keras": "not-a-version"}, today=TODAY)
    assert report.ok


def test_installed_versions_shape():
    versions = installed_versions()
    assert set(versions) == set(COMPONENTS)
    assert versions["python"] and versions["keras"]


def test_bad_tables_and_arguments(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[meta]\nupdated = 2026-01-01\n[[advisory]]\nid = "X"\n')
    with pytest.raises(ks.ConfigError, match="malformed"):
        audit(table=path)
    path.write_text('[meta]\nupdated = 2026-01-01\n[[advisory]]\nid = "X"\npackage = "keras"\n'
                    'affected = ["<<1"]\nfixed = ""\nseverity = "high"\nsummary = "s"\n')
    with pytest.raises(ks.ConfigError):
        audit(table=path)
    path.write_text('[meta]\nupdated = 2026-01-01\n[[advisory]]\nid = "X"\npackage = "keras"\n'
                    'affected = ["<1"]\nfixed = ""\nseverity = "dire"\nsummary = "s"\n')
    with pytest.raises(ks.ConfigError, match="severity"):
        audit(table=path)
    path.write_text("[meta]\n")
    with pytest.raises(ks.ConfigError, match="updated"):
        audit(table=path)
    with pytest.raises(ks.ConfigError):
        audit(table=tmp_path / "absent.toml")
    with pytest.raises(ks.ConfigError):
        audit(installed=[("keras", "1")])  # type: ignore[arg-type]
