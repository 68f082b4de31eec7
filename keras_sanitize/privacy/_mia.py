"""``membership_inference``: run membership attacks on a trained Keras model (any backend)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError, SanitizeError
from keras_sanitize.privacy import _attacks as A
from keras_sanitize.privacy._report import AttackResult, LeakReport
from keras_sanitize.stage import check_number

__all__ = ["membership_inference", "predict_set"]

Progress = Callable[[int, int], None]
_CHUNK = 4096


def _n_rows(x: Any) -> int:
    if isinstance(x, Mapping):
        sizes = {_n_rows(v) for v in x.values()}
    elif isinstance(x, (list, tuple)) and x and all(hasattr(v, "shape") for v in x):
        sizes = {_n_rows(v) for v in x}
    else:
        shape = getattr(x, "shape", None)
        if shape is None or not len(shape):
            raise ConfigError(f"inputs must be arrays with one row per example; received {type(x).__name__}")
        return int(shape[0])
    if len(sizes) != 1:
        raise ConfigError(f"the model's inputs have different numbers of rows: {sorted(sizes)}")
    return sizes.pop()


def _rows(x: Any, start: int, stop: int) -> Any:
    if isinstance(x, Mapping):
        return {k: v[start:stop] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(v[start:stop] for v in x)
    return x[start:stop]


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, Mapping) and len(value) == 1:
        value = next(iter(value.values()))
    try:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:
        return np.asarray(value)


def _call(model: Any, x: Any, batch_size: int, what: str) -> np.ndarray:
    try:
        out = model.predict(x, batch_size=batch_size, verbose=0) if hasattr(model, "predict") else model(x)
        return _to_numpy(out)
    except SanitizeError:
        raise
    except Exception as exc:
        raise ConfigError(f"the model failed on the {what}: {type(exc).__name__}: {exc}") from None


def _batches(data: Any) -> Iterable[Any]:
    """Batches of a tf.data.Dataset, a keras PyDataset, or any iterable of ``(x, y)``."""
    if hasattr(data, "as_numpy_iterator"):
        return data.as_numpy_iterator()  # type: ignore[no-any-return]
    if hasattr(data, "num_batches") and hasattr(data, "__getitem__"):
        count = data.num_batches if data.num_batches is not None else len(data)
        return (data[i] for i in range(count))
    if isinstance(data, Iterable):
        return data
    raise ConfigError(
        f"members/non-members must be an (x, y) pair, a tf.data.Dataset, a keras PyDataset or an "
        f"iterable of (x, y) batches; received {type(data).__name__}"
    )


def predict_set(
    model: Any,
    data: Any,
    *,
    what: str,
    batch_size: int = 256,
    progress: Progress | None = None,
    max_examples: int = A.DEFAULT_LIMITS.max_examples,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """The model's outputs and the labels of one set; also ``x`` when the set is an ``(x, y)`` pair."""
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
        y = np.asarray(y)
        n = _n_rows(x)
        if y.ndim == 0 or y.shape[0] != n:
            raise ConfigError(f"{what}: x has {n} rows but y has shape {y.shape}; one label per row")
        if n == 0 or n > max_examples:
            raise ConfigError(f"{what}: needs 1 to {max_examples} examples (max_examples); received {n}")
        if progress is None:
            return _call(model, x, batch_size, what), y, x
        parts = []
        for start in range(0, n, _CHUNK):
            parts.append(_call(model, _rows(x, start, start + _CHUNK), batch_size, what))
            progress(min(start + _CHUNK, n), n)
        return np.concatenate(parts), y, x
    outs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    seen = 0
    for i, batch in enumerate(_batches(data)):
        if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            raise ConfigError(f"{what}: batch {i} is not an (x, y) pair; received {type(batch).__name__}")
        out = _call(model, batch[0], batch_size, what)
        lab = np.asarray(_to_numpy(batch[1]))
        if lab.ndim == 0 or out.ndim == 0 or len(lab) != len(out):
            raise ConfigError(f"{what}: batch {i} has {len(out)} outputs but labels of shape {lab.shape}")
        outs.append(out)
        labels.append(lab)
        seen += len(lab)
        if progress is not None:
            progress(seen, 0)
        if seen > max_examples:
            raise ConfigError(f"{what}: more than {max_examples} examples (max_examples); pass fewer")
    if not outs:
        raise ConfigError(f"{what}: the dataset yielded no batches")
    return np.concatenate(outs), np.concatenate(labels), None


