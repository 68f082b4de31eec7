"""Min/max selection networks for :class:`~keras_sanitize.layers.MedianSmoothing`.

A median filter over a ``k x k`` window is a fixed network of compare-exchange
steps on ``k * k`` shifted copies of the image: each step is one elementwise
``minimum`` and/or ``maximum``, which every backend fuses and vectorizes (no
patches tensor, no sort). The network is Batcher's odd-even merge sort, padded
to a power of two (padding wires hold +inf, so steps touching them are no-ops
and are dropped), then pruned backwards to the steps the median depends on.

Example:
    >>> steps = median_network(9)
    >>> values = [5, 1, 9, 3, 7, 2, 8, 6, 4]
    >>> apply_network(steps, values, min, max)[4]
    5
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["Step", "apply_network", "median_network", "sorting_network"]

T = TypeVar("T")

# (low wire, high wire, keep min, keep max): min goes to the low wire, max to the high one.
Step = tuple[int, int, bool, bool]


def _batcher(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort comparators for ``n`` (a power of two) wires."""
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@functools.lru_cache(maxsize=64)
def sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Comparators that sort ``n`` wires ascending."""
    if n < 1:
        raise ValueError(f"a sorting network needs n >= 1. Received: n={n}")
    size = 1 << max(0, (n - 1).bit_length())
    return tuple((i, j) for i, j in _batcher(size) if j < n)


@functools.lru_cache(maxsize=64)
def median_network(n: int) -> tuple[Step, ...]:
    """The steps of :func:`sorting_network` that the middle wire (``n // 2``) depends on."""
    needed = {n // 2}
    kept: list[Step] = []
    for i, j in reversed(sorting_network(n)):
        want_min, want_max = i in needed, j in needed
        if want_min or want_max:
            kept.append((i, j, want_min, want_max))
            needed.update((i, j))
    kept.reverse()
    return tuple(kept)


def apply_network(
    steps: Sequence[Step], values: Sequence[T], minimum: Callable[[T, T], T], maximum: Callable[[T, T], T]
) -> list[T]:
    """Run ``steps`` over ``values`` with the given elementwise min/max."""
    wires = list(values)
    for i, j, want_min, want_max in steps:
        a, b = wires[i], wires[j]
        if want_min:
            wires[i] = minimum(a, b)
        if want_max:
            wires[j] = maximum(a, b)
    return wires
