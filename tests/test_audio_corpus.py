"""Every file of ../shared/corpora/05_audio_malformed: no crash, only findings, bounded time and memory.

The files run in a child process so that its peak RSS bounds the memory any
one file needed (libsndfile's allocations are invisible to tracemalloc), and
so that a hang is caught by a timeout that names the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import corpus_path

_CHILD = r"""
import json, os, resource, sys, time, warnings
from pathlib import Path
warnings.simplefilter("error")
import keras_sanitize as ks
from keras_sanitize import SanitizeError

pipes = {
    "default": ks.audio.default(),
    "all_formats": ks.audio.default(formats=["wav", "flac", "ogg", "mp3", "aiff"], max_channels=8),
    # Header findings only warn here: the decoder's own bounds must hold on their own.
    "monitor": ks.Pipeline(
        [ks.audio.default(formats=["wav", "flac", "ogg", "mp3", "aiff"])], modality="audio", mode="monitor"
    ),
}
out = {"files": 0, "ok": 0, "worst": [0.0, ""], "bad": [], "codes": {}}
for path in sorted(p for p in Path(sys.argv[1]).rglob("*") if p.is_file()):
    data = path.read_bytes()
    print(path, file=sys.stderr, flush=True)
    out["files"] += 1
    for name, pipe in pipes.items():
        start = time.perf_counter()
        try:
            report = pipe.run(data)
            json.dumps(report.to_dict())
            try:
                pipe(data)
            except SanitizeError:
                pass
        except BaseException as exc:  # the property under test: nothing escapes run()
            out["bad"].append(f"{path}: {name} raised {type(exc).__name__}: {exc}")
            continue
        took = time.perf_counter() - start
        if took > out["worst"][0]:
            out["worst"] = [took, f"{path} ({name})"]
        if any(f.code.startswith("core.") for f in report.findings):
            out["bad"].append(f"{path}: {name}: {report}")
        for f in report.rejections[:1]:
            out["codes"][f.code] = out["codes"].get(f.code, 0) + 1
        out["ok"] += report.ok
    report = ks.validate(data, modality="audio")
    if any(f.code.startswith("core.") for f in report.findings):
        out["bad"].append(f"{path}: validate: {report}")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec (the parent pytest worker's size)
try:
    hwm = [ln for ln in open("/proc/self/status").read().splitlines() if ln.startswith("VmHWM:")]
    out["maxrss_mb"] = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError):
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


@pytest.mark.slow
def test_malformed_audio_corpus() -> None:
    root = corpus_path("05_audio_malformed")
    count = sum(1 for p in root.rglob("*") if p.is_file())
    env = dict(os.environ, PYTHONWARNINGS="error")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(root)],
            check=False,
            capture_output=True,
            text=True,
            timeout=30 + 6 * count,  # 2 s per file and pipeline, plus start-up
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
        last = [line for line in err.splitlines() if line.startswith(str(root))][-1:]
        pytest.fail(f"corpus run hung; last file started: {last}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["files"] == count
    assert not result["bad"], "\n".join(result["bad"][:20])
    worst, where = result["worst"]
    assert worst < 2.0, f"slowest file took {worst:.2f} s: {where}"
    assert result["maxrss_mb"] < 1024, f"peak RSS {result['maxrss_mb']:.0f} MB"
    # Most of this corpus is hostile or not audio at all; some real audio must still pass.
    assert 0 < result["ok"] < 3 * count
