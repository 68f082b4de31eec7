"""The text modality's resource limits (one frozen dataclass, like ``artifacts.ScanLimits``)."""

from __future__ import annotations

from dataclasses import dataclass

from keras_sanitize.stage import check_limits

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True)
class Limits:
    """The text modality's resource limits; every one is overridable.

    Attributes:
        max_chars: character budget, 100 000 characters (~25k tokens).
        max_bytes: byte budget of UTF-8 bytes input (4 MiB).

    Example:
        >>> import keras_sanitize as ks
        >>> ks.text.default(limits=ks.text.Limits(max_chars=50)).run("x" * 51).codes
        ('text.too_long',)
    """

    max_chars: int = 100_000
    max_bytes: int = 4 << 20

    def __post_init__(self) -> None:
        check_limits(self)


#: the default limits of the text stages and of :func:`~keras_sanitize.text.default`.
DEFAULT_LIMITS = Limits()
