"""Tensor checks vs a bare ``np.isfinite(x).all()`` pass; import time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
from _harness import Row, compare

import keras_sanitize as ks


def _import_time() -> Row:
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)  # the light import must not need a backend
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import keras_sanitize"], check=True, env=env)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(3):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    base = (time.perf_counter() - start) / 3
    return Row(
        "core",
        "import keras_sanitize (no backend)",
        min(times),
        "python -c pass",
        base,
        note="whole interpreter start, 3 runs",
    )


def run() -> list[Row]:
    rng = np.random.default_rng(0)
    x = rng.random((32, 224, 224, 3), dtype=np.float32)
    spec = ks.tensor.validators.TensorSpec(shape=(None, 224, 224, 3))
    ranged = ks.tensor.validators.TensorSpec(shape=(None, 224, 224, 3), min_value=0.0, max_value=1.0)
    pipe = ks.tensor.default(shape=(None, 224, 224, 3))

    def isfinite() -> bool:
        return bool(np.isfinite(x).all())

    rows = [
        compare(
            "tensor",
            "TensorSpec.run, 32x224x224x3 f32",
            lambda: spec.run(x),
            "np.isfinite(x).all()",
            isfinite,
            goal="<= 2x",
        ),
        compare(
            "tensor",
            "TensorSpec + range [0,1]",
            lambda: ranged.run(x),
            "np.isfinite(x).all()",
            isfinite,
            goal="<= 2x",
        ),
        compare(
            "tensor",
            "ks.tensor.default() pipeline",
            lambda: pipe.run(x),
            "np.isfinite(x).all()",
            isfinite,
            goal="<= 2x",
        ),
    ]
    small = np.zeros((1, 16), np.float32)
    rows.append(
        compare(
            "tensor",
            "default() on a 1x16 array (overhead)",
            lambda: pipe.run(small),
            "np.isfinite(x).all()",
            lambda: np.isfinite(small).all(),
        )
    )
    rows.append(_import_time())
    return rows
