"""Audio: the default pipeline vs a bare ``soundfile.read``; sniffing; resamplers (speed and quality).

Goals (issue 5): for 10 s of 16 kHz mono at the native rate (no resampling),
``ks.audio.default()`` within 2x of ``soundfile.read(..., dtype="float32")`` for
WAV and 1.3x for FLAC, measured in the same run.
"""

from __future__ import annotations

import io
import math

import numpy as np
import scipy.signal
import soundfile as sf
import soxr
from _harness import Row, best, compare

import keras_sanitize as ks
from keras_sanitize.audio import Clip, synth, verifiers
from keras_sanitize.audio._common import detect_format


def _read(data: bytes) -> np.ndarray:
    out: np.ndarray = sf.read(io.BytesIO(data), dtype="float32")[0]
    return out


def _pipeline_rows() -> list[Row]:
    rate = 16000
    x = synth.speech_like(10.0, rate, seed=0)
    pipe = ks.audio.default(sample_rate=rate)
    rows = []
    for label, fmt, subtype, goal in (
        ("WAV PCM_16", "WAV", "PCM_16", "≤ 1.3x"),
        ("FLAC", "FLAC", "PCM_16", "<= 1.3x"),
        ("Ogg Vorbis", "OGG", "VORBIS", ""),
    ):
        data = synth.encode(x, rate, fmt, subtype)
        assert pipe.run(data).ok
        rows.append(
            compare("audio", f"default().run, 10 s 16 kHz mono {label}", lambda d=data: pipe.run(d),
                    "soundfile.read(float32)", lambda d=data: _read(d), goal=goal,
                    note=f"{len(data)} bytes")
        )
    data44 = synth.encode(synth.speech_like(10.0, 44100, seed=1), 44100, "WAV", "PCM_16")
    rows.append(
        compare("audio", "default().run, 10 s 44.1 kHz WAV -> 16 kHz", lambda: pipe.run(data44),
                "soundfile.read(float32)", lambda: _read(data44),
                note="includes ultrasonic check and soxr HQ resampling")
    )
    lying = synth.lying_wav()
    rows.append(
        compare("audio", "refuse a 3 KB WAV declaring 4 GB", lambda: pipe.run(lying),
                "soundfile.info", lambda: sf.info(io.BytesIO(lying)), note="header only, nothing decoded")
    )
    return rows


def _sniff_rows() -> list[Row]:
    import magic

    m = magic.Magic(mime=True)
    wav = synth.encode(synth.speech_like(10.0, 16000), 16000, "WAV", "PCM_16")
    return [
        compare("audio", "detect_format (signature first)", lambda: detect_format(wav),
                "libmagic from_buffer", lambda: m.from_buffer(wav[:65536]), note="10 s WAV")
    ]


def _alias_db(fn: object, rate_in: int, rate_out: int) -> tuple[float, float]:
    """(worst passband error dB up to 0.4*rate_out, worst alias level dB for tones above rate_out/2)."""
    worst_pass = 0.0
    for f in (100.0, 1000.0, 0.3 * rate_out, 0.4 * rate_out):
        y = fn(synth.tone(f, 1.0, rate_in, 0.5), rate_in, rate_out)  # type: ignore[operator]
        core = y[rate_out // 10 : -rate_out // 10]
        amp = math.sqrt(2 * float(np.mean(core.astype(np.float64) ** 2)))
        worst_pass = max(worst_pass, abs(20 * math.log10(amp / 0.5)))
    worst_alias = -200.0
    for f in (0.55 * rate_out, 0.7 * rate_out, 0.9 * rate_out):
        if f >= rate_in / 2:
            continue
        y = fn(synth.tone(f, 1.0, rate_in, 0.5), rate_in, rate_out)  # type: ignore[operator]
        core = y[rate_out // 10 : -rate_out // 10].astype(np.float64)
        level = math.sqrt(2 * float(np.mean(core**2))) / 0.5
        worst_alias = max(worst_alias, 20 * math.log10(max(level, 1e-12)))
    return worst_pass, worst_alias


def _resampler_rows() -> list[Row]:
    def poly(x: np.ndarray, a: int, b: int) -> np.ndarray:
        g = math.gcd(a, b)
        out: np.ndarray = scipy.signal.resample_poly(x, b // g, a // g).astype(np.float32)
        return out

    def sox(quality: str) -> object:
        def fn(x: np.ndarray, a: int, b: int) -> np.ndarray:
            out: np.ndarray = soxr.resample(x, a, b, quality)
            return out

        return fn

    rows = []
    for rate_in in (44100, 48000, 96000):
        x = synth.speech_like(10.0, rate_in, seed=2)
        ref_t = best(lambda x=x, r=rate_in: poly(x, r, 16000), repeat=3)
        p, a = _alias_db(poly, rate_in, 16000)
        rows.append(Row("resample", f"scipy resample_poly {rate_in}->16000", ref_t,
                        note=f"{10 / ref_t:.0f} s/s; pass err {p:.3f} dB; alias {a:.0f} dB"))
        for name in ("HQ", "VHQ"):
            fn = sox(name)
            t = best(lambda x=x, r=rate_in, fn=fn: fn(x, r, 16000), repeat=3)  # type: ignore[operator]
            p, a = _alias_db(fn, rate_in, 16000)
            rows.append(Row("resample", f"soxr {name} {rate_in}->16000", t, "scipy resample_poly", ref_t,
                            note=f"{10 / t:.0f} s/s; pass err {p:.3f} dB; alias {a:.0f} dB"))
    return rows


def _verifier_rows() -> list[Row]:
    clip = Clip(synth.speech_like(10.0, 96000, seed=3)[:, None], 96000)
    v = verifiers.Ultrasonic()
    t = best(lambda: v.run(clip), repeat=3)
    return [Row("audio", "Ultrasonic verifier, 10 s at 96 kHz", t, note=f"{10 / t:.0f} s of audio per s")]


def run() -> list[Row]:
    return _pipeline_rows() + _sniff_rows() + _resampler_rows() + _verifier_rows()
