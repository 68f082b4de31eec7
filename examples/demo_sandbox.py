"""Demo section: a decoder that crashes on a crafted file, contained by the sandbox.

``_toy_decoder.ToyDecode`` dereferences NULL when a file's header declares more
pixels than it holds (a stand-in for a real codec's memory-safety bug). Run in
sandbox workers, the crafted file becomes one refused report
(``sandbox.crashed``, SIGSEGV), the worker is replaced, and the next files are
served; the caller's process never runs the decoder.
"""

from __future__ import annotations

from _demo import Case, case_from_report
from _toy_decoder import ToyDecode, toy

import keras_sanitize as ks


def section() -> tuple[str, list[Case]]:
    pipe = ks.Pipeline([ToyDecode()], modality="image", name="toy_image")
    inputs = [
        ("a valid 16x16 TOY1 file", toy(16, 16)),
        ("crafted: header claims 4096x4096 pixels", toy(4096, 4096, missing=4096 * 4096 - 10)),
        ("the next valid file (worker replaced)", toy(8, 8)),
        ("not a TOY1 file", b"GIF89a"),
    ]
    with ks.sandbox.Sandbox(workers=1) as box:
        isolated = pipe.isolated(box)
        reports = isolated.run_batch([data for _, data in inputs])
        layers = [name for name, on in box.isolation().items() if on]
    cases = [case_from_report(label, report) for (label, _), report in zip(inputs, reports)]
    cases[0].findings.append(f"isolation in force: {', '.join(layers)}")
    return "sandbox (a crashing decoder, contained)", cases


if __name__ == "__main__":
    for case in section()[1]:
        print(f"{case.label}: {case.verdict} {'; '.join(case.findings)}")
