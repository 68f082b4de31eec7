"""Small signal-processing helpers shared by the filters and verifiers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def quiet(fn: F) -> F:
    """Run ``fn`` with numpy's floating-point warnings off.

    Hostile samples (3e38, inf) overflow sums and products; the stages check
    finiteness themselves and report findings, so numpy's warnings would only
    turn into errors under ``-W error``. ``np.errstate`` is context-local.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


__all__ = ["band_energy", "channel_means", "fft_lowpass", "mono", "quiet"]


def mono(x: np.ndarray) -> np.ndarray:
    """Average a ``(frames, channels)`` array to ``(frames,)`` float32."""
    if x.shape[1] == 1:
        return np.asarray(x.reshape(-1))
    out: np.ndarray = x.mean(axis=1, dtype=np.float32)
    return out


def fft_lowpass(x: np.ndarray, rate: float, cutoff: float) -> np.ndarray:
    """Zero every FFT bin above ``cutoff`` Hz along axis 0 (a brick-wall low-pass).

    Brick-wall rather than IIR on purpose: applying it twice changes nothing
    measurable, which keeps the filter idempotent, and the stop band really is
    empty (an ultrasonic carrier cannot leak through a finite roll-off).
    """
    n = x.shape[0]
    spec = np.fft.rfft(x, axis=0)
    first = int(np.floor(cutoff * n / rate)) + 1
    spec[first:] = 0
    return np.fft.irfft(spec, n=n, axis=0).astype(np.float32)


def band_energy(x: np.ndarray, rate: float, cutoff: float) -> tuple[float, float]:
    """Return ``(energy below or at cutoff, energy above cutoff)`` of ``x`` along axis 0."""
    n = x.shape[0]
    power = np.abs(np.fft.rfft(x, axis=0)) ** 2
    first = int(np.floor(cutoff * n / rate)) + 1
    return float(power[:first].sum()), float(power[first:].sum())


def channel_means(x: np.ndarray) -> np.ndarray:
    """Per-channel means of a ``(frames, channels)`` float32 array, as float64.

    Avoids ``x.sum(axis=0)``, a strided reduction ~40x slower than a BLAS
    matrix-vector product; for mono, ``einsum`` is ~5x faster than ``sum`` here
    at the same accuracy.
    """
    frames, channels = x.shape
    if frames == 0:
        return np.zeros(channels)
    if channels == 1:
        return np.array([float(np.einsum("i->", x.reshape(-1))) / frames])
    sums: np.ndarray = np.asarray(np.ones(frames, np.float32) @ x, dtype=np.float64) / frames
    return sums
