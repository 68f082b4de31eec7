"""``load_model()``: pin, copy, scan, and only then hand the private copy to Keras (safe_mode=True)."""

from __future__ import annotations

import hmac
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from keras_sanitize.errors import ArtifactError, ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo

from ._common import STAGE, ScanLimits, fspath, normalize_allow
from ._hash import copy_hashed, mismatch_error, normalize_digest
from ._scan import is_remote, scan

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _refuse(path: str, report: Report, what: str) -> ArtifactError:
    reasons = "; ".join(str(f) for f in report.rejections[:3]) or report.summary()
    return ArtifactError(f"refused to load {echo(path, 300)} ({what}): {reasons}", report)


def _single(path: str, code: str, message: str) -> ArtifactError:
    finding = Finding(code, message, Severity.HIGH, Action.REJECT, STAGE, fatal=True)
    return ArtifactError(message, Report(False, {"path": path}, (finding,), modality="artifact"))


def _modules_of(custom_objects: Mapping[str, Any]) -> tuple[str, ...]:
    """The modules of the classes and functions passed as ``custom_objects``: trusted by the caller."""
    out = []
    for obj in custom_objects.values():
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and _MODULE.match(module) and module not in ("__main__", "builtins"):
            out.append(module)
    return tuple(dict.fromkeys(out))


def load_model(path: str | os.PathLike[str], sha256: str | None = None,
               allow_modules: str | Iterable[str] = (),
               allow_legacy_h5: bool = False, *, compile: bool = True,
               custom_objects: Mapping[str, Any] | None = None, limits: ScanLimits | None = None) -> Any:
    """Load a Keras model only after its hash (if pinned) and a full :func:`scan` pass.

    Steps: refuse URLs, ``hf://`` and directories; copy the file into a private
    temporary directory while hashing it (so it cannot be swapped between check
    and load); compare the pinned SHA-256; :func:`scan` the copy; then call
    ``keras.saving.load_model(copy, safe_mode=True)``. Keras is imported only
    after the scan passed, and nothing from a refused file runs.

    The modules of the classes in ``custom_objects`` count as allowed: passing
    them is the caller's statement of trust.

    Raises:
        ArtifactError: on any refusal; ``.report`` holds the scan findings.
        ConfigError: on a malformed ``sha256`` or ``allow_modules``.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
        >>> with open(path, "wb") as f:
        ...     _ = f.write(b"not a model")
        >>> try:
        ...     load_model(path)
        ... except ArtifactError as exc:
        ...     print(exc.report.codes)
        ('artifact.unknown_format',)
    """
    p = fspath(path)
    expected = normalize_digest(sha256) if sha256 is not None else None
    if custom_objects is not None and not isinstance(custom_objects, Mapping):
        raise ConfigError(f"custom_objects must be a mapping. Received: {echo(custom_objects)}")
    allowed = normalize_allow(tuple(normalize_allow(allow_modules)) + _modules_of(custom_objects or {}))
    if is_remote(p):
        raise _single(p, "artifact.remote_path", f"{echo(p)} is a URL or hub location; load_model accepts "
                      "local files only. Download it, pin its SHA-256, then load the local copy")
    if os.path.isdir(p):
        raise _single(p, "artifact.not_a_file", f"{echo(p)} is a directory; load_model accepts a single "
                      ".keras or .h5 file (directory and Orbax formats are not scanned)")
    tmp = tempfile.mkdtemp(prefix="ks_load_")
    try:
        os.mkdir(os.path.join(tmp, "in"), 0o700)
        # Keep the caller's file name so findings name the file they passed.
        copy = os.path.join(tmp, "in", os.path.basename(p.rstrip("/\\")) or "artifact")
        digest = copy_hashed(p, copy)
        if expected is not None and not hmac.compare_digest(digest, expected):
            raise mismatch_error(p, expected, digest)
        report = scan(copy, allowed, allow_legacy_h5=allow_legacy_h5, limits=limits)
        value = dict(report.value, path=p, sha256=digest)
        report = replace(report, value=value)
        if not report.ok:
            raise _refuse(p, report, "unsafe model file")
        fmt = value.get("format")
        if fmt == "keras-zip":
            target = os.path.join(tmp, "model.keras")
        elif fmt == "hdf5-legacy-model" and allow_legacy_h5:
            target = os.path.join(tmp, "model.h5")
        else:
            extra = Finding("artifact.not_a_model", f"{echo(p)} is {fmt}, not a loadable model (a .keras "
                            "archive, or a legacy .h5 model with allow_legacy_h5=True)", Severity.HIGH,
                            Action.REJECT, STAGE)
            raise _refuse(p, replace(report, ok=False, findings=(*report.findings, extra)), "not a model")
        os.rename(copy, target)
        try:
            import keras

            # Register ks.layers with Keras so models that hold them load (safe mode
            # finds only registered classes), whatever the import order was.
            import keras_sanitize.integrations.layers  # noqa: F401

            return keras.saving.load_model(target, custom_objects=dict(custom_objects or {}),
                                           compile=compile, safe_mode=True)
        except Exception as exc:
            failed = Finding("artifact.load_failed", f"keras.saving.load_model(safe_mode=True) refused or "
                             f"failed after the scan passed: {type(exc).__name__}: {echo(str(exc), 300)}",
                             Severity.HIGH, Action.REJECT, STAGE)
            raise _refuse(p, replace(report, ok=False, findings=(*report.findings, failed)),
                          "Keras refused it") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
