"""Inspect a ``.keras`` zip archive member by member, without extracting anything."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable
from typing import IO, Any

from keras_sanitize.findings import Action, Severity, echo

from ._common import Collector, ScanLimits
from ._configscan import scan_config, scan_json_blob
from ._formats import looks_like_pickle, pickle_globals
from ._h5scan import scan_hdf5

CONFIG, METADATA = "config.json", "metadata.json"
WEIGHTS_H5, WEIGHTS_NPZ = "model.weights.h5", "model.weights.npz"
#: The members Keras writes into a ``.keras`` archive (plus ``assets/...``).
ALLOWED_MEMBERS = frozenset({CONFIG, METADATA, WEIGHTS_H5, WEIGHTS_NPZ})
ASSETS = "assets/"
#: Asset members peeked at for pickles; more are counted, not read.
MAX_PEEKS = 256
#: Compressed weight members up to this size are inflated in memory, larger ones into a temp file.
_IN_MEMORY = 256 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_NPY_DESCR = re.compile(rb"""['"]descr['"]\s*:\s*(.{0,200}?)\s*,\s*['"]fortran_order""", re.S)


class _Slice(io.RawIOBase):
    """A read-only, seekable window ``[start, start + length)`` of an open file."""

    def __init__(self, fh: IO[bytes], start: int, length: int) -> None:
        super().__init__()
        self._fh, self._start, self._len, self._pos = fh, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._len}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._len - self._pos))
        if n == 0:
            return 0
        self._fh.seek(self._start + self._pos)
        got = self._fh.readinto(view[:n])  # type: ignore[attr-defined]
        self._pos += got or 0
        return got or 0


def _slip_reason(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an empty name or a NUL byte"
    if name.startswith(("/", "\\")):
        return "an absolute path"
    if "\\" in name:
        return "a backslash (a path separator on Windows)"
    if _DRIVE.match(name):
        return "a drive letter"
    if ".." in re.split(r"[/\\]", name):
        return "a '..' component"
    return None


def _data_offset(fh: IO[bytes], info: zipfile.ZipInfo) -> tuple[int, str]:
    fh.seek(info.header_offset)
    raw = fh.read(_LOCAL_HEADER.size)
    if len(raw) < _LOCAL_HEADER.size:
        raise zipfile.BadZipFile("truncated local header")
    sig, *_rest, n_name, n_extra = _LOCAL_HEADER.unpack(raw)
    if sig != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local header signature")
    local_name = fh.read(n_name).decode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace")
    return info.header_offset + _LOCAL_HEADER.size + n_name + n_extra, local_name


class ZipScan:
    """One ``.keras`` archive scan; fills ``summary`` and reports to ``col``."""

    def __init__(self, fh: IO[bytes], label: str, allowed: tuple[str, ...], limits: ScanLimits,
                 col: Collector, summary: dict[str, Any]) -> None:
        self.fh, self.label, self.allowed, self.limits = fh, label, allowed, limits
        self.col, self.summary = col, summary
        self.spans: list[tuple[int, int, str]] = []

    def add(self, code: str, member: str, message: str, severity: Severity,
            action: Action = Action.REJECT, **detail: Any) -> None:
        self.col.add(code, f"{self.label} member {echo(member)}: {message}", severity, action,
                     member=member[:200], **detail)

    def run(self) -> None:
        try:
            zf = zipfile.ZipFile(self.fh)
        except Exception as exc:
            self.col.add("artifact.zip_corrupt", f"{self.label} is not a readable zip archive "
                         f"({type(exc).__name__}: {echo(str(exc))}); re-save the model", Severity.HIGH,
                         fatal=True)
            return
        with zf:
            infos = zf.infolist()
            self.summary["members"] = [i.filename for i in infos[:50]]
            if len(infos) > self.limits.max_members:
                self.col.add("artifact.zip_too_many_members", f"{self.label} has {len(infos)} members; "
                             f"limit is {self.limits.max_members} (max_members)", Severity.HIGH, fatal=True)
                return
            if infos and all(i.filename.endswith(".npy") for i in infos):
                # A numpy .npz archive (weights saved with np.savez): check its arrays, not Keras rules.
                self.summary["format"] = "npz"
                self.check_members(infos, npz=True)
                self.check_overlaps()
                self.fh.seek(0)
                self.scan_npz(self.fh, self.label, 0)
                return
            safe = self.check_members(infos)
            self.check_overlaps()
            if CONFIG not in safe:
                self.col.add("artifact.missing_config", f"{self.label} has no usable {CONFIG}; every "
                             ".keras archive holds one. Re-save the model with keras", Severity.HIGH)
            else:
                self.guard(CONFIG, lambda: self.read_config(zf, safe[CONFIG]))
            if METADATA in safe:
                self.guard(METADATA, lambda: self.read_metadata(zf, safe[METADATA]))
            if WEIGHTS_H5 in safe:
                self.guard(WEIGHTS_H5, lambda: self.with_member(zf, safe[WEIGHTS_H5], self.scan_weights))
            if WEIGHTS_NPZ in safe:
                self.guard(WEIGHTS_NPZ, lambda: self.with_member(zf, safe[WEIGHTS_NPZ], self.scan_npz))
            if WEIGHTS_H5 not in safe and WEIGHTS_NPZ not in safe:
                self.col.add("artifact.missing_weights", f"{self.label} has no {WEIGHTS_H5} or "
                             f"{WEIGHTS_NPZ}; Keras cannot load it", Severity.LOW, Action.WARN)
            others = [info for name, info in safe.items() if name not in ALLOWED_MEMBERS]
            for info in others[:MAX_PEEKS]:
                self.guard(info.filename, lambda info=info: self.peek(zf, info))  # type: ignore[misc]
            if len(others) > MAX_PEEKS:
                self.col.add("artifact.assets_not_inspected", f"{self.label}: only the first {MAX_PEEKS} of "
                             f"{len(others)} asset members were checked for pickles", Severity.INFO,
                             Action.WARN, unchecked=len(others) - MAX_PEEKS)

    def guard(self, member: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:
            self.add("artifact.zip_corrupt", member, f"cannot be read ({type(exc).__name__}: "
                     f"{echo(str(exc))}); re-save the model", Severity.HIGH)

    def check_members(self, infos: list[zipfile.ZipInfo], *, npz: bool = False) -> dict[str, zipfile.ZipInfo]:
        seen: set[str] = set()
        safe: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.orig_filename
            bad = False
            if name in seen:
                self.add("artifact.zip_duplicate_member", name, "appears twice; zip readers disagree on "
                         "which copy they read, so a scanner and a loader can see different files",
                         Severity.HIGH)
                bad = True
            seen.add(name)
            reason = _slip_reason(name)
            if reason:
                self.add("artifact.zip_slip", name, f"name contains {reason}; extracting it writes "
                         "outside the target directory (zip slip). Refuse the archive", Severity.CRITICAL)
                bad = True
            if info.create_system == 3 and (info.external_attr >> 16) & 0o170000 == 0o120000:
                self.add("artifact.zip_symlink", name, "is a symbolic link; extracting it can point "
                         "later writes or reads anywhere on disk", Severity.CRITICAL)
                bad = True
            if info.flag_bits & 0x1:
                self.add("artifact.zip_encrypted", name, "is encrypted and cannot be inspected; Keras "
                         "never encrypts members", Severity.HIGH)
                bad = True
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > self.limits.zip_bomb_floor and ratio > self.limits.zip_ratio:
                self.add("artifact.zip_bomb", name, f"declares {info.file_size} bytes stored in "
                         f"{info.compress_size} ({ratio:.0f}x; limit {self.limits.zip_ratio}x, zip_ratio): a "
                         "decompression bomb", Severity.HIGH, file_size=info.file_size,
                         compress_size=info.compress_size)
                bad = True
            total += info.file_size
            if not bad:
                bad = self.check_local_header(info)
            if not bad and not npz and name not in ALLOWED_MEMBERS and not name.startswith(ASSETS):
                self.add("artifact.zip_unexpected_member", name, f"is not one of {sorted(ALLOWED_MEMBERS)} "
                         f"or {ASSETS}...; Keras never writes it and a custom loader might read it",
                         Severity.HIGH)
            if not bad:
                safe[name] = info
        if total > self.limits.max_total_uncompressed:
            self.col.add("artifact.zip_bomb", f"{self.label} declares {total} uncompressed bytes; limit is "
                         f"{self.limits.max_total_uncompressed} (max_total_uncompressed)", Severity.HIGH,
                         file_size=total)
        return safe

    def check_local_header(self, info: zipfile.ZipInfo) -> bool:
        try:
            start, local = _data_offset(self.fh, info)
        except (OSError, zipfile.BadZipFile, struct.error) as exc:
            self.add("artifact.zip_corrupt", info.orig_filename, f"local header unreadable ({exc})",
                     Severity.HIGH)
            return True
        if local != info.orig_filename:
            self.add("artifact.zip_header_mismatch", info.orig_filename,
                     f"central directory name differs from its local header name {echo(local)}; "
                     "readers that trust different headers extract different files", Severity.HIGH)
            return True
        self.spans.append((info.header_offset, start + info.compress_size, info.orig_filename))
        return False

    def check_overlaps(self) -> None:
        end, prev = -1, ""
        for start, stop, name in sorted(self.spans):
            if start < end:
                self.add("artifact.zip_overlap", name, f"its data overlaps member {echo(prev)}; overlapping "
                         "members are how 'quoted-overlap' zip bombs multiply their size (CVE-2024-0450)",
                         Severity.HIGH)
            if stop > end:
                end, prev = stop, name

    def read_config(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        with zf.open(info) as member:
            raw = member.read(self.limits.max_config_bytes + 1)
        self.summary["config"] = scan_config(raw, f"{self.label}:{CONFIG}", self.allowed, self.limits,
                                             self.col)

    def read_metadata(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        with zf.open(info) as member:
            raw = member.read(1 << 16)  # Keras writes ~100 bytes; a flood of [] here must stay cheap
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            self.add("artifact.metadata_invalid", METADATA, "is not a JSON object; the Keras version that "
                     "saved the model is unknown", Severity.LOW, Action.WARN)
            return
        version = meta.get("keras_version")
        self.summary["keras_version"] = version if isinstance(version, str) else None
        saved = meta.get("date_saved")
        self.summary["date_saved"] = saved if isinstance(saved, str) else None

    def with_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo,
                    fn: Callable[[IO[bytes], str, int], None]) -> None:
        if info.compress_type == zipfile.ZIP_STORED:
            start, _ = _data_offset(self.fh, info)
            window = _Slice(self.fh, start, info.compress_size)
            fn(io.BufferedReader(window, 1 << 16), info.filename, info.file_size)
            return
        if info.file_size <= _IN_MEMORY:
            with zf.open(info) as src:
                fn(io.BytesIO(src.read(_IN_MEMORY + 1)), info.filename, info.file_size)
            return
        tmp = tempfile.mkdtemp(prefix="ks_scan_")
        try:
            part = os.path.join(tmp, "member")
            with zf.open(info) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            with open(part, "rb") as fh:
                fn(fh, info.filename, info.file_size)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def scan_weights(self, fh: IO[bytes], name: str, size: int) -> None:
        head = fh.read(8)
        fh.seek(0)
        if head != b"\x89HDF\r\n\x1a\n":
            self.add("artifact.weights_not_hdf5", name, f"does not start with the HDF5 signature "
                     f"(starts {echo(head)})", Severity.HIGH)
            if looks_like_pickle(head):
                self.add("artifact.pickle", name, "is a pickle; unpickling runs code", Severity.CRITICAL)
            return
        out = scan_hdf5(fh, f"{self.label}:{name}", size, self.limits, self.col)
        if out is not None:
            self.summary["datasets"] = out["datasets"]
            for key, raw in out["extra_json"].items():
                scan_json_blob(raw, f"{self.label}:{name}:{key}", self.allowed, self.limits, self.col)
            for key, raw in out["configs"].items():
                scan_config(raw, f"{self.label}:{name}:{key}", self.allowed, self.limits, self.col)

    def scan_npz(self, fh: IO[bytes], name: str, size: int) -> None:
        try:
            inner = zipfile.ZipFile(fh)
        except Exception as exc:
            self.add("artifact.zip_corrupt", name, f"is not a readable npz ({type(exc).__name__})",
                     Severity.HIGH)
            return
        with inner:
            for info in inner.infolist()[: self.limits.max_members]:
                sub = f"{name}/{info.filename}"
                if not info.filename.endswith(".npy") or _slip_reason(info.filename):
                    self.add("artifact.zip_unexpected_member", sub, "an npz holds only .npy arrays",
                             Severity.HIGH)
                    continue
                with inner.open(info) as member:
                    head = member.read(512)
                match = _NPY_DESCR.search(head)
                if not head.startswith(b"\x93NUMPY") or match is None:
                    self.add("artifact.zip_corrupt", sub, "is not a valid .npy array", Severity.HIGH)
                elif b"O" in match.group(1):
                    self.add("artifact.pickle", sub, f"is an object array (descr {echo(match.group(1))}), "
                             "which numpy stores as a pickle. Keras reads npz weights with "
                             "allow_pickle=False and cannot load it either: re-save with the default "
                             "weights_format='h5'", Severity.CRITICAL)

    def peek(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        with zf.open(info) as member:
            head = member.read(1 << 16)
        if info.filename.endswith((".pkl", ".pickle", ".joblib")) or looks_like_pickle(head):
            imports = pickle_globals(head)
            self.add("artifact.pickle", info.filename, f"is a pickle (imports {imports or '?'}); "
                     "unpickling runs code, and nothing in a .keras archive should be one", Severity.CRITICAL,
                     imports=imports)
