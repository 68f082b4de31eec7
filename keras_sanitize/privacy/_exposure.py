"""Secret-sharer exposure (Carlini et al., "The Secret Sharer", 2019) and canary insertion.

A *canary* is a format with one hole, ``"my PIN is {}"``, filled with a random
secret drawn from a space ``R`` (``alphabet ** length``). After training on data
that holds the canary, rank the inserted secret among other candidates by the
model's log-perplexity (lower = the model finds it more likely):
``exposure = log2 |R| - log2 rank``. A secret the model has not memorised sits
in the middle (exposure around 1); a memorised one ranks first (exposure
``log2 |R|``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError, SanitizeError
from keras_sanitize.privacy._attacks import DEFAULT_LIMITS, PrivacyLimits, probabilities
from keras_sanitize.stage import check_number

__all__ = ["Exposure", "SequenceScorer", "canary_exposure", "insert_canaries", "make_canary"]

DIGITS = "0123456789"
_MAX_TEXTS = 50_000_000


class SequenceScorer:
    """Log-perplexity (bits) of texts under a next-token Keras model.

    The model maps ``(batch, window)`` integer token ids (left-padded with
    ``pad``) to next-token probabilities or logits ``(batch, vocab)``.
    ``encode(text) -> list[int]`` turns text into token ids.

    Example:
        >>> import numpy as np
        >>> uniform = lambda ids: np.zeros((len(ids), 4))  # logits: every next token equally likely
        >>> scorer = SequenceScorer(uniform, encode=lambda t: [ord(c) % 4 for c in t], window=3)
        >>> scorer("abc")  # two predicted tokens at 2 bits each
        4.0
    """

    def __init__(
        self,
        model: Any,
        encode: Callable[[str], Sequence[int]],
        window: int,
        *,
        pad: int = 0,
        batch_size: int = 4096,
        from_logits: bool | None = None,
    ) -> None:
        if not callable(encode):
            raise ConfigError(f"SequenceScorer: encode must be a callable text -> ids. Received: {encode!r}")
        check_number("SequenceScorer", "window", window, minimum=1, maximum=100_000, integer=True)
        check_number("SequenceScorer", "batch_size", batch_size, minimum=1, integer=True)
        check_number("SequenceScorer", "pad", pad, minimum=0, integer=True)
        self.model, self.encode, self.window, self.pad = model, encode, window, pad
        self.batch_size, self.from_logits = batch_size, from_logits

    def __call__(self, text: str) -> float:
        """The log-perplexity of one text, in bits."""
        return float(self.score_batch([text])[0])

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Log-perplexities of many texts with one batched prediction."""
        contexts: list[np.ndarray] = []
        targets: list[int] = []
        owner: list[int] = []
        for t, text in enumerate(texts):
            ids = [int(i) for i in self.encode(text)]
            padded = [self.pad] * self.window + ids
            for i in range(1, len(ids)):
                contexts.append(np.asarray(padded[i : i + self.window], dtype=np.int64))
                targets.append(ids[i])
                owner.append(t)
        out = np.zeros(len(texts))
        if not contexts:
            return out
        x = np.stack(contexts)
        parts = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size]
            n = len(chunk)
            # Pad to a power of two: a compiled backend (JAX) then traces few batch shapes.
            size = min(self.batch_size, max(64, 1 << (n - 1).bit_length()))
            if size > n:
                chunk = np.concatenate([chunk, np.full((size - n, self.window), self.pad, chunk.dtype)])
            try:
                if hasattr(self.model, "predict_on_batch"):
                    raw = self.model.predict_on_batch(chunk)
                else:
                    raw = self.model(chunk)
                import keras

                probs = probabilities(np.asarray(keras.ops.convert_to_numpy(raw)), self.from_logits)
                parts.append(probs[:n])
            except SanitizeError:
                raise
            except Exception as exc:
                raise ConfigError(f"SequenceScorer: the model failed: {type(exc).__name__}: {exc}") from None
        probs = np.concatenate(parts)
        tgt = np.asarray(targets)
        if tgt.max() >= probs.shape[1]:
            raise ConfigError(f"token id {tgt.max()} is outside the model's vocabulary of {probs.shape[1]}")
        bits = -np.log2(np.clip(probs[np.arange(len(tgt)), tgt], 1e-300, 1.0))
        np.add.at(out, np.asarray(owner), bits)
        return out


