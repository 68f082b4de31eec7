"""Audio default() (``keras_sanitize.audio.default``): batches, config, threads, regression data."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _audio_helpers import BYTES, CLIP_STAGES, DATA, RATE, SPEECH, _hostile_clips, of_kind, rejects, run

import keras_sanitize as ks
from keras_sanitize.audio import encoders, filters, synth, validators, verifiers
from keras_sanitize.testing import check_stage


def test_validate_dispatches_audio_bytes() -> None:
    report = ks.validate(synth.encode(SPEECH, RATE, "FLAC"))
    assert report.ok and report.modality == "audio" and report.value.shape == (RATE,)
    assert not ks.validate(synth.lying_wav()).ok
    ogg = ks.validate(synth.encode(SPEECH, RATE, "OGG", "VORBIS"))
    assert ogg.ok and ogg.modality == "audio"
    aiff = ks.validate(synth.encode(SPEECH, RATE, "AIFF"))
    assert aiff.modality == "audio" and rejects(aiff) == {"audio.format_not_allowed"}  # AIFF is opt-in


def test_regression_files() -> None:
    """Tiny files committed under tests/data/audio: each with the verdict it must get."""
    expected = {
        "declares_4gb.wav": "audio.length_mismatch",
        "nan_float.wav": "audio.non_finite",
        "ultrasonic_am_96k.wav": "audio.ultrasonic",
        "truncated.flac": "audio.undecodable",
        "speech_16k.flac": None,
    }
    for name, code in expected.items():
        report = run((DATA / name).read_bytes())
        if code is None:
            assert report.ok, (name, report)
        else:
            assert code in rejects(report), (name, report)


def test_default_pipeline_contract() -> None:
    check_stage(ks.audio.default(), BYTES, max_examples=40)


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


@pytest.mark.parametrize("stage", of_kind(CLIP_STAGES, "pipeline"), ids=lambda s: repr(s)[:60])
def test_hostile_clips_give_findings_never_errors_or_warnings(stage: ks.Stage) -> None:
    check_stage(
        stage, [], max_examples=int(os.environ.get("AUDIO_EXAMPLES", "40")), strategy=_hostile_clips()
    )
