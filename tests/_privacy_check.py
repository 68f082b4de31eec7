"""Known-result checks of ks.privacy on real Keras training; one backend per process.

Usage: KERAS_BACKEND=torch python tests/_privacy_check.py
Prints one JSON object with the measured numbers (tests/test_privacy_models.py asserts on them).
The same functions run in-process on JAX.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

CHARS = " abcdefghijklmnopqrstuvwxyz0123456789"
WINDOW = 8
CANARY_FORMAT = "my pin is {}"
CANARY_SECRET = "582931"
_WORDS = [
    "the", "cat", "sat", "on", "a", "mat", "and", "we", "went", "to", "see", "old", "river", "boat",
    "town", "map", "with", "blue", "red", "green", "tea", "cup", "room", "door", "opens", "at",
    "noon", "every", "day", "late", "train", "runs", "slow", "near", "north", "gate", "park",
]


def _mlp(d: int, classes: int, seed: int, lr: float = 3e-3) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(classes),
        ]
    )
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def memorising() -> dict[str, float]:
    """An MLP trained to memorise random labels: members vs fresh examples."""
    import keras_sanitize as ks

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 20)).astype("float32")
    y = rng.integers(0, 10, 400)
    model = _mlp(20, 10, seed=0, lr=1e-2)
    model.fit(x[:200], y[:200], epochs=120, batch_size=200, verbose=0)  # full batch: few, cheap steps
    report = ks.privacy.membership_inference(model, (x[:200], y[:200]), (x[200:], y[200:]), n_bootstrap=100)
    r = report["loss"]
    return {"auc": r.auc, "tpr_at_1pct": r.tpr_at(0.01), "auc_ci_low": r.ci["auc"][0],
            "train_acc": report.meta["member_accuracy"]}


def generalising() -> dict[str, float]:
    """The same architecture on a clean linear task, stopped early on a validation set."""
    import keras

    import keras_sanitize as ks

    rng = np.random.default_rng(1)
    w = rng.normal(size=20)
    x = rng.normal(size=(2500, 20)).astype("float32")
    y = (x @ w + 0.5 * rng.normal(size=2500) > 0).astype("int64")
    model = _mlp(20, 2, seed=1)
    stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model.fit(x[:1000], y[:1000], validation_data=(x[2000:], y[2000:]), epochs=50, batch_size=250,
              verbose=0, callbacks=[stop])
    report = ks.privacy.membership_inference(model, (x[:1000], y[:1000]), (x[1000:2000], y[1000:2000]),
                                             n_bootstrap=0)
    return {"auc": report["loss"].auc, "test_acc": report.meta["non_member_accuracy"]}


def untrained() -> dict[str, float]:
    """A model that never saw either set: the attack must not be biased."""
    import keras_sanitize as ks

    rng = np.random.default_rng(2)
    x = rng.normal(size=(4000, 20)).astype("float32")
    y = rng.integers(0, 10, 4000)
    model = _mlp(20, 10, seed=2)
    report = ks.privacy.membership_inference(model, (x[:2000], y[:2000]), (x[2000:], y[2000:]), n_bootstrap=0)
    return {name: r.auc for name, r in report.items()}


def encode(text: str) -> list[int]:
    """Character ids (0 is padding)."""
    return [CHARS.index(c) + 1 for c in text if c in CHARS]


def _corpus(n_canary: int) -> list[str]:
    import keras_sanitize as ks

    rng = np.random.default_rng(3)
    texts = []
    for _ in range(300):
        words = [_WORDS[i] for i in rng.integers(0, len(_WORDS), rng.integers(3, 7))]
        if rng.random() < 0.3:  # digits occur in ordinary text too
            words.append(str(rng.integers(0, 1000)))
        texts.append(" ".join(words))
    return ks.privacy.insert_canaries(texts, CANARY_FORMAT.format(CANARY_SECRET), n_canary, seed=4)


def char_model(n_canary: int) -> Any:
    """A small next-character model trained on the corpus with the canary inserted ``n_canary`` times."""
    import keras

    xs, ys = [], []
    for text in _corpus(n_canary):
        ids = encode(text)
        padded = [0] * WINDOW + ids
        for i in range(1, len(ids)):
            xs.append(padded[i : i + WINDOW])
            ys.append(ids[i])
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((WINDOW,), dtype="int32"),
            keras.layers.Embedding(len(CHARS) + 1, 16),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(len(CHARS) + 1),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.array(xs, "int32"), np.array(ys), epochs=15, batch_size=512, verbose=0)
    return model


def exposure(n_canary: int) -> dict[str, float]:
    """The canary's exposure in a model trained with it inserted ``n_canary`` times."""
    import keras_sanitize as ks

    model = char_model(n_canary)
    e = ks.privacy.canary_exposure(model, CANARY_FORMAT, CANARY_SECRET, n_candidates=2000, encode=encode,
                                   window=WINDOW)
    return {"exposure": e.exposure, "extrapolated": e.extrapolated, "rank": e.rank}


def main() -> int:
    import keras

    out = {
        "backend": keras.config.backend(),
        "memorising": memorising(),
        "generalising": generalising(),
        "untrained": untrained(),
        "exposure_20": exposure(20),
        "exposure_0": exposure(0),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
