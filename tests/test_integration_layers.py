"""ks.layers: numerics against NumPy/SciPy references, configs, save/reload, other backends."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras_sanitize as ks
from keras_sanitize.integrations._sortnet import apply_network, median_network, sorting_network

keras = pytest.importorskip("keras")
ndimage = pytest.importorskip("scipy.ndimage")
L = ks.layers
HERE = Path(__file__).resolve().parent


def np_(x: object) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


# -- the selection network ----------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 9])
def test_median_network_is_exact_on_every_binary_input(n: int) -> None:
    # 0-1 principle: a comparator network that selects correctly on all 0/1 inputs does on all inputs.
    steps = median_network(n)
    for bits in itertools.product([0, 1], repeat=n):
        assert apply_network(steps, bits, min, max)[n // 2] == sorted(bits)[n // 2]


def test_sorting_network_sorts_and_median_network_is_pruned() -> None:
    rng = np.random.default_rng(0)
    for n in (4, 6, 25, 49):
        full = [(i, j, True, True) for i, j in sorting_network(n)]
        for _ in range(200):
            v = list(rng.random(n))
            assert apply_network(full, v, min, max) == sorted(v)
            assert apply_network(median_network(n), v, min, max)[n // 2] == sorted(v)[n // 2]
    assert len(median_network(9)) < len(sorting_network(9))


# -- numerics -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, 5])
def test_median_smoothing_matches_scipy_on_images(size: int) -> None:
    x = np.random.default_rng(size).random((2, 11, 8, 3)).astype("float32")
    got = np_(L.MedianSmoothing(size)(x))
    want = ndimage.median_filter(x, size=(1, size, size, 1), mode="nearest")
    np.testing.assert_array_equal(got, want)


def test_median_smoothing_channels_first_and_audio() -> None:
    x = np.random.default_rng(3).random((2, 3, 6, 5)).astype("float32")
    got = np_(L.MedianSmoothing(3, data_format="channels_first")(x))
    np.testing.assert_array_equal(got, ndimage.median_filter(x, size=(1, 1, 3, 3), mode="nearest"))
    wave = np.random.default_rng(4).standard_normal((2, 50)).astype("float32")
    np.testing.assert_array_equal(
        np_(L.MedianSmoothing(5)(wave)), ndimage.median_filter(wave, size=(1, 5), mode="nearest")
    )
    stereo = np.random.default_rng(5).standard_normal((2, 40, 2)).astype("float32")
    np.testing.assert_array_equal(
        np_(L.MedianSmoothing(3)(stereo)), ndimage.median_filter(stereo, size=(1, 3, 1), mode="nearest")
    )
    with pytest.raises(ValueError, match="rank 5"):
        L.MedianSmoothing(3)(np.zeros((1, 2, 2, 2, 2), "float32"))


def test_median_smoothing_removes_salt_noise() -> None:
    x = np.full((1, 16, 16, 1), 0.5, "float32")
    x[0, 3, 4, 0] = x[0, 10, 12, 0] = 1.0
    np.testing.assert_array_equal(np_(L.MedianSmoothing(3)(x)), np.full_like(x, 0.5))


def test_tensor_guard_fills_and_clips() -> None:
    x = np.array([[np.nan, np.inf, -np.inf, 5.0, -5.0, 0.3]], "float32")
    np.testing.assert_array_equal(np_(L.TensorGuard()(x)), np.array([[0, 0, 0, 5, -5, 0.3]], "float32"))
    np.testing.assert_allclose(np_(L.TensorGuard(-1, 1, fill_value=0.5)(x)), [[0.5, 0.5, 0.5, 1, -1, 0.3]])
    np.testing.assert_array_equal(np_(L.TensorGuard(max_value=2)(np.array([[1, 9]], "uint8"))), [[1.0, 2.0]])


def test_squeeze_bits_levels() -> None:
    x = np.linspace(-0.5, 1.5, 101, dtype="float32")[None]
    y = np_(L.SqueezeBits(3)(x))
    assert y.min() == 0.0 and y.max() == 1.0
    assert len(np.unique(y)) == 8
    np.testing.assert_allclose(y, np.round(np.clip(x, 0, 1) * 7) / 7, atol=1e-6)
    z = np_(L.SqueezeBits(8, min_value=0, max_value=255)(np.array([[0, 17.4, 255]], "float32")))
    np.testing.assert_allclose(z, [[0, 17, 255]], atol=1e-4)


def test_low_pass_matches_numpy_convolution_and_cuts_high_frequencies() -> None:
    rng = np.random.default_rng(0)
    layer = L.LowPass(2000, sample_rate=16000, num_taps=31)
    wave = rng.standard_normal((2, 300, 2)).astype("float32")
    got = np_(layer(wave))
    for b, c in itertools.product(range(2), range(2)):
        np.testing.assert_allclose(
            got[b, :, c], np.convolve(wave[b, :, c], layer._taps, mode="same"), atol=1e-5
        )
    t = np.arange(4000) / 16000
    low = np.sin(2 * np.pi * 300 * t)
    high = np.sin(2 * np.pi * 7000 * t)
    y = np_(L.LowPass(1000, sample_rate=16000)((low + high)[None].astype("float32")))[0]
    inner = slice(200, -200)
    assert np.abs(y[inner] - low[inner]).max() < 0.05


def test_normalizations() -> None:
    x = np.array([[0.0, 0.5, -2.0], [1e-9, 0.0, 0.0]], "float32")
    y = np_(L.PeakNormalize(peak=0.5)(x))
    np.testing.assert_allclose(y[0], [0.0, 0.125, -0.5])
    np.testing.assert_allclose(y[1], x[1])  # near-silence is not blown up
    img = np.random.default_rng(0).random((2, 4, 4, 3)).astype("float32")
    z = np_(L.Standardize()(img))
    np.testing.assert_allclose(z.reshape(2, -1).mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(z.reshape(2, -1).std(1), 1, atol=1e-4)
    assert np.isfinite(np_(L.Standardize()(np.ones((1, 4), "float32")))).all()


def test_image_normalize_matches_the_image_pipelines_encoder() -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    want = ks.image.encoders.ToArray(value_range=(0.0, 1.0), mean=mean, std=std)(Image.fromarray(pixels))
    got = np_(L.ImageNormalize(mean=mean, std=std)(pixels[None]))[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    first = np_(L.ImageNormalize((-1.0, 1.0), data_format="channels_first")(pixels.transpose(2, 0, 1)[None]))
    np.testing.assert_allclose(first[0], pixels.transpose(2, 0, 1) / 127.5 - 1.0, atol=1e-6)
    crafted = np.array([[[[-50.0, 1e9, 255.0]]]], "float32")
    np.testing.assert_array_equal(np_(L.ImageNormalize()(crafted)), [[[[0.0, 1.0, 1.0]]]])


def test_remove_dc() -> None:
    x = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], "float32")
    np.testing.assert_allclose(np_(L.RemoveDC()(x)), [[-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    stereo = np.stack([x, x * 2], axis=-1)
    np.testing.assert_allclose(np_(L.RemoveDC()(stereo))[..., 1], [[-2.0, 0.0, 2.0], [0.0, 0.0, 0.0]])


# -- config and errors ------------------------------------------------------------------

LAYERS = [
    L.TensorGuard(0.0, 1.0, fill_value=0.5),
    L.TensorGuard(),
    L.SqueezeBits(4, min_value=-1.0, max_value=1.0),
    L.MedianSmoothing(5, data_format="channels_first"),
    L.LowPass(3000.0, sample_rate=22050, num_taps=15),
    L.PeakNormalize(0.9),
    L.Standardize(),
    L.ImageNormalize((-1.0, 1.0), mean=[0.5, 0.4, 0.3], std=0.25),
    L.RemoveDC(),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda x: type(x).__name__)
def test_config_round_trips_through_json_and_keras(layer: object) -> None:
    cfg = layer.get_config()  # type: ignore[attr-defined]
    again = type(layer).from_config(json.loads(json.dumps(cfg)))
    assert again.get_config() == cfg
    blob = keras.saving.serialize_keras_object(layer)
    assert blob["registered_name"] == f"keras_sanitize>{type(layer).__name__}"
    rebuilt = keras.saving.deserialize_keras_object(json.loads(json.dumps(blob)), safe_mode=True)
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == cfg


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.TensorGuard(2.0, 1.0),
        lambda: L.TensorGuard(fill_value=float("nan")),
        lambda: L.TensorGuard(min_value=float("inf")),
        lambda: L.SqueezeBits(0),
        lambda: L.SqueezeBits(4, min_value=1.0, max_value=1.0),
        lambda: L.MedianSmoothing(4),
        lambda: L.MedianSmoothing(3, data_format="nhwc"),
        lambda: L.LowPass(9000, sample_rate=16000),
        lambda: L.LowPass(1000, num_taps=32),
        lambda: L.PeakNormalize(peak=-1),
        lambda: L.ImageNormalize((1.0, 0.0)),
        lambda: L.ImageNormalize(std=[0.2, 0.0, 0.1]),
        lambda: L.ImageNormalize(mean="imagenet"),
        lambda: L.ImageNormalize(mean=[float("nan")]),
    ],
)
def test_bad_arguments_raise_config_error(make: object) -> None:
    with pytest.raises(ks.ConfigError, match="Received"):
        make()  # type: ignore[operator]


# -- in a model: save, reload with safe_mode, other backends ------------------------------


def _model() -> object:
    return keras.Sequential(
        [
            keras.Input((12, 10, 3)),
            L.TensorGuard(0.0, 1.0),
            L.MedianSmoothing(3),
            L.SqueezeBits(5),
            L.Standardize(),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def _audio_model() -> object:
    return keras.Sequential(
        [
            keras.Input((200,)),
            L.TensorGuard(-1.0, 1.0),
            L.RemoveDC(),
            L.LowPass(4000, 16000, 15),
            L.PeakNormalize(),
            L.MedianSmoothing(3),
        ]
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    keras.utils.set_random_seed(0)
    model = _model()
    x = np.random.default_rng(0).random((4, 12, 10, 3)).astype("float32")
    x[0, 1, 1, 1] = np.nan
    x[1, 2, 2, 2] = 7.0
    y = np_(model.predict(x, verbose=0))
    folder = tmp_path_factory.mktemp("layers")
    path = folder / "model.keras"
    model.save(path)
    ref = folder / "ref.npz"
    np.savez(ref, x=x, y=y)
    return path, ref


def test_model_saves_and_reloads_with_safe_mode_identically(saved: tuple[Path, Path]) -> None:
    path, ref = saved
    data = np.load(ref)
    assert np.isfinite(data["y"]).all()
    again = keras.saving.load_model(path, safe_mode=True)
    assert [type(layer).__name__ for layer in again.layers][:4] == [
        "TensorGuard",
        "MedianSmoothing",
        "SqueezeBits",
        "Standardize",
    ]
    np.testing.assert_array_equal(np_(again.predict(data["x"], verbose=0)), data["y"])


def test_audio_model_saves_and_reloads(tmp_path: Path) -> None:
    model = _audio_model()
    x = np.random.default_rng(2).standard_normal((2, 200)).astype("float32") * 3
    y = np_(model.predict(x, verbose=0))
    model.save(tmp_path / "audio.keras")
    again = keras.saving.load_model(tmp_path / "audio.keras", safe_mode=True)
    np.testing.assert_array_equal(np_(again.predict(x, verbose=0)), y)
    assert np.abs(y).max() <= 1.0 + 1e-6


def test_uint8_image_model_with_image_normalize_saves_and_reloads(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.ImageNormalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
            L.MedianSmoothing(3),
            keras.layers.Conv2D(2, 3),
        ]
    )
    x = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3)).astype("uint8")
    y = np_(model.predict(x, verbose=0))
    model.save(tmp_path / "img.keras")
    again = keras.saving.load_model(tmp_path / "img.keras", safe_mode=True)
    np.testing.assert_array_equal(np_(again.predict(x, verbose=0)), y)


def test_layers_in_a_functional_model_keep_shapes() -> None:
    inp = keras.Input((None, None, 3))
    out = L.MedianSmoothing(3)(L.TensorGuard(0, 1)(inp))
    assert tuple(out.shape) == (None, None, None, 3)
    model = keras.Model(inp, out)
    assert model.predict(np.zeros((1, 5, 7, 3), "float32"), verbose=0).shape == (1, 5, 7, 3)


def _run_backend(backend: str, saved: tuple[Path, Path]) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run(
        [sys.executable, str(HERE / "_layers_check.py"), str(saved[0]), str(saved[1])],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(f"ok {backend}")
    return proc.stdout


@pytest.mark.torch
def test_layers_on_torch_backend(saved: tuple[Path, Path]) -> None:
    _run_backend("torch", saved)


_NO_TF = (
    "tensorflow is not installed: make install adds tensorflow-cpu (the test extra), the second backend "
    "of make test"
)


def test_layers_on_tensorflow_backend(saved: tuple[Path, Path]) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip(_NO_TF)
    assert "tf.data ok" in _run_backend("tensorflow", saved)


def test_layers_inside_tf_data_on_jax(saved: tuple[Path, Path]) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip(_NO_TF)
    assert "tf.data ok" in _run_backend("jax", saved)
