"""Shared base of the text verifiers that score in [0, 1] against a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from keras_sanitize.codes import register_codes
from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Verifier, check_choice, check_number

__all__ = ["CODE", "calibrate_threshold"]

CODE = "text.prompt_injection.model"


def calibrate_threshold(benign_scores: npt.ArrayLike, fpr: float) -> float:
    """The lowest threshold at which at most ``fpr`` of ``benign_scores`` are flagged.

    Example:
        >>> calibrate_threshold([0.1, 0.2, 0.3, 0.9], fpr=0.25) > 0.3
        True
    """
    s = np.sort(np.asarray(benign_scores, dtype=np.float64).ravel())[::-1]
    if s.size == 0:
        raise ConfigError("calibrate: at least one benign text is required. Received none.")
    k = int(np.floor(fpr * s.size))
    return float(min(1.0, np.nextafter(s[k], np.inf))) if k < s.size else 0.0


class _ScoreVerifier(Verifier):
    """A verifier that scores text in [0, 1] and reports at or above ``threshold``."""

    modality = "text"

    def __init__(self, threshold: float, code: str, action: str, **kwargs: Any) -> None:
        if isinstance(code, str) and code.startswith("text.") and "inject" in code:
            # a custom code in the text area: policies (this stage's own too) may name it
            register_codes(code, *(code + s for s in ("_unavailable", "_error", "_truncated")))
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.threshold = float(check_number(owner, "threshold", threshold, minimum=0.0, maximum=1.0))
        if not isinstance(code, str) or not code.startswith("text.") or "inject" not in code:
            raise ConfigError(f"{owner}: code must look like 'text.<...inject...>'. Received: code={code!r}")
        self.code = code
        self.action = check_choice(owner, "action", action, [a.value for a in Action])

    def score_batch(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Scores in [0, 1] for a batch of texts."""
        raise NotImplementedError

    def score(self, text: str) -> float:
        """The score in [0, 1] of one text."""
        return float(self.score_batch([text])[0])

    def calibrate(self, benign_texts: Sequence[str], fpr: float = 0.01) -> float:
        """Set ``threshold`` so that at most ``fpr`` of ``benign_texts`` are flagged; return it.

        Call it once, before serving, on a sample of your own benign traffic
        (not on the texts you then report figures on).
        """
        check_number(type(self).__name__, "fpr", fpr, minimum=0.0, maximum=1.0)
        self.threshold = calibrate_threshold(self.score_batch(list(benign_texts)), fpr)
        return self.threshold

    def _report(self, ctx: Context, text: str, score: float, detail: dict[str, Any]) -> None:
        if not score >= self.threshold:
            return
        ctx.add(
            self.code,
            f"{self.name} scored {score:.3f} >= threshold {self.threshold:.3f} (threshold) on "
            f"{echo(text)}; if this text is legitimate, raise the threshold, calibrate it on your "
            f"traffic, or set policy {{{self.code!r}: 'warn'}}",
            severity=Severity.HIGH,
            action=self.action,
            score=score,
            detail={"score": score, "threshold": self.threshold, **detail},
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(threshold=self.threshold, code=self.code, action=self.action)
        return config
