"""The result of a leak test: one :class:`AttackResult` per attack, gathered in a :class:`LeakReport`."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.privacy import _metrics as M

__all__ = ["AttackResult", "LeakReport"]

#: The false-positive rates reported by default (the low-FPR regime of Carlini et al., 2022).
REPORTED_FPRS: tuple[float, ...] = (0.001, 0.01)


def _pct(rate: float) -> str:
    return f"{rate * 100:g}%"


@dataclass(frozen=True)
class AttackResult:
    """One attack's scores and ROC metrics.

    Attributes:
        name: the attack (``"loss"``, ``"confidence"``, ``"entropy"``, ``"lira"``...).
        auc: area under the ROC curve; 0.5 is chance.
        advantage: membership advantage, ``max(TPR - FPR)`` over thresholds.
        balanced_accuracy: ``(TPR + TNR) / 2`` at the threshold of the advantage (= 0.5 + advantage/2).
        fpr / tpr: the ROC curve, from (0, 0) to (1, 1).
        member_scores / non_member_scores: per-example scores (higher = "member").
        member_classes / non_member_classes: per-example class labels, or ``None``.
        per_class: class label -> ``{"auc", "n_members", "n_non_members"}``.
        ci: metric name -> ``(low, high)`` bootstrap interval (empty without bootstrap).
        confidence: the level of ``ci``.
    """

    name: str
    auc: float
    advantage: float
    balanced_accuracy: float
    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    member_scores: np.ndarray = field(repr=False)
    non_member_scores: np.ndarray = field(repr=False)
    member_classes: np.ndarray | None = field(default=None, repr=False)
    non_member_classes: np.ndarray | None = field(default=None, repr=False)
    per_class: Mapping[str, Mapping[str, float]] = field(default_factory=dict, repr=False)
    ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float = 0.95

    def tpr_at(self, fpr: float) -> float:
        """The attack's TPR at a false-positive rate of at most ``fpr`` (e.g. ``0.01``).

        Example:
            >>> import numpy as np
            >>> from keras_sanitize.privacy import attack_result
            >>> r = attack_result("demo", np.array([3.0, 2.0, 0.5]), np.array([1.0, 0.0, -1.0]))
            >>> r.auc, r.tpr_at(0.01)
            (0.888..., 0.666...)
        """
        if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 <= fpr <= 1:
            raise ConfigError(f"tpr_at: fpr must be a rate in [0, 1]. Received: fpr={fpr!r}")
        return M.tpr_at(self.fpr, self.tpr, float(fpr))

    def most_exposed(self, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` members the attack is surest about: ``(index into members, score)``, best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ConfigError(f"most_exposed: k must be an int >= 0. Received: k={k!r}")
        order = np.argsort(-self.member_scores, kind="stable")[:k]
        return [(int(i), float(self.member_scores[i])) for i in order]

    def to_dict(self, *, scores: bool = False) -> dict[str, Any]:
        """JSON-able summary; ``scores=True`` adds the per-example scores."""
        out: dict[str, Any] = {
            "auc": self.auc,
            "advantage": self.advantage,
            "balanced_accuracy": self.balanced_accuracy,
            "tpr_at_fpr": {str(r): self.tpr_at(r) for r in REPORTED_FPRS},
            "ci": {k: list(v) for k, v in self.ci.items()},
            "confidence": self.confidence,
            "per_class": {k: dict(v) for k, v in self.per_class.items()},
            "most_exposed": [{"index": i, "score": s} for i, s in self.most_exposed(10)],
        }
        if scores:
            out["member_scores"] = [float(s) for s in self.member_scores]
            out["non_member_scores"] = [float(s) for s in self.non_member_scores]
        cleaned: dict[str, Any] = _finite(out)
        return cleaned


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class LeakReport(Mapping[str, AttackResult]):
    """Attack name -> :class:`AttackResult`, with the sizes of the two sets.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.privacy import LeakReport, attack_result
        >>> rep = LeakReport({"loss": attack_result("loss", np.arange(5.0), np.arange(5.0) - 2)})
        >>> round(rep["loss"].auc, 2), sorted(rep.to_dict()["attacks"])
        (0.82, ['loss'])
    """

    def __init__(
        self, results: Mapping[str, AttackResult], *, meta: Mapping[str, Any] | None = None
    ) -> None:
        self._results = dict(results)
        self.meta: dict[str, Any] = dict(meta or {})

    def __getitem__(self, name: str) -> AttackResult:
        try:
            return self._results[name]
        except KeyError:
            raise KeyError(f"no attack {name!r} in this report; it has {sorted(self._results)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: auc={v.auc:.3f} tpr@1%={v.tpr_at(0.01):.3f}" for k, v in self.items())
        return f"LeakReport({parts})"

    @property
    def worst(self) -> AttackResult:
        """The attack with the highest AUC (the strongest evidence of a leak)."""
        return max(self._results.values(), key=lambda r: r.auc)

    def to_dict(self, *, scores: bool = False) -> dict[str, Any]:
        """JSON-able data: ``{"meta": ..., "attacks": {name: AttackResult.to_dict()}}``."""
        return {
            "meta": _finite(dict(self.meta)),
            "attacks": {k: v.to_dict(scores=scores) for k, v in self._results.items()},
        }

    def to_json(self, *, indent: int | None = 2, scores: bool = False) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(scores=scores), indent=indent, allow_nan=False)

    def summary(self) -> str:
        """A plain-text table: one line per attack."""
        lines = [f"{'attack':<14} {'AUC':>6} {'adv':>6} {'bal.acc':>7} {'TPR@0.1%':>9} {'TPR@1%':>7}"]
        for name, r in self.items():
            lines.append(
                f"{name:<14} {r.auc:6.3f} {r.advantage:6.3f} {r.balanced_accuracy:7.3f} "
                f"{r.tpr_at(0.001):9.4f} {r.tpr_at(0.01):7.4f}"
            )
        return "\n".join(lines)

    def plot_roc(self, path: str | Path | None = None) -> Any:
        """Draw the ROC curves on log-log axes (as in the LiRA paper); save to ``path`` if given.

        Needs matplotlib (``pip install 'keras-sanitize[privacy]'``). Returns the figure.
        """
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(5, 5))
        floor = 1e-5
        ax.plot([floor, 1], [floor, 1], ls="--", color="grey", lw=0.8, label="chance")
        for name, r in self.items():
            ax.plot(
                np.maximum(r.fpr, floor),
                np.maximum(r.tpr, floor),
                label=f"{name} (AUC {r.auc:.3f}, TPR@1% {r.tpr_at(0.01):.3f})",
            )
        ax.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(floor, 1.05))
        ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="membership inference")
        ax.legend(loc="lower right", fontsize=7)
        fig.tight_layout()
        if path is not None:
            fig.savefig(Path(path))
            plt.close(fig)
        return fig

    def to_html(self, path: str | Path) -> Path:
        """Write a self-contained HTML report (table, ROC plot when matplotlib is installed)."""
        rows = "".join(
            "<tr>"
            + f"<td>{html.escape(name)}</td>"
            + "".join(
                f"<td>{v:.4f}</td>"
                for v in (r.auc, r.advantage, r.balanced_accuracy, r.tpr_at(0.001), r.tpr_at(0.01))
            )
            + f"<td>{html.escape(_ci_text(r))}</td></tr>"
            for name, r in self.items()
        )
        try:
            fig = self.plot_roc()
        except ConfigError as exc:
            plot = f"<p>(no plot: {html.escape(str(exc))})</p>"
        else:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100)
            _pyplot().close(fig)
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            plot = f'<img alt="ROC curves, log-log" src="data:image/png;base64,{data}">'
        meta = html.escape(json.dumps(self.to_dict()["meta"], indent=1))
        exposed = ""
        if self._results:
            worst = self.worst
            items = "".join(f"<li>member #{i}: score {s:.4g}</li>" for i, s in worst.most_exposed(10))
            exposed = f"<h2>Most exposed members ({html.escape(worst.name)})</h2><ol>{items}</ol>"
        doc = (
            "<!doctype html><meta charset='utf-8'><title>keras_sanitize leak report</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "td,th{padding:.2em .6em;text-align:right}</style>"
            "<h1>Membership-inference leak report</h1>"
            "<table><tr><th>attack</th><th>AUC</th><th>advantage</th><th>balanced acc.</th>"
            f"<th>TPR@0.1%FPR</th><th>TPR@1%FPR</th><th>bootstrap CI</th></tr>{rows}</table>"
            f"{plot}{exposed}<h2>Run</h2><pre>{meta}</pre>"
        )
        out = Path(path)
        out.write_text(doc, encoding="utf-8")
        return out


def _ci_text(r: AttackResult) -> str:
    if "auc" not in r.ci:
        return ""
    lo, hi = r.ci["auc"]
    return f"AUC {_pct(r.confidence)}: [{lo:.3f}, {hi:.3f}]"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "plotting needs matplotlib, which is not installed; pip install 'keras-sanitize[privacy]'"
        ) from None
    return plt
