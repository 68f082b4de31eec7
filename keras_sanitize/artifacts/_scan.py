"""``scan()``: classify a model file by its bytes and inspect it without importing anything from it."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
import zipfile
from collections.abc import Iterable
from importlib import metadata
from typing import IO, Any

from keras_sanitize.errors import ArtifactError, ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo

from ._common import DEFAULT_LIMITS, STAGE, Collector, ScanLimits, fspath, normalize_allow
from ._configscan import scan_config, scan_json_blob
from ._formats import compressed_pickle, hdf5_superblock_offset, pickle_globals, sniff
from ._h5scan import scan_hdf5
from ._hash import normalize_digest, open_regular
from ._zipscan import _NPY_DESCR, ZipScan

_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|hf:|gs:|s3:)")


def is_remote(path: str) -> bool:
    """Whether ``path`` names a URL or a hub/bucket location rather than a local file."""
    return bool(_REMOTE.match(path))


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _keras_version_note(saved: str | None, col: Collector) -> None:
    if not saved:
        return
    try:
        installed = metadata.version("keras")
    except metadata.PackageNotFoundError:
        return
    if _version_tuple(saved) > _version_tuple(installed):
        col.add("artifact.keras_version_newer", f"saved by Keras {echo(saved)}, newer than the installed "
                f"{installed}; it may use features this Keras reads differently. Upgrade keras",
                Severity.LOW, Action.WARN, saved=saved, installed=installed)


def _scan_legacy(out: dict[str, Any], label: str, allowed: tuple[str, ...], limits: ScanLimits,
                 allow_legacy_h5: bool, col: Collector, summary: dict[str, Any]) -> None:
    summary["keras_version"] = out["attrs"].get("keras_version")
    summary["datasets"] = out["datasets"]
    for key, raw in out["extra_json"].items():
        scan_json_blob(raw, f"{label}:{key}", allowed, limits, col)
    if "model_config" not in out["configs"]:
        summary["format"] = "hdf5-weights"
        return
    summary["format"] = "hdf5-legacy-model"
    if not allow_legacy_h5:
        col.add("artifact.legacy_h5", f"{label} is a legacy HDF5 model; Keras's legacy loader has "
                "ignored safe_mode (CVE-2025-9905), so it is refused by default. Re-save it as .keras, "
                "or pass allow_legacy_h5=True if you trust its source", Severity.HIGH)
    for key, raw in out["configs"].items():
        result = scan_config(raw, f"{label}:{key}", allowed, limits, col)
        if key == "model_config":
            summary["config"] = result


def _scan_file(fh: IO[bytes], p: str, allowed: tuple[str, ...], limits: ScanLimits,
               allow_legacy_h5: bool, expected: str | None, col: Collector, summary: dict[str, Any]) -> None:
    size = os.fstat(fh.fileno()).st_size
    summary["size"] = size
    label = os.path.basename(p) or p
    if expected is not None:
        h = hashlib.sha256()
        while chunk := fh.read(1 << 20):
            h.update(chunk)
        summary["sha256"] = actual = h.hexdigest()
        if not hmac.compare_digest(actual, expected):
            col.add("artifact.hash_mismatch", f"SHA-256 of {label} is {actual}; the pinned value is "
                    f"{expected}. Re-download the artifact or update the pin", Severity.CRITICAL,
                    expected=expected, actual=actual)
    fh.seek(0)
    head = fh.read(1 << 16)
    kind = sniff(head[:64])
    as_zip = zipfile.is_zipfile(fh)
    h5_at = hdf5_superblock_offset(fh, size)
    fh.seek(0)
    summary["format"] = kind
    others = [name for name, hit in (("zip", as_zip and kind != "zip"),
                                     ("hdf5", h5_at is not None and kind != "hdf5")) if hit]
    if kind == "unknown" and others == ["zip"]:
        col.add("artifact.polyglot", f"{label} has unrecognised bytes before its zip data; zip readers "
                "skip them, other tools read them. Refuse it", Severity.CRITICAL, formats=["unknown", "zip"])
    elif others and not (kind == "unknown" and others == ["hdf5"]):
        col.add("artifact.polyglot", f"{label} is a {kind} file that is also a valid "
                f"{' and '.join(others)} file; different loaders would read different contents. Refuse it",
                Severity.CRITICAL, formats=[kind, *others])

    if kind == "zip" or (kind == "unknown" and as_zip):
        summary["format"] = "keras-zip"
        ZipScan(fh, label, allowed, limits, col, summary).run()
        _keras_version_note(summary.get("keras_version"), col)
    elif kind == "hdf5" or (kind in ("unknown", "empty") and h5_at is not None):
        out = scan_hdf5(fh, label, size, limits, col)
        if out is not None:
            _scan_legacy(out, label, allowed, limits, allow_legacy_h5, col, summary)
    elif kind == "pickle" or (kind in ("gzip", "zlib", "bz2", "xz") and compressed_pickle(kind, head)):
        imports = pickle_globals(head) if kind == "pickle" else []
        what = "pickle" if kind == "pickle" else f"{kind}-compressed pickle (joblib)"
        col.add("artifact.pickle", f"{label} is a {what}"
                f"{' importing ' + ', '.join(imports[:5]) if imports else ''}; unpickling runs arbitrary "
                "code, so pickles are refused. Use a .keras file", Severity.CRITICAL, imports=imports)
    elif kind == "npy":
        match = _NPY_DESCR.search(head[:512])
        if match is not None and b"O" in match.group(1):
            col.add("artifact.pickle", f"{label} is a numpy object array, stored as a pickle; refused",
                    Severity.CRITICAL)
        else:
            col.add("artifact.unknown_format", f"{label} is a bare numpy array, not a Keras model",
                    Severity.HIGH, format=kind)
    else:
        col.add("artifact.unknown_format", f"{label} is not a .keras zip or an HDF5 file (starts "
                f"{echo(head[:16])}, sniffed as {kind}); only Keras model files are accepted",
                Severity.HIGH, format=kind, fatal=True)


def scan(path: str | os.PathLike[str], allow_modules: str | Iterable[str] = (), *,
         allow_legacy_h5: bool = False, sha256: str | None = None,
         limits: ScanLimits | None = None) -> Report:
    """Inspect a model file and report everything that would make loading it unsafe.

    Nothing from the file is imported, unpickled or executed: the bytes are read
    with :mod:`zipfile`, :mod:`json` and :mod:`h5py` only. ``report.ok`` is
    ``False`` when any finding refuses the file; ``report.value`` summarises it
    (format, size, Keras version from ``metadata.json``, members...). Bad input
    never raises: an unreadable file is an ``artifact.unreadable`` finding.

    Args:
        path: a local file (``.keras`` zip or HDF5).
        allow_modules: extra top-level packages a config may name besides
            ``keras`` and ``keras_hub``, e.g. ``("keras_sanitize",)``.
        allow_legacy_h5: accept legacy HDF5 models (refused by default).
        sha256: if given, also check the file's SHA-256 against this pin.
        limits: resource limits (:class:`ScanLimits`).

    Example:
        >>> import os, tempfile
        >>> bad = os.path.join(tempfile.mkdtemp(), "model.keras")
        >>> with open(bad, "wb") as f:
        ...     _ = f.write(b"\\x80\\x04\\x95...")   # a pickle renamed .keras
        >>> report = scan(bad)
        >>> report.ok, report.codes
        (False, ('artifact.pickle',))
    """
    allowed = normalize_allow(allow_modules)
    expected = normalize_digest(sha256) if sha256 is not None else None
    if limits is None:
        limits = DEFAULT_LIMITS
    elif not isinstance(limits, ScanLimits):
        raise ConfigError(f"limits must be a ScanLimits. Received: {echo(limits)}")
    p = fspath(path)
    start = time.perf_counter()
    col = Collector()
    summary: dict[str, Any] = {"path": p, "format": None}
    findings: tuple[Finding, ...]
    if is_remote(p):
        col.add("artifact.remote_path", f"{echo(p)} is a URL or hub location; only local files are "
                "scanned and loaded. Download it, pin its SHA-256, then scan the local copy",
                Severity.HIGH, fatal=True)
    else:
        try:
            with open_regular(p) as fh:
                _scan_file(fh, p, allowed, limits, allow_legacy_h5, expected, col, summary)
        except ArtifactError as exc:
            col.findings.extend(exc.report.findings if exc.report else ())
        except Exception as exc:
            col.add("artifact.internal_error", f"scanning {echo(p)} failed unexpectedly "
                    f"({type(exc).__name__}: {echo(str(exc))}); the file is refused. Please report this",
                    Severity.HIGH, fatal=True)
    findings = col.finish()
    ok = not any(f.rejects for f in findings)
    return Report(ok, summary, findings, {STAGE: time.perf_counter() - start}, modality="artifact")
