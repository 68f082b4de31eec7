"""The value audio stages pass along: :class:`Clip`, a decoded waveform and its rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras_sanitize.findings import echo
from keras_sanitize.stage import Context
from keras_sanitize.upload import Upload

__all__ = ["Clip", "as_clip", "raw_bytes", "shape_and_rate"]


@dataclass(frozen=True, eq=False)
class Clip:
    """A decoded waveform: float32 samples shaped ``(frames, channels)`` and a rate.

    Stages after :class:`~keras_sanitize.audio.encoders.Decode` receive and return
    clips; :class:`~keras_sanitize.audio.encoders.ToArray` turns the final clip
    into a plain float32 array. ``source`` names where it came from
    (``"wav/PCM_16"``, ``"array"``). Clips are immutable: stages never write
    into ``samples`` (they make new clips), which lets :meth:`stats` be cached.

    Example:
        >>> import numpy as np
        >>> c = Clip(np.zeros((16000, 1), np.float32), 16000)
        >>> c.frames, c.channels, c.seconds
        (16000, 1, 1.0)
    """

    samples: np.ndarray
    rate: int
    source: str = "array"
    _stats: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def frames(self) -> int:
        """Number of frames (samples per channel)."""
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / self.rate if self.rate > 0 else 0.0

    def stats(self) -> tuple[float, float, np.ndarray, float]:
        """``(min, max, per-channel means, mean square)``, computed once per clip.

        ``min``/``max`` are NaN when any sample is (NaN propagates), which is how
        the finiteness check costs nothing extra.
        """
        cached = self._stats.get("stats")
        if cached is None:
            from ._dsp import channel_means

            x = self.samples
            if x.size == 0:
                cached = (0.0, 0.0, np.zeros(self.channels), 0.0)
            else:
                lo, hi = float(x.min()), float(x.max())
                if np.isfinite(lo) and np.isfinite(hi):
                    flat = x.reshape(-1)
                    with np.errstate(all="ignore"):  # huge finite samples may overflow to inf: fine
                        cached = (lo, hi, channel_means(x), float(np.dot(flat, flat)) / x.size)
                else:
                    cached = (lo, hi, np.full(self.channels, np.nan), float("nan"))
            self._stats["stats"] = cached
        return cached  # type: ignore[no-any-return]

    def replace(self, samples: np.ndarray, rate: int | None = None) -> Clip:
        """A clip with new samples (and optionally a new rate), same source."""
        return Clip(samples, self.rate if rate is None else rate, self.source)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Clip):
            return NotImplemented
        a, b = self.samples, other.samples
        return (
            self.rate == other.rate
            and self.source == other.source
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Clip(frames={self.frames}, channels={self.channels}, rate={self.rate}, source={self.source!r})"
        )


def raw_bytes(value: Any) -> tuple[bytes | None, str | None, str | None]:
    """Split an input into ``(data, declared_name, declared_mime)``.

    Bytes-like values carry no declaration; a :class:`~keras_sanitize.Upload` or a
    mapping ``{"data": bytes, "filename": str, "content_type": str}`` (what web
    frameworks hand over) carries both. Anything else gives ``(None, None, None)``.
    """
    up = Upload.of(value)
    if up is None:
        return None, None, None
    return up.data, up.filename, up.content_type


def as_clip(value: Any, ctx: Context, code: str = "audio.not_decoded") -> Clip:
    """Return ``value`` as a :class:`Clip` or halt with a finding saying what to do."""
    if isinstance(value, Clip):
        samples = value.samples
        if (
            isinstance(samples, np.ndarray)
            and samples.dtype == np.float32
            and samples.ndim == 2
            and samples.shape[1] >= 1
            and isinstance(value.rate, int)
            and value.rate > 0
        ):
            return value
        ctx.halt(
            code,
            f"a Clip must hold float32 (frames, channels) samples and an int rate > 0; received "
            f"samples {echo(samples)} at rate {echo(value.rate)}",
        )
    ctx.halt(
        code,
        f"a decoded audio Clip is required; received {echo(value)}. Put an audio Decode "
        f"encoder first (it accepts bytes or a (samples, rate) tuple).",
    )


def shape_and_rate(value: Any) -> tuple[tuple[int, int], float] | None:
    """``((frames, channels), rate)`` of a clip or ``(samples, rate)`` tuple; ``None`` otherwise."""
    if isinstance(value, Clip):
        if isinstance(value.samples, np.ndarray) and value.samples.ndim == 2:
            return (value.frames, value.channels), float(value.rate)
        return None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], np.ndarray):
        arr, rate = value
        if isinstance(rate, (int, float, np.integer, np.floating)) and not isinstance(rate, bool):
            if arr.ndim == 1:
                return (arr.shape[0], 1), float(rate)
            if arr.ndim == 2:
                return (arr.shape[0], arr.shape[1]), float(rate)
    return None