@dataclass(frozen=True)
class Exposure:
    """The exposure of one inserted canary.

    Attributes:
        exposure: ``log2 |R| - log2 rank`` with the rank measured over the
            candidates (exact when ``exact``; otherwise the sampled fraction
            ranked below, so at most ``log2(n_candidates + 1)``).
        extrapolated: ``-log2 F(score)`` with ``F`` a skew-normal fitted to the
            candidates' scores: reaches beyond what the sample can resolve.
        rank: 1 + candidates scored strictly lower (more likely) than the canary.
        n_candidates / space_size / exact: the candidates scored, ``|R|``, and
            whether every member of ``R`` was scored.
        canary_score: the canary's log-perplexity (bits).
    """

    exposure: float
    extrapolated: float
    rank: int
    n_candidates: int
    space_size: int
    exact: bool
    canary_score: float
    candidate_scores: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the candidate scores)."""
        return {
            "exposure": self.exposure,
            "extrapolated": self.extrapolated if math.isfinite(self.extrapolated) else None,
            "rank": self.rank,
            "n_candidates": self.n_candidates,
            "space_size": self.space_size,
            "exact": self.exact,
            "canary_score": self.canary_score,
            "max_exposure": math.log2(self.space_size) if self.exact else math.log2(self.n_candidates + 1),
        }


def _check_format(canary_format: Any) -> None:
    if not isinstance(canary_format, str) or canary_format.count("{}") != 1:
        raise ConfigError(
            f"canary_format must be a str with exactly one '{{}}' where the secret goes, e.g. "
            f"'my PIN is {{}}'. Received: canary_format={canary_format!r}"
        )


def _check_secret(secret: Any, alphabet: str) -> str:
    if not isinstance(secret, str) or not secret or any(ch not in alphabet for ch in secret):
        raise ConfigError(
            f"the inserted secret must be a non-empty str over the alphabet {alphabet!r}. "
            f"Received: {secret!r}"
        )
    return secret


def make_canary(
    canary_format: str, *, alphabet: str = DIGITS, length: int = 6, seed: int | None = None
) -> tuple[str, str]:
    """A random canary: ``(text, secret)`` with ``text == canary_format.format(secret)``.

    Example:
        >>> text, secret = make_canary("my PIN is {}", length=4, seed=1)
        >>> text == f"my PIN is {secret}" and len(secret) == 4
        True
    """
    _check_format(canary_format)
    _check_alphabet(alphabet)
    check_number("make_canary", "length", length, minimum=1, maximum=1000, integer=True)
    rng = np.random.default_rng(seed)
    secret = "".join(alphabet[i] for i in rng.integers(0, len(alphabet), length))
    return canary_format.format(secret), secret


def _check_alphabet(alphabet: Any) -> None:
    if not isinstance(alphabet, str) or len(set(alphabet)) < 2 or len(set(alphabet)) != len(alphabet):
        raise ConfigError(f"alphabet must be a str of >= 2 distinct characters. Received: {alphabet!r}")


def insert_canaries(
    texts: Iterable[str], canary: str, n_times: int, *, seed: int | None = 0
) -> list[str]:
    """A copy of ``texts`` with ``canary`` inserted ``n_times`` as items at random positions.

    Example:
        >>> out = insert_canaries(["a", "b", "c"], "my PIN is 1234", 2, seed=0)
        >>> len(out), out.count("my PIN is 1234")
        (5, 2)
    """
    if not isinstance(canary, str) or not canary:
        raise ConfigError(f"canary must be a non-empty str. Received: {canary!r}")
    check_number("insert_canaries", "n_times", n_times, minimum=0, maximum=10_000_000, integer=True)
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise ConfigError(
            f"insert_canaries: texts must be an iterable of str. Received: {type(texts).__name__}"
        )
    out = list(itertools.islice(texts, _MAX_TEXTS + 1))  # bounded: texts may be an endless generator
    if len(out) > _MAX_TEXTS:
        raise ConfigError(f"insert_canaries: more than {_MAX_TEXTS} texts; insert into a smaller dataset")
    if not all(isinstance(t, str) for t in out):
        raise ConfigError("insert_canaries: texts must all be str")
    rng = np.random.default_rng(seed)
    for _ in range(n_times):
        out.insert(int(rng.integers(0, len(out) + 1)), canary)
    return out


def _score_all(scorer: Any, texts: list[str]) -> np.ndarray:
    try:
        if hasattr(scorer, "score_batch"):
            scores = np.asarray(scorer.score_batch(texts), dtype=np.float64)
        else:
            scores = np.asarray([float(scorer(t)) for t in texts], dtype=np.float64)
    except SanitizeError:
        raise
    except Exception as exc:
        raise ConfigError(f"the scorer failed: {type(exc).__name__}: {exc}") from None
    if scores.shape != (len(texts),):
        raise ConfigError(f"the scorer returned shape {scores.shape} for {len(texts)} texts")
    return np.nan_to_num(scores, nan=np.inf)


def canary_exposure(
    model_or_scorer: Any,
    canary_format: str,
    inserted: str,
    *,
    alphabet: str = DIGITS,
    candidates: Iterable[str] | None = None,
    n_candidates: int = 10_000,
    encode: Callable[[str], Sequence[int]] | None = None,
    window: int | None = None,
    seed: int = 0,
    limits: PrivacyLimits | None = None,
) -> Exposure:
    """Exposure of the secret ``inserted`` (placed in ``canary_format``) under a model.

    Args:
        model_or_scorer: a ``score(text) -> float`` (lower = more likely, e.g. a
            log-perplexity; one with ``score_batch(texts)`` is called once), or a
            next-token Keras model together with ``encode=`` and ``window=``
            (wrapped in :class:`SequenceScorer`).
        canary_format: the canary text with ``{}`` where the secret goes.
        inserted: the secret that was inserted into the training data.
        alphabet: the characters secrets are drawn from; ``|R| = len(alphabet) ** len(inserted)``.
        candidates: other secrets to rank against (default: all of ``R`` when
            ``|R| <= n_candidates``, else ``n_candidates`` sampled from ``R``).
        n_candidates: candidates to score.
        seed: seeds the sampling.

    Example:
        >>> score = lambda text: 0.0 if text.endswith("4242") else 5.0  # "memorised" 4242
        >>> e = canary_exposure(score, "PIN {}", "4242", n_candidates=100_000)
        >>> e.exact, e.rank, round(e.exposure, 2)
        (True, 1, 13.29)
    """
    lim = limits if limits is not None else DEFAULT_LIMITS
    _check_format(canary_format)
    _check_alphabet(alphabet)
    secret = _check_secret(inserted, alphabet)
    check_number("canary_exposure", "n_candidates", n_candidates, minimum=1, maximum=lim.max_candidates,
                 integer=True)
    check_number("canary_exposure", "seed", seed, minimum=0, integer=True)
    scorer = model_or_scorer
    if encode is not None or window is not None:
        if encode is None or window is None:
            raise ConfigError("canary_exposure: a Keras model needs both encode= and window=")
        scorer = SequenceScorer(model_or_scorer, encode, window)
    elif not callable(scorer) and not hasattr(scorer, "score_batch"):
        raise ConfigError(
            f"model_or_scorer must be a score(text) -> float callable, or a model with encode= and "
            f"window=. Received: {type(model_or_scorer).__name__}"
        )
    space = len(alphabet) ** len(secret)
    if candidates is not None:
        pool = [c for c in candidates if c != secret]
        for c in pool[:1000]:
            _check_secret(c, alphabet)
        if not pool or len(pool) > lim.max_candidates:
            raise ConfigError(f"candidates: needs 1 to {lim.max_candidates} secrets other than the canary")
        exact = len(set(pool)) == space - 1
    elif space <= n_candidates + 1:
        pool = [s for s in _enumerate(alphabet, len(secret)) if s != secret]
        exact = True
    else:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(alphabet), size=(n_candidates, len(secret)))
        chars = np.array(list(alphabet))
        pool = [s for s in ("".join(row) for row in chars[draws]) if s != secret]
        exact = False
    scores = _score_all(scorer, [canary_format.format(secret), *(canary_format.format(c) for c in pool)])
    canary, others = float(scores[0]), scores[1:]
    lower = int(np.sum(others < canary))
    rank = lower + 1
    # exact: log2 |R| - log2 rank; sampled: the fraction of R ranked at or below the canary
    exposure = math.log2(space) - math.log2(rank) if exact else -math.log2(rank / (len(others) + 1))
    return Exposure(
        exposure=exposure,
        extrapolated=_extrapolate(others, canary),
        rank=rank,
        n_candidates=len(others),
        space_size=space,
        exact=exact,
        canary_score=canary,
        candidate_scores=others,
    )


def _enumerate(alphabet: str, length: int) -> Iterable[str]:
    return ("".join(p) for p in itertools.product(alphabet, repeat=length))


def _extrapolate(others: np.ndarray, canary: float) -> float:
    """``-log2 F(canary)`` under a skew-normal fitted to the candidates' scores (the paper's §4.3)."""
    finite = others[np.isfinite(others)]
    if len(finite) < 10 or float(np.std(finite)) == 0.0 or not math.isfinite(canary):
        return float("nan")
    from scipy import stats

    a, loc, scale = stats.skewnorm.fit(finite)
    log_cdf = float(stats.skewnorm.logcdf(canary, a, loc, scale))
    return max(0.0, -log_cdf / math.log(2)) if math.isfinite(log_cdf) else float("inf")