def membership_inference(
    model: Any,
    members: Any,
    non_members: Any,
    attacks: Sequence[str] = A.THRESHOLD_ATTACKS,
    *,
    batch_size: int = 256,
    from_logits: bool | None = None,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    shadow_fn: Callable[[Any, np.ndarray], Any] | None = None,
    n_shadows: int = 16,
    progress: Progress | None = None,
    limits: A.PrivacyLimits | None = None,
) -> LeakReport:
    """Test how well attacks tell the model's training examples from unseen ones.

    Args:
        model: a trained Keras model (any backend), or any callable returning
            class probabilities or logits ``(n, C)`` (``(n,)``/``(n, 1)``: binary).
        members / non_members: examples the model was / was not trained on: an
            ``(x, y)`` pair of arrays, a ``tf.data.Dataset``, a ``keras.utils.PyDataset``
            or an iterable of ``(x, y)`` batches. ``y``: class indices or one-hot rows.
        attacks: any of ``"loss"``, ``"confidence"``, ``"entropy"`` (one prediction
            pass each set), ``"lira"`` (online) and ``"lira_offline"``.
        batch_size: for ``model.predict``.
        from_logits: whether the outputs are logits; ``None`` decides from the values.
        n_bootstrap: bootstrap resamples for the confidence intervals (0: none).
        confidence: level of the intervals.
        seed: seeds the bootstrap and LiRA's shadow splits.
        shadow_fn: for LiRA: ``shadow_fn(x, y) -> trained model`` builds and trains
            a fresh model like the target on the subset given. Costs ``n_shadows``
            trainings; needs both sets as ``(x, y)`` arrays.
        n_shadows: LiRA shadow models; each example is IN about half of them.
        progress: ``progress(done, total)`` called while predicting.
        limits: a :class:`PrivacyLimits`.

    Returns:
        a :class:`LeakReport`: ``report["loss"].auc``, ``.advantage``,
        ``.tpr_at(0.01)``, ``.most_exposed()``, ``report.to_dict()``.

    Example:
        >>> import numpy as np
        >>> from keras_sanitize.privacy import membership_inference
        >>> def model(x):  # a "model" that is sure about exactly its training rows
        ...     p = np.where(x[:, :1] > 0, 0.99, 0.6)
        ...     return np.concatenate([p, 1 - p], axis=1)
        >>> members = (np.ones((50, 2)), np.zeros(50, int))
        >>> non_members = (-np.ones((50, 2)), np.zeros(50, int))
        >>> report = membership_inference(model, members, non_members, n_bootstrap=0)
        >>> report["loss"].auc, report["loss"].tpr_at(0.01)
        (1.0, 1.0)
    """
    lim = limits if limits is not None else A.DEFAULT_LIMITS
    if not isinstance(lim, A.PrivacyLimits):
        raise ConfigError(f"limits must be a PrivacyLimits. Received: {lim!r}")
    names = _check_attacks(attacks)
    check_number("membership_inference", "batch_size", batch_size, minimum=1, integer=True)
    check_number("membership_inference", "n_bootstrap", n_bootstrap, minimum=0, maximum=lim.max_bootstrap,
                 integer=True)
    check_number("membership_inference", "confidence", confidence, minimum=0.5, maximum=0.999)
    check_number("membership_inference", "seed", seed, minimum=0, integer=True)
    if from_logits is not None and not isinstance(from_logits, bool):
        raise ConfigError(f"from_logits must be True, False or None. Received: from_logits={from_logits!r}")
    lira = [a for a in names if a.startswith("lira")]
    if lira:
        check_number("membership_inference", "n_shadows", n_shadows, minimum=2, maximum=lim.max_shadows,
                     integer=True)
        if not callable(shadow_fn):
            raise ConfigError(
                "attacks 'lira'/'lira_offline' need shadow_fn=, a function (x, y) -> a model trained "
                f"on that subset like the target was. Received: shadow_fn={shadow_fn!r}"
            )
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a callable (done, total). Received: {progress!r}")
    start = time.perf_counter()
    m_out, m_y, m_x = predict_set(model, members, what="members", batch_size=batch_size, progress=progress,
                                  max_examples=lim.max_examples)
    n_out, n_y, n_x = predict_set(model, non_members, what="non-members", batch_size=batch_size,
                                  progress=progress, max_examples=lim.max_examples)
    m_p = A.probabilities(m_out, from_logits)
    n_p = A.probabilities(n_out, from_logits)
    if m_p.shape[1] != n_p.shape[1]:
        raise ConfigError(f"members give {m_p.shape[1]} classes, non-members {n_p.shape[1]}")
    n_classes = m_p.shape[1]
    m_c = A.class_indices(m_y, len(m_p), n_classes)
    n_c = A.class_indices(n_y, len(n_p), n_classes)
    m_scores = A.threshold_scores(m_p, m_c)
    n_scores = A.threshold_scores(n_p, n_c)
    if lira:
        if m_x is None or n_x is None:
            raise ConfigError("LiRA needs members and non_members as (x, y) arrays to train shadow models")
        both = A.lira_scores(*_shadows(shadow_fn, m_x, n_x, m_c, n_c, m_p, n_p, n_shadows, batch_size, seed))
        m_scores.update({k: v[: len(m_c)] for k, v in both.items()})
        n_scores.update({k: v[len(m_c) :] for k, v in both.items()})
    results: dict[str, AttackResult] = {}
    for name in names:
        # loss = log(confidence): the same ranking, so the same ROC and the same resampled intervals
        twin = results.get({"loss": "confidence", "confidence": "loss"}.get(name, ""))
        results[name] = A.attack_result(
            name, m_scores[name], n_scores[name], member_classes=m_c, non_member_classes=n_c,
            n_bootstrap=0 if twin is not None else n_bootstrap, confidence=confidence, seed=seed,
            max_classes=lim.max_classes,
        )
        if twin is not None:
            results[name] = dataclasses.replace(results[name], ci=dict(twin.ci))
    meta = {
        "n_members": len(m_c),
        "n_non_members": len(n_c),
        "n_classes": n_classes,
        "member_accuracy": float(np.mean(m_p.argmax(axis=1) == m_c)),
        "non_member_accuracy": float(np.mean(n_p.argmax(axis=1) == n_c)),
        "n_bootstrap": n_bootstrap,
        "n_shadows": n_shadows if lira else 0,
        "backend": _backend(),
        "seconds": time.perf_counter() - start,
    }
    return LeakReport(results, meta=meta)


