"""ROC metrics of a membership score, with weighted (bootstrap) variants in O(n) per resample.

A *score* is higher for examples the attack believes are members. Everything is
computed from one sort: the scores are grouped into distinct values once, and
every bootstrap resample is a vector of per-example counts, so a resample costs
two ``bincount`` calls and two cumulative sums instead of a new sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Curve", "Grouped", "auc", "group_scores", "roc", "tpr_at"]


@dataclass(frozen=True)
class Grouped:
    """Scores of members (label 1) and non-members (label 0) grouped by distinct value.

    ``inverse[i]`` is the group of example ``i``; groups run from the highest
    score to the lowest, so thresholds sweep from strict to lenient.
    """

    inverse: np.ndarray
    labels: np.ndarray
    n_groups: int


@dataclass(frozen=True)
class Curve:
    """An ROC curve: ``fpr`` and ``tpr`` from (0, 0) to (1, 1), and the score thresholds."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


def group_scores(member_scores: np.ndarray, non_member_scores: np.ndarray) -> Grouped:
    """Group the concatenated scores (members first) by distinct value, highest first."""
    scores = np.concatenate([member_scores, non_member_scores]).astype(np.float64)
    labels = np.concatenate([np.ones(len(member_scores)), np.zeros(len(non_member_scores))])
    uniq, inverse = np.unique(-scores, return_inverse=True)
    return Grouped(inverse.reshape(-1), labels, len(uniq))


def roc(grouped: Grouped, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` at every distinct threshold, starting at (0, 0); ``weights`` are counts."""
    w = np.ones_like(grouped.labels) if weights is None else weights
    pos = np.bincount(grouped.inverse, weights=w * grouped.labels, minlength=grouped.n_groups)
    neg = np.bincount(grouped.inverse, weights=w * (1.0 - grouped.labels), minlength=grouped.n_groups)
    p, n = pos.sum(), neg.sum()
    tpr = np.concatenate([[0.0], np.cumsum(pos) / max(p, 1e-300)])
    fpr = np.concatenate([[0.0], np.cumsum(neg) / max(n, 1e-300)])
    return fpr, tpr


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids: a tie between a member and a non-member counts 1/2)."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def tpr_at(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """The highest TPR among thresholds whose FPR is at most ``max_fpr`` (Carlini et al., 2022)."""
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0
