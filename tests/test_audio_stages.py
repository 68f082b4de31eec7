"""Every audio stage passes the conformance harness; filters, encoders and stacking behave."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import keras_sanitize as ks
from keras_sanitize.audio import Clip, encoders, filters, synth, validators, verifiers
from keras_sanitize.testing import check_stage

RATE = 16000


def _clip(x: np.ndarray, rate: int = RATE) -> Clip:
    x = np.asarray(x, np.float32)
    return Clip(np.ascontiguousarray(x.reshape(x.shape[0], 1) if x.ndim == 1 else x), rate)


SPEECH = synth.speech_like(0.25, RATE, seed=1)
CLIPS = [
    _clip(SPEECH),
    _clip(np.stack([SPEECH, -SPEECH], axis=1)),
    _clip(synth.speech_like(0.1, 48000, seed=2) + 0.2, 48000),
    _clip(np.array([2.0, -3.0, 0.5]), 8000),
    _clip(np.zeros(0)),
    _clip(synth.tone(21000, 0.05, 48000), 48000),
]
BYTES = [
    synth.encode(SPEECH, RATE, "WAV", "PCM_16"),
    synth.encode(SPEECH, RATE, "FLAC"),
    synth.lying_wav(),
    b"RIFF\xff\xff\xff\xffWAVEfmt ",
    b"",
    {"data": synth.encode(SPEECH, RATE, "WAV", "PCM_16"), "filename": "a.mp3", "content_type": "audio/mpeg"},
    (SPEECH, RATE),
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


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: repr(s)[:60])
def test_stage_contract(stage: ks.Stage) -> None:
    check_stage(stage, CLIPS + BYTES, max_examples=30)


def test_default_pipeline_contract() -> None:
    check_stage(ks.audio.default(), BYTES, max_examples=40)


def test_filters_are_idempotent_on_real_work() -> None:
    # check_stage covers idempotence on every sample; here make sure each filter did change something.
    cases = [
        (filters.LowPass(18000), CLIPS[5]),
        (filters.RemoveDC(), CLIPS[2]),
        (filters.Normalize(), CLIPS[0]),
        (filters.HardClip(), CLIPS[3]),
        (filters.Resample(8000), CLIPS[0]),
        (filters.Downmix(), CLIPS[1]),
        (filters.TrimPad(length=100), CLIPS[0]),
    ]
    for stage, clip in cases:
        once = stage.run(clip)
        assert once.ok and once.value != clip, stage
        twice = stage.run(once.value)
        assert twice.value == once.value, stage


def test_lowpass_removes_ultrasound_and_keeps_speech() -> None:
    x = synth.speech_like(0.5, 48000, seed=3) + synth.tone(21000, 0.5, 48000, 0.3)
    out = filters.LowPass(18000).run(_clip(x, 48000))
    assert out.codes == ("audio.lowpassed",)
    y = out.value.samples[:, 0]
    spec = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(y.shape[0], 1 / 48000)
    assert spec[freqs > 18000].sum() < 1e-9 * spec.sum()
    speech = synth.speech_like(0.5, 48000, seed=3)
    # The FFT filter treats the clip as periodic: only the first/last ms feel the wrap-around.
    assert np.max(np.abs(y - speech)[480:-480]) < 1e-4
    assert np.max(np.abs(y - speech)) < 0.05


def test_resample_keeps_a_tone() -> None:
    x = synth.tone(1000, 1.0, 44100)
    y = filters.Resample(16000).run(_clip(x, 44100)).value
    assert y.rate == 16000 and y.frames == 16000
    ref = synth.tone(1000, 1.0, 16000)
    assert np.max(np.abs(y.samples[200:-200, 0] - ref[200:-200])) < 1e-2


def test_to_array_layouts_and_mono_rule() -> None:
    stereo = _clip(np.ones((5, 2)))
    assert encoders.ToArray("TC").run(stereo).value.shape == (5, 2)
    assert encoders.ToArray("CT").run(stereo).value.shape == (2, 5)
    r = encoders.ToArray("T").run(stereo)
    assert not r.ok and r.codes == ("audio.layout",) and "Downmix" in r.findings[0].message


def test_stack_pads_and_reports_lengths() -> None:
    batch, lengths = encoders.stack([np.ones(3, np.float32), np.ones(5, np.float32)])
    assert batch.shape == (2, 5) and lengths.tolist() == [3, 5]
    assert batch[0, 3:].tolist() == [0.0, 0.0]
    batch, lengths = encoders.stack(
        [np.ones((2, 3), np.float32), np.ones((2, 7), np.float32)], layout="CT", length=4
    )
    assert batch.shape == (2, 2, 4) and lengths.tolist() == [3, 4]
    batch, lengths = encoders.stack([np.ones((6, 2), np.float32)], layout="TC")
    assert batch.shape == (1, 6, 2) and lengths.tolist() == [6]
    with pytest.raises(ks.ConfigError):
        encoders.stack([np.ones((2, 3), np.float32)], layout="T")


def test_default_batch_then_stack() -> None:
    pipe = ks.audio.default()
    items = [
        synth.encode(synth.speech_like(s, RATE, seed=i), RATE, "WAV", "PCM_16")
        for i, s in enumerate((0.2, 0.3))
    ] + [b"junk"]
    reports = pipe.run_batch(items)
    assert [r.ok for r in reports] == [True, True, False]
    batch, lengths = encoders.stack([r.value for r in reports if r.ok])
    assert batch.shape == (2, int(0.3 * RATE)) and lengths.tolist() == [int(0.2 * RATE), int(0.3 * RATE)]


def test_bad_arguments_are_config_errors() -> None:
    for make in (
        lambda: filters.Resample(0),
        lambda: filters.Resample(16000, quality="best"),
        lambda: encoders.ToArray("HWC"),
        lambda: validators.FormatAllowlist(formats=["wav", "exe"]),
        lambda: validators.HeaderLimits(min_rate=48000, max_rate=8000),
        lambda: verifiers.SqueezeCompare(model=3),
        lambda: verifiers.SqueezeCompare(squeezers=["blur"]),
        lambda: ks.audio.default(sample_rate=0),
    ):
        with pytest.raises(ks.ConfigError):
            make()


def test_pipeline_config_round_trips() -> None:
    pipe = ks.audio.default(sample_rate=22050, layout="TC", length=22050, normalize="peak")
    again = ks.Pipeline.from_config(json.loads(json.dumps(pipe.get_config())))
    data = synth.encode(synth.speech_like(0.5, 44100), 44100, "FLAC")
    a, b = pipe.run(data), again.run(data)
    assert a.ok and b.ok and np.array_equal(a.value, b.value) and a.value.shape == (22050, 1)


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


@pytest.mark.parametrize("stage", CLIP_STAGES, ids=lambda s: repr(s)[:60])
def test_hostile_clips_give_findings_never_errors_or_warnings(stage: ks.Stage) -> None:
    check_stage(
        stage, [], max_examples=int(os.environ.get("AUDIO_EXAMPLES", "40")), strategy=_hostile_clips()
    )


@pytest.mark.parametrize(
    "stage", [encoders.Decode(array_rate=8000), ks.audio.default()], ids=["decode", "default"]
)
def test_hostile_sample_rate_tuples(stage: ks.Stage) -> None:
    from hypothesis import strategies as st

    from keras_sanitize.fuzzing.strategies import hostile_arrays

    rates = st.one_of(
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, 1, 16000, True, None, "16000", np.int64(16000), np.float32(44100.0)]),
    )
    check_stage(
        stage, [], max_examples=60, strategy=st.one_of(st.tuples(hostile_arrays(), rates), hostile_arrays())
    )


def test_one_pipeline_shared_by_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pipe = ks.audio.default()
    inputs = [
        synth.encode(synth.speech_like(0.3, rate, seed=i), rate, fmt, sub)
        for i, (rate, fmt, sub) in enumerate(
            [
                (16000, "WAV", "PCM_16"),
                (44100, "FLAC", "PCM_16"),
                (48000, "WAV", "FLOAT"),
                (22050, "OGG", "VORBIS"),
            ]
        )
    ] + [synth.lying_wav(), synth.encode(synth.dolphin(0.3, seed=1), 96000, "WAV", "PCM_16")]
    serial = [pipe.run(x) for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(pipe.run, inputs * 8))
    for i, report in enumerate(parallel):
        want = serial[i % len(inputs)]
        assert report.ok == want.ok and report.codes == want.codes
        if want.ok:
            assert np.array_equal(report.value, want.value)
