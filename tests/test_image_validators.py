"""ImageFormat and ImageHeader: type, budget and header limits before any decoding."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageFile

import keras_sanitize as ks
from keras_sanitize.image import _header, _samples
from keras_sanitize.image.validators import ImageFormat, ImageHeader
from keras_sanitize.testing import check_stage

ImageUpload = ks.image.ImageUpload


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 header is patched to declare ``width x height``."""
    data = bytearray(_samples.jpeg(_samples.gradient(16, 16)))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _gif_with_screen(width: int, height: int) -> bytes:
    data = bytearray(_samples.animated_gif(2))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of Pillow's pixel decoding (ImageFile.load)."""
    calls: list[int] = []
    original = ImageFile.ImageFile.load

    def counting(self: ImageFile.ImageFile) -> object:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    return calls


# -- ImageFormat ---------------------------------------------------------------


def test_format_allowlist_and_svg() -> None:
    stage = ImageFormat()
    assert stage.run(_samples.jpeg()).ok
    assert stage.run(_samples.png()).ok
    svg = stage.run(_samples.svg_script())
    assert svg.codes == ("image.format_not_allowed",)
    assert "SVG" in svg.findings[0].message and "formats" in svg.findings[0].message
    assert stage.run(b"%PDF-1.4 hello").codes == ("image.format_not_allowed",)
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, "BMP")
    assert not stage.run(bmp.getvalue()).ok
    assert ImageFormat(formats=["image/bmp", "image/png"]).run(bmp.getvalue()).ok


def test_svg_can_never_be_allowed() -> None:
    with pytest.raises(ks.ConfigError, match="can carry script"):
        ImageFormat(formats=["image/svg+xml"])
    with pytest.raises(ks.ConfigError):
        ImageFormat(formats="image/png")


def test_byte_budget_and_empty() -> None:
    report = ImageFormat(max_bytes=100).run(_samples.jpeg())
    assert report.codes == ("image.too_many_bytes",)
    assert "limit is 100 (max_bytes)" in report.findings[0].message
    assert ImageFormat().run(b"").codes == ("image.empty",)
    assert ImageFormat().run("not bytes").codes == ("image.not_image",)


def test_declared_type_mismatch() -> None:
    data = _samples.png()
    ok = ImageFormat().run(ImageUpload(data, filename="cat.png", content_type="image/png"))
    assert ok.ok and not ok.findings
    renamed = ImageFormat().run(ImageUpload(data, filename="cat.jpg"))
    assert renamed.ok and renamed.codes == ("image.declared_type_mismatch",)
    assert renamed.findings[0].action is ks.Action.WARN
    html = ImageFormat().run(ImageUpload(data, content_type="text/html"))
    assert not html.ok and html.codes == ("image.declared_type_mismatch",)
    assert "text/html" in html.findings[0].message and "image/png" in html.findings[0].message
    shell = ImageFormat().run(ImageUpload(data, filename="shell.php.png"))
    assert not shell.ok and shell.codes == ("image.suspicious_filename",)
    nul = ImageFormat().run(ImageUpload(data, filename="a.png\x00.php"))
    assert not nul.ok


def test_pil_and_arrays_pass_through() -> None:
    import numpy as np

    im = Image.new("RGB", (2, 2))
    assert ImageFormat().run(im).ok and ImageHeader().run(im).ok
    arr = np.zeros((2, 2, 3), np.uint8)
    assert ImageFormat().run(arr).ok and ImageHeader().run(arr).ok


# -- ImageHeader ---------------------------------------------------------------


def test_declared_huge_png_refused_from_header(load_calls: list[int]) -> None:
    report = ks.image.default().run(_samples.declared_huge_png())
    assert report.codes == ("image.too_many_pixels",)
    assert report.findings[0].message == "image declares 60000x60000 = 3.6 GP; limit is 40 MP (max_pixels)"
    assert report.findings[0].detail["pixels"] == 3_600_000_000
    assert load_calls == []


def test_jpeg_and_gif_bombs_refused_without_decoding(load_calls: list[int]) -> None:
    jpeg = ks.image.default().run(_jpeg_with_size(64250, 64250))
    assert jpeg.codes == ("image.too_many_pixels",) and "64250x64250" in jpeg.findings[0].message
    gif = ks.image.default().run(_gif_with_screen(65535, 65535))
    assert gif.codes == ("image.too_many_pixels",)
    assert load_calls == []


def test_per_pipeline_limits_leave_pillow_global_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    data = _samples.png(_samples.gradient(100, 100))
    assert not ImageHeader(max_pixels=9_999).run(data).ok
    assert ImageHeader(max_pixels=10_000).run(data).ok
    report = ImageHeader(max_side=99).run(data)
    assert report.codes == ("image.too_large_side",)
    assert before == Image.MAX_IMAGE_PIXELS


def test_zero_size() -> None:
    report = ImageHeader().run(_samples.declared_huge_png(0, 10))
    assert report.codes == ("image.zero_size",)


