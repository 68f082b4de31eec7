"""Image encoders: bounded decode, draft, resize, array conversion, re-encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import keras_sanitize as ks
from keras_sanitize.image import _samples
from keras_sanitize.image.encoders import Decode, Reencode, Resize, ToArray
from keras_sanitize.testing import check_stage


def test_decode_inputs() -> None:
    assert Decode()(_samples.jpeg()).size == (64, 48)
    assert Decode()(ks.image.ImageUpload(_samples.png())).size == (64, 48)
    assert Decode()(bytearray(_samples.png())).size == (64, 48)
    assert Decode()(np.zeros((5, 7), np.uint8)).mode == "L"
    assert Decode()(np.zeros((5, 7, 1), np.uint8)).mode == "L"
    assert Decode()(np.zeros((5, 7, 4), np.uint8)).mode == "RGBA"
    assert Decode().run(np.zeros((5, 7, 2), np.uint8)).codes == ("image.not_image",)
    assert Decode().run(np.zeros((5, 7, 3), np.float32)).codes == ("image.not_image",)
    assert Decode().run(np.zeros((0, 7, 3), np.uint8)).codes == ("image.zero_size",)
    assert Decode().run(object()).codes == ("image.not_image",)


def test_decode_refuses_before_loading_lazy_pil_images() -> None:
    lazy = Image.open(io.BytesIO(_samples.png(_samples.gradient(200, 100))))
    report = Decode(max_pixels=10_000).run(lazy)
    assert report.codes == ("image.too_many_pixels",)
    assert getattr(lazy, "_im", None) is None  # never loaded


def test_decode_alone_is_safe_on_bombs_and_truncation() -> None:
    bomb = Decode().run(_samples.declared_huge_png())
    assert not bomb.ok and bomb.codes[0] in ("image.too_many_pixels", "image.corrupt")
    truncated = Decode().run(_samples.truncated_png())
    assert truncated.codes == ("image.truncated",) and truncated.value is None
    jpeg = _samples.jpeg(_samples.gradient(64, 64))
    assert Decode().run(jpeg[:300]).codes[0] in ("image.truncated", "image.corrupt")


def test_decode_only_uses_the_sniffed_plugin() -> None:
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, "BMP")
    assert Decode().run(bmp.getvalue()).codes == ("image.format_not_allowed",)
    assert Decode(formats=["image/bmp"]).run(bmp.getvalue()).ok


def test_draft_reduces_large_jpegs_on_decode() -> None:
    big = _samples.jpeg(_samples.gradient(2048, 1536))
    assert Decode()(big).size == (2048, 1536)
    reduced = Decode(draft=(224, 224))(big)
    assert reduced.size == (512, 384)  # the smallest 1/2^k scale that still covers 224x224
    assert min(reduced.size) >= 224


def test_resize_is_height_width() -> None:
    im = Resize((10, 20), resample="nearest")(_samples.gradient(64, 48))
    assert im.size == (20, 10)
    pal = Resize((4, 4), mode="L")(Image.new("P", (8, 8)))
    assert pal.mode == "L"
    with pytest.raises(ks.ConfigError, match="resample"):
        Resize((4, 4), resample="magic")
    with pytest.raises(ks.ConfigError, match="height, width"):
        Resize((0, 4))


def test_to_array_ranges_layouts_dtypes() -> None:
    im = Image.new("RGB", (4, 2), (255, 0, 128))
    unit = ToArray()(im)
    assert unit.shape == (2, 4, 3) and unit.dtype == np.float32
    assert np.allclose(unit[0, 0], [1.0, 0.0, 128 / 255])
    sym = ToArray(value_range=(-1, 1))(im)
    assert np.allclose(sym[0, 0], [1.0, -1.0, 128 / 127.5 - 1], atol=1e-6)
    raw = ToArray(dtype="uint8", value_range=(0, 255))(im)
    assert raw.dtype == np.uint8 and raw[0, 0].tolist() == [255, 0, 128]
    norm = ToArray(mean=[0.5, 0.5, 0.5], std=[0.25, 0.5, 1.0])(im)
    assert np.allclose(norm[0, 0], [2.0, -1.0, 128 / 255 - 0.5], atol=1e-6)
    chw = ToArray(layout="CHW", batch=True)(im)
    assert chw.shape == (1, 3, 2, 4)
    gray = ToArray(mode="L")(im)
    assert gray.shape == (2, 4, 1)
    sixteen = ToArray(mode="L", dtype="uint8", value_range=(0, 255))(Image.new("I;16", (2, 2), 65535))
    assert sixteen.max() == 255
    with pytest.raises(ks.ConfigError):
        ToArray(dtype="uint8")
    with pytest.raises(ks.ConfigError):
        ToArray(std=[0.0])
    mismatch = ToArray(mean=[0.1, 0.2]).run(im)
    assert mismatch.codes == ("image.config_mismatch",)


def test_to_array_bounds() -> None:
    assert ToArray().bounds() == (0.0, 1.0)
    lo, hi = ToArray(mean=[0.5], std=[0.5]).bounds()
    assert (lo, hi) == (-1.0, 1.0)


def test_reencode_keeps_only_pixels() -> None:
    src = _samples.jpeg_exif_gps_orientation() + b"<script>alert(1)</script>"
    out = Reencode()(Decode()(src))
    assert out.startswith(b"\x89PNG") and b"<script" not in out and b"Exif" not in out
    again = Image.open(io.BytesIO(out))
    assert again.info.keys() <= {"dpi"} and len(again.getexif()) == 0
    rgba = Reencode()(Image.new("RGBA", (2, 2), (1, 2, 3, 4)))
    assert Image.open(io.BytesIO(rgba)).mode == "RGBA"
    jpeg = Reencode(format="jpeg")(Image.new("RGBA", (2, 2)))
    assert jpeg.startswith(b"\xff\xd8")
    assert Image.open(io.BytesIO(Reencode()(Image.new("I;16", (2, 2), 300)))).mode == "L"


def test_conformance() -> None:
    check_stage(
        Decode(draft=(32, 32)), [_samples.jpeg(), _samples.png(), np.zeros((3, 3), np.uint8)], max_examples=40
    )
    images = [_samples.gradient(), Image.new("P", (5, 5)), Image.new("LA", (3, 3)), Image.new("I;16", (2, 2))]
    stages = (Resize((8, 8)), Resize((4, 8), pad_to_aspect_ratio=True), ToArray(), Reencode(format="webp"))
    for stage in (*stages, ToArray(layout="CHW", batch=True), Resize((8, 4), crop_to_aspect_ratio=True)):
        check_stage(stage, images, max_examples=30)


def test_resize_keeps_aspect_ratio_on_request() -> None:
    wide = Image.new("RGB", (40, 20), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 10, 20))  # a blue band on the left quarter
    crop = np.asarray(Resize((10, 10), crop_to_aspect_ratio=True, resample="nearest")(wide))
    assert crop.shape == (10, 10, 3) and (crop[..., 2] == 0).all()  # the centred square has no blue
    pad = np.asarray(Resize((10, 10), pad_to_aspect_ratio=True, pad_color=(0, 255, 0))(wide))
    assert pad[0, 5].tolist() == [0, 255, 0] and pad[5, 9].tolist() == [255, 0, 0]
    gray = Resize((10, 10), mode="L", pad_to_aspect_ratio=True, pad_color=(30, 30, 30))(wide)
    assert gray.getpixel((5, 0)) == 30
    with pytest.raises(ks.ConfigError, match="at most one"):
        Resize((4, 4), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    pipe = ks.image.default(size=(10, 10), crop_to_aspect_ratio=True)
    assert pipe(_samples.png(wide)).shape == (10, 10, 3)
