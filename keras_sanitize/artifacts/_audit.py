"""``audit()``: installed dependency versions against the shipped, dated advisory table."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo

from ._common import fspath

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["COMPONENTS", "Advisory", "advisories", "audit", "installed_versions"]

STAGE = "artifacts.audit"
#: What ``audit`` reports on: PyPI distributions and the native libraries under them.
COMPONENTS = (
    "python", "keras", "jax", "jaxlib", "tensorflow", "torch", "numpy", "h5py", "hdf5", "pillow",
    "python-magic", "libmagic", "soundfile", "libsndfile", "bleach", "nh3",
)
#: Components read from native libraries (and the interpreter), not from package metadata.
NATIVE_COMPONENTS = frozenset({"python", "hdf5", "libmagic", "libsndfile"})
_SEVERITIES = {s.value for s in Severity}


@dataclass(frozen=True)
class Advisory:
    """One known vulnerability: which component, which versions, the fix.

    Example:
        >>> a = Advisory("CVE-0000-1", "keras", ("<3.9.0",), ("3.9.0",), "high", "demo")
        >>> a.affects("3.8.0"), a.affects("3.9.0")
        (True, False)
    """

    id: str
    package: str
    affected: tuple[str, ...]
    fixed: tuple[str, ...]
    severity: str
    summary: str
    url: str = ""
    aliases: tuple[str, ...] = ()

    def affects(self, version: str) -> bool:
        """Whether ``version`` falls in any affected range (unparseable versions never match)."""
        try:
            v = Version(version)
        except InvalidVersion:
            return False
        return any(v in SpecifierSet(r) for r in self.affected)


def _parse_table(data: Mapping[str, Any], where: str) -> tuple[dict[str, Any], tuple[Advisory, ...]]:
    meta = data.get("meta")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("updated"), _dt.date):
        raise ConfigError(f"advisory table {where} needs [meta] updated = YYYY-MM-DD")
    out = []
    for i, raw in enumerate(data.get("advisory", [])):
        try:
            fixed = raw.get("fixed", "")
            adv = Advisory(
                id=str(raw["id"]), package=str(raw["package"]).lower(),
                affected=tuple(str(r) for r in raw["affected"]),
                fixed=tuple(f for f in ([fixed] if isinstance(fixed, str) else fixed) if f),
                severity=str(raw["severity"]), summary=str(raw["summary"]), url=str(raw.get("url", "")),
                aliases=tuple(str(a) for a in raw.get("aliases", ())),
            )
            for r in adv.affected:
                SpecifierSet(r)
            for f in adv.fixed:
                Version(f)
        except (KeyError, TypeError, InvalidSpecifier, InvalidVersion) as exc:
            raise ConfigError(f"advisory #{i} in {where} is malformed ({type(exc).__name__}: {exc}); "
                              "each needs id, package, affected, fixed, severity, summary") from None
        if adv.severity not in _SEVERITIES:
            raise ConfigError(f"advisory {adv.id} in {where}: severity must be one of {sorted(_SEVERITIES)}. "
                              f"Received: {adv.severity!r}")
        out.append(adv)
    info = {"updated": meta["updated"].isoformat(), "max_age_days": int(meta.get("max_age_days", 120)),
            "source": where, "count": len(out)}
    return info, tuple(out)


def _read(path: str | None) -> tuple[dict[str, Any], tuple[Advisory, ...]]:
    try:
        if path is None:
            text = resources.files("keras_sanitize").joinpath("data/advisories.toml").read_text("utf-8")
            where = "keras_sanitize/data/advisories.toml"
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            where = path
        return _parse_table(tomllib.loads(text), where)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read advisory table {echo(path or 'shipped')}: {exc}") from None


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[dict[str, Any], tuple[Advisory, ...]]:
    return _read(None)


def _load(path: str | None) -> tuple[dict[str, Any], tuple[Advisory, ...]]:
    """The shipped table (parsed once) or a user table (re-read on every call: it may change)."""
    return _shipped() if path is None else _read(path)


def advisories(table: str | os.PathLike[str] | None = None) -> tuple[Advisory, ...]:
    """The advisories of the shipped table (or of ``table``, a TOML file in the same format).

    Example:
        >>> any(a.id == "CVE-2025-1550" for a in advisories())
        True
    """
    return _load(None if table is None else fspath(table))[1]


def _native_version(name: str) -> str | None:
    try:
        if name == "python":
            return platform.python_version()
        if name == "hdf5":
            import h5py

            return str(h5py.version.hdf5_version)
        if name == "libmagic":
            import magic

            get = getattr(magic, "version", None)
            raw: Any = get() if callable(get) else None
            return f"{raw // 100}.{raw % 100:02d}" if isinstance(raw, int) and raw > 0 else None
        if name == "libsndfile":
            import soundfile

            return str(soundfile.__libsndfile_version__)
    except Exception:
        return None
    return None


def installed_versions() -> dict[str, str | None]:
    """Versions of every component in :data:`COMPONENTS` (``None`` when absent).

    Example:
        >>> installed_versions()["python"].count(".") >= 1
        True
    """
    out: dict[str, str | None] = {}
    for name in COMPONENTS:
        if name in NATIVE_COMPONENTS:
            out[name] = _native_version(name)
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _upgrade_target(package: str, version: str, table: tuple[Advisory, ...]) -> str | None:
    """The lowest requirement above ``version`` that no advisory in ``table`` affects.

    Candidates are the recorded fixed versions (``>=fixed``) and, for advisories
    pinned to one release without a recorded fix, "anything newer" (``>release``).
    """
    mine = [a for a in table if a.package == package]
    current = Version(version)
    candidates: set[tuple[Version, bool]] = set()
    for adv in mine:
        candidates.update((Version(f), True) for f in adv.fixed)
        for spec in adv.affected:
            if spec.startswith("==") and "," not in spec and "*" not in spec:
                candidates.add((Version(spec[2:].strip()), False))
    for cand, inclusive in sorted(candidates, key=lambda c: (c[0], not c[1])):
        probe = cand if inclusive else Version(f"{cand.base_version}.post999")
        if probe <= current:
            continue
        if not any(a.affects(str(probe)) for a in mine):
            return f">={cand}" if inclusive else f">{cand}"
    return None


def _how(package: str, target: str | None) -> str:
    if target is None:
        return "no fixed release is recorded; check the advisory and avoid the affected feature"
    if package in NATIVE_COMPONENTS:
        return f"upgrade {package} to {target} (your OS package manager or a newer wheel that bundles it)"
    return f"upgrade: pip install -U '{package}{target}'"


def audit(*, installed: Mapping[str, str | None] | None = None, table: str | os.PathLike[str] | None = None,
          today: _dt.date | None = None) -> Report:
    """Check installed library versions against the shipped, dated advisory table.

    Every affected component yields an ``audit.vulnerable`` finding (action
    ``reject``, so ``report.ok`` is ``False``) naming the advisory and the upgrade
    that fixes all known advisories of that component; a table older than its
    ``max_age_days`` yields ``audit.table_stale`` (warn). ``report.value`` holds
    the installed versions and the table's date.

    Args:
        installed: override detected versions (``{"keras": "3.8.0"}``), e.g. to
            audit a lock file or another machine's environment.
        table: a TOML advisory table in the shipped format, instead of the shipped one.
        today: the date staleness is measured against (default: today).

    Example:
        >>> r = audit(installed={"keras": "3.8.0"}, today=__import__("datetime").date(2026, 12, 1))
        >>> "CVE-2025-1550" in {f.detail["id"] for f in r.findings if f.code == "audit.vulnerable"}
        True
    """
    info, table_ = _load(None if table is None else fspath(table))
    versions = installed_versions()
    if installed is not None:
        if not isinstance(installed, Mapping):
            raise ConfigError("installed must be a mapping of component -> version. "
                              f"Received: {echo(installed)}")
        versions.update({str(k).lower(): (None if v is None else str(v)) for k, v in installed.items()})
    findings: list[Finding] = []
    for package, version in versions.items():
        if version is None:
            continue
        hits = [a for a in table_ if a.package == package and a.affects(version)]
        if not hits:
            continue
        how = _how(package, _upgrade_target(package, version, table_))
        for adv in hits:
            fixed = ", ".join(adv.fixed) or "none known"
            findings.append(Finding(
                "audit.vulnerable",
                f"{package} {version} is affected by {adv.id}: {adv.summary.rstrip('.')} "
                f"(fixed in {fixed}); {how}",
                Severity(adv.severity), Action.REJECT, STAGE,
                detail={"id": adv.id, "package": package, "installed": version, "fixed": list(adv.fixed),
                        "affected": list(adv.affected), "url": adv.url},
            ))
    day = today or _dt.date.today()
    age = (day - _dt.date.fromisoformat(info["updated"])).days
    if age > info["max_age_days"]:
        findings.append(Finding(
            "audit.table_stale",
            f"the advisory table is dated {info['updated']} ({age} days old; refresh after "
            f"{info['max_age_days']} days): newer advisories are missing. Upgrade keras_sanitize or pass "
            "table= a current copy", Severity.LOW, Action.WARN, STAGE, detail={"age_days": age},
        ))
    ok = not any(f.rejects for f in findings)
    return Report(ok, {"installed": versions, "table": info}, tuple(findings), modality="audit")
