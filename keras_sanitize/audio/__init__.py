"""The audio modality: hostile audio bytes in, a safe canonical float32 waveform out.

The value flowing through an audio pipeline starts as

* ``bytes`` (or ``bytearray``/``memoryview``) of an encoded file,
* a mapping ``{"data": bytes, "filename": str, "content_type": str}`` (the name
  and type are the uploader's *declarations*, checked against the sniffed format),
* a ``(samples, rate)`` tuple, samples ``(frames,)`` or ``(frames, channels)``,

becomes a :class:`Clip` (float32 ``(frames, channels)`` plus its rate) at
:class:`~keras_sanitize.audio.encoders.Decode`, and ends as a float32 numpy
array from :class:`~keras_sanitize.audio.encoders.ToArray`. Header limits are
enforced before decoding; the ultrasonic verifier runs on the raw decoded
signal, before resampling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from keras_sanitize.pipeline import Pipeline
from keras_sanitize.stage import Stage, check_number, resolve_limits

from . import encoders, filters, validators, verifiers
from ._clip import Clip
from ._common import (
    DEFAULT_CODECS,
    DEFAULT_FORMATS,
    DEFAULT_LIMITS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_RATE,
    DEFAULT_MAX_SECONDS,
    DEFAULT_MIN_RATE,
    Limits,
)
from .encoders import DEFAULT_MAX_DECODE_SECONDS
from .filters import DEFAULT_CUTOFF_HZ

__all__ = [
    "DEFAULT_CODECS",
    "DEFAULT_CUTOFF_HZ",
    "DEFAULT_FORMATS",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CHANNELS",
    "DEFAULT_MAX_DECODE_SECONDS",
    "DEFAULT_MAX_RATE",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MIN_RATE",
    "Clip",
    "Limits",
    "default",
    "encoders",
    "filters",
    "validators",
    "verifiers",
]


def default(
    sample_rate: int = 16000,
    *,
    channels: int | None = 1,
    layout: str = "T",
    length: int | None = None,
    formats: Iterable[str] = DEFAULT_FORMATS,
    codecs: Iterable[str] = DEFAULT_CODECS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_channels: int = DEFAULT_MAX_CHANNELS,
    min_rate: int = DEFAULT_MIN_RATE,
    max_rate: int = DEFAULT_MAX_RATE,
    ultrasonic: bool = True,
    remove_dc: bool = True,
    normalize: str | None = None,
    lowpass_hz: float | None = filters.DEFAULT_CUTOFF_HZ,
    resample_quality: str = "HQ",
    array_rate: int | None = None,
    max_decode_seconds: float = encoders.DEFAULT_MAX_DECODE_SECONDS,
    limits: Limits | None = None,
    policy: Mapping[str, str] | None = None,
    mode: str = "enforce",
    sandbox: Any = None,
) -> Pipeline:
    """A strict audio pipeline ending in float32 audio at ``sample_rate``.

    Stages: byte budget, sniffed format allowlist (WAV, FLAC, Ogg Vorbis/Opus by
    default), header limits (rate, channels, sample format, duration, declared
    length vs file size) before decoding, bounded decode, signal checks (NaN/Inf
    refused; clipping, DC offset, silence warn), ultrasonic verifier on the raw
    signal, then downmix to ``channels``, DC removal, resampling (soxr), a
    low-pass at ``lowpass_hz`` (only acts when ``sample_rate`` can hold content
    above it), optional peak/RMS normalization, hard clip to [-1, 1], trim/pad
    to ``length`` frames (or cut at ``max_seconds``), and the ``layout``
    (``"T"``, ``"TC"`` or ``"CT"``).

    Args:
        sample_rate: the model's rate; every accepted input is resampled to it.
        channels: output channels (1 = downmix to mono; ``None`` keeps the input's).
        layout: ``"T"`` (mono ``(frames,)``), ``"TC"`` or ``"CT"``.
        length: pad or cut to exactly this many frames at ``sample_rate``.
        max_seconds, max_bytes, max_channels, min_rate, max_rate: input limits.
        formats, codecs: allowlists of containers and sample formats.
        limits: all the limits at once (a :class:`Limits`), instead of the ``max_*``,
            ``min_rate`` and ``max_decode_seconds`` keywords.
        policy: finding code -> action for the whole pipeline.
        mode: ``"enforce"`` or ``"monitor"`` (see :class:`~keras_sanitize.Pipeline`).
        ultrasonic: run the ultrasonic verifier (before resampling).
        remove_dc: subtract DC offsets above 1e-4.
        normalize: ``None``, ``"peak"`` or ``"rms"``.
        lowpass_hz: low-pass cutoff at the output rate (``None``: none).
        resample_quality: soxr preset, ``"QQ"`` to ``"VHQ"``.
        array_rate: the rate of bare arrays (otherwise give ``(samples, rate)``).
        max_decode_seconds: decoding time budget for long streams.
        sandbox: run the decoders in sandbox workers: a
            :class:`keras_sanitize.sandbox.Sandbox`, or ``True`` for the default
            one (see ``docs/sandbox.md``); ``None`` runs in-process.

    Example:
        >>> import io, numpy as np, soundfile as sf, keras_sanitize as ks
        >>> buf = io.BytesIO()
        >>> sf.write(buf, np.zeros(4410, "float32"), 44100, format="WAV", subtype="PCM_16")
        >>> report = ks.audio.default(sample_rate=16000).run(buf.getvalue())
        >>> report.ok, report.value.shape, report.value.dtype, report.codes
        (True, (1600,), dtype('float32'), ('audio.silence',))
    """
    owner = "audio.default"
    given = {
        "max_bytes": max_bytes,
        "max_seconds": max_seconds,
        "max_channels": max_channels,
        "min_rate": min_rate,
        "max_rate": max_rate,
        "max_decode_seconds": max_decode_seconds,
    }
    lim: Limits = resolve_limits(owner, limits, DEFAULT_LIMITS, given)
    max_bytes, max_seconds, max_channels = lim.max_bytes, lim.max_seconds, lim.max_channels
    min_rate, max_rate, max_decode_seconds = lim.min_rate, lim.max_rate, lim.max_decode_seconds
    check_number(owner, "sample_rate", sample_rate, minimum=1, integer=True)
    check_number(owner, "max_seconds", max_seconds, minimum=0.0)
    stages: list[Stage] = [
        validators.ByteBudget(max_bytes=max_bytes),
        validators.FormatAllowlist(formats=formats),
        validators.HeaderLimits(
            max_seconds=max_seconds,
            min_rate=min_rate,
            max_rate=max_rate,
            max_channels=max_channels,
            codecs=codecs,
            formats=formats,
        ),
        encoders.Decode(
            formats=formats,
            max_seconds=max_seconds,
            max_channels=max_channels,
            max_rate=max_rate,
            array_rate=array_rate,
            max_decode_seconds=max_decode_seconds,
        ),
        validators.SignalChecks(),
    ]
    if ultrasonic:
        stages.append(verifiers.Ultrasonic())
    if channels is not None:
        stages.append(filters.Downmix(channels=channels))
    if remove_dc:
        stages.append(filters.RemoveDC())
    stages.append(filters.Resample(rate=sample_rate, quality=resample_quality))
    if lowpass_hz is not None:
        stages.append(filters.LowPass(cutoff_hz=lowpass_hz))
    if normalize is not None:
        stages.append(filters.Normalize(mode=normalize))
    stages.append(filters.HardClip())
    max_length = int(max_seconds * sample_rate) if length is None else None
    stages.append(
        filters.TrimPad(length=length, max_length=max(max_length, 1) if max_length is not None else None)
    )
    stages.append(encoders.ToArray(layout=layout))
    pipe = Pipeline(stages, modality="audio", name="audio_default", policy=policy, mode=mode)
    return pipe.isolated(sandbox) if sandbox is not None and sandbox is not False else pipe


def __dir__() -> list[str]:
    # the public names, not the helpers imported to build default()
    return sorted(__all__)
