"""Inspect an HDF5 file (a ``.keras`` weights member or a legacy ``.h5`` model) with h5py.

Links are classified from their link info and never followed unless hard;
dataset data is never read; attributes are read only when small.
"""

from __future__ import annotations

import functools
import math
from typing import IO, Any

from keras_sanitize.findings import Action, Severity, echo

from ._common import Collector, ScanLimits
from ._formats import looks_like_marshal, looks_like_pickle, pickle_globals

#: HDF5 filters built into libhdf5 or h5py: deflate, shuffle, fletcher32, szip, nbit, scaleoffset, lzf.
KNOWN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})
_MAX_ATTR_ITEMS = 1024
#: JSON documents found under other names (attributes, string datasets) walked with the config rules.
MAX_EXTRA_JSON = 16
_NAMED_CONFIGS = ("model_config", "training_config")


class _H5Walker:
    def __init__(self, label: str, file_size: int, limits: ScanLimits, col: Collector) -> None:
        import h5py
        import numpy

        self.h5py = h5py
        self.np = numpy
        self.label = label
        self.file_size = max(file_size, 1)
        self.limits = limits
        self.col = col
        self.configs: dict[str, bytes] = {}
        self.extra_json: dict[str, bytes] = {}
        self.root_attrs: dict[str, str] = {}
        self.datasets = 0

    def add(self, code: str, where: str, message: str, severity: Severity,
            action: Action = Action.REJECT, **detail: Any) -> None:
        self.col.add(code, f"{self.label}{where}: {message}", severity, action, object=where, **detail)

    def walk(self, f: Any) -> None:
        h5l, h5o, h5i = self.h5py.h5l, self.h5py.h5o, self.h5py.h5i
        if getattr(f, "userblock_size", 0):
            self.add("artifact.hdf5_userblock", "", f"a {f.userblock_size}-byte user block precedes the "
                     "HDF5 data; it can hold another file (a pickle) that other tools read instead",
                     Severity.HIGH, userblock_size=int(f.userblock_size))
        stack: list[tuple[Any, str]] = [(f.id, "/")]
        seen: set[Any] = set()  # object addresses: hard-link cycles and shared objects visit once
        visited = 0
        while stack:
            gid, gpath = stack.pop()
            self.check_attrs(gid, gpath, root=gpath == "/")
            links: list[tuple[bytes, int, Any]] = []
            gid.links.iterate(functools.partial(_collect, links), info=True)
            for raw, ltype, addr in links:
                visited += 1
                if visited > self.limits.max_h5_objects:
                    self.add("artifact.hdf5_too_many_objects", "", f"more than "
                             f"{self.limits.max_h5_objects} links (max_h5_objects)", Severity.HIGH)
                    return
                name = raw.decode("utf-8", "replace")
                path = f"{gpath.rstrip('/')}/{name}"
                if ltype == h5l.TYPE_EXTERNAL:
                    target = gid.links.get_val(raw)
                    fname = target[0].decode("utf-8", "replace")
                    self.add("artifact.hdf5_external_link", path,
                             f"external link to {echo(fname)}:{echo(target[1].decode('utf-8', 'replace'))}; "
                             "following it reads another file on the loading machine (CVE-2026-1669 "
                             "family). Weights must live inside the file", Severity.CRITICAL,
                             target=fname[:200])
                elif ltype == h5l.TYPE_SOFT:
                    target = gid.links.get_val(raw).decode("utf-8", "replace")
                    self.add("artifact.hdf5_soft_link", path,
                             f"soft link to {echo(target)}; Keras weight files hold no links, and links "
                             "let one name show different data to different readers", Severity.HIGH,
                             target=target[:200])
                elif ltype != h5l.TYPE_HARD:
                    self.add("artifact.hdf5_user_link", path, f"user-defined link type {int(ltype)}; "
                             "its handler is a plugin, not data", Severity.HIGH)
                elif addr not in seen:
                    seen.add(addr)
                    oid = h5o.open(gid, raw)
                    kind = h5i.get_type(oid)
                    if kind == h5i.GROUP:
                        stack.append((oid, path))
                    elif kind == h5i.DATASET:
                        self.check_dataset(oid, path)

    def check_dtype(self, dt: Any, where: str, what: str) -> bool:
        h5py = self.h5py
        if h5py.check_dtype(ref=dt) is not None:
            desc = "object references (pointers to other objects)"
        elif h5py.check_vlen_dtype(dt) is not None or dt.hasobject:
            desc = f"variable-length/object values ({dt})"
        elif dt.kind == "V" and dt.names is None and dt.subdtype is None:
            desc = f"opaque bytes ({dt})"
        else:
            return False
        self.add("artifact.hdf5_object_dtype", where, f"{what} holds {desc}; Keras weights are plain "
                 "numeric arrays, object types can carry serialized Python objects", Severity.HIGH,
                 dtype=str(dt))
        return True

    def check_dataset(self, dsid: Any, path: str) -> None:
        self.datasets += 1
        dcpl = dsid.get_create_plist()
        if dcpl.get_layout() == self.h5py.h5d.VIRTUAL:
            sources = sorted({dcpl.get_virtual_filename(i) for i in range(dcpl.get_virtual_count())})
            self.add("artifact.hdf5_virtual_dataset", path,
                     f"virtual dataset mapping data from {echo(', '.join(sources[:3]))}; reading it opens "
                     "other files. Weights must live inside the file", Severity.CRITICAL,
                     sources=sources[:10])
        n_ext = dcpl.get_external_count()
        if n_ext:
            files = [dcpl.get_external(i)[0].decode("utf-8", "replace") for i in range(min(n_ext, 10))]
            self.add("artifact.hdf5_external_storage", path,
                     f"dataset stored in external raw files {echo(', '.join(files))}; reading it reads "
                     "files on the loading machine (CVE-2026-1669)", Severity.CRITICAL, files=files)
        dt = dsid.dtype
        if not self.check_dtype(dt, path, "dataset"):
            if dt.kind in "SU":
                self.check_string_dataset(dsid, path)
            elif dt.itemsize == 1 and dt.kind in "iu" and len(dsid.shape or ()) == 1:
                self.check_byte_dataset(dsid, path)
        shape = dsid.shape or ()
        declared = math.prod(int(n) for n in shape) * max(dt.itemsize, 1)
        if declared > self.limits.h5_bomb_floor and declared > self.limits.h5_ratio * self.file_size:
            self.add("artifact.hdf5_dataset_bomb", path,
                     f"dataset declares shape {tuple(shape)} = {declared} bytes in a "
                     f"{self.file_size}-byte file (over {self.limits.h5_ratio}x, h5_ratio); reading it "
                     "exhausts memory (CVE-2026-0897)", Severity.HIGH, declared_bytes=declared)
        for i in range(dcpl.get_nfilters()):
            code = int(dcpl.get_filter(i)[0])
            if code not in KNOWN_FILTERS:
                self.add("artifact.hdf5_filter", path,
                         f"dataset uses HDF5 filter {code}, which makes libhdf5 search its plugin path "
                         "and load a shared library to read it", Severity.MEDIUM, Action.WARN, filter=code)
        self.check_attrs(dsid, path)

    def check_attrs(self, oid: Any, where: str, *, root: bool = False) -> None:
        h5a, np = self.h5py.h5a, self.np
        names: list[bytes] = []
        h5a.iterate(oid, names.append)
        for raw in names:
            name = raw.decode("utf-8", "replace")
            aid = h5a.open(oid, raw)
            label = f"attribute {name!r}"
            try:
                stored = aid.get_storage_size()
            except RuntimeError:  # libhdf5 reports an empty attribute's size as an error
                stored = 0
            if stored > self.limits.max_attr_bytes:
                self.add("artifact.hdf5_attribute_too_large", where,
                         f"{label} stores {stored} bytes; limit is "
                         f"{self.limits.max_attr_bytes} (max_attr_bytes)", Severity.MEDIUM)
                continue
            dt = aid.dtype
            if self.h5py.check_dtype(ref=dt) is not None or (dt.kind == "V" and dt.names is None):
                self.check_dtype(dt, where, label)
                if dt.kind != "V":
                    continue
            if dt.kind not in "OSUV" or aid.shape is None:
                continue
            value = np.empty(aid.shape, dtype=dt)
            aid.read(value)
            self.inspect_strings(value, where, label, f"{where}@{name}",
                                 named=root and name in _NAMED_CONFIGS)
            if root and name in _NAMED_CONFIGS:
                text = next(iter(_strings(value)), None)
                if text is not None:
                    self.configs[name] = text.encode("utf-8") if isinstance(text, str) else text
            elif root and name in ("keras_version", "backend"):
                text = next(iter(_strings(value)), None)
                if text is not None:
                    self.root_attrs[name] = text if isinstance(text, str) else text.decode("utf-8", "replace")


    def inspect_strings(self, value: Any, where: str, label: str, key: str, *, named: bool) -> None:
        """Pickles, bytecode and JSON documents in the str/bytes items of an attribute or dataset."""
        for item in _strings(value):
            data = item.encode("utf-8", "replace") if isinstance(item, str) else item
            if looks_like_pickle(data[:64]):
                self.add("artifact.pickle", where, f"{label} holds a pickle ({echo(data[:24])}); "
                         "unpickling it runs code", Severity.CRITICAL,
                         imports=pickle_globals(data) if isinstance(item, bytes) else [])
                return
            if looks_like_marshal(data[:16]):
                self.add("artifact.python_bytecode", where, f"{label} holds marshalled Python bytecode "
                         f"({echo(data[:24])}); a loader that rebuilds it runs code", Severity.CRITICAL)
                return
            if not named and data.lstrip()[:1] in (b"{", b"["):
                # A config under another name (a flipped bit in 'model_config') is still a config.
                if len(self.extra_json) >= MAX_EXTRA_JSON:
                    self.add("artifact.hdf5_too_many_objects", where, f"more than {MAX_EXTRA_JSON} "
                             "attributes or datasets hold JSON; Keras files hold at most two configs",
                             Severity.HIGH)
                    return
                self.extra_json[key] = data
                return

    def check_string_dataset(self, dsid: Any, path: str) -> None:
        """Read a (bounded) fixed-length string dataset and inspect it like an attribute."""
        dt, shape = dsid.dtype, dsid.shape or ()
        size = math.prod(int(n) for n in shape) * max(dt.itemsize, 1)
        if size > self.limits.max_attr_bytes:
            self.add("artifact.hdf5_attribute_too_large", path, f"string dataset stores {size} bytes; "
                     f"limit is {self.limits.max_attr_bytes} (max_attr_bytes)", Severity.MEDIUM)
            return
        value = self.np.empty(shape, dtype=dt)
        dsid.read(self.h5py.h5s.ALL, self.h5py.h5s.ALL, value)
        self.inspect_strings(value, path, "string dataset", path, named=False)


    def check_byte_dataset(self, dsid: Any, path: str) -> None:
        """A 1-D byte array that starts like JSON is read (bounded) and walked as a config.

        Pickle and bytecode prefixes are not tested here: int8 weights would match them by chance.
        """
        size = int((dsid.shape or (0,))[0])
        if size < 2 or size > self.limits.max_attr_bytes:
            return
        head = self.np.empty((1,), dtype=dsid.dtype)
        dsid.read(self.h5py.h5s.create_simple((1,)), _first(dsid), head)
        if head.tobytes() not in (b"{", b"["):
            return
        value = self.np.empty((size,), dtype=dsid.dtype)
        dsid.read(self.h5py.h5s.ALL, self.h5py.h5s.ALL, value)
        if len(self.extra_json) < MAX_EXTRA_JSON:
            self.extra_json[path] = value.tobytes()


