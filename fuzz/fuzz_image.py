"""Fuzz the image pipelines with raw bytes and with mutated valid images.

The first byte picks a mode: raw fuzzer bytes, or one of the synthetic seed
images (``keras_sanitize.image._samples``) with the fuzzer's bytes overwritten
into it at fuzzer-chosen offsets, so that mutations land past the signature
check and reach the header walkers, Pillow's decoders and the filters.
Invariants: no internal error, an accepted array is finite and in range, and
accepted bytes are a metadata-free PNG.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

import keras_sanitize as ks
from keras_sanitize.image._samples import SAMPLES

_SEEDS = [make() for name, make in sorted(SAMPLES.items()) if not name.endswith(".svg")]
_ARRAY = ks.image.default(size=(32, 32))
_FULL = ks.image.default(max_pixels=1 << 20)
_BYTES = ks.image.default(output="bytes", max_pixels=1 << 20)


def _mutate(data: bytes) -> bytes:
    seed = bytearray(_SEEDS[data[1] % len(_SEEDS)])
    body = data[2:]
    for i in range(0, len(body) - 2, 3):  # (offset hi, offset lo, value) triples
        pos = ((body[i] << 8) | body[i + 1]) % len(seed)
        seed[pos] = body[i + 2]
    if data[0] & 2:
        del seed[len(seed) - (data[1] % 64) :]  # truncate
    return bytes(seed)


def test_one_input(data: bytes) -> None:
    """One input through the array, full-size and bytes pipelines; raise only on a real bug."""
    if len(data) < 2:
        return
    value = data if data[0] % 4 == 0 else _mutate(data)
    for pipe in (_ARRAY, _FULL, _BYTES):
        report = pipe.run(value)
        assert not any(f.code.startswith("core.") for f in report.findings), str(report)
        if not report.ok:
            continue
        out = report.value
        if isinstance(out, np.ndarray):
            assert out.dtype == np.float32 and np.isfinite(out).all()
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        else:
            im = Image.open(io.BytesIO(out))
            assert im.format == "PNG" and set(im.info) <= {"dpi", "transparency"}, im.info
