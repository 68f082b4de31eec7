"""Demo section: raw audio uploads through ``ks.audio.default()`` in front of a small Keras model.

The bundled files in ``examples/data/audio/`` are generated (``python examples/demo_audio.py
--write-data`` rebuilds them): a speech-like WAV, a DolphinAttack-style ultrasonic AM carrier
at 96 kHz, a 444-byte WAV whose header declares 4 GB, and a float WAV holding NaN.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from _demo import Case, case_from_report, run_alone

import keras_sanitize as ks
from keras_sanitize.audio import synth

DATA = Path(__file__).resolve().parent / "data" / "audio"
RATE = 16000


def _generated() -> dict[str, bytes]:
    nan = synth.speech_like(0.1, RATE, seed=4)
    nan[1000:1010] = np.nan
    return {
        "speech_16k.wav": synth.encode(synth.speech_like(1.0, RATE, seed=3), RATE, "WAV", "PCM_16"),
        "dolphin_96k.wav": synth.encode(synth.dolphin(0.25, 96000, 30000, seed=5), 96000, "WAV", "PCM_16"),
        "declares_4gb.wav": synth.lying_wav(4294967280, frames=200),
        "nan_float.wav": synth.encode(nan, RATE, "WAV", "FLOAT"),
    }


def write_data() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for name, blob in _generated().items():
        (DATA / name).write_bytes(blob)


def _file(name: str) -> bytes:
    path = DATA / name
    return path.read_bytes() if path.exists() else _generated()[name]


def _inputs() -> dict[str, object]:
    speech44 = synth.speech_like(1.5, 44100, seed=6)
    loud = np.clip(synth.speech_like(1.0, 22050, seed=7) * 4 + 0.1, -1, 1)
    flac = synth.encode(synth.speech_like(0.8, 48000, seed=8), 48000, "FLAC")
    return {
        "speech, 16 kHz WAV (bundled)": _file("speech_16k.wav"),
        "speech, 44.1 kHz stereo WAV": synth.encode(
            np.stack([speech44, speech44], 1), 44100, "WAV", "PCM_24"
        ),
        "speech, 48 kHz FLAC": flac,
        "(samples, rate) tuple, 22.05 kHz": (synth.speech_like(1.0, 22050, seed=9), 22050),
        "upload named .mp3, really WAV": {"data": _file("speech_16k.wav"), "filename": "note.mp3"},
        "clipped recording with DC offset": synth.encode(loud, 22050, "WAV", "PCM_16"),
        "DolphinAttack: 30 kHz AM carrier": _file("dolphin_96k.wav"),
        "444-byte WAV declaring 4 GB": _file("declares_4gb.wav"),
        "float WAV holding NaN": _file("nan_float.wav"),
        "truncated FLAC": flac[: len(flac) // 3],
        "6-channel WAV": synth.encode(np.zeros((1600, 6), np.float32), RATE, "WAV", "PCM_16"),
        "ID3-tagged MP3 bytes": b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64),
        "a (channels, frames) array": (np.zeros((2, RATE), np.float32), RATE),
    }


def section() -> tuple[str, list[Case]]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((RATE,)),
            keras.layers.Reshape((RATE // 160, 160)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    pipe = ks.audio.default(sample_rate=RATE, length=RATE)
    cases = []
    for label, value in _inputs().items():
        report = pipe.run(value)
        case = case_from_report(label, report)
        if report.ok:
            probs = model.predict(report.value[None], verbose=0)
            case.findings.append(f"model.predict -> {np.round(probs[0].astype(float), 3).tolist()}")
        cases.append(case)
    return "audio: ks.audio.default(sample_rate=16000, length=16000) in front of model.predict", cases


if __name__ == "__main__":
    if "--write-data" in sys.argv:
        write_data()
    else:
        raise SystemExit(run_alone(section))
