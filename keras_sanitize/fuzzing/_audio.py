"""Audio attack families: ultrasonic carriers, clipping, DC, noise, resampling, hostile files.

Every attacked input is the bytes of a file (what an upload is); the clean
reference is speech-like float32 audio at the model's rate and length.
"""

from __future__ import annotations

import io

import numpy as np

from keras_sanitize.audio import synth
from keras_sanitize.fuzzing._families import Case, Family, GenContext, pick

__all__ = ["AUDIO_FAMILIES", "clean_audio", "decode_naive"]


def clean_audio(frames: int, rate: int, count: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Benign speech-like clips of ``frames`` samples at ``rate``."""
    return [synth.speech_like(frames / rate, rate, seed=seed + i) for i in range(count)]


def decode_naive(data: bytes, frames: int) -> np.ndarray:
    """What a model without a pipeline gets: soundfile decode, mean of channels, cut/pad; no resampling."""
    import soundfile as sf

    x, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True, frames=frames)
    mono = x.mean(axis=1)
    return np.pad(mono, (0, max(0, frames - mono.shape[0])))[:frames].astype(np.float32)


def _wav(x: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    return synth.encode(np.clip(x, -1, 1) if subtype.startswith("PCM") else x, rate, "WAV", subtype)


def _cleans(ctx: GenContext, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [np.asarray(pick(rng, ctx.samples), dtype=np.float32) for _ in range(n)]


def _ultrasonic(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        carrier = (25000.0, 30000.0, 40000.0)[i % 3]
        seconds = clean.shape[0] / ctx.rate
        x = synth.dolphin(seconds, rate=96000, carrier=carrier, seed=int(rng.integers(1 << 16)))
        out.append(Case(clean, _wav(x, 96000), f"carrier={carrier / 1000:g}kHz"))
    return out


def _clipping(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    gains = (4.0, 8.0, 16.0)
    return [
        Case(c, _wav(np.clip(c * gains[i % 3], -1, 1), ctx.rate), f"gain={gains[i % 3]:g}")
        for i, c in enumerate(_cleans(ctx, rng, n))
    ]


def _dc(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    offsets = (0.1, 0.3, 0.6)
    return [
        Case(c, _wav(c + offsets[i % 3], ctx.rate), f"offset={offsets[i % 3]:g}")
        for i, c in enumerate(_cleans(ctx, rng, n))
    ]


def _noise(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    snrs = (30, 20, 10, 0)
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        snr = snrs[i % 4]
        power = float(np.mean(clean.astype(np.float64) ** 2)) or 1e-6
        noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr / 10)), clean.shape)
        out.append(Case(clean, _wav(clean + noise, ctx.rate), f"snr={snr}dB"))
    return out


def _resample(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    import soxr

    rates = (8000, 22050, 44100)
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        rate = rates[i % 3]
        x = soxr.resample(clean, ctx.rate, rate) if rate != ctx.rate else clean
        out.append(Case(clean, _wav(np.asarray(x), rate), f"rate={rate}"))
    return out


def _malformed(ctx: GenContext, n: int, rng: np.random.Generator) -> list[Case]:
    out = []
    for i, clean in enumerate(_cleans(ctx, rng, n)):
        kind = i % 5
        wav = _wav(clean, ctx.rate)
        if kind == 0:
            out.append(
                Case(clean, synth.lying_wav(frames=min(clean.shape[0], 16000), rate=ctx.rate), "lying_length")
            )
        elif kind == 1:
            out.append(Case(clean, wav[: max(len(wav) // 3, 50)], "truncated"))
        elif kind == 2:
            garbage = rng.integers(0, 256, 512, dtype=np.uint8).tobytes()
            out.append(Case(clean, b"RIFF\xff\xff\xff\xffWAVEfmt " + garbage, "riff_garbage"))
        elif kind == 3:
            bad = clean.copy()
            bad[:: max(1, bad.shape[0] // 50)] = np.nan
            out.append(Case(clean, _wav(bad, ctx.rate, "FLOAT"), "float_nan"))
        else:
            out.append(Case(clean, b"", "empty"))
    return out


AUDIO_FAMILIES: tuple[Family, ...] = (
    Family("ultrasonic", "audio", "speech AM-modulated on a 25-40 kHz carrier (DolphinAttack)", _ultrasonic),
    Family("clipping", "audio", "gain then hard clipping", _clipping),
    Family("dc", "audio", "a DC offset added", _dc),
    Family("noise", "audio", "white noise at 30, 20, 10 and 0 dB SNR", _noise),
    Family("resample", "audio", "the clip at another sample rate (8, 22.05, 44.1 kHz)", _resample),
    Family("malformed", "audio", "lying headers, truncated, garbage, NaN samples, empty", _malformed),
)
