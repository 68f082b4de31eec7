"""Audio encoders: :class:`Decode` (bytes or ``(samples, rate)`` -> :class:`Clip`),
:class:`ToArray` (clip -> float32 array in a layout) and :func:`stack` (batch with lengths).
"""

from __future__ import annotations

import io
import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_sanitize._stderr import captured_stderr
from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Encoder, Halt, check_choice, check_number

from ._clip import Clip, as_clip, raw_bytes
from ._common import (
    DEFAULT_FORMATS,
    DEFAULT_LIMITS,
    DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_RATE,
    DEFAULT_MAX_SECONDS,
    KNOWN_FORMATS,
    audio_stage,
    check_names,
    read_header,
)
from ._header import clean_error

__all__ = ["LAYOUTS", "Decode", "ToArray", "stack"]

#: array layouts: time only (mono), time x channels, channels x time.
LAYOUTS: tuple[str, ...] = ("T", "TC", "CT")

#: up to this many samples are read in one call; more are read in blocks against the clock.
_ONE_READ = 1 << 22
#: default decode time budget, in seconds.
DEFAULT_MAX_DECODE_SECONDS: float = DEFAULT_LIMITS.max_decode_seconds
_EXACT = frozenset({"wav", "flac", "ogg", "aiff"})
_INT_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0, np.dtype(np.int8): 128.0}


