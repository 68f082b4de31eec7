"""Measurements behind :class:`~keras_sanitize.audio.verifiers.Ultrasonic`.

The clip is cut into consecutive Hann-windowed ~20 ms segments (all of them up to
4096; evenly spaced ones beyond), each segment's energy above the cutoff and in
the audible band is measured, and segments are grouped into ~0.5 s blocks, so a
short ultrasonic burst inside a long clip is seen at full strength in its block
instead of being averaged away over the whole clip.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._dsp import mono

__all__ = ["envelope", "measure"]

_MAX_SEGMENTS = 4096
_BATCH = 256
_BLOCK_SECONDS = 0.5
_AUDIBLE_LOW_HZ = 20.0


def _db(x: float) -> float:
    return max(10 * math.log10(x), -200.0) if x > 0 else -200.0


def _carrier(spectrum: np.ndarray) -> tuple[float, int]:
    """Share of the band's energy in the strongest line (+-2 bins), and that line's bin."""
    total = float(spectrum.sum())
    if spectrum.size == 0 or total <= 0:
        return 0.0, 0
    top = int(np.argmax(spectrum))
    return float(spectrum[max(0, top - 2) : top + 3].sum()) / total, top


def _power(samples: np.ndarray, idx: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Power spectra (float32) of the segments at ``idx``, mixed to mono after gathering."""
    segs = samples[idx]
    mixed = segs[..., 0] if segs.shape[2] == 1 else segs.mean(axis=2, dtype=np.float32)
    spec = np.fft.rfft(mixed * window, axis=1)
    out: np.ndarray = spec.real**2 + spec.imag**2
    return out


def measure(samples: np.ndarray, rate: int, cutoff: float) -> dict[str, Any] | None:
    """Energy ratios (dB), band levels (dBFS), carrier shares and the loudest block.

    ``None`` when the clip is shorter than one segment, silent, or not finite.
    """
    frames = samples.shape[0]
    nseg = 1 << max(8, math.ceil(math.log2(rate * 0.02)))
    total = frames // nseg
    if total == 0:
        return None
    count = min(total, _MAX_SEGMENTS)
    if count == total:
        starts = np.arange(count, dtype=np.int64) * nseg
    else:
        starts = np.linspace(0, frames - nseg, count).astype(np.int64)
    window = np.hanning(nseg).astype(np.float32)
    freqs = np.fft.rfftfreq(nseg, 1.0 / rate)
    k_u = int(np.searchsorted(freqs, cutoff, side="right"))  # bins [k_u:] are above the cutoff
    k_a = int(np.searchsorted(freqs, _AUDIBLE_LOW_HZ, side="left"))  # bins [k_a:k_u] are audible
    ultra = np.empty(count)
    audible = np.empty(count)
    uspec = np.zeros(freqs.size - k_u)
    offsets = np.arange(nseg)[None, :]
    for b in range(0, count, _BATCH):
        power = _power(samples, starts[b : b + _BATCH, None] + offsets, window)
        ultra[b : b + _BATCH] = power[:, k_u:].sum(axis=1, dtype=np.float64)
        audible[b : b + _BATCH] = power[:, k_a:k_u].sum(axis=1, dtype=np.float64)
        uspec += power[:, k_u:].sum(axis=0, dtype=np.float64)
    u, a = float(ultra.sum()), float(audible.sum())
    if not (math.isfinite(u) and math.isfinite(a)) or u + a <= 1e-12 * nseg * count:
        return None
    norm = 2.0 / (nseg * float(np.sum(window.astype(np.float64) ** 2)))  # Parseval, one-sided, Hann

    def ratio(uu: float, aa: float) -> float:
        return 120.0 if aa <= uu * 1e-12 else min(120.0, 10 * math.log10(max(uu, 1e-300) / aa))

    per_block = max(1, round(_BLOCK_SECONDS * rate / nseg))
    cuts = np.arange(0, count, per_block)
    ub = np.add.reduceat(ultra, cuts)
    ab = np.add.reduceat(audible, cuts)
    sizes = np.diff(np.append(cuts, count))
    levels = ub * norm / sizes
    loud = np.flatnonzero(levels > 0)
    ratios = np.array([ratio(float(ub[i]), float(ab[i])) for i in loud]) if loud.size else np.zeros(0)
    j = int(loud[int(np.argmax(ratios))]) if loud.size else 0
    # The carrier share of that block needs its spectrum: recompute it (at most ~25 segments).
    bspec = _power(samples, starts[cuts[j] : cuts[j] + sizes[j], None] + offsets, window)
    carrier, top = _carrier(uspec)
    block_carrier, block_top = _carrier(bspec[:, k_u:].sum(axis=0, dtype=np.float64))
    ufreqs = freqs[k_u:]
    return {
        "ratio_db": ratio(u, a),
        "level_db": _db(u * norm / count),
        "peak_hz": float(ufreqs[top]) if ufreqs.size else 0.0,
        "carrier_fraction": carrier,
        "block_ratio_db": float(ratios.max()) if ratios.size else -200.0,
        "block_level_db": _db(float(levels[j])),
        "block_start_s": float(starts[cuts[j]]) / rate,
        "block_peak_hz": float(ufreqs[block_top]) if ufreqs.size else 0.0,
        "block_carrier_fraction": block_carrier,
        "rate": rate,
    }


def envelope(samples: np.ndarray, rate: int, cutoff: float, centre: int) -> dict[str, Any]:
    """Modulation index of the band-above-``cutoff`` envelope in the speech band (20-4000 Hz),
    over (up to) one second around frame ``centre``."""
    frames = samples.shape[0]
    half = min(rate // 2, frames // 2)
    lo = max(0, min(centre - half, frames - 2 * half))
    w = mono(samples[lo : lo + 2 * half]).astype(np.float64)
    n = w.shape[0]
    if n < 2:
        return {"modulation_index": 0.0, "envelope_peak_hz": 0.0}
    spec = np.fft.fft(w)
    freqs = np.fft.fftfreq(n, 1.0 / rate)
    env = np.abs(np.fft.ifft(np.where(freqs > cutoff, 2.0 * spec, 0.0)))
    mean = float(env.mean())
    if mean <= 0:
        return {"modulation_index": 0.0, "envelope_peak_hz": 0.0}
    env_spec = np.abs(np.fft.rfft(env - mean)) ** 2
    ef = np.fft.rfftfreq(n, 1.0 / rate)
    band = (ef >= 20.0) & (ef <= 4000.0)
    index = math.sqrt(2.0 * float(env_spec[band].sum())) / n / mean
    peak = float(ef[band][int(np.argmax(env_spec[band]))]) if band.any() else 0.0
    return {"modulation_index": index, "envelope_peak_hz": peak}
