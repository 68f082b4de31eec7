"""``ks.validate``'s modality detection (``keras_sanitize/_dispatch.py``)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import keras_sanitize as ks
from keras_sanitize._dispatch import detect_modality
from keras_sanitize.image import _samples


def test_own_upload_type_is_an_image_not_a_tensor() -> None:
    # regression: a prefix test for "keras" matched "keras_sanitize" -> tensor.not_array
    upload = ks.image.ImageUpload(_samples.png(), filename="a.png", content_type="image/png")
    assert detect_modality(upload) == "image"
    report = ks.validate(upload)
    assert report.ok, report
    assert report.modality == "image"
    assert not report.has("tensor.")


def test_library_objects_without_a_modality_are_refused_with_a_finding() -> None:
    report = ks.validate(ks.Finding("x.y", "z"))
    assert not report.ok
    assert report.codes == ("core.unsupported_type",)


def test_tensor_libraries_matched_by_package_name() -> None:
    assert detect_modality(jnp.zeros(3)) == "tensor"
    assert detect_modality(np.zeros(3)) == "tensor"
    assert ks.validate(jnp.array([1.0, 2.0])).ok
