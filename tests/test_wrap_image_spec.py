"""ks.wrap(model, inputs=image_pipeline) checks the pipeline's output against model.inputs at wrap time."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from PIL import Image

import keras_sanitize as ks


def _cnn(shape: tuple[int, ...], *front: keras.layers.Layer) -> keras.Model:
    return keras.Sequential(
        [keras.Input(shape), *front, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]
    )


def _png(w: int = 40, h: int = 30) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), "uint8")).save(buf, "PNG")
    return buf.getvalue()


def test_channels_mismatch_is_a_config_error_that_says_what_to_change() -> None:
    model = _cnn((32, 32, 3))
    with pytest.raises(ks.ConfigError, match=r"3 channel.*gives 1.*color_mode='RGB'"):
        ks.wrap(model, inputs=ks.image.default(size=(32, 32), color_mode="L"))


def test_size_mismatch_and_missing_size() -> None:
    model = _cnn((32, 32, 3))
    with pytest.raises(ks.ConfigError, match=r"32x32.*resizes to 16x16: use size=\(32, 32\)"):
        ks.wrap(model, inputs=ks.image.default(size=(16, 16)))
    with pytest.raises(ks.ConfigError, match=r"keeps each image's own size: use size=\(32, 32\)"):
        ks.wrap(model, inputs=ks.image.default())


def test_a_model_that_rescales_its_input_wants_0_255() -> None:
    # like MobileNetV3(include_preprocessing=True): Rescaling(1/127.5, offset=-1) first
    model = _cnn((32, 32, 3), keras.layers.Rescaling(1 / 127.5, offset=-1))
    with pytest.raises(ks.ConfigError, match=r"Rescaling\(scale=0.00784.*value_range=\(0, 255\)"):
        ks.wrap(model, inputs=ks.image.default(size=(32, 32)))
    safe = ks.wrap(model, inputs=ks.image.default(size=(32, 32), value_range=(0, 255)))
    assert safe.predict([_png()], verbose=0).shape == (1, 2)


def test_uint8_model_refuses_float_pixels_and_dict_inputs_are_named() -> None:
    inp = keras.Input((8, 8, 3), dtype="uint8", name="img")
    x = keras.layers.Rescaling(1 / 255)(inp)
    model = keras.Model({"img": inp}, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    with pytest.raises(ks.ConfigError, match=r"input 'img'.*uint8.*dtype='uint8'"):
        ks.wrap(model, inputs={"img": ks.image.default(size=(8, 8))})


def test_matching_pipelines_wrap_and_for_model_derives_them() -> None:
    gray = _cnn((24, 20, 1))
    pipe = ks.image.default(for_model=gray)
    safe = ks.wrap(gray, inputs=pipe)  # no ConfigError
    out = safe.predict([_png(), _png(64, 48)], verbose=0)
    assert out.shape == (2, 2)
    assert pipe.run(_png()).value.shape == (24, 20, 1)
    rescaling = _cnn((16, 16, 3), keras.layers.Rescaling(1 / 255))
    value = ks.image.default(for_model=rescaling).run(_png()).value
    assert value.shape == (16, 16, 3) and value.max() > 1.5
    with pytest.raises(ks.ConfigError, match="color_mode='L' gives 1 channel"):
        ks.image.default(for_model=_cnn((16, 16, 3)), color_mode="L")
    with pytest.raises(ks.ConfigError, match="not an image"):
        ks.image.default(for_model=keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)]))
    with pytest.raises(ks.ConfigError, match="one input"):
        ks.image.default(for_model=object())
