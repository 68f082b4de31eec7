"""Every file of the malformed-image corpus: no crash, only findings, within 2 s and 1 GB each.

The corpus (../shared/corpora/04_images_malformed: Pillow's malformed and
oss-fuzz images, the image-rs PNG fuzz corpus and PngSuite, metadata and upload
payloads, SVG with script) is run in a child process, so that its peak memory
can be measured on its own; the child reports per-file CPU time, failures and
its peak RSS as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

MAX_SECONDS = 2.0
MAX_RSS_BYTES = 1 << 30


def _peak_rss_bytes() -> int:
    """This process's own peak RSS. ru_maxrss is not: Linux carries the high-water mark across
    fork and exec, so a child of a big pytest worker reports the worker's size. VmHWM belongs to
    the current address space only."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _run_corpus(root: Path) -> dict[str, object]:
    import keras_sanitize as ks
    from keras_sanitize.errors import InputRejected

    pipes = {
        "default": ks.image.default(),
        "224": ks.image.default(size=(224, 224)),
        "bytes": ks.image.default(output="bytes"),
    }
    failures: list[str] = []
    slow: list[str] = []
    seen = accepted = 0
    worst = (0.0, "")
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        seen += 1
        for name, pipe in pipes.items():
            start = time.process_time()
            try:
                report = pipe.run(data)
                json.dumps(report.to_dict())
                with contextlib.suppress(InputRejected):
                    pipe(data)
            except BaseException as exc:
                failures.append(f"{path}: {name}: {type(exc).__name__}: {exc}")
                continue
            spent = time.process_time() - start
            worst = max(worst, (spent, str(path)))
            if spent > MAX_SECONDS:
                slow.append(f"{path}: {name}: {spent:.2f} s")
            bad = [f for f in report.findings if f.code.startswith("core.")]
            if bad:
                failures.append(f"{path}: {name}: {bad[0]}")
            accepted += report.ok and name == "default"
    rss = _peak_rss_bytes()
    return {
        "files": seen,
        "accepted": accepted,
        "failures": failures[:20],
        "slow": slow[:20],
        "worst": list(worst),
        "peak_rss": rss,
    }


@pytest.mark.slow
def test_malformed_image_corpus() -> None:
    from tests.conftest import corpus_path

    root = corpus_path("04_images_malformed")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, "-W", "error", __file__, str(root)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["files"] > 1000
    assert result["failures"] == [], result["failures"]
    assert result["slow"] == [], result["slow"]
    assert result["peak_rss"] < MAX_RSS_BYTES, result
    assert result["accepted"] > 100  # benign files (PngSuite, hopper.*) still pass


if __name__ == "__main__":
    print(json.dumps(_run_corpus(Path(sys.argv[1]))))
