"""Model-file scanning cost vs loading cost; which hostile files keras_sanitize and modelscan catch.

``scan`` must cost well under ``keras.saving.load_model`` on the same file. The
comparison with modelscan runs the ``modelscan`` CLI found on PATH or named by
``KERAS_SANITIZE_MODELSCAN`` (install it in a throwaway venv: ``pip install
'modelscan[tensorflow]'``; without the tensorflow extra it skips .keras files).
Its times include interpreter start-up, so only its verdicts are comparable.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
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


_MEASURE = textwrap.dedent(
    """
    import ctypes, gc, json, sys, time
    import keras_sanitize as ks
    what, clean, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    ks.artifacts.scan(clean)  # warm-up: h5py and numpy imported
    if what == "load":
        ks.load_model(clean)
    def trim():
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
    def rss(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
    out = {}
    for path in paths:
        gc.collect()
        trim()  # hand freed heap back, so the baseline RSS is what is really in use
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak (VmHWM) restarts from the current RSS
        base, start, cpu = rss("VmRSS:"), time.perf_counter(), time.process_time()
        if what == "scan":
            codes = list(ks.artifacts.scan(path).codes)
        else:
            try:
                ks.load_model(path)
                codes = ["loaded"]
            except ks.ArtifactError as exc:
                codes = list(exc.report.codes)
        out[path] = [time.perf_counter() - start, time.process_time() - cpu,
                     (rss("VmHWM:") - base) / 1e6, codes]
    print(json.dumps(out))
    """
)


def _config_bomb_rows(tmp: pathlib.Path) -> list[Row]:
    """Issue 20 item 1: every hostile config.json costs < 1 s and < 100 MB, refused or parsed."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        return [Row("artifacts hostile config", "peak memory", note="needs Linux /proc/self/clear_refs")]
    cap = ks.artifacts.DEFAULT_LIMITS.max_config_bytes
    near = int(ks.artifacts.DEFAULT_LIMITS.max_json_nodes * 0.99)
    cases: list[tuple[str, pathlib.Path]] = []
    for shape in sorted(fx.CONFIG_BOMBS):
        cases.append((f"{shape}, {cap >> 20} MiB", fx.config_bomb(tmp, shape, cap - 4096)))
    for shape in ("empty_lists", "keyed_empty_lists", "many_keys"):
        path = fx.config_bomb(tmp, shape, cap - 4096, values=near)
        cases.append((f"{shape}, {fx.values_of(_config_of(path)) // 1000}k values (parsed)", path))
    cases.append(("empty_lists, 63 MB stored (red team: 30 s, +4.9 GB)",
                  fx.config_bomb(tmp, "empty_lists", 63_000_000)))
    deflated = fx.config_bomb(tmp, "empty_lists_whitespace", 63_000_000, deflate=True)
    cases.append((f"empty_lists + whitespace, 63 MB deflated to {deflated.stat().st_size / 1e6:.1f} MB "
                  "(red team: 15-23 s, +2.5-4.7 GB)", deflated))
    clean = fx.write_keras(tmp / "clean_for_bombs.keras", fx.clean_parts())
    rows: list[Row] = []
    for what, selected in (("scan", cases), ("load", cases[-2:])):
        root = str(pathlib.Path(__file__).resolve().parents[1])
        argv = [sys.executable, "-c", _MEASURE, what, str(clean), *(str(p) for _, p in selected)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                              env=dict(os.environ, PYTHONPATH=root))
        measured = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {}
        for label, path in selected:
            if str(path) not in measured:
                rows.append(Row("artifacts hostile config", f"{what}: {label}", note=proc.stderr[-120:]))
                continue
            wall, cpu, mb, codes = measured[str(path)]
            verdict = "refused" if "artifact.config_too_large" in codes else f"parsed {codes or 'clean'}"
            fn = "ks.load_model" if what == "load" else "scan()"
            rows.append(Row("artifacts hostile config", f"{fn}: {label}", wall,
                            note=f"+{mb:.0f} MB peak, cpu {cpu:.2f} s, {verdict}", goal="< 1 s, < 100 MB"))
    return rows


def _config_of(path: pathlib.Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read("config.json")


def _nested_tags(chars: int, tags: list[str], seed: int = 0) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < chars:
        piece = f'<{rng.choice(tags)} title="x{rng.randrange(10)}">'
        out.append(piece)
        size += len(piece)
    return "".join(out)[:chars]


def _bleach_rows() -> list[Row]:
    """Issue 20 item 4: nested formatting tags with attributes, bleach (budgeted) against nh3."""
    from keras_sanitize.text.filters import HtmlSanitizer

    tags = ["a", "b", "i", "em", "strong", "small", "s", "u", "code"]
    bleach, nh3 = HtmlSanitizer(engine="bleach"), HtmlSanitizer(engine="nh3")
    rows: list[Row] = []
    # 8,000 characters is the largest of this shape under the budget (parsed, not refused).
    for chars, quoted in ((8_000, ""), (12_500, " (red team: 0.13 s)"), (50_000, " (red team: 1.6 s)"),
                          (99_990, " (red team: 7-12 s)")):
        text = _nested_tags(chars, tags)
        refused = "text.html_too_complex" in bleach.run(text).codes
        rows.append(compare("text html bleach", f"nested tags+title, {chars} chars{quoted}",
                            functools.partial(bleach.run, text), "nh3 engine",
                            functools.partial(nh3.run, text), goal="< 1 s", repeat=3,
                            note="bleach refused it (html_too_complex)" if refused else "bleach cleaned it"))
    big = _nested_tags(800_000, tags)
    rows.append(Row("text html bleach", "nh3 alone, 800k chars (max_chars=None; quadratic)",
                    best(lambda: nh3.run(big), repeat=1), note="why max_chars stays set"))
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
        rows.extend(_config_bomb_rows(tmp))
        rows.extend(_bleach_rows())
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
