"""The upload value: raw bytes with the name and type the client declared.

One type for every bytes modality (image, audio, text): the declaration is never
trusted; validators sniff the real type from the bytes and report a disagreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Upload"]


@dataclass(frozen=True, repr=False)
class Upload:
    """Bytes plus what the client *claimed* they are (``filename``, ``content_type``).

    Example:
        >>> import keras_sanitize as ks
        >>> up = ks.Upload(b"GIF89a", filename="cat.png", content_type="image/png")
        >>> up.filename, len(up.data)
        ('cat.png', 6)
        >>> ks.Upload.of({"data": b"RIFF", "filename": "a.wav"}).filename
        'a.wav'
    """

    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @classmethod
    def of(cls, value: Any) -> Upload | None:
        """``value`` as an upload: an :class:`Upload`, bytes-like, or a mapping
        ``{"data": bytes, "filename": str, "content_type": str}`` (what web frameworks hand
        over); ``None`` for anything else. Declarations that are not ``str`` are dropped.
        """
        if isinstance(value, Upload):
            return value
        name: Any = None
        mime: Any = None
        data: Any = value
        if isinstance(value, Mapping):
            data, name, mime = value.get("data"), value.get("filename"), value.get("content_type")
        if isinstance(data, bytes):
            blob = data
        elif isinstance(data, (bytearray, memoryview)):
            try:
                blob = bytes(data)
            except (TypeError, ValueError, BufferError):
                return None
        else:
            return None
        return Upload(
            blob, name if isinstance(name, str) else None, mime if isinstance(mime, str) else None
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(<{len(self.data)} bytes>, filename={self.filename!r}, "
            f"content_type={self.content_type!r})"
        )
