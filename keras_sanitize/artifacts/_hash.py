"""SHA-256 pinning: streaming, constant-memory hashing and verification."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from typing import IO, Any

from keras_sanitize.errors import ArtifactError, ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo

from ._common import STAGE, fspath

__all__ = ["copy_hashed", "normalize_digest", "sha256", "verify"]

_CHUNK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalize_digest(value: Any) -> str:
    """Return ``value`` as 64 lower-case hex digits (an optional ``sha256:`` prefix is dropped).

    Example:
        >>> normalize_digest("SHA256:" + "AB" * 32) == "ab" * 32
        True
    """
    if not isinstance(value, str):
        raise ConfigError(f"sha256 must be a hex string of 64 digits. Received: {echo(value)}")
    digest = value.strip().lower()
    digest = digest.removeprefix("sha256:")
    if not _HEX64.match(digest):
        raise ConfigError(
            f"sha256 must be 64 hex digits, optionally prefixed 'sha256:'. Received: {echo(value)}"
        )
    return digest


def _error(path: str, code: str, message: str, **detail: Any) -> ArtifactError:
    finding = Finding(code, message, Severity.HIGH, Action.REJECT, STAGE, detail=detail, fatal=True)
    report = Report(False, {"path": path}, (finding,), modality="artifact")
    return ArtifactError(message, report)


def open_regular(path: str) -> IO[bytes]:
    """Open ``path`` for reading, refusing directories, devices and FIFOs (ArtifactError)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO must not block the open
    except IsADirectoryError:
        fd = -1
    except OSError as exc:
        raise _error(
            path, "artifact.unreadable",
            f"cannot read model file {echo(path)}: {exc.strerror or type(exc).__name__}; "
            f"pass the path of a local, readable file",
            errno=exc.errno,
        ) from None
    mode = os.fstat(fd).st_mode if fd >= 0 else stat.S_IFDIR
    if not stat.S_ISREG(mode):
        if fd >= 0:
            os.close(fd)
        raise _error(
            path, "artifact.not_a_file",
            f"{echo(path)} is not a regular file (a directory, device or pipe); "
            f"model artifacts must be single local files (.keras or .h5)",
        )
    fh = os.fdopen(fd, "rb")
    return fh


def _digest(fh: IO[bytes]) -> str:
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    readinto = getattr(fh, "readinto")  # noqa: B009 - IO[bytes] lacks readinto in typeshed
    while n := readinto(view):
        h.update(view[:n])
    return h.hexdigest()


def sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of the file at ``path`` as 64 hex digits, reading 1 MiB at a time.

    Raises :class:`~keras_sanitize.ArtifactError` when the file cannot be read.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> sha256(f.name)[:16]
        'ba7816bf8f01cfea'
        >>> os.unlink(f.name)
    """
    return _hash_file(fspath(path))


def _hash_file(p: str) -> str:
    with open_regular(p) as fh:
        try:
            return _digest(fh)
        except OSError as exc:
            raise _error(p, "artifact.unreadable", f"reading {echo(p)} failed: {exc}") from None


def verify(path: str | os.PathLike[str], sha256: str) -> str:
    """Check that the file at ``path`` has the pinned SHA-256; return the digest.

    Streaming and constant-memory; the comparison is constant-time. A mismatch
    raises :class:`~keras_sanitize.ArtifactError` whose ``.report`` holds an
    ``artifact.hash_mismatch`` finding with both digests.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        >>> verify(f.name, sha256=good) == good
        True
        >>> try:
        ...     verify(f.name, sha256="0" * 64)
        ... except ArtifactError as exc:
        ...     print(exc.report.codes)
        ('artifact.hash_mismatch',)
        >>> os.unlink(f.name)
    """
    expected = normalize_digest(sha256)
    p = fspath(path)
    actual = _hash_file(p)
    if not hmac.compare_digest(actual, expected):
        raise mismatch_error(p, expected, actual)
    return actual


def mismatch_error(path: str, expected: str, actual: str) -> ArtifactError:
    """The ``ArtifactError`` for a pinned hash that does not match."""
    message = (
        f"SHA-256 of {echo(path)} is {actual}; the pinned value is {expected}. The file is not "
        f"the artifact you pinned: re-download it from its source or update the pin if the "
        f"change is intended"
    )
    finding = Finding(
        "artifact.hash_mismatch", message, Severity.CRITICAL, Action.REJECT, STAGE,
        detail={"expected": expected, "actual": actual}, fatal=True,
    )
    report = Report(False, {"path": path, "sha256": actual}, (finding,), modality="artifact")
    return ArtifactError(message, report)


def copy_hashed(src: str, dst: str) -> str:
    """Copy ``src`` to a new file ``dst`` (mode 0600) while hashing it; return the digest.

    Loading from a private copy closes the window in which the original could be
    swapped between the scan and the load.
    """
    h = hashlib.sha256()
    with open_regular(src) as fin:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fout:
            try:
                while chunk := fin.read(_CHUNK):
                    h.update(chunk)
                    fout.write(chunk)
            except OSError as exc:
                raise _error(src, "artifact.unreadable", f"copying {echo(src)} failed: {exc}") from None
    return h.hexdigest()
