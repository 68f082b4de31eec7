"""One ``Upload`` type for every bytes modality (``keras_sanitize/upload.py``)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.audio import synth
from keras_sanitize.image import _samples

WAV = synth.encode(synth.speech_like(0.5, 16000), 16000)


def test_one_upload_type_works_in_image_and_audio() -> None:
    png = ks.Upload(_samples.png(), filename="a.png", content_type="image/png")
    wav = ks.Upload(WAV, filename="a.wav", content_type="audio/wav")
    assert ks.image.default().run(png).ok
    assert ks.audio.default().run(wav).ok
    # the declaration is checked against the bytes in both modalities
    lying_image = ks.image.default().run(ks.Upload(_samples.png(), content_type="image/jpeg"))
    assert lying_image.has("image.declared_type_mismatch")
    lying_audio = ks.audio.default().run(ks.Upload(WAV, filename="a.flac"))
    assert lying_audio.has("audio.declared_type_mismatch")


def test_validate_sniffs_an_upload_not_its_declaration() -> None:
    assert ks.validate(ks.Upload(_samples.png(), content_type="audio/wav")).modality == "image"
    assert ks.validate(ks.Upload(WAV, content_type="image/png")).modality == "audio"
    assert ks.validate(ks.Upload(b"just some words")).modality == "text"


def test_image_upload_is_an_upload_and_the_audio_mapping_still_works() -> None:
    up = ks.image.ImageUpload(b"x", filename="f.png")
    assert isinstance(up, ks.Upload) and repr(up).startswith("ImageUpload(<1 bytes>")
    assert ks.audio.default().run({"data": WAV, "filename": "a.wav"}).ok
    assert pickle.loads(pickle.dumps(up)) == up


@given(st.one_of(st.binary(), st.text(), st.none(), st.integers(), st.dictionaries(st.text(), st.binary())))
def test_upload_of_never_raises(value: object) -> None:
    up = ks.Upload.of(value)
    assert up is None or isinstance(up.data, bytes)


def test_upload_is_immutable() -> None:
    up = ks.Upload(b"x")
    with pytest.raises(AttributeError):
        up.data = b"y"  # type: ignore[misc]


def test_image_takes_the_upload_mapping_too() -> None:
    report = ks.image.default().run({"data": _samples.png(), "filename": "a.jpg"})
    assert report.ok and report.has("image.declared_type_mismatch")
