"""Probe a small Keras model before deploying it, with and without its pipeline.

Builds and saves a tiny tensor model, loads it back with ``ks.load_model`` (scanned
first), probes it with every tensor attack family raw and behind
``ks.tensor.default``, prints the report and writes ``report.html`` when matplotlib is
installed. The same from a shell::

    keras-sanitize probe model.keras --modality tensor --budget 100 --out probe/
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras

import keras_sanitize as ks


def main() -> int:
    folder = Path(tempfile.mkdtemp())
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.save(folder / "model.keras")
    loaded = ks.load_model(folder / "model.keras")
    report = ks.fuzzing.probe(loaded, "tensor", ks.tensor.default(shape=(8,)), budget=100, seed=0)
    print(report)
    summary = report.summary()
    print(f"pass rate {summary['pass_rate']:.0%}, refused {summary['refuse_rate']:.0%}")
    try:
        report.to_html(folder / "report.html")
        print(f"HTML report: {folder / 'report.html'}")
    except ks.ConfigError as exc:
        print(f"no HTML report: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
