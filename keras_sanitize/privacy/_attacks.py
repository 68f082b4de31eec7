"""Membership scores from model outputs, and the ROC metrics of a score with bootstrap intervals.

Every score is *higher for examples the attack believes were trained on*:

* ``loss``: minus the per-example cross-entropy ``-log p_y`` (Yeom et al., 2018);
* ``confidence``: the probability of the true class ``p_y``;
* ``entropy``: minus the modified entropy of Song & Mittal (2021), which uses
  the label: ``-(1-p_y) log p_y - sum_{i != y} p_i log(1 - p_i)``;
* LiRA (Carlini et al., 2022): see :func:`lira_scores`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.privacy import _metrics as M
from keras_sanitize.privacy._report import REPORTED_FPRS, AttackResult

__all__ = [
    "ATTACKS",
    "PrivacyLimits",
    "attack_result",
    "lira_scores",
    "logit_confidence",
    "probabilities",
    "threshold_scores",
]

#: The threshold attacks computed from one prediction pass.
THRESHOLD_ATTACKS: tuple[str, ...] = ("loss", "confidence", "entropy")
#: Every attack name :func:`~keras_sanitize.privacy.membership_inference` accepts.
ATTACKS: tuple[str, ...] = (*THRESHOLD_ATTACKS, "lira", "lira_offline")
_EPS = 1e-12


@dataclass(frozen=True)
class PrivacyLimits:
    """Bounds on what one leak test may consume; override per call.

    Attributes:
        max_examples: members (and, separately, non-members) read from a dataset.
        max_classes: classes listed in ``per_class`` (the most populous first).
        max_bootstrap: largest ``n_bootstrap`` accepted.
        max_candidates: candidates a canary-exposure test scores.
        max_shadows: largest ``n_shadows`` accepted for LiRA.
    """

    max_examples: int = 5_000_000
    max_classes: int = 1000
    max_bootstrap: int = 10_000
    max_candidates: int = 10_000_000
    max_shadows: int = 1024


DEFAULT_LIMITS = PrivacyLimits()


def probabilities(outputs: np.ndarray, from_logits: bool | None = None) -> np.ndarray:
    """Class probabilities ``(n, C)`` (C >= 2) from model outputs ``(n,)``, ``(n, 1)`` or ``(n, C)``.

    ``from_logits=None`` decides per batch: rows that are non-negative and sum to 1
    (or single values in [0, 1]) are probabilities, anything else is logits.
    """
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2 or out.shape[0] == 0:
        raise ConfigError(
            f"membership inference needs one row of class scores per example, shape (n, C) or (n,); "
            f"the model returned shape {tuple(np.shape(outputs))}. Pass a classifier, or loss_fn=."
        )
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=1e6, neginf=-1e6)
    binary = out.shape[1] == 1
    if from_logits is None:
        if binary:
            from_logits = bool((out < 0).any() or (out > 1).any())
        else:
            from_logits = bool((out < 0).any() or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3))
    if binary:
        p1 = 1.0 / (1.0 + np.exp(-out[:, 0])) if from_logits else out[:, 0]
        return np.stack([1.0 - p1, p1], axis=1)
    if from_logits:
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))
    return np.asarray(out / np.maximum(out.sum(axis=1, keepdims=True), _EPS))


def class_indices(labels: Any, n: int, n_classes: int) -> np.ndarray:
    """Integer class labels ``(n,)`` from sparse labels or one-hot rows."""
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.shape[1] == n_classes and n_classes > 1:
        y = y.argmax(axis=1)
    if y.ndim != 1 or y.shape[0] != n:
        raise ConfigError(
            f"labels must be one class index or one-hot row per example ({n} examples, {n_classes} "
            f"classes); received shape {tuple(np.shape(labels))}"
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise ConfigError("labels must be whole class indices; received non-integer values")
        y = y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise ConfigError(f"labels must be integers; received dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ConfigError(
            f"labels must be in [0, {n_classes - 1}] for a model with {n_classes} classes; "
            f"received labels in [{y.min()}, {y.max()}]"
        )
    return y


def threshold_scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The ``loss``, ``confidence`` and ``entropy`` scores of each example (higher = member)."""
    rows = np.arange(len(labels))
    p_y = np.clip(probs[rows, labels], _EPS, 1.0)
    others = np.clip(probs, 0.0, 1.0 - _EPS).copy()
    others[rows, labels] = 0.0
    m_entropy = -(1.0 - p_y) * np.log(p_y) - np.sum(others * np.log1p(-others), axis=1)
    return {"loss": np.log(p_y), "confidence": p_y, "entropy": -m_entropy}


