"""Fuzz the audio pipeline: raw bytes, and structure-aware mutations of valid WAV/FLAC/Ogg/AIFF files.

The first input byte picks a valid template (or none: the bytes as they are); the
rest are ``(offset, value)`` patches applied to it, so header fields (sizes, rates,
channel counts, chunk ids) get hit far more often than by random bytes.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

import keras_sanitize as ks
from keras_sanitize.audio import synth

_FORMATS = ["wav", "flac", "ogg", "aiff", "mp3"]


@lru_cache(maxsize=1)
def _templates() -> tuple[bytes, ...]:
    x = synth.speech_like(0.05, 16000, seed=0)
    stereo = np.stack([x, -x], 1)
    return (
        synth.encode(x, 16000, "WAV", "PCM_16"),
        synth.encode(stereo, 44100, "WAV", "FLOAT"),
        synth.encode(x, 16000, "FLAC"),
        synth.encode(x, 16000, "OGG", "VORBIS"),
        synth.encode(x, 48000, "OGG", "OPUS"),
        synth.encode(x, 16000, "AIFF", "PCM_16"),
        synth.encode(x, 16000, "RF64", "PCM_16"),
    )


@lru_cache(maxsize=1)
def _pipes() -> tuple[ks.Pipeline, ks.Pipeline]:
    return ks.audio.default(), ks.audio.default(formats=_FORMATS, max_channels=8, sample_rate=8000)


def _mutate(data: bytes) -> bytes:
    if not data:
        return data
    templates = _templates()
    pick = data[0] % (len(templates) + 1)
    if pick == len(templates):
        return data[1:]
    out = bytearray(templates[pick])
    patches = data[1:]
    for i in range(0, len(patches) - 2, 3):
        where = int.from_bytes(patches[i : i + 2], "little")
        span = min(64, len(out)) if patches[i] & 1 else len(out)  # headers twice as often as anywhere
        out[where % span] = patches[i + 2]
    if len(patches) % 3 == 1:  # sometimes truncate
        out = out[: max(1, len(out) * patches[-1] // 256)]
    return bytes(out)


def test_one_input(data: bytes) -> None:
    """Only an escaping exception, an internal-error finding or a bad accepted value is a bug."""
    value = _mutate(data)
    for pipe in _pipes():
        report = pipe.run(value)
        assert not any(f.code.startswith("core.") for f in report.findings), str(report)
        json.dumps(report.to_dict())
        if report.ok:
            out = report.value
            assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.ndim == 1, repr(out)
            assert np.isfinite(out).all() and float(np.abs(out).max(initial=0.0)) <= 1.0
            assert out.shape[0] <= 60 * 16000


if __name__ == "__main__":
    import os
    import sys

    rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    longest = int(os.environ.get("MAXLEN", "300"))
    for _ in range(int(os.environ.get("N", "2000"))):
        size = int(rng.integers(0, longest))
        test_one_input(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    print("ok")
