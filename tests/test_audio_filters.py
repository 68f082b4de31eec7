"""Audio filters (``keras_sanitize/audio/filters.py``): idempotence, low-pass and resampling."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _audio_helpers import BYTES, CLIP_STAGES, CLIPS, STAGES, _clip, _hostile_clips, of_kind

import keras_sanitize as ks
from keras_sanitize.audio import filters, synth
from keras_sanitize.testing import check_stage


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


@pytest.mark.parametrize("stage", of_kind(STAGES, "filter"), ids=lambda s: repr(s)[:60])
def test_stage_contract(stage: ks.Stage) -> None:
    check_stage(stage, CLIPS + BYTES, max_examples=30)


@pytest.mark.parametrize("stage", of_kind(CLIP_STAGES, "filter"), ids=lambda s: repr(s)[:60])
def test_hostile_clips_give_findings_never_errors_or_warnings(stage: ks.Stage) -> None:
    check_stage(
        stage, [], max_examples=int(os.environ.get("AUDIO_EXAMPLES", "40")), strategy=_hostile_clips()
    )
