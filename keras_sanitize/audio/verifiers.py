"""Audio verifiers: ultrasonic content (inaudible voice commands) and a
squeeze-and-compare adversarial-example detector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Verifier, check_choice, check_number

from . import _ultra
from ._clip import Clip, as_clip
from ._common import audio_stage
from ._dsp import fft_lowpass, quiet

__all__ = ["SqueezeCompare", "Ultrasonic"]

#: ultrasonic band starts here by default (Hz): above adult hearing, below attack carriers.
DEFAULT_ULTRASONIC_HZ: float = 18000.0
#: default flag level: ultrasonic energy at least 1% (-20 dB) of the audible band's.
DEFAULT_ULTRASONIC_DB: float = -20.0
#: ultrasound quieter than this (dBFS, mean power) cannot drive a microphone into demodulating it.
DEFAULT_ULTRASONIC_LEVEL_DB: float = -60.0
_DOMINANT_DB = 0.0  # at or above this ratio the ultrasonic band dominates: flagged with or without a carrier
_CARRIER = 0.2  # share of the ultrasonic band's energy in one spectral line that makes it a carrier


@audio_stage
class Ultrasonic(Verifier):
    """Flag energy above ``cutoff_hz`` relative to the audible band, on the raw signal.

    Put it right after decoding, before any resampling (which would hide the
    evidence). Inaudible voice commands (DolphinAttack, Zhang et al. 2017)
    amplitude-modulate speech onto a 25-40 kHz carrier that a microphone's
    non-linearity demodulates: such a clip has almost all its energy above the
    audible band. The stage measures the ultrasonic-to-audible energy ratio
    over the whole clip and in each ~0.5 s block (Hann-windowed ~20 ms FFT
    segments). It flags the clip when the ultrasonic band dominates (ratio >= 0
    dB), or when the ratio over the clip or in one block is at least
    ``threshold_db`` *and* a carrier line holds at least 20% of the band's
    energy (hiss has no such line; an attack needs one). The band must also
    be louder than ``min_level_db`` dBFS, so that near-silence cannot trip a
    ratio of two tiny numbers. It then demodulates
    the band: a speech-band AM envelope on a carrier raises the severity. A clip whose
    Nyquist frequency is at or below ``cutoff_hz`` (16 kHz audio) cannot hold
    ultrasonic content and passes, as does one shorter than the ~20 ms
    analysis window.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.audio import Clip
        >>> t = np.arange(96000) / 96000
        >>> am = (1 + 0.8 * np.sin(2 * np.pi * 300 * t)) * np.sin(2 * np.pi * 30000 * t)
        >>> r = Ultrasonic().run(Clip((0.3 * am).astype("float32")[:, None], 96000))
        >>> r.codes, r.findings[0].detail["am_modulated"]
        (('audio.ultrasonic',), True)
    """

    modality = "audio"

    def __init__(
        self,
        cutoff_hz: float = DEFAULT_ULTRASONIC_HZ,
        threshold_db: float = DEFAULT_ULTRASONIC_DB,
        min_modulation: float = 0.05,
        min_level_db: float = DEFAULT_ULTRASONIC_LEVEL_DB,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.cutoff_hz = float(check_number(owner, "cutoff_hz", cutoff_hz, minimum=100.0))
        self.threshold_db = float(
            check_number(owner, "threshold_db", threshold_db, minimum=-120.0, maximum=120.0)
        )
        self.min_modulation = float(check_number(owner, "min_modulation", min_modulation, minimum=0.0))
        self.min_level_db = float(
            check_number(owner, "min_level_db", min_level_db, minimum=-200.0, maximum=0.0)
        )

    def measure(self, clip: Clip) -> dict[str, Any] | None:
        """The measurements behind the verdict; ``None`` when the clip cannot hold ultrasound."""
        if clip.rate / 2 <= self.cutoff_hz or clip.frames == 0:
            return None
        m = _ultra.measure(clip.samples, clip.rate, self.cutoff_hz)
        if m is None:
            return None
        overall, burst = self._over(m)
        if overall or burst:
            centre = int((m["block_start_s"] + 0.25) * clip.rate)
            m.update(_ultra.envelope(clip.samples, clip.rate, self.cutoff_hz, centre))
            carrier = max(m["block_carrier_fraction"], m["carrier_fraction"] if overall else 0.0)
            m["am_modulated"] = bool(m["modulation_index"] >= self.min_modulation and carrier >= _CARRIER)
        return m

    def _over(self, m: dict[str, Any]) -> tuple[bool, bool]:
        # Ultrasound that is not dominant must show a carrier line: hiss on a noisy 48 or 96 kHz
        # recording can reach -20 dB, an inaudible-command attack always has its carrier(s).
        overall = m["level_db"] >= self.min_level_db and (
            m["ratio_db"] >= max(_DOMINANT_DB, self.threshold_db)
            or (m["ratio_db"] >= self.threshold_db and m["carrier_fraction"] >= _CARRIER)
        )
        burst = (
            m["block_ratio_db"] >= self.threshold_db
            and m["block_level_db"] >= self.min_level_db
            and m["block_carrier_fraction"] >= _CARRIER
        )
        return bool(overall), bool(burst)

    def flags(self, m: dict[str, Any]) -> bool:
        """Whether measurements ``m`` (from :meth:`measure`) call for a finding."""
        return any(self._over(m))

    @quiet
    def process(self, value: Any, ctx: Context) -> Any:
        clip = as_clip(value, ctx)
        m = self.measure(clip)
        if m is None or not self.flags(m):
            return value
        am = bool(m.get("am_modulated"))
        what = (
            f"an amplitude-modulated carrier near {m['block_peak_hz']:.0f} Hz (modulation index "
            f"{m['modulation_index']:.2f}, envelope peak {m['envelope_peak_hz']:.0f} Hz): the signature of "
            f"an inaudible voice command (DolphinAttack)"
            if am
            else f"a peak near {m['block_peak_hz']:.0f} Hz"
        )
        ctx.add(
            "audio.ultrasonic",
            f"energy above {self.cutoff_hz:g} Hz must stay below {self.threshold_db:g} dB of the audible "
            f"band (threshold_db); received {m['ratio_db']:+.1f} dB over the clip and "
            f"{m['block_ratio_db']:+.1f} dB in the 0.5 s from {m['block_start_s']:.2f} s, at {clip.rate} Hz, "
            f"with {what}. Low-pass or resample the audio, or refuse it.",
            severity=Severity.HIGH if am else Severity.MEDIUM,
            score=max(m["ratio_db"], m["block_ratio_db"]),
            detail=m,
        )
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            cutoff_hz=self.cutoff_hz,
            threshold_db=self.threshold_db,
            min_modulation=self.min_modulation,
            min_level_db=self.min_level_db,
        )
        return config


_SQUEEZERS = ("quantize", "lowpass", "median")


@audio_stage
class SqueezeCompare(Verifier):
    """Feature squeezing (Xu et al., NDSS 2018) for audio: compare a model's outputs
    on the input and on squeezed copies; a large L1 distance suggests an adversarial input.

    Squeezers: ``"quantize"`` (to ``bits`` bits), ``"lowpass"`` (brick-wall at
    ``cutoff_hz``), ``"median"`` (3-tap median filter). ``model`` is any
    callable taking a batch ``(n, *input)`` float32 array and returning scores
    ``(n, k)``; it is not part of the config (pass it again after loading).
    Set the threshold from benign traffic with :meth:`calibrate`.

    Inputs are clips or the encoded arrays (time on axis 0, or axis 1 with
    ``layout="CT"``) at ``sample_rate``.

    Example:
        >>> import numpy as np
        >>> model = lambda b: np.stack([b.mean(axis=1), b.std(axis=1)], axis=1)
        >>> det = SqueezeCompare(model, sample_rate=8000)
        >>> rng = np.random.default_rng(0)
        >>> benign = [rng.standard_normal(800).astype("float32") * 0.1 for _ in range(20)]
        >>> det.calibrate(benign, fpr=0.05).threshold > 0
        True
    """

    modality = "audio"

    def __init__(
        self,
        model: Callable[[np.ndarray], Any] | None = None,
        squeezers: Iterable[str] = ("quantize", "lowpass"),
        bits: int = 8,
        cutoff_hz: float = 4000.0,
        sample_rate: int = 16000,
        layout: str = "T",
        threshold: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        if model is not None and not callable(model):
            raise ConfigError(f"{owner}: model must be a callable. Received: model={model!r}")
        self.model = model
        if isinstance(squeezers, str):
            squeezers = [squeezers]
        self.squeezers = tuple(check_choice(owner, "squeezers", s, _SQUEEZERS) for s in squeezers)
        if not self.squeezers:
            raise ConfigError(f"{owner}: squeezers must name at least one of {list(_SQUEEZERS)}")
        self.bits = check_number(owner, "bits", bits, minimum=1, maximum=24, integer=True)
        self.cutoff_hz = float(check_number(owner, "cutoff_hz", cutoff_hz, minimum=1.0))
        self.sample_rate = check_number(owner, "sample_rate", sample_rate, minimum=1, integer=True)
        self.layout = check_choice(owner, "layout", layout, ("T", "TC", "CT"))
        self.threshold = check_number(owner, "threshold", threshold, minimum=0.0, allow_none=True)

    def _squeeze(self, x: np.ndarray, rate: int, kind: str) -> np.ndarray:
        axis0 = x.T if self.layout == "CT" else x
        if kind == "quantize":
            step = np.float32(2.0 ** (1 - self.bits))
            out = np.round(axis0 / step) * step
        elif kind == "lowpass":
            out = fft_lowpass(axis0, rate, self.cutoff_hz) if rate / 2 > self.cutoff_hz else axis0
        else:
            from scipy.ndimage import median_filter

            size = (3,) + (1,) * (axis0.ndim - 1)
            out = median_filter(axis0, size=size, mode="nearest")
        out = np.asarray(out, dtype=np.float32)
        return np.ascontiguousarray(out.T if self.layout == "CT" else out)

    def _as_input(self, value: Any) -> tuple[np.ndarray, int] | None:
        if isinstance(value, Clip):
            x = value.samples.reshape(-1) if self.layout == "T" and value.channels == 1 else value.samples
            return (np.ascontiguousarray(x.T) if self.layout == "CT" else x), value.rate
        if (
            isinstance(value, np.ndarray)
            and value.dtype == np.float32
            and value.ndim == (1 if self.layout == "T" else 2)
        ):
            return value, self.sample_rate
        return None

    def score(self, value: Any) -> float:
        """Max L1 distance between the model's outputs on ``value`` and on each squeezed copy."""
        return float(self.scores([value])[0])

    def scores(self, values: Iterable[Any], batch_size: int = 32) -> np.ndarray:
        """:meth:`score` of each value; inputs of one shape share model calls (``batch_size`` at a time)."""
        if self.model is None:
            raise ConfigError(f"{type(self).__name__} has no model: pass model= to score inputs")
        items = []
        for value in values:
            got = self._as_input(value)
            if got is None:
                raise ConfigError(
                    f"{type(self).__name__}.score needs a float32 clip or array in layout {self.layout!r}; "
                    f"received {echo(value)}"
                )
            items.append(got)
        k = 1 + len(self.squeezers)
        out = np.empty(len(items))
        start = 0
        while start < len(items):
            shape, rate = items[start][0].shape, items[start][1]
            stop = start
            while (
                stop < len(items)
                and stop - start < batch_size
                and items[stop][0].shape == shape
                and (items[stop][1] == rate)
            ):
                stop += 1
            batch = np.stack(
                [
                    v
                    for x, _ in items[start:stop]
                    for v in [x, *(self._squeeze(x, rate, q) for q in self.squeezers)]
                ]
            )
            res = np.asarray(self.model(batch), dtype=np.float64).reshape(stop - start, k, -1)
            out[start:stop] = np.abs(res[:, 1:] - res[:, :1]).sum(axis=2).max(axis=1)
            start = stop
        return out

    def calibrate(self, benign: Iterable[Any], fpr: float = 0.05) -> SqueezeCompare:
        """Set ``threshold`` so that about ``fpr`` of ``benign`` inputs would be flagged; return self.

        Calibrate on benign data kept apart from the data you report results on.
        """
        check_number(type(self).__name__, "fpr", fpr, minimum=0.0, maximum=1.0)
        scores = self.scores(benign)
        if scores.size == 0 or not np.all(np.isfinite(scores)):
            raise ConfigError(
                f"{type(self).__name__}.calibrate needs finite scores on at least one benign "
                f"input; received {scores.size} inputs"
            )
        self.threshold = float(np.quantile(scores, 1.0 - fpr, method="higher"))
        return self

    @quiet
    def process(self, value: Any, ctx: Context) -> Any:
        if self.model is None or self.threshold is None:
            ctx.add(
                "audio.squeeze_unconfigured",
                "SqueezeCompare needs a model and a threshold (call calibrate(benign)); nothing was checked",
                severity=Severity.INFO,
                action=Action.WARN,
            )
            return value
        got = self._as_input(value)
        if got is None:
            ctx.halt(
                "audio.not_decoded",
                f"SqueezeCompare needs a clip or a float32 array in layout "
                f"{self.layout!r}; received {echo(value)}",
            )
        try:
            score = self.score(value)
        except Exception as exc:  # the user's model failing on this input
            ctx.add(
                "audio.model_error",
                f"the model raised {type(exc).__name__} on this input: {echo(str(exc))}",
                severity=Severity.HIGH,
            )
            return value
        if not score <= self.threshold:
            ctx.add(
                "audio.adversarial",
                f"model outputs on the input and its squeezed copies ({', '.join(self.squeezers)}) must "
                f"differ by at most {self.threshold:.4g} (L1, threshold); received {score:.4g}",
                severity=Severity.HIGH,
                score=score,
                detail={"score": score, "threshold": self.threshold},
            )
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            squeezers=list(self.squeezers),
            bits=self.bits,
            cutoff_hz=self.cutoff_hz,
            sample_rate=self.sample_rate,
            layout=self.layout,
            threshold=self.threshold,
        )
        return config
