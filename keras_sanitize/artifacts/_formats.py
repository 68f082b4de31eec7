"""Magic-byte sniffing and a read-only look into pickles (nothing is unpickled)."""

from __future__ import annotations

import base64
import binascii
import bz2
import io
import lzma
import pickletools
import zlib
from typing import IO

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
_BASE64_PICKLE_PREFIXES = ("gAJ", "gAN", "gAS", "gAW")  # base64 of b"\x80\x02".."\x80\x05"
_PROTO0_MARKERS = (b"c__builtin__\n", b"cbuiltins\n", b"cos\n", b"cposix\n", b"cnt\n", b"csubprocess\n")
_PEEK = 1 << 16


def looks_like_pickle(data: bytes) -> bool:
    """Whether ``data`` starts like a pickle (any protocol), raw or base64-encoded.

    Example:
        >>> import pickle
        >>> looks_like_pickle(pickle.dumps([1, 2])), looks_like_pickle(b"hello")
        (True, False)
    """
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return True
    head = data[:64]
    if any(m in head for m in _PROTO0_MARKERS):
        return True
    try:
        text = data[:8].decode("ascii")
    except UnicodeDecodeError:
        return False
    return text.startswith(_BASE64_PICKLE_PREFIXES)


def looks_like_marshal(data: bytes) -> bool:
    """Whether ``data`` starts like a marshalled Python code object, raw or base64-encoded.

    A code object is ``c`` (``0x63``, or ``0xe3`` with the reference flag) followed by
    small little-endian counts (arguments, positional-only arguments).

    Example:
        >>> import marshal
        >>> looks_like_marshal(marshal.dumps((lambda x: x).__code__)), looks_like_marshal(b"4wAAAAhello")
        (True, False)
    """
    head = data[:12]
    if len(data) >= 16 and data[:1] not in (b"c", b"\xe3"):
        try:
            head = base64.b64decode(data[:16], validate=True)
        except (binascii.Error, ValueError):
            return False
    return len(head) >= 12 and head[0] in (0x63, 0xE3) and head[3:5] == b"\0\0" and head[7:9] == b"\0\0"


def pickle_globals(data: bytes, limit: int = 20) -> list[str]:
    """The ``module.name`` globals a pickle would import, read with :mod:`pickletools`.

    Nothing is unpickled or imported; a malformed stream yields what was read so far.

    Example:
        >>> import pickle, collections
        >>> pickle_globals(pickle.dumps(collections.OrderedDict()))
        ['collections.OrderedDict']
    """
    found: list[str] = []
    strings: list[str] = []
    memo: dict[int, str | None] = {}
    last: str | None = None
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(data)):
            name = opcode.name
            if name in ("GLOBAL", "INST") and isinstance(arg, str):
                found.append(arg.replace(" ", "."))
            elif name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if name == "MEMOIZE":
                memo[len(memo)] = last
            elif name in ("PUT", "BINPUT", "LONG_BINPUT") and isinstance(arg, int):
                memo[arg] = last
            elif name in ("GET", "BINGET", "LONG_BINGET") and isinstance(arg, int):
                last = memo.get(arg)
                if last is not None:
                    strings.append(last)
            elif (isinstance(arg, str) and "UNICODE" in name) or name.endswith("STRING"):
                last = arg if isinstance(arg, str) else None
                if last is not None:
                    strings.append(last)
            else:
                last = None
            del strings[:-2]
            if len(found) >= limit or name == "STOP":
                break
    except Exception:
        pass
    return list(dict.fromkeys(found))


def _peek_decompressed(kind: str, data: bytes) -> bytes:
    try:
        if kind == "gzip":
            return zlib.decompressobj(wbits=31).decompress(data, _PEEK)
        if kind == "zlib":
            return zlib.decompressobj().decompress(data, _PEEK)
        if kind == "bz2":
            return bz2.BZ2Decompressor().decompress(data, _PEEK)
        if kind == "xz":
            return lzma.LZMADecompressor().decompress(data, _PEEK)
    except Exception:
        return b""
    return b""


def sniff(head: bytes) -> str:
    """Name the format of a file from its first bytes.

    One of ``zip``, ``hdf5``, ``pickle``, ``npy``, ``gzip``, ``zlib``, ``bz2``,
    ``xz``, ``empty`` or ``unknown``.

    Example:
        >>> sniff(b"PK\\x03\\x04..."), sniff(b"\\x89HDF\\r\\n\\x1a\\n"), sniff(b"\\x80\\x04\\x95")
        ('zip', 'hdf5', 'pickle')
    """
    if not head:
        return "empty"
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if looks_like_pickle(head):
        return "pickle"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head[:1] == b"\x78" and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return "unknown"


def compressed_pickle(kind: str, head: bytes) -> bool:
    """Whether a compressed stream (gzip, zlib, bz2, xz) decompresses to a pickle (joblib's format)."""
    return looks_like_pickle(_peek_decompressed(kind, head))


def hdf5_superblock_offset(fh: IO[bytes], size: int) -> int | None:
    """Offset of the HDF5 superblock (0, 512, 1024, 2048, ...), or ``None``."""
    offset = 0
    while offset + len(HDF5_MAGIC) <= size:
        fh.seek(offset)
        if fh.read(len(HDF5_MAGIC)) == HDF5_MAGIC:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None
