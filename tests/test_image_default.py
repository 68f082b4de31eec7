"""ks.image.default(): the whole pipeline, dispatch from ks.validate, regression files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras_sanitize as ks
from keras_sanitize.image import _samples
from keras_sanitize.testing import check_stage

DATA = Path(__file__).parent / "data" / "image"


def _expected() -> list[tuple[str, bool, tuple[str, ...]]]:
    rows = []
    for line in (DATA / "expected.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, verdict, codes = [*line.split("\t"), ""][:3]
        rows.append((name, verdict == "ok", tuple(c for c in codes.split(",") if c)))
    return rows


@pytest.mark.parametrize(("name", "ok", "codes"), _expected())
def test_regression_files(name: str, ok: bool, codes: tuple[str, ...]) -> None:
    report = ks.image.default(size=(32, 32)).run((DATA / name).read_bytes())
    assert (report.ok, report.codes) == (ok, codes), str(report)
    json.dumps(report.to_dict())


def test_validate_dispatches_image_bytes() -> None:
    report = ks.validate(_samples.jpeg())
    assert report.ok and report.modality == "image"
    assert report.value.shape == (48, 64, 3) and report.value.dtype == np.float32
    assert report.value.min() >= 0.0 and report.value.max() <= 1.0
    assert not ks.validate(_samples.jpeg_trailing_html()).ok
    assert ks.validate(_samples.gradient()).ok  # a PIL image


def test_default_array_output_shape_and_range() -> None:
    pipe = ks.image.default(size=(224, 224), value_range=(-1, 1), layout="CHW", batch=True)
    value = pipe(_samples.jpeg(_samples.gradient(640, 480)))
    assert value.shape == (1, 3, 224, 224) and value.min() >= -1.0 and value.max() <= 1.0
    gray = ks.image.default(size=(28, 28), color_mode="L")(_samples.png())
    assert gray.shape == (28, 28, 1)


def test_default_bytes_output_is_clean() -> None:
    pipe = ks.image.default(output="bytes")
    for make in (_samples.png_text_script, _samples.jpeg_exif_gps_orientation, _samples.transparent_png):
        report = pipe.run(make())
        assert report.ok, str(report)
        out = report.value
        assert isinstance(out, bytes) and out.startswith(b"\x89PNG")
        assert ks.image.default(output="bytes").run(out).codes == ()  # nothing left to strip
        im = Image.open(io.BytesIO(out))
        assert im.mode in ("RGB", "L") and set(im.info) <= {"dpi"}
    rotated = Image.open(io.BytesIO(pipe(_samples.jpeg_exif_gps_orientation())))
    assert rotated.size == (20, 40)
    small = ks.image.default(size=(8, 16), output="bytes", reencode_format="webp")(_samples.jpeg())
    assert Image.open(io.BytesIO(small)).size == (16, 8)


def test_default_keeps_size_but_caps_pixels() -> None:
    assert ks.image.default()(_samples.png(_samples.gradient(300, 200))).shape == (200, 300, 3)
    report = ks.image.default(max_pixels=50_000).run(_samples.png(_samples.gradient(300, 200)))
    assert report.codes == ("image.too_many_pixels",)


def test_uploads_pil_and_arrays() -> None:
    pipe = ks.image.default(size=(16, 16))
    up = ks.image.ImageUpload(_samples.png(), filename="photo.jpg", content_type="image/jpeg")
    report = pipe.run(up)
    assert report.ok and "image.declared_type_mismatch" in report.codes
    assert pipe(np.full((20, 20, 3), 7, np.uint8)).shape == (16, 16, 3)
    batch, kept = ks.image.stack(pipe.run_batch([_samples.jpeg(), b"junk", _samples.png()]))
    assert batch.shape == (2, 16, 16, 3) and kept == [0, 2]


def test_constant_images_warn_and_bad_config() -> None:
    report = ks.image.default().run(_samples.png(Image.new("RGB", (8, 8), (9, 9, 9))))
    assert report.ok and report.codes == ("image.constant",)
    with pytest.raises(ks.ConfigError):
        ks.image.default(output="json")
    with pytest.raises(ks.ConfigError):
        ks.image.default(size=(0, 10))
    with pytest.raises(ks.ConfigError):
        ks.image.default(formats=["image/svg+xml"])


def test_config_round_trip_and_preset() -> None:
    pipe = ks.image.default(size=(32, 32), mean=[0.5], std=[0.5], policy={"image.metadata_markup": "reject"})
    again = ks.Pipeline.from_config(json.loads(json.dumps(pipe.get_config())))
    data = _samples.png_text_script()
    assert pipe.run(data).codes == again.run(data).codes
    assert not again.run(data).ok
    preset = ks.Pipeline.from_config({"preset": "image.default", "options": {"size": [8, 8]}})
    assert preset(_samples.jpeg()).shape == (8, 8, 3)


def test_whole_pipeline_conformance() -> None:
    samples = [_samples.jpeg(), _samples.png_text_script(), _samples.declared_huge_png(), _samples.gradient()]
    check_stage(ks.image.default(size=(16, 16)), samples, max_examples=60)
    check_stage(ks.image.default(output="bytes"), samples[:2], max_examples=30)


def test_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pipe = ks.image.default(size=(16, 16))
    inputs = [make() for make in _samples.SAMPLES.values()] * 4
    expected = [pipe.run(x) for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(pipe.run, inputs))
    for a, b in zip(expected, got):
        assert a.codes == b.codes
        if a.ok:
            assert np.array_equal(a.value, b.value)


def _mutated_images():  # type: ignore[no-untyped-def]
    """Seed images with random bytes overwritten, inserted or cut: past the signature checks."""
    from hypothesis import strategies as st

    seeds = [make() for name, make in sorted(_samples.SAMPLES.items()) if not name.endswith(".svg")]

    def mutate(seed: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
        out = bytearray(seed)
        for pos, byte in edits:
            out[pos % len(out)] = byte
        return bytes(out[: len(out) - cut])

    return st.builds(
        mutate,
        st.sampled_from(seeds),
        st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
        st.integers(0, 64),
    )


def test_mutated_images_only_produce_findings() -> None:
    check_stage(ks.image.default(size=(16, 16)), [], strategy=_mutated_images(), max_examples=150)
    check_stage(ks.image.default(output="bytes"), [], strategy=_mutated_images(), max_examples=60)


def test_keep_icc_survives_reencoding() -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _samples.png(_samples.gradient(8, 8), icc_profile=icc)
    kept = Image.open(io.BytesIO(ks.image.default(output="bytes", keep_icc=True)(data)))
    assert kept.info.get("icc_profile") == icc
    dropped = Image.open(io.BytesIO(ks.image.default(output="bytes")(data)))
    assert "icc_profile" not in dropped.info


def test_registered_names_do_not_clash_with_other_modalities() -> None:
    import importlib

    for mod in ("keras_sanitize.tensor", "keras_sanitize.audio"):
        importlib.import_module(mod)
    stage = ks.image.encoders.ToArray(layout="CHW")
    cfg = ks.serialize_stage(stage)
    assert cfg["registered_name"] == "keras_sanitize>ImageToArray"
    assert ks.deserialize_stage(json.loads(json.dumps(cfg))) == stage
    assert ks.serialize_stage(ks.image.encoders.Decode())["registered_name"] == "keras_sanitize>ImageDecode"
