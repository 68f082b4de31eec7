"""A limit always halts: in every modality, in every mode (also ``mode="monitor"``)."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras_sanitize as ks
from keras_sanitize.audio import synth
from keras_sanitize.image import _samples

PACKAGE = Path(__file__).resolve().parents[1] / "keras_sanitize"
#: a finding code that states a limit (too_many_*, too_long, too_large*)
LIMIT = re.compile(r"^[a-z]+\.too_(many_[a-z_]+|long|large[a-z_]*)$")


def test_limit_findings_are_only_ever_halts() -> None:
    """Statically: no ``ctx.add("<area>.too_many_...")`` anywhere, only ``ctx.halt``."""
    soft = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and LIMIT.match(node.args[0].value)
            ):
                soft.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.args[0].value}")
    assert not soft, "limits must halt (ctx.halt), not add:\n" + "\n".join(soft)


def _gif(frames: int) -> bytes:
    images = [Image.new("L", (4, 4), i) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:])
    return buf.getvalue()


WAV = synth.encode(synth.speech_like(1.0, 16000), 16000)
PNG = _samples.png()
M = "monitor"

CASES = [
    ("text max_chars", ks.text.default(max_chars=10, mode=M), "x" * 11, "text.too_long"),
    ("text max_bytes", ks.text.default(max_bytes=10, mode=M), b"x" * 11, "text.too_many_bytes"),
    (
        "text validator max_bytes",
        ks.Pipeline([ks.text.validators.TextLength(max_bytes=8)], mode=M),
        "é" * 5,
        "text.too_many_bytes",
    ),
    ("image max_bytes", ks.image.default(max_bytes=100, mode=M), PNG, "image.too_many_bytes"),
    ("image max_pixels", ks.image.default(max_pixels=100, mode=M), PNG, "image.too_many_pixels"),
    ("image max_frames", ks.image.default(max_frames=2, mode=M), _gif(4), "image.too_many_frames"),
    ("audio max_bytes", ks.audio.default(max_bytes=1000, mode=M), WAV, "audio.too_many_bytes"),
    ("audio max_seconds", ks.audio.default(max_seconds=0.5, mode=M), WAV, "audio.too_long"),
    (
        "tensor max_elements",
        ks.tensor.default(max_elements=3, mode=M),
        np.zeros(4),
        "tensor.too_many_elements",
    ),
    ("tensor max_bytes", ks.tensor.default(max_bytes=8, mode=M), np.zeros(4), "tensor.too_many_bytes"),
]


@pytest.mark.parametrize(("label", "pipe", "value", "code"), CASES, ids=[c[0] for c in CASES])
def test_a_limit_halts_even_in_monitor_mode(label: str, pipe: ks.Pipeline, value: object, code: str) -> None:
    report = pipe.run(value)
    assert not report.ok, f"{label}: {report}"
    hits = [f for f in report.findings if f.code == code]
    assert hits and all(f.fatal and f.rejects for f in hits), f"{label}: {report}"
    assert report.value is None
    # and no policy can turn it into a warning
    relaxed = ks.Pipeline([pipe], policy={code: "warn"}).run(value)
    assert not relaxed.ok
