"""Samples and helpers shared by the audio test files (test_audio_<kind>.py, test_audio_default.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import keras_sanitize as ks
from keras_sanitize.audio import Clip, encoders, filters, synth, validators, verifiers

DATA = Path(__file__).parent / "data" / "audio"
RATE = 16000
#: one second of speech-like signal, for the validation tests
SPEECH = synth.speech_like(1.0, RATE, seed=0)


def run(data: object, **options: object) -> ks.Report:
    return ks.audio.default(**options).run(data)  # type: ignore[arg-type]


def rejects(report: ks.Report) -> set[str]:
    return {f.code for f in report.rejections}


def _clip(x: np.ndarray, rate: int = RATE) -> Clip:
    x = np.asarray(x, np.float32)
    return Clip(np.ascontiguousarray(x.reshape(x.shape[0], 1) if x.ndim == 1 else x), rate)


# the conformance samples (a shorter speech clip than SPEECH)
_SPEECH = synth.speech_like(0.25, RATE, seed=1)
CLIPS = [
    _clip(_SPEECH),
    _clip(np.stack([_SPEECH, -_SPEECH], axis=1)),
    _clip(synth.speech_like(0.1, 48000, seed=2) + 0.2, 48000),
    _clip(np.array([2.0, -3.0, 0.5]), 8000),
    _clip(np.zeros(0)),
    _clip(synth.tone(21000, 0.05, 48000), 48000),
]
BYTES = [
    synth.encode(_SPEECH, RATE, "WAV", "PCM_16"),
    synth.encode(_SPEECH, RATE, "FLAC"),
    synth.lying_wav(),
    b"RIFF\xff\xff\xff\xffWAVEfmt ",
    b"",
    {"data": synth.encode(_SPEECH, RATE, "WAV", "PCM_16"), "filename": "a.mp3", "content_type": "audio/mpeg"},
    (_SPEECH, RATE),
]

STAGES = [
    validators.ByteBudget(),
    validators.FormatAllowlist(),
    validators.HeaderLimits(),
    validators.SignalChecks(),
    encoders.Decode(),
    encoders.Decode(array_rate=RATE, formats=["wav", "mp3"]),
    encoders.ToArray(),
    encoders.ToArray("CT"),
    filters.Downmix(),
    filters.Downmix(channels=2),
    filters.Resample(8000),
    filters.LowPass(18000),
    filters.RemoveDC(),
    filters.Normalize(),
    filters.Normalize("rms", target_db=-20.0),
    filters.HardClip(),
    filters.TrimPad(length=1000),
    filters.TrimPad(max_length=100),
    verifiers.Ultrasonic(),
    verifiers.SqueezeCompare(),
]


def _hostile_clips():  # type: ignore[no-untyped-def]
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.one_of(
        st.floats(-2.0, 2.0, width=32),
        st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45, 0.0]),
    )
    shapes = st.tuples(st.integers(0, 3000), st.integers(0, 4))
    arrays = shapes.flatmap(lambda s: hnp.arrays(np.float32, s, elements=values))
    rates = st.sampled_from([1, 7, 8000, 16000, 44100, 48000, 96000, 192000])
    return st.builds(Clip, arrays, rates)


CLIP_STAGES = [s for s in STAGES if s.kind != "validator" or isinstance(s, validators.SignalChecks)] + [
    ks.audio.default(sample_rate=48000, channels=2, layout="CT", normalize="rms"),
]


def of_kind(stages: list[ks.Stage], kind: str) -> list[ks.Stage]:
    """The stages of one kind ("validator", "filter", ...; "pipeline" for ``default()``)."""
    return [s for s in stages if s.kind == kind]
