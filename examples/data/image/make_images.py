"""Regenerate the bundled demo images (all synthetic; no third-party content).

Run: ``python examples/data/image/make_images.py``
"""

from __future__ import annotations

from pathlib import Path

from keras_sanitize.image._samples import SAMPLES

HERE = Path(__file__).resolve().parent


def main() -> None:
    for name, make in SAMPLES.items():
        (HERE / name).write_bytes(make())
        print(name)


if __name__ == "__main__":
    main()
