"""Known results of ks.privacy on real Keras training, on JAX (in process) and torch (a child process).

The models and numbers come from tests/_privacy_check.py; the thresholds are the issue's, fixed before
any run: memorising MLP AUC >= 0.9, early-stopped generalising MLP AUC <= 0.6, untrained model AUC in
0.5 +- 0.05, canary inserted 20x far more exposed than inserted 0x.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import _privacy_check as C
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def _check_mia(numbers: dict[str, Any]) -> None:
    mem, gen, untrained = numbers["memorising"], numbers["generalising"], numbers["untrained"]
    assert mem["train_acc"] == 1.0 and mem["auc"] >= 0.9, mem
    assert gen["test_acc"] >= 0.85 and gen["auc"] <= 0.6, gen
    assert all(abs(auc - 0.5) <= 0.05 for auc in untrained.values()), untrained


def _check_exposure(numbers: dict[str, Any]) -> None:
    hi, lo = numbers["exposure_20"], numbers["exposure_0"]
    # 2000 sampled candidates: the sampled exposure tops out at log2(2001) = 10.97
    assert hi["exposure"] >= 9.0 and hi["exposure"] - lo["exposure"] >= 4.0, (hi, lo)
    assert hi["extrapolated"] > lo["extrapolated"] + 4.0, (hi, lo)


def test_membership_inference_known_results_jax() -> None:
    numbers = {"memorising": C.memorising(), "generalising": C.generalising(), "untrained": C.untrained()}
    print(json.dumps(numbers))
    _check_mia(numbers)


@pytest.mark.slow
def test_canary_exposure_20x_vs_0x_jax() -> None:
    numbers = {"exposure_20": C.exposure(20), "exposure_0": C.exposure(0)}
    print(json.dumps(numbers))
    _check_exposure(numbers)


@pytest.mark.slow
def test_known_results_on_torch_backend() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed (make install adds the CPU wheel torch==2.13.0)")
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(HERE.parent)}
    proc = subprocess.run(
        [sys.executable, str(HERE / "_privacy_check.py")],
        check=False, capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    numbers = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(numbers))
    assert numbers["backend"] == "torch"
    _check_mia(numbers)
    _check_exposure(numbers)


_NO_TFP = (
    "tensorflow-privacy is not installed, and cannot be here: its latest release (0.9.0) pins "
    "numpy~=1.21 and packaging~=22.0, which conflict with this project's numpy 2 and Keras 3.15 "
    "(pip would downgrade numpy in the shared environment)"
)


def test_loss_attack_agrees_with_tensorflow_privacy() -> None:
    if importlib.util.find_spec("tensorflow_privacy") is None:
        pytest.skip(_NO_TFP)
    from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack import (
        membership_inference_attack as mia,
    )
    from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack.data_structures import (
        AttackInputData,
        AttackType,
    )

    import keras_sanitize as ks

    rng = np.random.default_rng(0)
    loss_train = rng.gamma(1.0, 0.5, 2000)
    loss_test = rng.gamma(1.2, 0.6, 2000)
    theirs = mia.run_attacks(
        AttackInputData(loss_train=loss_train, loss_test=loss_test),
        attack_types=[AttackType.THRESHOLD_ATTACK],
    )
    their_auc = max(r.get_auc() for r in theirs.single_attack_results)
    ours = ks.privacy.attack_result("loss", -loss_train, -loss_test).auc
    assert abs(ours - their_auc) <= 0.01
