"""The crash ledger: per-batch attempt counts and the item each attempt is on (run as a Ray actor).

See :mod:`keras_sanitize.scale._dataset` for how actors use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Ledger"]


class Ledger:
    """Per-batch attempt counts and the item each running attempt is on (a Ray actor)."""

    def __init__(self) -> None:
        self._batches: dict[str, list[Any]] = {}

    def begin(self, key: str) -> tuple[int, list[int]]:
        """Count an attempt; blame the item the previous attempt was on. Returns (attempt, blamed)."""
        entry = self._batches.setdefault(key, [0, None, set()])
        entry[0] += 1
        if entry[1] is not None:
            entry[2].add(entry[1])
            entry[1] = None
        return entry[0], sorted(entry[2])

    def running(self, key: str, index: int) -> None:
        """Record the item an attempt is about to run."""
        self._batches.setdefault(key, [1, None, set()])[1] = index

    def done(self, key: str) -> None:
        """Forget a batch that finished."""
        self._batches.pop(key, None)
