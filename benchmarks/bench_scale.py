"""``ks.scale.sanitize_dataset`` on a local Ray vs a plain loop (issue 17's rows).

Each Ray figure is one wall-clock run of a whole job (actor start included
unless said otherwise), measured in the same process as its plain-loop
reference. Images: 320x240 noisy-gradient JPEGs (about 30 kB), written to a
temporary folder and read back by both sides (``read_binary_files`` for Ray,
``Path.read_bytes`` for the loop), through ``ks.image.default(size=(224, 224))``.
Fewer images than the issue's 2,000 keep the module near a minute on a shared
2-core machine; the row says how many.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np
from _harness import Row

import keras_sanitize as ks

N_IMAGES = 500
N_NOOP = 2000
N_CRASH, CRASH_EVERY = 40, 20  # 5 % of the rows kill their actor
ROOT = Path(__file__).resolve().parents[1]


def _jpegs(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:240, 0:320]
    base = np.stack([x * 255 / 320, y * 255 / 240, (x + y) * 255 / 560], -1)
    paths = []
    for i in range(n):
        arr = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=85)
        path = folder / f"img_{i:05d}.jpg"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def _drain(ds: Any) -> tuple[int, int]:
    """Run the job to the end; return (rows, accepted) without keeping the values."""
    rows = ok = 0
    for batch in ds.select_columns(["ok"]).iter_batches(batch_format="numpy", batch_size=None):
        rows += len(batch["ok"])
        ok += int(batch["ok"].sum())
    return rows, ok


class _Noop:
    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return batch


def run() -> list[Row]:
    try:
        import ray
    except ImportError:
        return [Row("scale", "skipped: the ray extra is not installed")]
    sys.path.insert(0, str(ROOT / "tests"))
    import _crashers
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(_crashers)
    cpus = os.cpu_count() or 2
    rows: list[Row] = []
    pipe = ks.image.default(size=(224, 224))
    with tempfile.TemporaryDirectory() as tmp:
        paths = _jpegs(Path(tmp), N_IMAGES)

        def plain_loop() -> float:
            start = time.perf_counter()
            assert sum(pipe.run(p.read_bytes()).ok for p in paths) == N_IMAGES
            return time.perf_counter() - start

        plain = plain_loop()
        # One logical CPU more than the actors take: read_binary_files' read tasks need one,
        # and 2 one-CPU actors on a 2-CPU Ray would starve them (the job would never finish).
        ray.init(num_cpus=max(2, cpus) + 1, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:

            def job(actors: int, n: int) -> float:
                ds = ray.data.read_binary_files([str(p) for p in paths[:n]])
                start = time.perf_counter()
                got = _drain(ks.scale.sanitize_dataset(ds, pipe, "bytes", concurrency=actors))
                assert got == (n, n), got
                return time.perf_counter() - start

            job(2, 50)  # warm-up (untimed): Ray's task workers, the driver's lazy imports
            small = job(1, N_IMAGES // 4)
            timed = {1: job(1, N_IMAGES), 2: job(2, N_IMAGES)}
            start = time.perf_counter()
            noop = ray.data.from_items([{"item": i} for i in range(N_NOOP)]).map_batches(
                _Noop, compute=ray.data.ActorPoolStrategy(size=1), batch_size=64
            )
            assert noop.count() == N_NOOP
            fixed = time.perf_counter() - start

            texts = [f"row {i}" for i in range(N_CRASH)]
            for i in range(7, N_CRASH, CRASH_EVERY):
                texts[i] = f"{_crashers.MARKER} {i}"
            crashing = ks.Pipeline([_crashers.CrashOn(), *ks.text.default().stages], modality="text")
            start = time.perf_counter()
            out = ks.scale.sanitize_dataset(
                ray.data.from_items([{"item": t} for t in texts]), crashing, concurrency=1, batch_size=16
            ).materialize()
            crash_time = time.perf_counter() - start
            counts = ks.scale.summary(out)
        finally:
            ray.shutdown()
        plain = min(plain, plain_loop())  # the machine is shared: the quieter of two runs

    free = f"{cpus} cores here (Ray: {max(2, cpus) + 1} logical CPUs), shared with Ray's own processes"
    rows.append(
        Row(
            "scale",
            f"{N_IMAGES} 320x240 JPEGs, Ray 2 actors vs plain loop (time)",
            timed[2],
            "plain loop",
            plain,
            note=f"{N_IMAGES / timed[2]:.0f} vs {N_IMAGES / plain:.0f} img/s; {free}",
            goal="≤ 0.63x (≥ 1.6x img/s) with ≥ 4 free CPUs",
        )
    )
    # Per item: the slope between a 1-actor job of N/4 and one of N images (fixed costs cancel).
    per_item = (timed[1] - small) / (N_IMAGES - N_IMAGES // 4)
    rows.append(
        Row(
            "scale",
            f"Ray per item at 1 actor (slope {N_IMAGES // 4} -> {N_IMAGES} imgs) vs loop",
            per_item,
            "plain loop per item",
            plain / N_IMAGES,
            note=f"1-actor jobs {small:.1f} s and {timed[1]:.1f} s; 2 actors {timed[2]:.1f} s",
            goal="≤ 1.25x",
        )
    )
    rows.append(
        Row(
            "scale",
            f"fixed cost: do-nothing Ray Data job, {N_NOOP} rows, 1 actor",
            fixed,
            f"plain loop, {N_IMAGES} images",
            plain,
            note="actor start + scheduling; paid once per job",
            goal="report",
        )
    )
    rows.append(
        Row(
            "scale",
            f"{N_CRASH} rows, 5% kill their actor: rows in vs out",
            crash_time,
            note=f"in {N_CRASH}, out {counts['rows']}, accepted {counts['accepted']}, "
            f"sandbox.crashed {counts.get('sandbox.crashed', 0)}",
            goal="in = out, every row explained",
        )
    )
    return rows
