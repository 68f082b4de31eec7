"""Model-file scanning cost vs loading cost; which hostile files keras_sanitize and modelscan catch.

``scan`` must cost well under ``keras.saving.load_model`` on the same file. The
comparison with modelscan runs the ``modelscan`` CLI found on PATH or named by
``KERAS_SANITIZE_MODELSCAN`` (install it in a throwaway venv: ``pip install
'modelscan[tensorflow]'``; without the tensorflow extra it skips .keras files).
Its times include interpreter start-up, so only its verdicts are comparable.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from _harness import Row, best, compare

import keras_sanitize as ks
from keras_sanitize.artifacts import _fixtures as fx


def _typical_model(path: pathlib.Path) -> int:
    import keras

    layers = keras.layers
    model = keras.Sequential([keras.Input((64, 64, 3))])
    for width in (32, 64, 128, 256):
        model.add(layers.Conv2D(width, 3, padding="same"))
        model.add(layers.BatchNormalization())
        model.add(layers.Activation("relu"))
        model.add(layers.Conv2D(width, 3, padding="same", activation="relu"))
        model.add(layers.MaxPooling2D())
    model.add(layers.GlobalAveragePooling2D())
    model.add(layers.Dropout(0.2))
    model.add(layers.Dense(256, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4)))
    model.add(layers.Dense(10, activation="softmax"))
    model.save(path)
    return int(model.count_params())


def _modelscan() -> str | None:
    found = os.environ.get("KERAS_SANITIZE_MODELSCAN") or shutil.which("modelscan")
    return found if found and os.access(found, os.X_OK) else None


def _modelscan_verdict(exe: str, path: pathlib.Path) -> str:
    proc = subprocess.run([exe, "-p", str(path), "-r", "json"], capture_output=True, text=True, timeout=300,
                          check=False)
    text = proc.stdout.replace("\n", "")
    try:
        doc = json.loads(text[text.index("{"):])
    except ValueError:
        return "error (no report)"
    if doc.get("summary", {}).get("total_issues", 0):
        ops = sorted({i.get("operator", "?") for i in doc.get("issues", [])})
        return f"caught ({', '.join(ops)})"
    if doc.get("errors"):
        return "error: " + doc["errors"][0].get("description", "")[:30]
    return "missed"


def _detection_rows(tmp: pathlib.Path) -> list[Row]:
    exe = _modelscan()
    rows: list[Row] = []
    if exe is None:
        rows.append(Row("artifacts vs modelscan", "modelscan not installed",
                        note="set KERAS_SANITIZE_MODELSCAN to its CLI to compare"))
    caught = 0
    theirs = 0
    for name, build in fx.HOSTILE.items():
        marker = tmp / f"marker_{name}"
        path = build(tmp, marker)
        start = time.perf_counter()
        report = ks.artifacts.scan(path)
        ours_t = time.perf_counter() - start
        ours = "caught" if not report.ok else "MISSED"
        caught += not report.ok
        assert not marker.exists(), f"{name}: the payload ran"
        if exe is None:
            rows.append(Row("artifacts vs modelscan", name, ours_t, note=f"ks {ours}"))
            continue
        verdict = _modelscan_verdict(exe, path)
        theirs += verdict.startswith("caught")
        rows.append(Row("artifacts vs modelscan", name, ours_t, note=f"ks {ours} | modelscan {verdict}"))
    total = len(fx.HOSTILE)
    summary = f"ks {caught}/{total}" + (f", modelscan {theirs}/{total}" if exe else "")
    rows.append(Row("artifacts vs modelscan", "hostile files caught", note=summary))
    return rows


def run() -> list[Row]:
    import keras

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_artifacts_"))
    try:
        path = tmp / "typical.keras"
        params = _typical_model(path)
        size_mb = path.stat().st_size / 1e6
        label = f"CNN {params / 1e6:.1f}M params, {size_mb:.1f} MB"
        digest = ks.artifacts.sha256(path)

        def load() -> object:
            return keras.saving.load_model(path)

        def plain_sha256() -> str:
            return hashlib.sha256(path.read_bytes()).hexdigest()

        rows = [
            compare("artifacts", f"scan(), {label}", lambda: ks.artifacts.scan(path),
                    "keras.saving.load_model", load, goal="<= 0.2x", repeat=3),
            compare("artifacts", "ks.load_model (copy+hash+scan+load)",
                    lambda: ks.load_model(path, sha256=digest), "keras.saving.load_model", load,
                    goal="<= 1.5x", repeat=3),
            compare("artifacts", "sha256() of the file (streamed)", lambda: ks.artifacts.sha256(path),
                    "hashlib.sha256(read_bytes())", plain_sha256, goal="<= 1.3x", repeat=3),
            Row("artifacts", "audit() (shipped table)", best(ks.audit, repeat=3)),
        ]
        rows.extend(_detection_rows(tmp))
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