def logit_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """LiRA's logit-scaled confidence ``log(p_y) - log(1 - p_y)`` (computed stably)."""
    rows = np.arange(len(labels))
    p_y = probs[rows, labels]
    rest = probs.sum(axis=1) - p_y
    return np.asarray(np.log(p_y + _EPS) - np.log(np.maximum(rest, 0.0) + _EPS))


def attack_result(
    name: str,
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    *,
    member_classes: np.ndarray | None = None,
    non_member_classes: np.ndarray | None = None,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
    max_classes: int = DEFAULT_LIMITS.max_classes,
) -> AttackResult:
    """ROC metrics of one score: AUC, advantage, balanced accuracy, TPR at low FPR, bootstrap CIs.

    Each bootstrap resample draws members and non-members independently with
    replacement and recomputes every metric; ``ci`` holds the central
    ``confidence`` percentile interval.
    """
    ms = np.nan_to_num(np.asarray(member_scores, dtype=np.float64), nan=-np.inf)
    ns = np.nan_to_num(np.asarray(non_member_scores, dtype=np.float64), nan=-np.inf)
    if ms.ndim != 1 or ns.ndim != 1 or not len(ms) or not len(ns):
        raise ConfigError(
            f"{name}: needs at least one member and one non-member score; received "
            f"{np.shape(member_scores)} and {np.shape(non_member_scores)}"
        )
    grouped = M.group_scores(ms, ns)
    fpr, tpr = M.roc(grouped)
    advantage = float(np.max(tpr - fpr))
    ci: dict[str, tuple[float, float]] = {}
    if n_bootstrap:
        ci = _bootstrap(grouped, len(ms), len(ns), n_bootstrap, confidence, seed)
    per_class: dict[str, dict[str, float]] = {}
    if member_classes is not None and non_member_classes is not None:
        classes, counts = np.unique(np.concatenate([member_classes, non_member_classes]), return_counts=True)
        for c in classes[np.argsort(-counts, kind="stable")][:max_classes]:
            mi, ni = ms[member_classes == c], ns[non_member_classes == c]
            entry: dict[str, float] = {"n_members": len(mi), "n_non_members": len(ni)}
            if len(mi) and len(ni):
                entry["auc"] = M.auc(*M.roc(M.group_scores(mi, ni)))
            per_class[str(c)] = entry
    return AttackResult(
        name=name,
        auc=M.auc(fpr, tpr),
        advantage=advantage,
        balanced_accuracy=0.5 + advantage / 2.0,
        fpr=fpr,
        tpr=tpr,
        member_scores=ms,
        non_member_scores=ns,
        member_classes=member_classes,
        non_member_classes=non_member_classes,
        per_class=per_class,
        ci=ci,
        confidence=confidence,
    )


def _counts(rng: np.random.Generator, k: int, size: int) -> np.ndarray:
    """``k`` bootstrap resamples of ``size`` items, as per-item counts ``(k, size)``."""
    draws = rng.integers(0, size, (k, size)) + np.arange(k)[:, None] * size
    return np.bincount(draws.ravel(), minlength=k * size).reshape(k, size).astype(np.int32)


