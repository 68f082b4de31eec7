"""Audio validators: byte budget, real format, header limits (before decoding), signal checks.

The first three look at the encoded bytes only (a ``bytes`` value or a
``{"data": ..., "filename": ..., "content_type": ...}`` mapping) and pass any
other value through untouched; :class:`HeaderLimits` also checks the shape and
rate of ``(samples, rate)`` tuples and clips. :class:`SignalChecks` looks at
decoded samples.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Validator, check_number

from ._clip import Clip, as_clip, raw_bytes, shape_and_rate
from ._common import (
    DEFAULT_CODECS,
    DEFAULT_FORMATS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_RATE,
    DEFAULT_MAX_SECONDS,
    DEFAULT_MIN_RATE,
    EXT_FORMATS,
    KNOWN_FORMATS,
    MIME_FORMATS,
    audio_stage,
    check_names,
    detected_format,
    read_header,
)
from ._dsp import quiet
from ._header import HeaderInfo

__all__ = ["ByteBudget", "FormatAllowlist", "HeaderLimits", "SignalChecks"]

#: default clipping level: |x| at or above this counts as clipped (16-bit full scale is 0.99997).
DEFAULT_CLIP_LEVEL: float = 0.999
#: default tolerated fraction of clipped samples.
DEFAULT_MAX_CLIPPED: float = 0.001
#: default tolerated DC offset (mean of a channel, full scale = 1).
DEFAULT_MAX_DC: float = 0.01
#: default silence level: AC RMS below this (dBFS) is reported as silence.
DEFAULT_SILENCE_DB: float = -60.0


@audio_stage
class ByteBudget(Validator):
    """Refuse encoded audio larger than ``max_bytes`` (or empty) before anything parses it.

    Example:
        >>> ByteBudget(max_bytes=4).run(b"RIFF1234").codes
        ('audio.too_many_bytes',)
    """

    modality = "audio"

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_bytes = check_number(type(self).__name__, "max_bytes", max_bytes, minimum=1, integer=True)

    def check(self, value: Any, ctx: Context) -> None:
        if isinstance(value, (bytes, bytearray)):
            size = len(value)
        elif isinstance(value, memoryview):
            size = value.nbytes
        else:
            data, _, _ = raw_bytes(value)
            if data is None:
                return
            size = len(data)
        if size == 0:
            ctx.add(
                "audio.empty",
                "audio input is 0 bytes; an encoded audio file is required",
                severity=Severity.MEDIUM,
            )
        elif size > self.max_bytes:
            ctx.halt(
                "audio.too_many_bytes",
                f"audio input is {size} bytes; limit is {self.max_bytes} (max_bytes). Send a shorter "
                f"or compressed clip, or raise max_bytes.",
                severity=Severity.HIGH,
                detail={"bytes": size, "limit": self.max_bytes},
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(max_bytes=self.max_bytes)
        return config


def _ext(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


@audio_stage
class FormatAllowlist(Validator):
    """Sniff the real format from the bytes and check it against an allowlist.

    A cheap signature check recognises WAV, FLAC, Ogg, AIFF and ID3-tagged MP3;
    libmagic answers for anything else. When the input is a mapping with a
    ``filename`` or ``content_type``, a declaration that disagrees with the
    sniffed format is reported (``audio.declared_type_mismatch``, a warning by default:
    the sniffed format is the one decoded).

    Example:
        >>> FormatAllowlist().run(b"ID3\\x04\\x00\\x00\\x00\\x00\\x00\\x00" + bytes(64)).codes
        ('audio.format_not_allowed',)
    """

    modality = "audio"

    def __init__(self, formats: Any = DEFAULT_FORMATS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.formats = check_names(type(self).__name__, "formats", formats, KNOWN_FORMATS)

    def check(self, value: Any, ctx: Context) -> None:
        data, name, mime = raw_bytes(value)
        if data is None:
            return
        fmt, sniffed = detected_format(ctx, data)
        if fmt not in self.formats:
            what = f"{fmt} audio" if fmt else f"{sniffed} (not a known audio format)"
            # nothing after this can read the bytes: halt (once), as image.format_not_allowed does
            ctx.halt(
                "audio.format_not_allowed",
                f"audio format must be one of {list(self.formats)}; the bytes are {what}, starting "
                f"{echo(data[:12])}. Convert the file, or allow the format with formats=.",
                severity=Severity.HIGH,
                detail={"format": fmt, "mime": sniffed, "allowed": list(self.formats)},
            )
            return
        declared = []
        if name is not None and _ext(name) and EXT_FORMATS.get(_ext(name)) != fmt:
            declared.append(f"filename {echo(name)}")
        if mime is not None:
            base = mime.split(";", 1)[0].strip().lower()
            if MIME_FORMATS.get(base) != fmt:
                declared.append(f"content type {echo(mime)}")
        if declared:
            verb = "do" if len(declared) > 1 else "does"
            ctx.add(
                "audio.declared_type_mismatch",
                f"declared {' and '.join(declared)} {verb} not match the sniffed format {fmt} ({sniffed}); "
                f"the bytes decide. Fix the uploader's name or content type.",
                severity=Severity.LOW,
                action=Action.WARN,
                detail={"format": fmt, "filename": name, "content_type": mime},
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(formats=list(self.formats))
        return config


@audio_stage
class HeaderLimits(Validator):
    """Enforce limits from the header alone, before a single sample is decoded.

    Checks the declared sample rate, channel count, sample format, duration and
    that the declared length fits the bytes actually present ("declares
    4294967280 data bytes in a 3244-byte file"). ``(samples, rate)`` tuples and
    clips get the same rate, channel and duration checks from their shape.

    Example:
        >>> import numpy as np
        >>> HeaderLimits(max_channels=2).run((np.zeros((10, 6), "float32"), 16000)).codes
        ('audio.channels',)
    """

    modality = "audio"

    def __init__(
        self,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        min_rate: int = DEFAULT_MIN_RATE,
        max_rate: int = DEFAULT_MAX_RATE,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        codecs: Any = DEFAULT_CODECS,
        formats: Any = DEFAULT_FORMATS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.max_seconds = float(check_number(owner, "max_seconds", max_seconds, minimum=0.0))
        self.min_rate = check_number(owner, "min_rate", min_rate, minimum=1, integer=True)
        self.max_rate = check_number(owner, "max_rate", max_rate, minimum=self.min_rate, integer=True)
        self.max_channels = check_number(owner, "max_channels", max_channels, minimum=1, integer=True)
        self.codecs = check_names(owner, "codecs", codecs, upper=True)
        self.formats = check_names(owner, "formats", formats, KNOWN_FORMATS)

    def check(self, value: Any, ctx: Context) -> None:
        data, _, _ = raw_bytes(value)
        if data is not None:
            if not data:
                return
            info = read_header(data, self.formats, ctx)
            # a lying header is reported before a limit halts on what it declares
            self._consistency(ctx, info, len(data))
            if info.codec not in self.codecs:
                ctx.add(
                    "audio.codec",
                    f"sample format must be one of {list(self.codecs)}; {info.container} header declares "
                    f"{info.codec}. Re-encode as PCM_16 or FLOAT, or allow it with codecs=.",
                    severity=Severity.HIGH,
                    detail={"codec": info.codec},
                )
            self._limits(ctx, info.rate, info.channels, info.seconds, f"{info.container} header declares")
            return
        shape_rate = shape_and_rate(value)
        if shape_rate is not None:
            (frames, channels), rate = shape_rate
            self._limits(ctx, float(rate), channels, frames / rate if rate > 0 else None, "input has")

    def _limits(self, ctx: Context, rate: float, channels: int, seconds: float | None, who: str) -> None:
        if not (self.min_rate <= rate <= self.max_rate):
            ctx.add(
                "audio.sample_rate",
                f"sample rate must be in [{self.min_rate}, {self.max_rate}] Hz; {who} {rate:g} Hz "
                f"(min_rate, max_rate)",
                severity=Severity.HIGH,
                detail={"rate": rate},
            )
        if not (1 <= channels <= self.max_channels):
            hint = (
                " Arrays are (frames, channels): transpose a (channels, frames) array."
                if who == "input has"
                else ""
            )
            ctx.add(
                "audio.channels",
                f"channel count must be in [1, {self.max_channels}]; {who} {channels} channels "
                f"(max_channels).{hint}",
                severity=Severity.HIGH,
                detail={"channels": channels},
            )
        if seconds is not None and seconds > self.max_seconds:
            ctx.halt(
                "audio.too_long",
                f"duration must be at most {self.max_seconds:g} s (max_seconds); {who} {seconds:.6g} s",
                severity=Severity.HIGH,
                detail={"seconds": seconds, "limit": self.max_seconds},
            )

    def _consistency(self, ctx: Context, info: HeaderInfo, size: int) -> None:
        avail = info.available_bytes
        if avail is None:
            return
        if info.data_bytes is not None and info.data_bytes > avail:
            msg = (
                f"declares {info.data_bytes} data bytes in a {size}-byte file "
                f"({avail} bytes follow the header)"
            )
        elif info.min_bytes is not None and info.min_bytes > avail:
            msg = (
                f"declares {info.frames} frames, which need at least {info.min_bytes} bytes, in a "
                f"{size}-byte file ({avail} bytes follow the header)"
            )
        else:
            return
        ctx.add(
            "audio.length_mismatch",
            f"the declared length must fit the file; the {info.container} header {msg}. The file is "
            f"truncated or its header lies: re-encode it.",
            severity=Severity.HIGH,
            detail={
                "declared_bytes": info.data_bytes,
                "min_bytes": info.min_bytes,
                "available": avail,
                "file_bytes": size,
                "frames": info.frames,
            },
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            max_seconds=self.max_seconds,
            min_rate=self.min_rate,
            max_rate=self.max_rate,
            max_channels=self.max_channels,
            codecs=list(self.codecs),
            formats=list(self.formats),
        )
        return config


@audio_stage
class SignalChecks(Validator):
    """Checks on decoded samples: empty, NaN/Inf (refused), clipping, DC offset, silence.

    Clipping, DC offset, out-of-range peaks and silence only warn by default:
    real recordings have them, and the filters can correct them. Measured
    values are in each finding's ``detail``. One min/max pass answers "finite?"
    (NaN propagates) and the peak; sums give DC and RMS.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> SignalChecks().run(Clip(np.array([[0.1], [np.nan]], "float32"), 16000)).codes
        ('audio.non_finite',)
    """

    modality = "audio"

    def __init__(
        self,
        clip_level: float = DEFAULT_CLIP_LEVEL,
        max_clipped: float = DEFAULT_MAX_CLIPPED,
        max_dc: float = DEFAULT_MAX_DC,
        silence_db: float = DEFAULT_SILENCE_DB,
        min_seconds: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.clip_level = float(check_number(owner, "clip_level", clip_level, minimum=0.0))
        self.max_clipped = float(check_number(owner, "max_clipped", max_clipped, minimum=0.0, maximum=1.0))
        self.max_dc = float(check_number(owner, "max_dc", max_dc, minimum=0.0))
        self.silence_db = float(check_number(owner, "silence_db", silence_db, maximum=0.0))
        self.min_seconds = float(check_number(owner, "min_seconds", min_seconds, minimum=0.0))

    @quiet
    def check(self, value: Any, ctx: Context) -> None:
        clip = as_clip(value, ctx)
        x = clip.samples
        if x.size == 0:
            ctx.add(
                "audio.empty",
                f"audio has no samples ({clip.frames} frames); at least 1 is required",
                severity=Severity.MEDIUM,
            )
            return
        if clip.seconds < self.min_seconds:
            ctx.add(
                "audio.too_short",
                f"duration must be at least {self.min_seconds:g} s (min_seconds); received "
                f"{clip.seconds:.6g} s",
                severity=Severity.MEDIUM,
                detail={"seconds": clip.seconds},
            )
        lo, hi, mean, mean_sq = clip.stats()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            nan = int(np.count_nonzero(np.isnan(x)))
            inf = int(np.count_nonzero(np.isinf(x)))
            first = int(np.flatnonzero(~np.isfinite(x.reshape(-1)))[0]) // clip.channels
            ctx.add(
                "audio.non_finite",
                f"all samples must be finite; received {nan} NaN and {inf} infinite samples (first at "
                f"frame {first}, {first / clip.rate:.4g} s)",
                severity=Severity.HIGH,
                detail={"nan": nan, "inf": inf, "first_frame": first},
            )
            return
        self._levels(ctx, clip, lo, hi, mean, mean_sq)

    def _levels(
        self, ctx: Context, clip: Clip, lo: float, hi: float, mean: np.ndarray, mean_sq: float
    ) -> None:
        x = clip.samples
        peak = max(-lo, hi)
        if peak > 1.0:
            ctx.add(
                "audio.out_of_range",
                f"samples should lie in [-1, 1]; received peak {peak:.6g} ({20 * math.log10(peak):+.1f} "
                f"dBFS). A HardClip or Normalize filter fixes it.",
                severity=Severity.LOW,
                action=Action.WARN,
                detail={"peak": peak},
            )
        if peak >= self.clip_level:
            ratio = float(np.count_nonzero(np.abs(x) >= self.clip_level)) / x.size
            if ratio > self.max_clipped:
                ctx.add(
                    "audio.clipping",
                    f"at most {self.max_clipped:.3%} of samples may reach |x| >= {self.clip_level:g} "
                    f"(max_clipped); received {ratio:.3%}",
                    severity=Severity.LOW,
                    action=Action.WARN,
                    score=ratio,
                    detail={"clipped_ratio": ratio},
                )
        dc = float(np.max(np.abs(mean)))
        if dc > self.max_dc:
            ctx.add(
                "audio.dc_offset",
                f"DC offset must be at most {self.max_dc:g} (max_dc); received {dc:.4g} "
                f"({20 * math.log10(dc):+.1f} dBFS). A RemoveDC filter fixes it.",
                severity=Severity.LOW,
                action=Action.WARN,
                score=dc,
                detail={"dc": dc},
            )
        ac = max(mean_sq - float(np.mean(mean * mean)), 0.0)
        rms_db = 10 * math.log10(ac) if ac > 0 else -math.inf
        if rms_db < self.silence_db:
            shown = "-inf" if rms_db == -math.inf else f"{rms_db:.1f}"
            ctx.add(
                "audio.silence",
                f"the signal is silent: AC RMS {shown} dBFS is below {self.silence_db:g} dBFS (silence_db)",
                severity=Severity.LOW,
                action=Action.WARN,
                detail={"rms_db": shown if rms_db == -math.inf else rms_db},
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            clip_level=self.clip_level,
            max_clipped=self.max_clipped,
            max_dc=self.max_dc,
            silence_db=self.silence_db,
            min_seconds=self.min_seconds,
        )
        return config
