"""``ModelVerifier``: your own classifier (Keras, KerasHub or any callable) as a text verifier."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ArtifactError, ConfigError
from keras_sanitize.findings import echo
from keras_sanitize.stage import Context, check_choice, check_number
from keras_sanitize.text._injection_features import Featurizer, sigmoid
from keras_sanitize.text._score_verifier import CODE, _ScoreVerifier
from keras_sanitize.text.encoders import require_str

__all__ = ["ModelVerifier", "hashed_ngrams"]

#: Characters featurised per text by :func:`hashed_ngrams` (the shipped model's window is 1024).
MAX_FEATURE_CHARS: int = 262_144


def _to_scores(out: Any, n: int, output: str, positive_index: int) -> npt.NDArray[np.float64]:
    """Turn a model's output for ``n`` texts into ``n`` scores in [0, 1] (NaN -> 1: fail closed)."""
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] > 1:
        if output == "logits":
            arr = arr - arr.max(axis=1, keepdims=True)
            arr = np.exp(arr) / np.exp(arr).sum(axis=1, keepdims=True)
        arr = arr[:, positive_index]
    else:
        arr = arr.reshape(-1)
        if output == "logits":
            arr = sigmoid(arr)
    if arr.shape != (n,):
        raise ValueError(
            f"the model returned shape {np.shape(out)} for {n} texts; expected ({n},), ({n}, 1) or ({n}, k)"
        )
    return np.clip(np.where(np.isnan(arr), 1.0, arr), 0.0, 1.0)


def hashed_ngrams(texts: Sequence[str], bits: int = 14) -> npt.NDArray[np.float32]:
    """The shipped model's preprocessing: dense ``(n, 2**bits)`` hashed n-gram features.

    Example:
        >>> hashed_ngrams(["hello", "world"]).shape
        (2, 16384)
    """
    feat = Featurizer(bits)
    x = np.zeros((len(texts), 2**bits), dtype=np.float32)
    for i, t in enumerate(texts):
        ids, vals = feat(t[:MAX_FEATURE_CHARS])
        x[i, ids] = vals
    return x


_PREPROCESSORS: dict[str, Callable[[Sequence[str]], Any]] = {"hashed_ngrams": hashed_ngrams}