def _bootstrap(
    grouped: M.Grouped, m: int, n: int, rounds: int, confidence: float, seed: int
) -> dict[str, tuple[float, float]]:
    """Percentile intervals over ``rounds`` resamples, vectorised over chunks of resamples."""
    rng = np.random.default_rng(seed)
    order = np.argsort(grouped.inverse, kind="stable")
    ends = np.append(np.flatnonzero(np.diff(grouped.inverse[order])), len(order) - 1)
    labels = grouped.labels[order].astype(np.int32)
    names = ["auc", "advantage", *(f"tpr_at_{r}" for r in REPORTED_FPRS)]
    values = np.empty((rounds, len(names)))
    for first in range(0, rounds, 32):
        k = min(32, rounds - first)
        # int32 counts: cumulative sums stay exact and cost half the memory traffic of float64
        w = np.concatenate([_counts(rng, k, m), _counts(rng, k, n)], axis=1)[:, order]
        pos = np.cumsum(w * labels, axis=1, dtype=np.int32)[:, ends]
        neg = np.cumsum(w, axis=1, dtype=np.int32)[:, ends] - pos
        zeros = np.zeros((k, 1))
        tpr = np.concatenate([zeros, pos / m], axis=1)
        fpr = np.concatenate([zeros, neg / n], axis=1)
        values[first : first + k, 0] = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
        values[first : first + k, 1] = np.max(tpr - fpr, axis=1)
        for j, rate in enumerate(REPORTED_FPRS):
            values[first : first + k, 2 + j] = np.where(fpr <= rate + 1e-12, tpr, 0.0).max(axis=1)
    lo, hi = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100
    qs = np.percentile(values, [lo, hi], axis=0)
    return {k: (float(qs[0, j]), float(qs[1, j])) for j, k in enumerate(names)}


def lira_scores(
    target_phi: np.ndarray,
    shadow_phi: np.ndarray,
    keep: np.ndarray,
) -> dict[str, np.ndarray]:
    """LiRA's online and offline scores from logit-scaled confidences.

    Args:
        target_phi: ``(n,)`` the target model's confidence on each example.
        shadow_phi: ``(S, n)`` each shadow model's confidence on each example.
        keep: ``(S, n)`` bool, whether shadow ``s`` trained on example ``n``.

    Per example, the IN and OUT confidences are fitted with Gaussians whose
    means are per example and whose variance is shared across examples (the
    paper's "fixed variance", better with few shadows). ``online`` is the
    log-likelihood ratio IN vs OUT; ``offline`` is the z-score against OUT only
    (a one-sided test: higher than the non-member distribution).
    """
    phi_in = np.where(keep, shadow_phi, np.nan)
    phi_out = np.where(keep, np.nan, shadow_phi)
    with np.errstate(all="ignore"):
        mu_in = _nanmean(phi_in, fallback=target_phi)
        mu_out = _nanmean(phi_out, fallback=target_phi)
        sd_in = _pooled_sd(phi_in, mu_in)
        sd_out = _pooled_sd(phi_out, mu_out)
    online = _norm_logpdf(target_phi, mu_in, sd_in) - _norm_logpdf(target_phi, mu_out, sd_out)
    offline = (target_phi - mu_out) / sd_out
    return {"lira": online, "lira_offline": offline}


def _nanmean(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    count = np.sum(~np.isnan(values), axis=0)
    total = np.nansum(values, axis=0)
    overall = np.nanmean(values) if count.sum() else float(np.mean(fallback))
    return np.where(count > 0, total / np.maximum(count, 1), overall)


def _pooled_sd(values: np.ndarray, mu: np.ndarray) -> float:
    dev = values - mu[None, :]
    ok = ~np.isnan(dev)
    if ok.sum() < 2:
        return 1.0
    return float(max(np.sqrt(np.mean(dev[ok] ** 2)), 1e-3))


def _norm_logpdf(x: np.ndarray, mu: np.ndarray, sd: float) -> np.ndarray:
    return np.asarray(-0.5 * ((x - mu) / sd) ** 2 - np.log(sd))


ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
