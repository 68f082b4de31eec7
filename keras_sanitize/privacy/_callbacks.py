"""Keras callbacks that run leak tests during training and write their numbers into ``logs``.

Values written into ``logs`` show up in ``History``, in TensorBoard, and can
drive ``EarlyStopping(monitor="mia_loss_auc", mode="min")``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from keras_sanitize.privacy._exposure import DIGITS, canary_exposure
from keras_sanitize.privacy._mia import membership_inference
from keras_sanitize.stage import check_number

__all__ = ["ExposureCallback", "MembershipInferenceCallback"]


class MembershipInferenceCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Run :func:`~keras_sanitize.privacy.membership_inference` every ``every_n_epochs`` epochs.

    Writes ``{prefix}{attack}_auc`` and ``{prefix}{attack}_tpr_at_1pct_fpr`` for every
    attack into the epoch's ``logs`` (no bootstrap: it would slow training).

    Example:
        >>> import keras, numpy as np
        >>> from keras_sanitize.privacy import MembershipInferenceCallback
        >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        >>> y = (x[:, 0] > 0).astype("int32")
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        >>> model.compile("adam", "sparse_categorical_crossentropy")
        >>> cb = MembershipInferenceCallback((x[:32], y[:32]), (x[32:], y[32:]))
        >>> hist = model.fit(x[:32], y[:32], epochs=2, verbose=0, callbacks=[cb])
        >>> sorted(k for k in hist.history if k.startswith("mia_"))
        ['mia_loss_auc', 'mia_loss_tpr_at_1pct_fpr']
    """

    def __init__(
        self,
        members: Any,
        non_members: Any,
        *,
        attacks: Sequence[str] = ("loss",),
        every_n_epochs: int = 1,
        batch_size: int = 256,
        prefix: str = "mia_",
    ) -> None:
        super().__init__()
        check_number(type(self).__name__, "every_n_epochs", every_n_epochs, minimum=1, integer=True)
        self.members, self.non_members = members, non_members
        self.attacks = tuple(attacks)
        self.every_n_epochs, self.batch_size, self.prefix = every_n_epochs, batch_size, str(prefix)
        self.last: Any = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Run the attacks and add their AUC and TPR at 1 % FPR to ``logs``."""
        if (epoch + 1) % self.every_n_epochs:
            return
        report = membership_inference(
            self.model, self.members, self.non_members, self.attacks, batch_size=self.batch_size,
            n_bootstrap=0,
        )
        self.last = report
        if logs is not None:
            for name, result in report.items():
                logs[f"{self.prefix}{name}_auc"] = result.auc
                logs[f"{self.prefix}{name}_tpr_at_1pct_fpr"] = result.tpr_at(0.01)


class ExposureCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Measure a canary's exposure every ``every_n_epochs`` epochs; writes ``logs[key]``.

    The model is scored as a next-token model through ``encode`` and ``window``
    (see :class:`~keras_sanitize.privacy.SequenceScorer`); ``logs[key + "_extrapolated"]``
    holds the skew-normal estimate.
    """

    def __init__(
        self,
        canary_format: str,
        inserted: str,
        *,
        encode: Callable[[str], Sequence[int]],
        window: int,
        alphabet: str = DIGITS,
        n_candidates: int = 1000,
        every_n_epochs: int = 1,
        key: str = "exposure",
    ) -> None:
        super().__init__()
        check_number(type(self).__name__, "every_n_epochs", every_n_epochs, minimum=1, integer=True)
        self.canary_format, self.inserted = canary_format, inserted
        self.encode, self.window, self.alphabet = encode, window, alphabet
        self.n_candidates, self.every_n_epochs, self.key = n_candidates, every_n_epochs, str(key)
        self.last: Any = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Compute the exposure and add it to ``logs``."""
        if (epoch + 1) % self.every_n_epochs:
            return
        result = canary_exposure(
            self.model, self.canary_format, self.inserted, alphabet=self.alphabet,
            n_candidates=self.n_candidates, encode=self.encode, window=self.window,
        )
        self.last = result
        if logs is not None:
            logs[self.key] = result.exposure
            logs[f"{self.key}_extrapolated"] = result.extrapolated
