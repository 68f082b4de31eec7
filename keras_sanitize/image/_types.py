"""The image upload value (a :class:`~keras_sanitize.Upload` kept under its image name)."""

from __future__ import annotations

from keras_sanitize.upload import Upload

__all__ = ["ImageUpload"]


class ImageUpload(Upload):
    """Image bytes plus what the client *claimed* they are (an :class:`~keras_sanitize.Upload`).

    The claim is never trusted: :class:`~keras_sanitize.image.validators.ImageFormat`
    sniffs the real type from the bytes and reports a disagreement. Any
    :class:`~keras_sanitize.Upload` works the same in the image pipeline.

    Example:
        >>> import keras_sanitize as ks
        >>> up = ks.image.ImageUpload(b"GIF89a", filename="cat.png", content_type="image/png")
        >>> up.filename
        'cat.png'
    """