@audio_stage
class Decode(Encoder):
    """Decode audio bytes (or take a ``(samples, rate)`` tuple) into a float32 :class:`Clip`.

    Memory and time stay bounded whatever the header says: the format must be
    allowed, the header must declare at most ``max_channels`` channels at most
    ``max_rate`` Hz, and at most ``max_seconds * rate + 1`` frames are ever
    requested from libsndfile, so a file declaring 4 GB of samples cannot make
    it allocate them. More than ~4M samples are read in blocks, and decoding
    stops (``audio.decode_timeout``) once it has taken ``max_decode_seconds``.
    Decoder errors and warnings become findings.

    Arrays: ``(samples, rate)`` with samples shaped ``(frames,)`` or
    ``(frames, channels)`` (soundfile's convention) of float32/float64 (taken
    as is), int16/int32/int8 (scaled to [-1, 1)) or uint8 (offset binary). A
    bare array is refused unless ``array_rate`` declares its rate.

    Example:
        >>> import numpy as np
        >>> Decode().run((np.zeros(160, "int16"), 16000)).value
        Clip(frames=160, channels=1, rate=16000, source='array')
    """

    modality = "audio"

    def __init__(
        self,
        formats: Any = DEFAULT_FORMATS,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        max_rate: int = DEFAULT_MAX_RATE,
        array_rate: int | None = None,
        max_decode_seconds: float = DEFAULT_MAX_DECODE_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.formats = check_names(owner, "formats", formats, KNOWN_FORMATS)
        self.max_seconds = float(check_number(owner, "max_seconds", max_seconds, minimum=0.0))
        self.max_channels = check_number(owner, "max_channels", max_channels, minimum=1, integer=True)
        self.max_rate = check_number(owner, "max_rate", max_rate, minimum=1, integer=True)
        self.array_rate = check_number(
            owner, "array_rate", array_rate, minimum=1, integer=True, allow_none=True
        )
        self.max_decode_seconds = float(
            check_number(owner, "max_decode_seconds", max_decode_seconds, minimum=0.0)
        )

    def process(self, value: Any, ctx: Context) -> Clip:
        if isinstance(value, Clip):
            clip = as_clip(value, ctx)
            self._bounds(ctx, clip.rate, clip.channels, clip.frames, "clip has")
            return clip
        data, _, _ = raw_bytes(value)
        if data is not None:
            return self._decode(data, ctx)
        if isinstance(value, tuple) and len(value) == 2:
            return self._from_array(value[0], value[1], ctx)
        if isinstance(value, np.ndarray) and self.array_rate is not None:
            return self._from_array(value, self.array_rate, ctx)
        hint = " (a bare array needs array_rate=)" if isinstance(value, np.ndarray) else ""
        ctx.halt(
            "audio.not_audio",
            f"audio input must be bytes of an audio file, a {{'data': bytes, ...}} mapping or a "
            f"(samples, rate) tuple{hint}; received {echo(value)}",
        )

    # -- bounds ------------------------------------------------------------------
    def _bounds(self, ctx: Context, rate: float, channels: int, frames: int | None, who: str) -> int:
        """Halt unless rate/channels/frames fit; return the most frames we may read."""
        if not (0 < rate <= self.max_rate) or not math.isfinite(rate):
            ctx.halt(
                "audio.sample_rate",
                f"sample rate must be in (0, {self.max_rate}] Hz to decode (max_rate); {who} {rate:g} Hz",
            )
        if not (1 <= channels <= self.max_channels):
            ctx.halt(
                "audio.channels",
                f"channel count must be in [1, {self.max_channels}] to decode (max_channels); {who} "
                f"{channels}." + (" Arrays are (frames, channels)." if who == "input has" else ""),
            )
        cap = int(self.max_seconds * rate) + 1
        if frames is not None and frames > cap:
            ctx.halt(
                "audio.too_long",
                f"duration must be at most {self.max_seconds:g} s to decode (max_seconds); {who} "
                f"{frames} frames = {frames / rate:.6g} s",
            )
        return cap

    # -- bytes -------------------------------------------------------------------
    def _decode(self, data: bytes, ctx: Context) -> Clip:
        if not data:
            ctx.halt("audio.empty", "audio input is 0 bytes; an encoded audio file is required")
        info = read_header(data, self.formats, ctx)
        self._bounds(ctx, info.rate, info.channels, info.frames, f"{info.container} header declares")
        fast = _pcm16_wav(data, info)
        if fast is not None:
            return Clip(fast, int(info.rate), "wav/PCM_16")
        import soundfile as sf

        with warnings.catch_warnings(record=True) as caught, captured_stderr("libsndfile") as err:
            warnings.simplefilter("always")
            try:
                with sf.SoundFile(io.BytesIO(data)) as f:
                    rate, channels = int(f.samplerate), int(f.channels)
                    known = int(f.frames) if 0 <= f.frames < (1 << 62) else None
                    cap = self._bounds(ctx, rate, channels, known, "libsndfile reports")
                    samples = self._read(f, known, cap, channels, ctx)
                    subtype = str(f.subtype)
            except Halt:
                raise
            except Exception as exc:  # libsndfile's errors are the input's fault
                ctx.halt(
                    "audio.undecodable",
                    f"{info.container} stream could not be decoded: {clean_error(exc)} "
                    f"The file is corrupt or truncated: re-encode it.",
                    detail={"exception": type(exc).__name__},
                )
        for w in caught[:8]:
            ctx.add(
                "audio.decoder_warning",
                f"the decoder warned: {echo(str(w.message), 160)}",
                severity=Severity.MEDIUM,
                action=Action.WARN,
            )
        if err.lines:
            ctx.add(
                "audio.decoder_warning",
                f"the decoder library printed {len(err.lines)} message(s) to stderr (captured, not "
                f"printed), first {echo(err.lines[0], 160)}: the stream is malformed",
                severity=Severity.MEDIUM,
                action=Action.WARN,
                detail={"category": "stderr", "messages": [m[:200] for m in err.lines[:5]]},
            )
        if samples.shape[0] > cap:
            ctx.halt(
                "audio.too_long",
                f"duration must be at most {self.max_seconds:g} s (max_seconds); the stream decodes "
                f"to more than {cap} frames at {rate} Hz although its header declared {info.frames}",
            )
        # Our own parsers' lengths are exact (Ogg/FLAC within a block); libsndfile's MP3 ones are estimates.
        short = (info.frames or 0) - samples.shape[0]
        if info.container in _EXACT and info.frames is not None and short > max(64, info.frames // 200):
            ctx.add(
                "audio.truncated",
                f"the stream must hold the {info.frames} frames its header declares; it ended after "
                f"{samples.shape[0]}. The file is truncated: re-encode it.",
                severity=Severity.HIGH,
                detail={"declared": info.frames, "decoded": int(samples.shape[0])},
            )
        return Clip(np.ascontiguousarray(samples), rate, f"{info.container}/{subtype}")

    def _read(self, f: Any, known: int | None, cap: int, channels: int, ctx: Context) -> np.ndarray:
        """Read at most ``cap + 1`` frames; in blocks, against the clock, when that is a lot."""
        want = cap + 1 if known is None else min(known, cap + 1)
        if known is not None and want * channels <= _ONE_READ:
            out: np.ndarray = f.read(frames=want, dtype="float32", always_2d=True)
            return out
        deadline = time.monotonic() + self.max_decode_seconds
        block = max(4096, _ONE_READ // 4 // channels)
        parts: list[np.ndarray] = []
        got = 0
        while got < want:
            n = min(block, want - got)
            part = f.read(frames=n, dtype="float32", always_2d=True)
            if part.shape[0]:
                parts.append(part)
                got += part.shape[0]
            if time.monotonic() > deadline:
                ctx.halt(
                    "audio.decode_timeout",
                    f"decoding must finish within {self.max_decode_seconds:g} s (max_decode_seconds); "
                    f"stopped after {got} frames ({got / max(f.samplerate, 1):.3g} s of audio)",
                )
            if part.shape[0] < n:
                break
        return np.concatenate(parts) if parts else np.zeros((0, channels), np.float32)

    # -- arrays ------------------------------------------------------------------
    def _from_array(self, arr: Any, rate: Any, ctx: Context) -> Clip:
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
            if isinstance(rate, (float, np.floating)) and float(rate).is_integer():
                rate = int(rate)
            else:
                ctx.halt(
                    "audio.sample_rate",
                    f"the rate of a (samples, rate) tuple must be an int; received {echo(rate)}",
                )
        if not isinstance(arr, np.ndarray):
            ctx.halt("audio.not_audio", f"samples must be a numpy array; received {echo(arr)}")
        if arr.ndim not in (1, 2):
            ctx.halt(
                "audio.shape", f"samples must be (frames,) or (frames, channels); received shape {arr.shape}"
            )
        frames = arr.shape[0]
        channels = 1 if arr.ndim == 1 else arr.shape[1]
        self._bounds(ctx, float(rate), channels, frames, "input has")
        x = arr.reshape(frames, channels)
        kind = x.dtype
        if kind in (np.float32, np.float64, np.float16):
            with np.errstate(over="ignore", invalid="ignore"):
                out = x.astype(np.float32)  # copies: later stages never alias the caller's array
        elif kind in _INT_SCALE:
            out = x.astype(np.float32) / np.float32(_INT_SCALE[kind])
        elif kind == np.uint8:
            out = (x.astype(np.float32) - 128.0) / 128.0
        else:
            ctx.halt(
                "audio.dtype", f"samples must be float32/64 or int8/16/32 or uint8; received dtype {x.dtype}"
            )
        return Clip(np.ascontiguousarray(out, dtype=np.float32), int(rate), "array")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            formats=list(self.formats),
            max_seconds=self.max_seconds,
            max_channels=self.max_channels,
            max_rate=self.max_rate,
            max_decode_seconds=self.max_decode_seconds,
            array_rate=self.array_rate,
        )
        return config


@audio_stage
class ToArray(Encoder):
    """Turn a clip into the model's float32 array: ``"T"`` (mono), ``"TC"`` or ``"CT"``.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> ToArray("CT").run(Clip(np.zeros((5, 2), "float32"), 16000)).value.shape
        (2, 5)
    """

    modality = "audio"

    def __init__(self, layout: str = "T", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layout = check_choice(type(self).__name__, "layout", layout, LAYOUTS)

    def process(self, value: Any, ctx: Context) -> np.ndarray:
        clip = as_clip(value, ctx)
        x = clip.samples
        if self.layout == "T":
            if clip.channels != 1:
                ctx.halt(
                    "audio.layout",
                    f"layout 'T' needs mono audio; received {clip.channels} channels. "
                    f"Put a Downmix(channels=1) filter first, or use layout 'TC'.",
                )
            return x.reshape(-1)
        if self.layout == "TC":
            return x
        return np.ascontiguousarray(x.T)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(layout=self.layout)
        return config


def stack(
    arrays: Sequence[Any],
    layout: str = "T",
    length: int | None = None,
    pad_value: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Stack encoded clips into one zero-padded batch; return ``(batch, lengths)``.

    ``lengths`` (int32) holds each item's valid number of frames, so a model can
    mask the padding. With ``length`` every item is padded or cut to it;
    otherwise to the longest item.

    Example:
        >>> import numpy as np
        >>> batch, lengths = stack([np.ones(3, "float32"), np.ones(5, "float32")])
        >>> batch.shape, lengths.tolist()
        ((2, 5), [3, 5])
    """
    check_choice("stack", "layout", layout, LAYOUTS)
    check_number("stack", "length", length, minimum=0, integer=True, allow_none=True)
    items = [np.asarray(a, dtype=np.float32) for a in arrays]
    axis = 1 if layout == "CT" else 0
    want = 1 if layout == "T" else 2
    for i, a in enumerate(items):
        if a.ndim != want:
            raise ConfigError(
                f"stack: item {i} must have {want} dimensions for layout {layout!r}; received shape {a.shape}"
            )
    if layout != "T" and items and len({a.shape[1 - axis] for a in items}) > 1:
        raise ConfigError(f"stack: items must share a channel count; received {[a.shape for a in items]}")
    lengths = np.array([a.shape[axis] for a in items], dtype=np.int32)
    size = int(length if length is not None else (lengths.max() if items else 0))
    if length is not None:
        lengths = np.minimum(lengths, size)
    chans = () if layout == "T" else (items[0].shape[1 - axis],) if items else (1,)
    shape = (len(items), size, *chans) if axis == 0 else (len(items), *chans, size)
    batch = np.full(shape, pad_value, dtype=np.float32)
    for i, (a, n) in enumerate(zip(items, lengths)):
        if axis == 0:
            batch[i, :n] = a[:n]
        else:
            batch[i, :, :n] = a[:, :n]
    return batch, lengths


def _pcm16_wav(data: bytes, info: Any) -> np.ndarray | None:
    """Samples of a complete little-endian 16-bit PCM WAV, decoded with numpy; else None.

    Our header parser has already validated the chunks, so the sample bytes are a
    slice of ``data``: ``int16 / 32768`` is exactly what libsndfile returns as float32,
    without its 4 KB virtual-IO reads (the bulk of the pipeline's time on a WAV).
    Anything else (RIFX, RF64, 24-bit, float, truncated payloads) goes to libsndfile.
    """
    if info.container != "wav" or info.codec != "PCM_16" or data[:4] != b"RIFF" or info.frames is None:
        return None
    channels = int(info.channels)
    need = int(info.frames) * channels * 2
    if info.data_bytes is None or info.available_bytes < info.data_bytes or info.data_bytes < need:
        return None
    start = len(data) - int(info.available_bytes)
    if start < 12 or int(info.data_bytes) // max(channels, 1) // 2 != info.frames:
        return None  # block_align is not 2 bytes per channel: not plain 16-bit frames
    pcm = np.frombuffer(data, dtype="<i2", count=need // 2, offset=start)
    out = pcm.astype(np.float32)
    out *= np.float32(1.0 / 32768.0)
    return out.reshape(-1, channels)
