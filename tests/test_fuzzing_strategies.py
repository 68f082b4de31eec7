"""The probe's families as Hypothesis strategies, used the way docs/probe.md shows."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings

import keras_sanitize as ks
from keras_sanitize.fuzzing.strategies import (
    hostile_audio,
    hostile_images,
    hostile_tensors,
    hostile_text,
    injection_prompts,
)

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(injection_prompts(families=("templates", "base64", "homoglyphs", "zero_width", "role_delimiters")))
def test_default_text_pipeline_refuses_covered_injections(prompt: str) -> None:
    assert not ks.text.default(injection_model=False).run(prompt).ok


@FAST
@given(hostile_text())
def test_hostile_text_never_escapes_the_pipeline(text: str) -> None:
    ks.text.default(injection_model=False).run(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_images(size=(16, 16)))
def test_image_pipeline_output_is_safe_or_refused(image: Any) -> None:
    report = ks.image.default(size=(16, 16)).run(image)
    if report.ok:
        assert report.value.shape == (16, 16, 3) and report.value.dtype == np.float32
        assert np.isfinite(report.value).all() and report.value.min() >= 0 and report.value.max() <= 1


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_audio(frames=800))
def test_audio_pipeline_output_is_finite_or_refused(data: bytes) -> None:
    assert isinstance(data, bytes)
    report = ks.audio.default(length=800).run(data)
    if report.ok:
        assert report.value.shape == (800,) and np.isfinite(report.value).all()


@FAST
@given(hostile_tensors((4, 3)))
def test_tensor_pipeline_lets_through_only_the_spec(x: np.ndarray) -> None:
    report = ks.tensor.default(shape=(4, 3), dtype="float32", min_value=-10, max_value=10).run(x)
    if report.ok:
        assert report.value.shape == (4, 3) and np.isfinite(report.value).all()
        assert np.abs(report.value).max() <= 10


def test_hostile_tensors_takes_a_keras_input_spec() -> None:
    import keras

    spec = keras.Input((5,))
    seen = []

    @settings(max_examples=10, deadline=None)
    @given(hostile_tensors(spec))
    def collect(x: np.ndarray) -> None:
        seen.append(x)

    collect()
    assert any(x.shape == (5,) for x in seen)
