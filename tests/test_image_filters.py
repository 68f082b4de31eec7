"""Image filters: first frame, orientation, metadata stripping, alpha flattening."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

import keras_sanitize as ks
from keras_sanitize.image import _samples
from keras_sanitize.image._markup import find_markup
from keras_sanitize.image.encoders import Decode
from keras_sanitize.image.filters import ApplyOrientation, FirstFrame, FlattenAlpha, StripMetadata
from keras_sanitize.testing import check_stage


def _decoded(data: bytes) -> Image.Image:
    return Decode()(data)  # type: ignore[no-any-return]


def test_first_frame() -> None:
    im = _decoded(_samples.animated_gif(3))
    report = FirstFrame().run(im)
    assert report.codes == ("image.animation_dropped",)
    assert "kept frame 1" in report.findings[0].message
    out = report.value
    assert not getattr(out, "is_animated", False)
    assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(im.convert("RGB")))


def test_orientation_applied_and_dropped() -> None:
    im = _decoded(_samples.jpeg_exif_gps_orientation())
    assert im.size == (40, 20)
    report = ApplyOrientation().run(im)
    assert report.codes == ("image.orientation_applied",)
    assert report.value.size == (20, 40)
    assert ApplyOrientation().run(report.value).codes == ()  # the tag is gone


def test_strip_metadata_reports_script_and_gps() -> None:
    im = _decoded(_samples.jpeg_exif_gps_orientation())
    report = StripMetadata().run(im)
    assert report.ok
    assert set(report.codes) == {"image.metadata_markup", "image.metadata_gps", "image.metadata_stripped"}
    markup = report.findings[0]
    assert markup.action is ks.Action.SANITIZE and "<img" in markup.message
    out = report.value
    assert out.info == {} and len(out.getexif()) == 0
    assert np.array_equal(np.asarray(out), np.asarray(im))


def test_png_text_script_and_reject_policy() -> None:
    data = _samples.png_text_script()
    assert StripMetadata().run(_decoded(data)).ok
    strict = StripMetadata(policy={"image.metadata_markup": "reject"}).run(_decoded(data))
    assert not strict.ok and strict.rejections[0].code == "image.metadata_markup"
    via_default = ks.image.default(policy={"image.metadata_markup": "reject"}).run(data)
    assert not via_default.ok


def test_markup_detection_variants() -> None:
    assert find_markup(b"\x00<\x00s\x00c\x00r\x00i\x00p\x00t\x00>") == "<script"
    assert find_markup(b"&lt;script&gt;alert(1)&lt;/script&gt;") == "<script"
    assert find_markup(b"3c7363726970743e616c6572742831293c2f7363726970743e") == "<script"
    assert find_markup(b"<?php system($_GET['c']); ?>") is not None
    assert find_markup(b"Canon EOS 5D, f/2.8, ISO 100, contrast=normal") is None
    rng = np.random.default_rng(0)
    assert find_markup(rng.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()) is None


def test_icc_kept_on_request_and_transparency_survives() -> None:
    im = Image.new("P", (4, 4))
    im.info.update(icc_profile=b"fake icc", transparency=0, comment=b"hello")
    plain = StripMetadata()(im)
    assert plain.info == {"transparency": 0}
    kept = StripMetadata(keep_icc=True)(im)
    assert kept.info == {"transparency": 0, "icc_profile": b"fake icc"}
    im.info["icc_profile"] = b"icc <script>alert(1)</script>"
    report = StripMetadata(keep_icc=True).run(im)  # a kept profile is still scanned
    assert "image.metadata_markup" in report.codes


def test_flatten_alpha_hides_nothing() -> None:
    im = _decoded(_samples.transparent_png())
    report = FlattenAlpha(background=(0, 0, 0)).run(im)
    assert report.codes == ("image.alpha_flattened",)
    arr = np.asarray(report.value)
    assert report.value.mode == "RGB"
    assert (arr[8:] == 0).all() and (arr[:8, :, 0] == 255).all()
    opaque = Image.new("RGBA", (2, 2), (1, 2, 3, 255))
    assert FlattenAlpha().run(opaque).codes == ()
    assert FlattenAlpha()(opaque).mode == "RGB"


def test_filters_do_not_mutate_their_input() -> None:
    im = _decoded(_samples.jpeg_exif_gps_orientation())
    info = dict(im.info)
    StripMetadata()(im)
    ApplyOrientation()(im)
    assert im.info == info


def _images() -> list[Image.Image]:
    buf = io.BytesIO()
    Image.new("LA", (3, 3), (10, 100)).save(buf, "PNG")
    return [
        _decoded(_samples.jpeg_exif_gps_orientation()),
        _decoded(_samples.png_text_script()),
        _decoded(_samples.animated_gif()),
        _decoded(_samples.transparent_png()),
        _decoded(buf.getvalue()),
        Image.new("RGB", (2, 2)),
    ]


def test_conformance() -> None:
    for stage in (FirstFrame(), ApplyOrientation(), StripMetadata(keep_icc=True), FlattenAlpha()):
        check_stage(stage, _images(), max_examples=30)