def _check_attacks(attacks: Any) -> list[str]:
    if isinstance(attacks, str):
        attacks = (attacks,)
    if not isinstance(attacks, (list, tuple)) or not attacks:
        raise ConfigError(f"attacks must be a non-empty list of {list(A.ATTACKS)}. Received: {attacks!r}")
    out: list[str] = []
    for a in attacks:
        if a not in A.ATTACKS:
            raise ConfigError(f"unknown attack {a!r}; choose from {list(A.ATTACKS)}")
        if a not in out:
            out.append(a)
    return out


def _concat(a: Any, b: Any) -> Any:
    if isinstance(a, Mapping):
        return {k: np.concatenate([np.asarray(a[k]), np.asarray(b[k])]) for k in a}
    if isinstance(a, (list, tuple)) and not hasattr(a, "shape"):
        return type(a)(np.concatenate([np.asarray(u), np.asarray(v)]) for u, v in zip(a, b))
    return np.concatenate([np.asarray(a), np.asarray(b)])


def _take(x: Any, idx: np.ndarray) -> Any:
    if isinstance(x, Mapping):
        return {k: v[idx] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(v[idx] for v in x)
    return x[idx]


def _shadows(
    shadow_fn: Any, m_x: Any, n_x: Any, m_c: np.ndarray, n_c: np.ndarray, m_p: np.ndarray,
    n_p: np.ndarray, n_shadows: int, batch_size: int, seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train the shadows on random halves of members + non-members; their confidences on every example."""
    x = _concat(m_x, n_x)
    c = np.concatenate([m_c, n_c])
    probs = np.concatenate([m_p, n_p])
    n = len(c)
    rng = np.random.default_rng(seed)
    # Each example is IN exactly half of the shadows (the paper's balanced split).
    order = np.argsort(rng.random((n_shadows, n)), axis=0)
    keep = order < n_shadows // 2
    phis = np.empty((n_shadows, n))
    for s in range(n_shadows):
        idx = np.flatnonzero(keep[s])
        try:
            shadow = shadow_fn(_take(x, idx), c[idx])
        except SanitizeError:
            raise
        except Exception as exc:
            raise ConfigError(f"shadow_fn failed on shadow {s}: {type(exc).__name__}: {exc}") from None
        out = A.probabilities(_call(shadow, x, batch_size, f"shadow {s}"), None)
        phis[s] = A.logit_confidence(out, c)
    return A.logit_confidence(probs, c), phis, keep


def _backend() -> str | None:
    import sys

    keras = sys.modules.get("keras")
    if keras is None:
        return None
    try:
        return str(keras.config.backend())
    except Exception:
        return None
