"""``ks.fuzzing.probe``: text-mutation throughput, a 224x224 CNN probe, report size.

Rows (goals from issue 14):

* text mutations generated and run through ``ks.text.default()`` per second (no
  model): goal >= 2,000/s;
* ``probe`` of a small CNN on 224x224 RGB images, budget 500, all families
  (FGSM and PGD included), behind ``ks.image.default(size=(224, 224))``: goal <= 60 s;
* the size of that probe's HTML report (and JSON): goal <= 2 MB.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/run.py probe
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _harness import Row, render

os.environ.setdefault("KERAS_BACKEND", "jax")


def _text_rate() -> Row:
    import keras_sanitize as ks
    from keras_sanitize.fuzzing._families import GenContext, family_rng
    from keras_sanitize.fuzzing._text import TEXT_FAMILIES

    pipe = ks.text.default()
    fams = [f for f in TEXT_FAMILIES if f.available is None]
    ctx = GenContext(samples=[])
    pipe.run("warm up")
    n = 0
    cpu = time.process_time()
    start = time.perf_counter()
    for i, fam in enumerate(fams):
        for case in fam.generate(ctx, 150, family_rng(i, fam.name)):
            pipe.run(case.attacked)
            n += 1
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return Row("probe", f"text mutation + text.default(), per input ({n / seconds:,.0f}/s)", seconds / n,
               note=f"{n} inputs, {len(fams)} families; {n / cpu:,.0f}/s of CPU time",
               goal="≥ 2,000/s (≤ 500 µs)")


def _cnn() -> object:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((224, 224, 3)),
        keras.layers.Conv2D(8, 5, strides=4, activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    return model


def _cnn_probe() -> list[Row]:
    import keras_sanitize as ks

    model = _cnn()
    pipe = ks.image.default(size=(224, 224))
    start = time.perf_counter()
    report = ks.fuzzing.probe(model, "image", pipe, budget=500, seed=0)
    seconds = time.perf_counter() - start
    s = report.summary()
    rows = [Row("probe", "probe: CNN 224x224, budget 500, all image families", seconds,
                note=f"{len(report.families)} families, {s['refused']} refused, {s['crashes']} crashes",
                goal="≤ 60 s")]
    with tempfile.TemporaryDirectory() as tmp:
        html, js = Path(tmp) / "report.html", Path(tmp) / "report.json"
        try:
            report.to_html(html)
        except ks.ConfigError as exc:
            rows.append(Row("probe", "report.html size", note=f"skipped: {exc}"))
        else:
            rows.append(Row("probe", f"report.html size: {html.stat().st_size / 1e6:.2f} MB",
                            note=f"report.json {len(report.to_json()) / 1e3:.0f} kB", goal="≤ 2 MB"))
        js.write_text(report.to_json())
    slowest = sorted(report.families, key=lambda f: -sum(f.timings.values()))[:3]
    rows.append(Row("probe", "slowest families", note=", ".join(
        f"{f.name} {sum(f.timings.values()):.1f} s" for f in slowest)))
    return rows


def run() -> list[Row]:
    """The probe's benchmark rows."""
    return [_text_rate(), *_cnn_probe()]


if __name__ == "__main__":
    print(render(run()))
