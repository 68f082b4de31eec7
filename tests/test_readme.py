"""The README's examples are real code: each Python block runs and prints what it says."""

from __future__ import annotations

import pytest
from _docblocks import python_blocks, run_block

BLOCKS = python_blocks("README.md")


def test_readme_has_the_four_ways_in() -> None:
    text = "\n".join(BLOCKS)
    for needle in ("ks.validate(", "@ks.sanitize(", "ks.wrap(", "ks.layers."):
        assert needle in text


_RAY_MARKS = [
    pytest.mark.xdist_group("ray"),
    # ray.init forks; JAX, when an earlier test loaded it, warns that fork and threads mix badly.
    pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning"),
]


def _uses_ray(block: str) -> bool:
    return "import ray" in block


@pytest.mark.parametrize(
    "index",
    # Blocks that start a local Ray share the scale tests' xdist worker (one Ray at a time).
    [
        pytest.param(i, marks=_RAY_MARKS if _uses_ray(b) else [])
        for i, b in enumerate(BLOCKS)
    ],
)
def test_readme_block_runs(index: int) -> None:
    if _uses_ray(BLOCKS[index]):
        pytest.importorskip("ray", reason="the ray extra is not installed (pip install keras-sanitize[ray])")
    run_block(BLOCKS[index], f"README.md block {index}")
