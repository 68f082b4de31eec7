"""Generated test signals, benign and hostile, for tests, demos, benchmarks and calibration.

Nothing here is downloaded: every signal is synthesized from a seed.

Example:
    >>> from keras_sanitize.audio import synth
    >>> x = synth.speech_like(0.5, 16000, seed=1)
    >>> x.shape, x.dtype
    ((8000,), dtype('float32'))
"""

from __future__ import annotations

import io
import struct

import numpy as np

__all__ = ["dolphin", "encode", "lying_wav", "speech_like", "tone"]


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A sine tone, float32 ``(frames,)``.

    Example:
        >>> tone(440, 0.01, 16000).shape
        (160,)
    """
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_like(seconds: float, rate: int, seed: int = 0, amplitude: float = 0.3) -> np.ndarray:
    """A speech-like signal: a gliding voiced harmonic series shaped by three formants,
    syllable-rate (~4 Hz) amplitude bursts and a little breath noise. Band-limited to 4 kHz.

    Synthesized at 16 kHz (the formant gains on a 10 ms grid) and resampled to ``rate``.
    """
    base = 16000
    rng = np.random.default_rng(seed)
    want = int(seconds * rate)
    n = round(seconds * base)
    if n < 2 or want == 0:
        return np.zeros(want, np.float32)
    t = np.arange(n) / base
    f0 = 110 + 40 * rng.random() + 25 * np.sin(2 * np.pi * (0.5 + rng.random()) * t)
    phase = 2 * np.pi * np.cumsum(f0) / base
    formants = np.array([500, 1500, 2500]) * (0.8 + 0.4 * rng.random(3))
    coarse = t[::160]
    x = np.zeros(n)
    for k in range(1, 40):
        fk = k * f0[::160]
        gain = np.exp(-(((fk[:, None] - formants[None, :]) / 150.0) ** 2)).sum(axis=1) / k**0.5
        gain *= fk < 3900.0
        if gain.any():
            x += np.interp(t, coarse, gain) * np.sin(k * phase)
    syll = np.clip(np.sin(2 * np.pi * (3 + 2 * rng.random()) * t + rng.random() * 6), 0, None) ** 0.7
    x *= syll
    x += 0.01 * rng.standard_normal(n) * syll
    spec = np.fft.rfft(x)
    spec[int(4000 * n / base) + 1 :] = 0
    x = np.fft.irfft(spec, n=n)
    if rate != base:
        import soxr

        x = soxr.resample(x, base, rate, "HQ")
    x = np.pad(x[:want], (0, max(0, want - x.shape[0])))
    peak = float(np.max(np.abs(x))) if x.size else 1.0
    return (amplitude * x / (peak or 1.0)).astype(np.float32)


def dolphin(
    seconds: float = 1.0,
    rate: int = 96000,
    carrier: float = 30000.0,
    depth: float = 0.8,
    seed: int = 0,
    amplitude: float = 0.5,
) -> np.ndarray:
    """An inaudible voice command (DolphinAttack): speech AM-modulated onto an ultrasonic carrier.

    Example:
        >>> x = dolphin(0.1, rate=96000, carrier=30000)
        >>> x.shape, bool(abs(x).max() <= 0.5)
        ((9600,), True)
    """
    base = speech_like(seconds, rate, seed=seed, amplitude=1.0).astype(np.float64)
    t = np.arange(base.shape[0]) / rate
    x = (1 + depth * base) * np.cos(2 * np.pi * carrier * t)
    return (amplitude * x / (1 + depth)).astype(np.float32)


def encode(samples: np.ndarray, rate: int, format: str = "WAV", subtype: str | None = None) -> bytes:
    """Encode samples with soundfile into the bytes of a file (``format`` as soundfile names it).

    Written in blocks: libsndfile/libvorbis crash writing long Ogg Vorbis buffers in one
    call (the encoder ``alloca``s the whole buffer; python-soundfile issue #396).

    Example:
        >>> encode(tone(440, 0.01, 16000), 16000, "WAV", "PCM_16")[:4]
        b'RIFF'
    """
    import soundfile as sf

    x = np.asarray(samples)
    channels = 1 if x.ndim == 1 else int(x.shape[1])
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, channels, subtype=subtype, format=format) as f:
        for start in range(0, x.shape[0], 16384):
            f.write(x[start : start + 16384])
    return buf.getvalue()


def lying_wav(declared_data_bytes: int = 4294967280, frames: int = 1600, rate: int = 16000) -> bytes:
    """A small PCM_16 WAV whose data chunk declares ``declared_data_bytes`` bytes.

    Example:
        >>> len(lying_wav())
        3244
    """
    data = bytearray(encode(np.zeros(frames, np.float32), rate, "WAV", "PCM_16"))
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", declared_data_bytes & 0xFFFFFFFF)
    return bytes(data)
