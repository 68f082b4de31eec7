"""Ultrasonic (DolphinAttack) verifier and the squeeze-and-compare adversarial detector."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _audio_helpers import BYTES, CLIP_STAGES, CLIPS, STAGES, _hostile_clips, of_kind

import keras_sanitize as ks
from keras_sanitize.audio import Clip, synth, verifiers
from keras_sanitize.testing import check_stage


def _clip(x: np.ndarray, rate: int) -> Clip:
    return Clip(np.ascontiguousarray(x.reshape(-1, 1), dtype=np.float32), rate)


@pytest.mark.parametrize(
    ("rate", "carrier"), [(96000, 25000), (96000, 30000), (96000, 40000), (192000, 35000), (48000, 21000)]
)
def test_dolphin_attack_is_flagged_with_its_am_envelope(rate: int, carrier: float) -> None:
    x = synth.dolphin(0.5, rate=rate, carrier=carrier, seed=rate + int(carrier))
    report = verifiers.Ultrasonic().run(_clip(x, rate))
    assert report.codes == ("audio.ultrasonic",)
    f = report.findings[0]
    assert f.severity.value == "high" and f.detail["am_modulated"] is True
    assert abs(f.detail["peak_hz"] - carrier) < 100
    assert "DolphinAttack" in f.message


def test_dolphin_attack_hidden_under_speech_is_flagged() -> None:
    rate = 96000
    x = synth.speech_like(0.5, rate, seed=9, amplitude=0.3) + synth.dolphin(
        0.5, rate, 32000, seed=4, amplitude=0.2
    )
    report = ks.audio.default().run(synth.encode(x, rate, "WAV", "PCM_16"))
    assert not report.ok and report.rejections[0].code == "audio.ultrasonic"
    assert report.rejections[0].detail["am_modulated"] is True


def test_short_burst_inside_a_long_clip_is_flagged() -> None:
    rate = 96000
    x = synth.speech_like(30.0, rate, seed=1, amplitude=0.3)
    burst = synth.dolphin(1.0, rate, 32000, seed=2, amplitude=0.05)
    at = int(12.3 * rate)
    x[at : at + burst.size] += burst
    report = verifiers.Ultrasonic().run(_clip(x, rate))
    assert report.codes == ("audio.ultrasonic",)
    d = report.findings[0].detail
    assert d["ratio_db"] < -20 < d["block_ratio_db"]  # averaged away over 30 s, plain in its block
    assert 11.5 < d["block_start_s"] < 13.3 and d["am_modulated"] is True


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
@pytest.mark.parametrize("hiss_db", [-50, -30])
def test_hissy_speech_is_not_flagged(rate: int, hiss_db: int) -> None:
    rng = np.random.default_rng(rate + hiss_db)
    x = synth.speech_like(3.0, rate, seed=3) + 10 ** (hiss_db / 20) * rng.standard_normal(3 * rate)
    assert verifiers.Ultrasonic().run(_clip(x.astype(np.float32), rate)).codes == ()


def test_dominant_ultrasonic_noise_is_flagged_without_a_carrier() -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal(96000)).astype(np.float32)
    report = verifiers.Ultrasonic().run(_clip(x, 96000))
    assert report.codes == ("audio.ultrasonic",) and report.findings[0].detail["ratio_db"] >= 0
    assert report.findings[0].severity.value == "medium"


def test_pure_ultrasonic_tone_is_flagged_but_not_as_am() -> None:
    report = verifiers.Ultrasonic().run(_clip(synth.tone(30000, 0.5, 96000), 96000))
    assert report.codes == ("audio.ultrasonic",)
    assert (
        report.findings[0].severity.value == "medium" and report.findings[0].detail["am_modulated"] is False
    )


@pytest.mark.parametrize("rate", [22050, 32000, 44100, 48000, 96000])
def test_speech_is_not_flagged(rate: int) -> None:
    for seed in range(3):
        x = synth.speech_like(1.0, rate, seed=seed) + 0.001 * np.random.default_rng(seed).standard_normal(
            rate
        )
        assert verifiers.Ultrasonic().run(_clip(x.astype(np.float32), rate)).codes == ()


def test_measured_on_the_raw_signal_before_resampling() -> None:
    """Resampling to 16 kHz would erase the carrier: the default pipeline measures first."""
    data = synth.encode(synth.dolphin(0.5, seed=1), 96000, "WAV", "PCM_16")
    pipe = ks.audio.default(sample_rate=16000)
    names = [s.name for s in pipe.stages]
    assert names.index("ultrasonic") < names.index("resample")
    assert not pipe.run(data).ok
    without = ks.audio.default(sample_rate=16000, ultrasonic=False).run(data)
    assert without.ok  # what the model would have received: inaudible, and no longer detectable
    assert verifiers.Ultrasonic().run(_clip(without.value, 16000)).codes == ()


def test_lowpass_policy_instead_of_refusal() -> None:
    data = synth.encode(synth.dolphin(0.5, seed=1), 96000, "WAV", "PCM_16")
    pipe = ks.audio.default(sample_rate=48000)
    cleaned = ks.Pipeline([pipe], policy={"audio.ultrasonic": "warn"}).run(data)
    assert cleaned.ok and "audio.lowpassed" in cleaned.codes
    assert verifiers.Ultrasonic().run(_clip(cleaned.value, 48000)).codes == ()


def test_short_or_low_rate_clips_are_not_measured() -> None:
    assert verifiers.Ultrasonic().measure(_clip(np.ones(4, np.float32), 48000)) is None
    assert verifiers.Ultrasonic().measure(_clip(synth.speech_like(0.5, 16000), 16000)) is None


# -- squeeze and compare ------------------------------------------------------------

RATE = 16000
N = 1600


class _Task:
    """A two-class task on raw 0.1 s waveforms and a logistic model fitted to it (numpy).

    The model is fitted on few, noisy examples, so its weights carry high-frequency
    components benign inputs hardly excite: the situation feature squeezing exploits.
    """

    def __init__(self) -> None:
        template = synth.speech_like(0.1, RATE, seed=0).astype(np.float64)
        self.template = template / np.linalg.norm(template)
        self.nuisance = np.stack([synth.speech_like(0.1, RATE, seed=s, amplitude=0.2) for s in range(1, 41)])
        x, y = self.data(100, seed=1)
        self.w = np.zeros(N)
        self.b = 0.0
        for _ in range(300):
            p = 1 / (1 + np.exp(-(x @ self.w + self.b)))
            self.w -= 0.5 * (x.T @ (p - y)) / len(y)
            self.b -= 0.5 * float((p - y).mean())

    def data(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        nuis = self.nuisance[rng.integers(0, len(self.nuisance), n)] * rng.uniform(-1, 1, (n, 1))
        x = (
            (2 * y - 1)[:, None] * rng.uniform(0.5, 1.5, (n, 1)) * 0.3 * self.template
            + nuis
            + 0.03 * rng.standard_normal((n, N))
        )
        return x.astype(np.float32), y

    def model(self, batch: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(np.asarray(batch, np.float64).reshape(len(batch), -1) @ self.w + self.b)))
        return np.stack([1 - p, p], axis=1)

    def fgsm(self, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
        p = self.model(x)[:, 1]
        grad = (p - y)[:, None] * self.w[None, :]  # d(cross-entropy)/dx
        return (x + eps * np.sign(grad)).astype(np.float32)


@pytest.fixture(scope="module")
def task() -> _Task:
    return _Task()


def test_squeeze_detector_calibrated_on_separate_benign_data(task: _Task) -> None:
    calib, _ = task.data(200, seed=2)  # calibration only
    test_x, test_y = task.data(200, seed=3)  # everything reported below
    assert (task.model(test_x).argmax(1) == test_y).mean() > 0.9
    adv = task.fgsm(test_x, test_y, eps=0.02)
    fooled = task.model(adv).argmax(1) != test_y
    assert fooled.mean() > 0.8

    det = verifiers.SqueezeCompare(task.model, sample_rate=RATE).calibrate(list(calib), fpr=0.05)
    assert det.threshold is not None
    fpr = np.mean([not det.run(x).ok for x in test_x])
    tpr = np.mean([not det.run(x).ok for x in adv[fooled]])
    assert fpr <= 0.12, fpr  # target 0.05; 200 held-out items, so allow sampling error
    assert tpr >= 0.9, tpr
    flagged = det.run(adv[fooled][0])
    assert flagged.codes == ("audio.adversarial",) and flagged.findings[0].score > det.threshold


def test_squeeze_detector_in_a_pipeline_and_config(task: _Task) -> None:
    calib, _ = task.data(50, seed=4)
    det = verifiers.SqueezeCompare(task.model, sample_rate=RATE, squeezers=["quantize", "lowpass", "median"])
    det.calibrate(list(calib), fpr=0.05)
    pipe = ks.Pipeline([ks.audio.default(), det], modality="audio")
    x, _ = task.data(1, seed=5)
    assert pipe.run((x[0], RATE)).ok
    cfg = det.get_config()
    assert cfg["threshold"] == det.threshold and "model" not in cfg
    unconfigured = verifiers.SqueezeCompare.from_config(cfg)
    assert unconfigured.run(x[0]).codes == ("audio.squeeze_unconfigured",)


def test_squeeze_detector_survives_a_failing_model() -> None:
    def broken(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("boom")

    det = verifiers.SqueezeCompare(broken, threshold=0.1)
    assert det.run(np.zeros(N, np.float32)).codes == ("audio.model_error",)
    with pytest.raises(ks.ConfigError):
        verifiers.SqueezeCompare(lambda b: b[:, :2]).calibrate([], fpr=0.05)


@pytest.mark.parametrize("stage", of_kind(STAGES, "verifier"), ids=lambda s: repr(s)[:60])
def test_stage_contract(stage: ks.Stage) -> None:
    check_stage(stage, CLIPS + BYTES, max_examples=30)


@pytest.mark.parametrize("stage", of_kind(CLIP_STAGES, "verifier"), ids=lambda s: repr(s)[:60])
def test_hostile_clips_give_findings_never_errors_or_warnings(stage: ks.Stage) -> None:
    check_stage(
        stage, [], max_examples=int(os.environ.get("AUDIO_EXAMPLES", "40")), strategy=_hostile_clips()
    )
