"""The sandbox's costs: isolated pipelines and a sandboxed model vs in-process, pool overheads.

Goals from issue 12: a warm pool costs <= 1.5x in-process on a 320x240 JPEG
(<= 1.15x on a 2048x1536 one, where decoding dominates), SandboxedModel.predict
<= 1.2x the in-process predict (batch 32 of 224x224x3 float32, small CNN), an
empty task's round trip <= 0.5 ms, 2 workers >= 1.7x the throughput of 1, and a
crashed worker replaced (the next input served) within 1 s.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
from _harness import Row

import keras_sanitize as ks


def _jpeg(w: int, h: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _interleaved(group: str, what: str, fn: Callable[[], Any], reference: str, ref: Callable[[], Any],
                 *, rounds: int = 15, goal: str = "", note: str = "") -> Row:  # fmt: skip
    """Best of ``rounds`` alternating calls: on a busy machine, drift hits both sides alike."""
    fn()
    ref()
    best_fn = best_ref = float("inf")
    for i in range(rounds):
        for call in (fn, ref) if i % 2 == 0 else (ref, fn):
            start = time.perf_counter()
            call()
            took = time.perf_counter() - start
            if call is fn:
                best_fn = min(best_fn, took)
            else:
                best_ref = min(best_ref, took)
    return Row(group, what, best_fn, reference, best_ref, note or f"best of {rounds} alternating calls", goal)


def _pipelines(box: ks.sandbox.Sandbox) -> list[Row]:
    pipe = ks.image.default(size=(224, 224))
    isolated = pipe.isolated(box)
    small, big = _jpeg(320, 240), _jpeg(2048, 1536)
    rows = [
        _interleaved("sandbox", "image.default(224) isolated, 320x240 JPEG, warm pool",
                     lambda: isolated.run(small), "same pipeline in-process", lambda: pipe.run(small),
                     rounds=31, goal="<= 1.5x"),
        _interleaved("sandbox", "image.default(224) isolated, 2048x1536 JPEG, warm pool",
                     lambda: isolated.run(big), "same pipeline in-process", lambda: pipe.run(big),
                     goal="<= 1.15x"),
    ]  # fmt: skip
    box.ping()
    ping = min(box.ping() for _ in range(300))
    rows.append(Row("sandbox", "round trip of an empty task", ping, note="best of 300", goal="<= 0.5 ms"))
    return rows


def _restart() -> Row:
    """One worker: after its crash the next call must wait for the replacement to start."""
    small = _jpeg(320, 240)
    with ks.sandbox.Sandbox(workers=1) as box:
        isolated = ks.image.default(size=(224, 224)).isolated(box)
        crash = ks.Pipeline([_segfault_stage()], modality="image").isolated(box)
        isolated.run(small)
        worst, best = 0.0, float("inf")
        for _ in range(5):
            crash.run(b"x")
            start = time.perf_counter()
            isolated.run(small)
            took = time.perf_counter() - start
            worst, best = max(worst, took), min(best, took)
    return Row("sandbox", "worker restart after a crash, 1 worker (next input served)", worst,
               note=f"segfault, then the next call; worst of 5 (best {best * 1e3:.0f} ms)",
               goal="<= 1 s")  # fmt: skip


def _segfault_stage() -> ks.Stage:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import _sandbox_faults

    return _sandbox_faults.Segfault()


def _throughput() -> Row:
    data = [_jpeg(320, 240)] * 96
    pipe = ks.image.default(size=(224, 224))
    took = {}
    for n in (1, 2):
        with ks.sandbox.Sandbox(workers=n) as box:
            isolated = pipe.isolated(box)
            isolated.run_batch(data[:8])
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                isolated.run_batch(data)
                best = min(best, time.perf_counter() - start)
            took[n] = best / len(data)
    gain = took[1] / took[2]
    return Row("sandbox", "run_batch of 96 x 320x240 JPEG, 2 workers (per item)", took[2], "1 worker",
               took[1], note=f"throughput 2 vs 1 = {gain:.2f}x on {os.cpu_count()} CPUs",
               goal="<= 0.59x (>= 1.7x throughput)")  # fmt: skip


def _model(box: ks.sandbox.Sandbox) -> Row:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((224, 224, 3)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    path = os.path.join(tempfile.mkdtemp(prefix="ks_bench_"), "cnn.keras")
    model.save(path)
    x = np.random.default_rng(0).random((32, 224, 224, 3), dtype=np.float32)
    with ks.sandbox.SandboxedModel(path, sha256=ks.artifacts.sha256(path), sandbox=box) as remote:
        return _interleaved("sandbox", "SandboxedModel.predict, 32x224x224x3 f32, small CNN",
                            lambda: remote.predict(x, batch_size=32, verbose=0), "in-process model.predict",
                            lambda: model.predict(x, batch_size=32, verbose=0), rounds=9,
                            goal="<= 1.2x")  # fmt: skip


def run() -> list[Row]:
    rows = []
    with ks.sandbox.Sandbox(workers=2) as box:
        rows.extend(_pipelines(box))
        rows.append(_model(box))
    rows.append(_restart())
    rows.append(_throughput())
    return rows
