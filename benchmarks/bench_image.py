"""Image pipeline vs naive Pillow (open -> convert("RGB") -> resize -> float32), same run.

Goals (issue 4): the default pipeline on a 320x240 JPEG to 224x224 <= 1.5x naive;
on a 2048x1536 JPEG <= 0.8x naive (JPEG reduce-on-decode beats decoding every
pixel); peak memory on a decompression bomb stays under 50 MB (naive Pillow decodes
all 240 MB of it).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from _harness import Row, compare
from PIL import Image

import keras_sanitize as ks
from keras_sanitize.image import _samples


def _naive(data: bytes, size: tuple[int, int]) -> np.ndarray:
    im = Image.open(io.BytesIO(data)).convert("RGB").resize(size)
    return np.asarray(im, dtype=np.float32) / 255.0


def _naive_png(data: bytes, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").resize(size).save(buf, "PNG")
    return buf.getvalue()


def _bomb_png(path: Path, side: int = 8944) -> None:
    """An ~80 MP RGB PNG of zeros (below Pillow's own 89 MP limit), ~240 KB on disk."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _samples.png_chunk(b"IHDR", side.to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00")
        + _samples.png_chunk(b"IDAT", body)
        + _samples.png_chunk(b"IEND", b"")
    )


_PEAK = """
import resource, sys
data = open(sys.argv[1], "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] == "ours":
    import keras_sanitize as ks
    ok = ks.image.default(size=(224, 224)).run(data).ok
else:
    import io
    import numpy as np
    from PIL import Image
    ok = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224))).size > 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(ok, (peak - base) // 1024)
"""


def _peak_rows() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.png"
        _bomb_png(path)
        size_kb = path.stat().st_size // 1024
        out = {}
        for who in ("ours", "naive"):
            proc = subprocess.run(
                [sys.executable, "-c", _PEAK, str(path), who],
                capture_output=True,
                text=True,
                check=True,
                env=dict(os.environ),
            )
            ok, mb = proc.stdout.split()
            out[who] = (ok, int(mb))
    verdict = "accepted" if out["ours"][0] == "True" else "refused before decoding"
    naive_mb = out["naive"][1]
    if naive_mb >= 100:
        note = f"ours {verdict}; naive Pillow decoded it: +{naive_mb} MB"
    else:  # the reference did not decode it here, so the row shows no contrast: say so
        note = f"ours {verdict}; naive Pillow grew only +{naive_mb} MB here (no contrast shown)"
    return [
        Row(
            "image",
            f"80 MP PNG bomb ({size_kb} KB): peak RSS growth, default()",
            value=float(out["ours"][1]),
            unit="MB",
            note=note,
            goal="≤ 50 MB",
        )
    ]


def run() -> list[Row]:
    small = _samples.jpeg(_samples.gradient(320, 240))
    big = _samples.jpeg(_samples.gradient(2048, 1536))
    png = _samples.png(_samples.gradient(320, 240))
    pipe = ks.image.default(size=(224, 224))
    bicubic = ks.image.default(size=(224, 224), resample="bicubic")
    as_bytes = ks.image.default(size=(224, 224), output="bytes")
    rows = [
        compare("image", "default(size=224) on a 320x240 JPEG", lambda: pipe(small),
                "naive Pillow -> float32", lambda: _naive(small, (224, 224)), goal="<= 1.5x",
                note="ours bilinear, naive bicubic"),
        compare("image", "default(size=224, resample='bicubic'), 320x240 JPEG", lambda: bicubic(small),
                "naive Pillow -> float32", lambda: _naive(small, (224, 224)), goal="<= 1.5x",
                note="same filter as naive"),
        compare("image", "default(size=224) on a 2048x1536 JPEG", lambda: pipe(big),
                "naive Pillow -> float32", lambda: _naive(big, (224, 224)), goal="<= 0.8x",
                note="JPEG draft (reduce-on-decode)", repeat=3),
        compare("image", "default(size=224) on a 320x240 PNG", lambda: pipe(png),
                "naive Pillow -> float32", lambda: _naive(png, (224, 224))),
        compare("image", "default(size=224, output='bytes'), 320x240 JPEG", lambda: as_bytes(small),
                "naive Pillow -> PNG bytes", lambda: _naive_png(small, (224, 224)),
                note="ours zlib level 1, naive 6"),
    ]  # fmt: skip
    trailing = _samples.jpeg_trailing_html()
    rows.append(Row("image", "refuse a JPEG+HTML polyglot", _time(lambda: pipe.run(trailing))))
    huge = _samples.declared_huge_png()
    rows.append(Row("image", "refuse a PNG declaring 60000x60000", _time(lambda: pipe.run(huge))))
    rows.extend(_peak_rows())
    return rows


def _time(fn: object) -> float:
    from _harness import best

    return best(fn)  # type: ignore[arg-type]
