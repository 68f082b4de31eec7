"""A model holding ks.layers loads through ks.load_model whatever the import order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def test_load_model_registers_layers_in_a_fresh_process(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    import keras_sanitize as ks

    model = keras.Sequential(
        [keras.Input((4,)), ks.layers.TensorGuard(min_value=0.0, max_value=1.0), keras.layers.Dense(2)]
    )
    path = tmp_path / "guarded.keras"
    model.save(path)
    x = np.array([[0.5, np.nan, 3.0, -1.0]], "float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.asarray(model.predict(x, verbose=0)))
    code = (
        "import sys, numpy as np\n"
        "import keras_sanitize as ks\n"  # before keras: the layers are not registered yet
        "assert 'keras' not in sys.modules\n"
        f"m = ks.load_model({str(path)!r}, sha256=ks.artifacts.sha256({str(path)!r}),"
        " allow_modules=['keras_sanitize'])\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "np.testing.assert_allclose(np.asarray(m.predict(x, verbose=0)), y, rtol=1e-6)\n"
    )
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
