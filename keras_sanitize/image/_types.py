"""The upload value: image bytes with the name and type the client declared."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageUpload"]


@dataclass(frozen=True)
class ImageUpload:
    """Image bytes plus what the client *claimed* they are.

    The claim is never trusted: :class:`~keras_sanitize.image.validators.ImageFormat`
    sniffs the real type from the bytes and reports a disagreement.

    Example:
        >>> import keras_sanitize as ks
        >>> up = ks.image.ImageUpload(b"GIF89a", filename="cat.png", content_type="image/png")
        >>> up.filename
        'cat.png'
    """

    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def __repr__(self) -> str:
        return (
            f"ImageUpload(<{len(self.data)} bytes>, filename={self.filename!r}, "
            f"content_type={self.content_type!r})"
        )
