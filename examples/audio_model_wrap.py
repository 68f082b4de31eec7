"""An audio model behind ``ks.wrap``: raw WAV/FLAC uploads in, one score per clip out.

``ks.audio.default(sample_rate=16000, length=16000)`` checks each upload's
header before decoding (rate, channels, duration, declared length vs file
size), decodes with bounds, refuses NaN samples and inaudible ultrasonic
commands, resamples to 16 kHz, low-passes, and trims/pads to one second: the
``(16000,)`` float32 array the model takes. The model itself also carries
``ks.layers`` (TensorGuard, LowPass) so the same guard travels with the file.

Run: ``KERAS_BACKEND=jax python examples/audio_model_wrap.py``
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

import keras_sanitize as ks
from keras_sanitize.audio import synth

RATE = 16000


def uploads() -> dict[str, bytes]:
    speech = synth.speech_like(1.0, 44100, seed=1)
    nan_clip = synth.tone(440, 0.5, RATE)
    nan_clip[100:110] = np.nan
    return {
        "speech, 44.1 kHz WAV": synth.encode(speech, 44100, "WAV", "PCM_16"),
        "speech, 16 kHz FLAC": synth.encode(synth.speech_like(0.8, RATE, seed=2), RATE, "FLAC"),
        "440 Hz tone, 22.05 kHz": synth.encode(synth.tone(440, 1.2, 22050), 22050, "WAV", "PCM_16"),
        "float WAV holding NaN": synth.encode(nan_clip, RATE, "WAV", "FLOAT"),
        "DolphinAttack (30 kHz AM)": synth.encode(synth.dolphin(0.5, 96000), 96000, "WAV", "PCM_16"),
        "WAV declaring 4 GB": synth.lying_wav(),
        "not audio at all": b"MZ\x90\x00 this is an executable",
    }


def build_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((RATE,)),
            ks.layers.TensorGuard(min_value=-1.0, max_value=1.0),
            ks.layers.LowPass(cutoff_hz=4000, sample_rate=RATE, num_taps=31),
            keras.layers.Reshape((RATE // 160, 160)),
            keras.layers.Lambda(lambda x: keras.ops.log(keras.ops.mean(x * x, axis=-1) + 1e-6)),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def main() -> int:
    data = uploads()
    safe = ks.wrap(build_model(), inputs=ks.audio.default(sample_rate=RATE, length=RATE), on_reject="skip")
    scores, reports = safe.predict(list(data.values()), verbose=0, return_reports=True)
    for (label, _), score, report in zip(data.items(), scores, reports):
        verdict = "REFUSED" if not report.ok else "ok"
        shown = f"{float(score[0]):.3f}" if report.ok else "nan"
        codes = ", ".join(dict.fromkeys(report.codes)) or "-"
        print(f"{label:<28} {verdict:<8} {shown:<6} {codes}")
    ok = [r.ok for r in reports]
    assert ok[:3] == [True, True, True] and not any(ok[3:]), ok
    assert np.isfinite(scores[:3]).all() and np.isnan(scores[3:]).all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
