"""Shared by the image stages: registration, default limits, argument checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ConfigError
from keras_sanitize.image._decode import PILLOW_FORMATS, REFUSED_FORMATS
from keras_sanitize.stage import check_limits, check_names, check_number

T = TypeVar("T", bound=type)


def image_stage(cls: T) -> T:
    """Register an image stage as ``keras_sanitize>Image<ClassName>``.

    The prefix keeps the registry unambiguous: ``Decode`` and ``ToArray`` also
    exist in the tensor and audio modalities.
    """
    return register_stage(prefix="Image")(cls)


@dataclass(frozen=True)
class Limits:
    """The image modality's resource limits, all checked before decoding; every one is overridable.

    Attributes:
        max_bytes: byte budget of one encoded image (32 MiB).
        max_pixels: pixel cap, 40 MP (Pillow's own global bomb limit is 89 MP); 40 MP RGB is
            120 MB decoded.
        max_side: longest side allowed.
        max_frames: frames an animation may declare (only the first is ever decoded).
        max_scans: scans a progressive JPEG may have; libjpeg's decode time grows with each.
        max_chunks: chunks (PNG), segments (JPEG), blocks (GIF) or RIFF chunks (WebP) a file
            may have; Pillow parses them one by one in Python (a million empty PNG chunks cost
            it ~5 s).

    Example:
        >>> import keras_sanitize as ks
        >>> ks.image.default(limits=ks.image.Limits(max_pixels=1_000_000)).stages[1].max_pixels
        1000000
    """

    max_bytes: int = 32 << 20
    max_pixels: int = 40_000_000
    max_side: int = 16_384
    max_frames: int = 256
    max_scans: int = 64
    max_chunks: int = 10_000

    def __post_init__(self) -> None:
        check_limits(self)


#: the default limits of every image stage and of :func:`~keras_sanitize.image.default`.
DEFAULT_LIMITS = Limits()
DEFAULT_MAX_BYTES: int = DEFAULT_LIMITS.max_bytes
DEFAULT_MAX_PIXELS: int = DEFAULT_LIMITS.max_pixels
DEFAULT_MAX_SIDE: int = DEFAULT_LIMITS.max_side
DEFAULT_MAX_FRAMES: int = DEFAULT_LIMITS.max_frames
DEFAULT_MAX_SCANS: int = DEFAULT_LIMITS.max_scans
DEFAULT_MAX_CHUNKS: int = DEFAULT_LIMITS.max_chunks
#: bits per channel allowed.
DEFAULT_BIT_DEPTHS: tuple[int, ...] = (1, 2, 4, 8, 16)


def check_formats(owner: str, formats: Iterable[str]) -> tuple[str, ...]:
    """Validate a MIME allowlist argument."""
    out = []
    for f in check_names(owner, "formats", formats, case="lower"):
        if f in REFUSED_FORMATS:
            raise ConfigError(
                f"{owner}: {f} cannot be allowed: it is not a raster image and can carry script. "
                f"Rasterize it in a sandbox first."
            )
        if f not in PILLOW_FORMATS:
            raise ConfigError(
                f"{owner}: formats entries must be in {sorted(PILLOW_FORMATS)}. Received: {f!r}"
            )
        out.append(str(f))
    return tuple(sorted(set(out)))


def check_modes(owner: str, modes: Iterable[str]) -> tuple[str, ...]:
    """Validate a Pillow mode allowlist argument."""
    return check_names(owner, "modes", modes)


def check_size(owner: str, size: Any, allow_none: bool = True) -> tuple[int, int] | None:
    """Validate a ``(height, width)`` argument (Keras order)."""
    if size is None and allow_none:
        return None
    if (
        isinstance(size, (str, bytes))
        or not isinstance(size, Sequence)
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 65535 for s in size)
    ):
        raise ConfigError(
            f"{owner}: size must be (height, width) with ints in [1, 65535]. Received: size={size!r}"
        )
    return int(size[0]), int(size[1])


def check_floats(owner: str, name: str, value: Any, n_max: int = 4) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not 1 <= len(value) <= n_max:
        raise ConfigError(
            f"{owner}: {name} must be a number or a list of 1-{n_max} numbers. Received: {name}={value!r}"
        )
    return tuple(float(check_number(owner, name, v)) for v in value)


def check_color(owner: str, name: str, color: Any) -> tuple[int, int, int]:
    """Validate an ``(r, g, b)`` argument of ints in [0, 255]."""
    if (
        isinstance(color, (str, bytes))
        or not isinstance(color, Sequence)
        or len(color) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
    ):
        raise ConfigError(f"{owner}: {name} must be (r, g, b) ints in [0, 255]. Received: {name}={color!r}")
    return int(color[0]), int(color[1]), int(color[2])
