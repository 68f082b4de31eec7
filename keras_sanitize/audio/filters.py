"""Audio filters on decoded clips: downmix, resample, low-pass, DC removal,
normalization, hard clipping, trim/pad.

Every filter is idempotent: a second pass finds nothing left to do (DC below
its threshold, a peak already at its target, no energy above the cutoff) and
returns the clip unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keras_sanitize.findings import Action, Severity
from keras_sanitize.stage import Context, Filter, check_choice, check_number

from ._clip import Clip, as_clip
from ._common import audio_stage
from ._dsp import band_energy, fft_lowpass, quiet

__all__ = ["Downmix", "HardClip", "LowPass", "Normalize", "RemoveDC", "Resample", "TrimPad"]

#: soxr quality presets, fastest to best; "HQ" is the default (see docs/audio.md).
RESAMPLE_QUALITIES: tuple[str, ...] = ("QQ", "LQ", "MQ", "HQ", "VHQ")
#: default low-pass cutoff: the top of human hearing; ultrasonic attacks live above it.
DEFAULT_CUTOFF_HZ: float = 18000.0
#: energy above the cutoff below this fraction of the total counts as "nothing there".
_EMPTY_BAND = 1e-10


@audio_stage
class Downmix(Filter):
    """Average channels to mono (``channels=1``) or repeat mono to ``channels``.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> Downmix().run(Clip(np.ones((4, 2), "float32"), 16000)).value.channels
        1
    """

    modality = "audio"

    def __init__(self, channels: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = check_number(type(self).__name__, "channels", channels, minimum=1, integer=True)

    @quiet
    def process(self, value: Any, ctx: Context) -> Clip:
        clip = as_clip(value, ctx)
        if clip.channels == self.channels:
            return clip
        if self.channels == 1:
            mixed = clip.samples.mean(axis=1, keepdims=True, dtype=np.float64)  # 3e38 + 3e38 fits
            return clip.replace(np.ascontiguousarray(mixed, dtype=np.float32))
        if clip.channels == 1:
            return clip.replace(np.ascontiguousarray(np.repeat(clip.samples, self.channels, axis=1)))
        ctx.halt(
            "audio.channel_layout",
            f"cannot map {clip.channels} channels to {self.channels}; only mono <-> N is defined. "
            f"Use Downmix(channels=1).",
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(channels=self.channels)
        return config


@audio_stage
class Resample(Filter):
    """Resample to ``rate`` Hz with soxr (``quality`` "HQ" by default).

    soxr was chosen over scipy's ``resample_poly`` for both speed (about 4x
    faster here) and quality; the figures are in docs/audio.md and ``make bench``.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> Resample(16000).run(Clip(np.zeros((48000, 1), "float32"), 48000)).value.frames
        16000
    """

    modality = "audio"

    def __init__(self, rate: int = 16000, quality: str = "HQ", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = check_number(
            type(self).__name__, "rate", rate, minimum=1, maximum=1_000_000, integer=True
        )
        self.quality = check_choice(type(self).__name__, "quality", quality, RESAMPLE_QUALITIES)

    @quiet
    def process(self, value: Any, ctx: Context) -> Clip:
        clip = as_clip(value, ctx)
        if clip.rate == self.rate:
            return clip
        if clip.frames == 0:
            return clip.replace(clip.samples, self.rate)
        import soxr

        out = soxr.resample(clip.samples, clip.rate, self.rate, self.quality)
        return clip.replace(np.ascontiguousarray(out, dtype=np.float32).reshape(-1, clip.channels), self.rate)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(rate=self.rate, quality=self.quality)
        return config


@audio_stage
class LowPass(Filter):
    """Remove everything above ``cutoff_hz`` (a brick-wall FFT low-pass).

    A no-op when the clip's Nyquist frequency is at or below the cutoff (16 kHz
    audio cannot hold anything above 8 kHz) or when the band above the cutoff
    is already empty. Reports ``audio.lowpassed`` with the energy it removed
    when that energy was more than -60 dB of the total.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> t = np.arange(48000) / 48000
        >>> x = np.sin(2 * np.pi * 21000 * t).astype("float32")[:, None]
        >>> LowPass(18000).run(Clip(x, 48000)).codes
        ('audio.lowpassed',)
    """

    modality = "audio"

    def __init__(self, cutoff_hz: float = DEFAULT_CUTOFF_HZ, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cutoff_hz = float(check_number(type(self).__name__, "cutoff_hz", cutoff_hz, minimum=1.0))

    @quiet
    def process(self, value: Any, ctx: Context) -> Clip:
        clip = as_clip(value, ctx)
        if clip.rate / 2 <= self.cutoff_hz or clip.frames < 2:
            return clip
        low, high = band_energy(clip.samples, clip.rate, self.cutoff_hz)
        total = low + high
        if not math.isfinite(total) or total <= 0 or high <= _EMPTY_BAND * total:
            return clip
        ratio = high / total
        if ratio > 1e-6:
            ctx.add(
                "audio.lowpassed",
                f"removed content above {self.cutoff_hz:g} Hz (cutoff_hz): {10 * math.log10(ratio):.1f} dB "
                f"of the signal's energy",
                severity=Severity.LOW,
                action=Action.SANITIZE,
                detail={"removed_ratio": ratio},
            )
        return clip.replace(fft_lowpass(clip.samples, clip.rate, self.cutoff_hz))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(cutoff_hz=self.cutoff_hz)
        return config


@audio_stage
class RemoveDC(Filter):
    """Subtract each channel's mean when any exceeds ``threshold`` (full scale = 1).

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> out = RemoveDC().run(Clip(np.full((4, 1), 0.5, "float32"), 16000)).value
        >>> float(abs(out.samples).max()) < 1e-6
        True
    """

    modality = "audio"

    def __init__(self, threshold: float = 1e-4, **kwargs: Any) -> None:
        kwargs.setdefault("name", "remove_dc")
        super().__init__(**kwargs)
        self.threshold = float(check_number(type(self).__name__, "threshold", threshold, minimum=1e-7))

    @quiet
    def process(self, value: Any, ctx: Context) -> Clip:
        clip = as_clip(value, ctx)
        if clip.frames == 0:
            return clip
        mean = clip.stats()[2]
        dc = float(np.max(np.abs(mean)))
        if not dc > self.threshold or not math.isfinite(dc):
            return clip
        if dc > 1e-2:
            ctx.add(
                "audio.dc_removed",
                f"removed a DC offset of {dc:.4g}",
                severity=Severity.LOW,
                action=Action.SANITIZE,
                detail={"dc": dc},
            )
        return clip.replace(clip.samples - mean.astype(np.float32))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(threshold=self.threshold)
        return config


@audio_stage
class Normalize(Filter):
    """Scale to a peak or RMS level of ``target_db`` dBFS.

    Quiet clips that would need more than ``max_gain_db`` are left as they are
    (amplifying noise 60 dB helps nobody), which also keeps the filter
    idempotent. RMS normalization can push peaks past 1: follow it with
    :class:`HardClip`.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> out = Normalize("peak", target_db=0.0).run(Clip(np.array([[0.25], [-0.5]], "float32"), 8000))
        >>> out.value.samples.ravel().tolist()
        [0.5, -1.0]
    """

    modality = "audio"

    def __init__(
        self, mode: str = "peak", target_db: float = -1.0, max_gain_db: float = 40.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.mode = check_choice(owner, "mode", mode, ("peak", "rms"))
        self.target_db = float(check_number(owner, "target_db", target_db, minimum=-120.0, maximum=0.0))
        self.max_gain_db = float(check_number(owner, "max_gain_db", max_gain_db, minimum=0.0))

    @quiet
    def process(self, value: Any, ctx: Context) -> Clip:
        clip = as_clip(value, ctx)
        x = clip.samples
        if x.size == 0:
            return clip
        if self.mode == "peak":
            level = float(max(-float(x.min()), float(x.max())))
        else:
            flat = x.reshape(-1).astype(np.float64)
            level = math.sqrt(float(np.dot(flat, flat)) / flat.size)
        if not math.isfinite(level) or level <= 0:
            return clip
        gain_db = self.target_db - 20 * math.log10(level)
        if abs(gain_db) < 1e-3 or gain_db > self.max_gain_db:
            return clip
        return clip.replace(x * np.float32(10 ** (gain_db / 20)))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(mode=self.mode, target_db=self.target_db, max_gain_db=self.max_gain_db)
        return config


@audio_stage
class HardClip(Filter):
    """Clip samples to ``[-limit, limit]``, reporting how many were outside.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> HardClip().run(Clip(np.array([[2.0], [0.1]], "float32"), 8000)).value.samples.ravel().tolist()
        [1.0, 0.10000000149011612]
    """

    modality = "audio"

    def __init__(self, limit: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = float(check_number(type(self).__name__, "limit", limit, minimum=1e-6))

    @quiet
    def process(self, value: Any, ctx: Context) -> Clip:
        clip = as_clip(value, ctx)
        x = clip.samples
        lo, hi = clip.stats()[:2]
        if x.size == 0 or (hi <= self.limit and lo >= -self.limit):
            return clip
        n = int(np.count_nonzero(np.abs(x) > self.limit))
        ctx.add(
            "audio.clipped",
            f"clipped {n} samples outside [-{self.limit:g}, {self.limit:g}] (limit)",
            severity=Severity.LOW,
            action=Action.SANITIZE,
            detail={"samples": n},
        )
        return clip.replace(np.clip(x, -self.limit, self.limit))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(limit=self.limit)
        return config


@audio_stage
class TrimPad(Filter):
    """Cut or zero-pad to ``length`` frames, or only cut to ``max_length`` frames.

    Lengths are in frames at the clip's current rate (put this after
    :class:`Resample`). Cutting reports ``audio.trimmed`` (sanitize).

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> TrimPad(length=8).run(Clip(np.ones((5, 1), "float32"), 8000)).value.frames
        8
    """

    modality = "audio"

    def __init__(self, length: int | None = None, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.length = check_number(owner, "length", length, minimum=1, integer=True, allow_none=True)
        self.max_length = check_number(
            owner, "max_length", max_length, minimum=1, integer=True, allow_none=True
        )

    @quiet
    def process(self, value: Any, ctx: Context) -> Clip:
        clip = as_clip(value, ctx)
        limit = self.length if self.length is not None else self.max_length
        x = clip.samples
        if limit is not None and clip.frames > limit:
            ctx.add(
                "audio.trimmed",
                f"cut {clip.frames - limit} frames beyond {limit} frames "
                f"({limit / clip.rate:.4g} s at {clip.rate} Hz)",
                severity=Severity.LOW,
                action=Action.SANITIZE,
                detail={"frames": clip.frames, "kept": limit},
            )
            x = x[:limit]
        if self.length is not None and x.shape[0] < self.length:
            x = np.concatenate([x, np.zeros((self.length - x.shape[0], clip.channels), np.float32)])
        return clip if x is clip.samples else clip.replace(np.ascontiguousarray(x))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(length=self.length, max_length=self.max_length)
        return config
