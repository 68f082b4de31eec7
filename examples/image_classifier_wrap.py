"""An image classifier behind ``ks.wrap``: raw upload bytes in, class scores out.

``ks.wrap(model, inputs=ks.image.default(size=(32, 32)))`` turns each raw
upload into the 32x32x3 float32 array the CNN takes (sniffed type, header
limits before decoding, bounded decode, metadata stripped, alpha flattened,
resized) or refuses it; ``outputs=ProbabilitySimplex()`` checks what the model
returns. With ``on_reject="skip"`` refused uploads get NaN score rows, so the
outputs stay aligned with the uploads.

Run: ``KERAS_BACKEND=jax python examples/image_classifier_wrap.py``
"""

from __future__ import annotations

import io
import os
import struct
import zlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from PIL import Image

import keras_sanitize as ks

CLASSES = ("red", "green", "blue")


def encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def photo(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    rng = np.random.default_rng(sum(color))
    arr = np.clip(np.array(color, np.float32) + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255)
    return Image.fromarray(arr.astype(np.uint8))


def declared_huge_png() -> bytes:
    """A 67-byte PNG whose header claims 60000 x 60000 pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


UPLOADS = {
    "red photo (JPEG)": encode(photo((220, 30, 30)), "JPEG"),
    "blue photo (PNG)": encode(photo((30, 40, 220)), "PNG"),
    "green photo + trailing <script>": encode(photo((30, 200, 40)), "JPEG") + b"<script>alert(1)</script>",
    "PNG declaring 60000x60000": declared_huge_png(),
    "truncated PNG": encode(photo((200, 200, 30)), "PNG")[:300],
    "SVG with a script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "half-transparent green PNG": encode(Image.new("RGBA", (40, 40), (20, 210, 30, 160)), "PNG"),
}


def build_model() -> keras.Model:
    """A small CNN; its weights make it read the mean colour, so outputs are checkable."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    conv = np.zeros((3, 3, 3, 8), "float32")
    for c in range(3):
        conv[1, 1, c, c] = 1.0
    model.layers[0].set_weights([conv, np.zeros(8, "float32")])
    dense = np.zeros((8, 3), "float32")
    dense[:3, :3] = 12 * np.eye(3)
    model.layers[2].set_weights([dense, np.zeros(3, "float32")])
    return model


def main() -> int:
    model = build_model()
    safe = ks.wrap(
        model,
        inputs=ks.image.default(size=(32, 32)),
        outputs=ks.tensor.verifiers.ProbabilitySimplex(),
        on_reject="skip",
    )
    scores, reports = safe.predict(list(UPLOADS.values()), verbose=0, return_reports=True)
    for (label, _), row, report in zip(UPLOADS.items(), scores, reports):
        guess = CLASSES[int(np.argmax(row))] if report.ok else "-"
        verdict = "REFUSED" if not report.ok else "ok"
        codes = ", ".join(dict.fromkeys(report.codes)) or "-"
        print(f"{label:<34} {verdict:<8} {guess:<6} {codes}")
    assert scores.shape == (len(UPLOADS), 3)
    assert reports[0].ok and CLASSES[int(np.argmax(scores[0]))] == "red"
    assert reports[1].ok and CLASSES[int(np.argmax(scores[1]))] == "blue"
    assert not reports[3].ok and np.isnan(scores[3]).all()
    safe.summary(print_fn=lambda line, **_: None)  # every other attribute is the model's
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
