"""Audio encoders (``keras_sanitize/audio/encoders.py``): bounded decoding, arrays with a rate, layouts."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _audio_helpers import (
    BYTES,
    CLIP_STAGES,
    CLIPS,
    RATE,
    SPEECH,
    STAGES,
    _clip,
    _hostile_clips,
    of_kind,
    rejects,
    run,
)

import keras_sanitize as ks
from keras_sanitize.audio import encoders, synth
from keras_sanitize.testing import check_stage


def test_nan_float_wav_is_refused() -> None:
    x = SPEECH.copy()
    x[100] = np.nan
    x[200] = np.inf
    report = run(synth.encode(x, RATE, "WAV", "FLOAT"))
    assert rejects(report) == {"audio.non_finite"}
    assert report.rejections[0].detail["nan"] == 1 and report.rejections[0].detail["inf"] == 1
    assert "first at frame 100" in report.rejections[0].message


def test_arrays_with_a_declared_rate() -> None:
    pipe = ks.audio.default()
    ok = pipe.run((SPEECH, RATE))
    assert ok.ok and np.allclose(ok.value, SPEECH, atol=1e-6)
    ints = pipe.run(((SPEECH * 32767).astype(np.int16), RATE))
    assert ints.ok and np.allclose(ints.value, SPEECH, atol=1e-4)
    assert not pipe.run(SPEECH).ok  # a bare array has no rate
    assert ks.audio.default(array_rate=RATE).run(SPEECH).ok
    transposed = pipe.run((np.stack([SPEECH, SPEECH]), RATE))
    assert "audio.channels" in rejects(transposed) and "transpose" in transposed.rejections[0].message
    assert "audio.dtype" in rejects(pipe.run((SPEECH.astype(np.complex64), RATE)))
    assert "audio.sample_rate" in rejects(pipe.run((SPEECH, 16000.5)))
    assert not pipe.run((np.full(10, 1e300), RATE)).ok  # overflows float32 to inf


def test_long_decodes_run_in_blocks_against_the_clock() -> None:
    silent = synth.encode(np.zeros(96000 * 50, np.float32), 96000, "FLAC")  # 4.8M samples, a few KB
    assert len(silent) < 200_000
    assert encoders.Decode().run(silent).value.frames == 96000 * 50
    report = encoders.Decode(max_decode_seconds=0.0).run(silent)
    assert report.codes == ("audio.decode_timeout",) and "(max_decode_seconds)" in report.findings[0].message


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


@pytest.mark.parametrize("stage", of_kind(STAGES, "encoder"), ids=lambda s: repr(s)[:60])
def test_stage_contract(stage: ks.Stage) -> None:
    check_stage(stage, CLIPS + BYTES, max_examples=30)


@pytest.mark.parametrize("stage", of_kind(CLIP_STAGES, "encoder"), ids=lambda s: repr(s)[:60])
def test_hostile_clips_give_findings_never_errors_or_warnings(stage: ks.Stage) -> None:
    check_stage(
        stage, [], max_examples=int(os.environ.get("AUDIO_EXAMPLES", "40")), strategy=_hostile_clips()
    )