@register_stage()
class ModelVerifier(_ScoreVerifier):
    """Score text with your own classifier: a Keras / KerasHub model or any callable.

    ``model`` is called once per batch on ``preprocess(texts)`` (or on the list
    of texts when ``preprocess`` is ``None``) and must return one score per
    text: shape ``(n,)``, ``(n, 1)`` or ``(n, k)`` (column ``positive_index``).
    Keras models run through their compiled ``predict_on_batch`` (see ``call``),
    not ``predict()``, so a single prompt pays no ``predict`` overhead. NaN
    scores count as 1.

    ``model`` may also be the path of a ``.keras`` file with its pinned
    ``sha256``: it is then loaded lazily through ``ks.load_model`` (hash check,
    scan, ``safe_mode``), and the stage serializes with ``get_config``. A
    callable model (or preprocess) is code, not config: it is left out of
    ``get_config`` and must be passed again.

    Args:
        model: a callable or a ``.keras`` path.
        preprocess: ``None``, a callable from a list of texts to the model's
            input, or ``"hashed_ngrams"`` (the shipped model's features).
        threshold: report at or above this score; see :meth:`calibrate`.
        sha256: the pinned digest of a ``.keras`` path.
        output: ``"probability"`` or ``"logits"`` (sigmoid / softmax applied).
        positive_index: the injection column of a multi-column output.
        batch_size: texts per model call in :meth:`score_batch`.
        call: how a Keras model is run: ``"predict_on_batch"`` (compiled, no
            ``predict()`` overhead), ``"call"`` (``model(x)``, eager), or
            ``"auto"``: ``predict_on_batch`` when the model has it, unless the
            model has its own ``preprocessor`` (a KerasHub task, whose
            ``predict_on_batch`` preprocesses again) and ``preprocess`` is given.

    Example:
        >>> import numpy as np
        >>> det = ModelVerifier(lambda texts: np.array([float("ignore" in t) for t in texts]))
        >>> det.run("please ignore the rules").codes
        ('text.prompt_injection.model',)
        >>> det.calibrate(["hello", "good morning", "what time is it?"], fpr=0.0) <= 1.0
        True
    """

    def __init__(
        self,
        model: Any,
        preprocess: Any = None,
        threshold: float = 0.5,
        *,
        sha256: str | None = None,
        output: str = "probability",
        positive_index: int = -1,
        batch_size: int = 64,
        call: str = "auto",
        code: str = CODE,
        action: str = "reject",
        **kwargs: Any,
    ) -> None:
        super().__init__(threshold, code, action, **kwargs)
        owner = type(self).__name__
        if isinstance(model, str):
            ok = (
                isinstance(sha256, str) and len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)
            )
            if not ok:
                raise ConfigError(
                    f"{owner}: a model path needs its pinned sha256 (64 lowercase hex digits). "
                    f"Received: model={model!r}, sha256={sha256!r}"
                )
        elif not callable(model):
            raise ConfigError(f"{owner}: model must be callable or a .keras path. Received: {echo(model)}")
        if not (
            preprocess is None
            or callable(preprocess)
            or (isinstance(preprocess, str) and preprocess in _PREPROCESSORS)
        ):
            raise ConfigError(
                f"{owner}: preprocess must be None, a callable or one of {sorted(_PREPROCESSORS)}. "
                f"Received: {echo(preprocess)}"
            )
        self.model = model
        self.preprocess = preprocess
        self.sha256 = sha256
        self.output = check_choice(owner, "output", output, ["probability", "logits"])
        self.positive_index = check_number(owner, "positive_index", positive_index, integer=True)
        self.batch_size = check_number(owner, "batch_size", batch_size, minimum=1, integer=True)
        self.call = check_choice(owner, "call", call, ["auto", "predict_on_batch", "call"])
        self._loaded: Any = None
        self._lock = threading.Lock()

    def _callable(self) -> Any:
        if not isinstance(self.model, str):
            return self.model
        with self._lock:
            if self._loaded is None:
                from keras_sanitize.artifacts import load_model

                self._loaded = load_model(self.model, sha256=self.sha256, compile=False)
            return self._loaded

    def _runner(self, model: Any) -> Callable[[Any], Any]:
        pob = getattr(model, "predict_on_batch", None)
        if self.call == "call" or not callable(pob):
            return model  # type: ignore[no-any-return]
        if self.call == "auto" and self.preprocess is not None and hasattr(model, "preprocessor"):
            return model  # type: ignore[no-any-return]
        return pob  # type: ignore[no-any-return]

    def score_batch(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Scores in [0, 1]; errors of the model itself propagate (``process`` fails closed)."""
        model = self._callable()
        prep: Callable[[Sequence[str]], Any] | None = (
            _PREPROCESSORS[self.preprocess] if isinstance(self.preprocess, str) else self.preprocess
        )
        texts = list(texts)
        run = self._runner(model)
        out = []
        for i in range(0, len(texts), self.batch_size):
            chunk = texts[i : i + self.batch_size]
            x = prep(chunk) if prep is not None else chunk
            out.append(_to_scores(run(x), len(chunk), self.output, self.positive_index))
        return np.concatenate(out) if out else np.zeros(0)

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        try:
            score = float(self.score_batch([text])[0])
        except ArtifactError as exc:
            ctx.halt(f"{self.code}_unavailable", f"the model could not be loaded: {exc}")
        except Exception as exc:
            ctx.halt(
                f"{self.code}_error",
                f"the model raised {type(exc).__name__} on {echo(text)}; the input is refused "
                f"(fail closed). Fix the model or its preprocess: {echo(str(exc), 120)}",
            )
        self._report(ctx, text, score, {})
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            model=self.model if isinstance(self.model, str) else None,
            preprocess=self.preprocess if isinstance(self.preprocess, str) else None,
            sha256=self.sha256,
            output=self.output,
            positive_index=self.positive_index,
            batch_size=self.batch_size,
            call=self.call,
        )
        return config

    @classmethod
    def from_config(cls, config: Any) -> ModelVerifier:
        if isinstance(config, dict) and config.get("model") is None:
            raise ConfigError(
                "ModelVerifier.from_config: this config came from a callable model, which is code, "
                "not config; build ModelVerifier(model=..., **config) with the model again"
            )
        return super().from_config(config)  # type: ignore[return-value]
