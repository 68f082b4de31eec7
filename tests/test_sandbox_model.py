"""SandboxedModel: a model loaded and run in sandbox workers; its crashes refuse the batch only."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import keras_sanitize as ks

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="the sandbox needs Linux")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    path = str(tmp_path_factory.mktemp("model") / "small.keras")
    model.save(path)
    return path


@pytest.fixture(scope="module")
def box() -> Iterator[ks.sandbox.Sandbox]:
    with ks.sandbox.Sandbox(workers=1, timeout=30.0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sandboxed(model_path: str, box: ks.sandbox.Sandbox) -> Iterator[ks.sandbox.SandboxedModel]:
    with ks.sandbox.SandboxedModel(model_path, sha256=ks.artifacts.sha256(model_path), sandbox=box) as m:
        yield m


def _wait_gone(worker: object) -> None:
    """Until the killed worker's last thread has exited (its socket shows EOF)."""
    for _ in range(1000):
        if worker.gone():  # type: ignore[attr-defined]
            return
        time.sleep(0.01)


def _png(w: int, h: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_predictions_equal_in_process(model_path: str, sandboxed: ks.sandbox.SandboxedModel) -> None:
    import keras

    x = np.random.default_rng(1).random((5, 16, 16, 3), dtype=np.float32)
    expect = keras.saving.load_model(model_path).predict(x, verbose=0)
    np.testing.assert_allclose(sandboxed.predict(x, verbose=0), expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sandboxed.predict_on_batch(x), expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sandboxed(x), expect, rtol=1e-5, atol=1e-6)
    assert sandboxed.isolation()["process"] and sandboxed.sandbox.isolation()["rlimits"]


def test_the_derived_guard_refuses_wrong_shapes(sandboxed: ks.sandbox.SandboxedModel) -> None:
    with pytest.raises(ks.InputRejected) as info:
        sandboxed.predict(np.zeros((2, 9, 9, 3), "float32"))
    assert info.value.report is not None and info.value.report.codes == ("tensor.shape",)


def test_hash_mismatch_refuses_to_load(model_path: str, box: ks.sandbox.Sandbox) -> None:
    with pytest.raises(ks.ArtifactError) as info:
        ks.sandbox.SandboxedModel(model_path, sha256="0" * 64, sandbox=box)
    assert info.value.report is not None and info.value.report.codes == ("artifact.hash_mismatch",)


def test_not_a_model_refuses_to_load(tmp_path: Path, box: ks.sandbox.Sandbox) -> None:
    bad = tmp_path / "x.keras"
    bad.write_bytes(b"not a model")
    with pytest.raises(ks.ArtifactError):
        ks.sandbox.SandboxedModel(str(bad), sandbox=box)


def test_raw_image_inputs_are_decoded_in_the_sandbox(model_path: str, box: ks.sandbox.Sandbox) -> None:
    pipe = ks.image.default(size=(16, 16))
    with ks.wrap(model_path, inputs=pipe, sandbox=box, on_reject="skip") as model:
        assert isinstance(model, ks.sandbox.SandboxedModel)
        assert isinstance(model._ks_inputs.guards[next(iter(model._ks_inputs.guards))],
                          ks.sandbox.IsolatedPipeline)  # fmt: skip
        out, reports = model.predict([_png(40, 30), b"junk", _png(8, 8)], return_reports=True, verbose=0)
    assert out.shape == (3, 3) and np.isnan(out[1]).all() and not np.isnan(out[[0, 2]]).any()
    assert [r.ok for r in reports] == [True, False, True]


@pytest.mark.slow  # the replacement worker imports Keras and reloads the model
def test_a_batch_that_exhausts_memory_refuses_that_batch_then_serves(model_path: str) -> None:
    x = np.zeros((2, 16, 16, 3), "float32")
    with ks.sandbox.Sandbox(workers=1, memory_mb=128, timeout=60.0) as small, \
            ks.sandbox.SandboxedModel(model_path, sandbox=small, on_reject="skip") as model:  # fmt: skip
        assert model.predict(x, verbose=0).shape == (2, 3)
        huge = np.zeros((6_000, 16, 16, 3), "float32")  # 18 MB in, 300 MB of activations
        out, reports = model.predict_on_batch(huge, return_reports=True)
        assert np.isnan(out).all() and len(reports) == 6_000 and reports[-1].index == 5_999
        # XLA either reports RESOURCE_EXHAUSTED (memory_exceeded) or aborts (crashed, SIGABRT).
        assert reports[0].codes[-1] in ("sandbox.memory_exceeded", "sandbox.crashed")
        assert not any(r.ok for r in reports)
        assert model.predict(x, verbose=0).shape == (2, 3)


@pytest.mark.slow  # the replacement worker imports Keras and reloads the model
def test_a_worker_killed_while_idle_never_gets_an_input(sandboxed: ks.sandbox.SandboxedModel) -> None:
    x = np.zeros((4, 16, 16, 3), "float32")
    expect = sandboxed.predict(x, verbose=0)
    group = sandboxed._ks_model.group
    for worker in list(group.idle):
        os.kill(worker.pid, signal.SIGSEGV)
        _wait_gone(worker)
    np.testing.assert_allclose(sandboxed.predict(x, verbose=0), expect, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # a second model's workers import Keras
def test_wrap_a_keras_model_object_with_sandbox(box: ks.sandbox.Sandbox) -> None:
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.ones((2, 3), "float32")
    with ks.wrap(model, sandbox=box) as safe:
        np.testing.assert_allclose(safe.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
        saved = safe._ks_cleanup
    assert not os.path.exists(saved)


def test_bad_arguments(
    model_path: str, box: ks.sandbox.Sandbox, sandboxed: ks.sandbox.SandboxedModel
) -> None:
    with pytest.raises(ks.ConfigError):
        ks.sandbox.SandboxedModel(model_path, sandbox="yes")  # type: ignore[arg-type]
    with pytest.raises(ks.ConfigError):
        ks.sandbox.SandboxedModel(123, sandbox=box)  # type: ignore[arg-type]
    with pytest.raises(ks.ConfigError):
        sandboxed.predict(np.zeros((1, 16, 16, 3), "float32"), callbacks=[print])