def test_trailing_data_is_a_polyglot() -> None:
    report = ImageHeader().run(_samples.jpeg_trailing_html())
    assert report.codes == ("image.trailing_data",)
    f = report.findings[0]
    assert f.detail["sniffed"] == "text/html" and "polyglot" in f.message
    png = ImageHeader().run(_samples.png() + b"PK\x03\x04" + bytes(40))
    assert png.codes == ("image.trailing_data",)
    gif = ImageHeader().run(_samples.animated_gif() + b"<?php system($_GET['c']); ?>")
    assert gif.codes == ("image.trailing_data",)
    webp = io.BytesIO()
    _samples.gradient(16, 16).save(webp, "WEBP")
    assert ImageHeader().run(webp.getvalue() + b"<html><script>x</script>").codes == ("image.trailing_data",)
    monitored = ks.Pipeline([ImageHeader()], mode="monitor").run(_samples.jpeg_trailing_html())
    assert monitored.ok and monitored.findings[0].action is ks.Action.WARN


def test_zero_padding_is_dropped_not_refused() -> None:
    report = ImageHeader().run(_samples.jpeg() + bytes(100))
    assert report.ok and report.codes == ("image.trailing_padding",)


def test_mpo_extra_pictures_are_not_trailing_data() -> None:
    buf = io.BytesIO()
    ims = [_samples.gradient(32, 32, 0), _samples.gradient(32, 32, 1)]
    ims[0].save(buf, "MPO", save_all=True, append_images=ims[1:])
    report = ImageHeader().run(buf.getvalue())
    assert report.ok and report.codes == ("image.extra_images",)


def test_truncated_and_corrupt() -> None:
    assert ImageHeader().run(_samples.truncated_png()).codes == ("image.truncated",)
    jpeg = _samples.jpeg()
    assert ImageHeader().run(jpeg[: len(jpeg) - 200]).codes == ("image.truncated",)
    bad = bytearray(_samples.png())
    bad[12:16] = b"IDAT"  # first chunk is no longer IHDR
    assert ImageHeader().run(bytes(bad)).codes == ("image.corrupt",)


def test_frames_scans_mode_bit_depth() -> None:
    assert ImageHeader(max_frames=2).run(_samples.animated_gif(3)).codes == ("image.too_many_frames",)
    assert ImageHeader(max_frames=3).run(_samples.animated_gif(3)).ok
    progressive = _samples.jpeg(progressive=True)
    scans = _header.walk(progressive, "image/jpeg")
    assert scans is not None and scans.scans > 1
    assert ImageHeader(max_scans=scans.scans - 1).run(progressive).codes == ("image.too_many_scans",)
    gray = _samples.png(_samples.gradient(8, 8).convert("L"))
    assert ImageHeader(modes=["RGB"]).run(gray).codes == ("image.mode_not_allowed",)
    sixteen = _samples.png(Image.new("I;16", (4, 4)))
    assert ImageHeader(bit_depths=[8]).run(sixteen).codes == ("image.bit_depth",)


def test_walker_reads_sizes() -> None:
    for data, mime in [
        (_samples.png(_samples.gradient(33, 21)), "image/png"),
        (_samples.jpeg(_samples.gradient(33, 21)), "image/jpeg"),
    ]:
        info = _header.walk(data, mime)
        assert info is not None and (info.width, info.height) == (33, 21) and info.end == len(data)
    buf = io.BytesIO()
    _samples.gradient(33, 21).save(buf, "WEBP")
    info = _header.walk(buf.getvalue(), "image/webp")
    assert info is not None and (info.width, info.height) == (33, 21)
    assert _header.walk(b"\x89PNG\r\n\x1a\n", "image/png").truncated  # type: ignore[union-attr]


def test_conformance() -> None:
    samples = [
        _samples.jpeg(),
        _samples.png(),
        _samples.jpeg_trailing_html(),
        _samples.declared_huge_png(),
        b"",
    ]
    check_stage(ImageFormat(), samples, max_examples=40)
    check_stage(ImageHeader(), samples, max_examples=40)


def test_chunk_floods_are_refused_before_pillow_loops_over_them() -> None:
    from keras_sanitize.image.encoders import Decode

    small = _samples.png(_samples.gradient(8, 8))
    png = small[:33] + _samples.png_chunk(b"teSt", b"") * 20_000 + small[33:]
    jpeg = _samples.jpeg()
    jpeg = jpeg[:2] + b"\xff\xfe\x00\x02" * 20_000 + jpeg[2:]  # empty COM segments
    gif = bytearray(b"GIF89a" + struct.pack("<HHBBB", 8, 8, 0, 0, 0))
    gif += b"\x2c" + struct.pack("<HHHHB", 0, 0, 8, 8, 0) + b"\x02" + b"\x01\x00" * 300_000 + b"\x00\x3b"
    for data in (png, jpeg, bytes(gif)):
        assert ImageHeader().run(data).codes == ("image.too_many_chunks",)
    for data in (png, jpeg):
        assert Decode().run(data).codes == ("image.too_many_chunks",)
    assert ImageHeader(max_chunks=30_000).run(png).ok


def test_pipeline_limit_decides_not_pillows_global() -> None:
    above_pillow = _samples.declared_huge_png(9500, 9500)  # 90 MP: Pillow warns at 89 MP
    assert ImageHeader().run(above_pillow).codes == ("image.too_many_pixels",)
    report = ImageHeader(max_pixels=100_000_000).run(above_pillow)
    assert report.ok, str(report)