def _first(dsid: Any) -> Any:
    space = dsid.get_space()
    space.select_hyperslab((0,), (1,))
    return space


def _collect(out: list[tuple[bytes, int, Any]], name: bytes, info: Any) -> None:
    out.append((name, info.type, info.u))  # u: the object's address, for hard links


def _strings(value: Any) -> list[str | bytes]:
    """The str/bytes items of an attribute value (a scalar or an array), bounded."""
    if isinstance(value, (str, bytes)):
        return [value]
    tobytes = getattr(value, "tobytes", None)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind == "V" and tobytes is not None:
        return [tobytes()[: 1 << 20]]
    flat = getattr(value, "flat", None)
    if flat is None or dtype is None or dtype.kind not in "OSU":
        return []
    out: list[str | bytes] = []
    for i, item in enumerate(flat):
        if i >= _MAX_ATTR_ITEMS:
            break
        if isinstance(item, (str, bytes)):
            out.append(item)
    return out


def scan_hdf5(source: str | IO[bytes], label: str, file_size: int, limits: ScanLimits,
              col: Collector) -> dict[str, Any] | None:
    """Walk an HDF5 file; return its legacy configs and root attributes, or ``None`` if unreadable."""
    import h5py

    walker = _H5Walker(label, file_size, limits, col)
    try:
        with h5py.File(source, "r") as f:
            walker.walk(f)
    except Exception as exc:
        col.add("artifact.hdf5_corrupt", f"{label}: HDF5 data cannot be read ({type(exc).__name__}: "
                f"{echo(str(exc))}); re-save the model", Severity.HIGH, fatal=True)
        return None
    return {"configs": walker.configs, "extra_json": walker.extra_json, "attrs": walker.root_attrs,
            "datasets": walker.datasets}
