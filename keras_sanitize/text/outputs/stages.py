"""Output-scanning stages: each finds one family of leaks in model text and redacts it.

Every redaction keeps the text's shape (``[EMAIL]``, ``[CARD]``...) and is one
finding with the span it replaced; the default action is ``sanitize`` (the
redacted text goes on). Set ``policy={"text.secret": "reject"}`` to refuse an
output instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ConfigError
from keras_sanitize.stage import Context, Filter, check_number
from keras_sanitize.text.encoders import require_str
from keras_sanitize.text.outputs import _detect as D
from keras_sanitize.text.outputs._redact import Hit, redact
from keras_sanitize.text.outputs._secrets import SecretIndex, prompt_overlaps, shingles

__all__ = [
    "DEFAULT_PHONE_REGIONS",
    "CredentialRedactor",
    "PIIRedactor",
    "PromptLeakRedactor",
    "SecretRedactor",
]

#: Regions whose national phone formats are recognised by default (``+`` numbers are recognised anywhere).
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN", "CA", "BR", "AU")
#: Shortest registered secret or canary: shorter strings would redact ordinary words.
MIN_SECRET_CHARS = 6


def _choices(owner: str, name: str, values: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ConfigError(f"{owner}: {name} must be a list of {list(allowed)}. Received: {name}={values!r}")
    out = tuple(values)
    bad = [v for v in out if v not in allowed]
    if bad:
        raise ConfigError(f"{owner}: unknown {name} {bad}; choose from {list(allowed)}")
    return tuple(dict.fromkeys(out))


def _strings(owner: str, name: str, values: Any, min_chars: int) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ConfigError(f"{owner}: {name} must be a list of strings. Received: {name}={values!r}")
    out = tuple(values)
    for v in out:
        if not isinstance(v, str) or len(v.strip()) < min_chars:
            raise ConfigError(
                f"{owner}: every entry of {name} must be a str of at least {min_chars} characters "
                f"(shorter ones would redact ordinary words). Received: {v!r}"
            )
    return out


@register_stage()
class PIIRedactor(Filter):
    """Redact e-mail addresses, phone numbers, payment cards, IBANs and IP addresses.

    Args:
        entities: any of ``"email"``, ``"phone"``, ``"card"``, ``"iban"``, ``"ip_address"``.
        phone_regions: ISO region codes whose national phone formats count
            (numbers written with ``+`` and a country code count everywhere).

    Example:
        >>> PIIRedactor().run("Mail jane.doe@example.com, card 4111 1111 1111 1111.").value
        'Mail [EMAIL], card [CARD].'
        >>> PIIRedactor().run("order 4111 1111 1111 1112 shipped").value  # fails Luhn: kept
        'order 4111 1111 1111 1112 shipped'
    """

    modality = "text"

    def __init__(
        self,
        entities: Iterable[str] = D.PII_ENTITIES,
        phone_regions: Iterable[str] = DEFAULT_PHONE_REGIONS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.entities = _choices(owner, "entities", entities, D.PII_ENTITIES)
        if isinstance(phone_regions, str) or not isinstance(phone_regions, Iterable):
            raise ConfigError(f"{owner}: phone_regions must be a list of region codes. Received: "
                              f"{phone_regions!r}")
        self.phone_regions = tuple(phone_regions)
        if "phone" in self.entities:
            import phonenumbers

            known = phonenumbers.SUPPORTED_REGIONS
            bad = [r for r in self.phone_regions if r not in known]
            if bad:
                raise ConfigError(f"{owner}: unknown phone_regions {bad}; use ISO codes such as 'US', 'DE'")

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        hits: list[Hit] = []
        for entity in self.entities:
            if entity != "phone":
                hits += D.DETECTORS[entity](text)
        if "phone" in self.entities:
            # The phone matcher also accepts dotted IPs and card numbers; the stricter detector wins.
            hits += [
                p for p in D.phone_hits(text, self.phone_regions, hits)
                if not any(h.start < p.end and p.start < h.end for h in hits)
            ]
        return redact(text, hits, ctx, self.name)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(entities=list(self.entities), phone_regions=list(self.phone_regions))
        return config


@register_stage()
class CredentialRedactor(Filter):
    """Redact private-key blocks, JSON Web Tokens and API keys (AWS, GitHub, Slack, Google, Stripe, OpenAI).

    Example:
        >>> CredentialRedactor().run("key: AKIAIOSFODNN7EXAMPLE ok").value
        'key: [API_KEY] ok'
    """

    modality = "text"

    def __init__(self, kinds: Iterable[str] = D.CREDENTIAL_KINDS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kinds = _choices(type(self).__name__, "kinds", kinds, D.CREDENTIAL_KINDS)

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        hits: list[Hit] = []
        for kind in self.kinds:
            hits += D.DETECTORS[kind](text)
        return redact(text, hits, ctx, self.name)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(kinds=list(self.kinds))
        return config


@register_stage()
class SecretRedactor(Filter):
    """Redact registered secrets and canaries, also base64-, hex- or reverse-encoded or split up.

    A secret split by spaces, line breaks, zero-width characters or soft hyphens
    is still found. The configuration holds the secrets themselves: keep policy
    files that list them as confidential as the secrets.

    Example:
        >>> stage = SecretRedactor(secrets=["hunter2-prod-token"], canaries=["canary 7361 4490"])
        >>> stage.run("the token is h u n t e r 2-prod-token").value
        'the token is [SECRET]'
        >>> stage.run("base64: aHVudGVyMi1wcm9kLXRva2Vu").value
        'base64: [SECRET]'
    """

    modality = "text"

    def __init__(self, secrets: Iterable[str] = (), canaries: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.secrets = _strings(owner, "secrets", secrets, MIN_SECRET_CHARS)
        self.canaries = _strings(owner, "canaries", canaries, MIN_SECRET_CHARS)
        self._index = SecretIndex(self.secrets, self.canaries)

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        return redact(text, self._index.hits(text), ctx, self.name)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(secrets=list(self.secrets), canaries=list(self.canaries))
        return config


@register_stage()
class PromptLeakRedactor(Filter):
    """Redact passages that repeat ``min_words`` or more consecutive words of the system prompt.

    Words are compared case-folded and without punctuation, so re-spacing or
    re-casing the prompt does not hide it.

    Example:
        >>> stage = PromptLeakRedactor("You are Ada, the support bot of Acme. Never reveal the code word.",
        ...                            min_words=6)
        >>> stage.run("Sure! you are ada, the support bot of acme. Anything else?").value
        'Sure! [SYSTEM_PROMPT]. Anything else?'
    """

    modality = "text"

    def __init__(self, system_prompt: str, min_words: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        if not isinstance(system_prompt, str) or not system_prompt.strip():
            raise ConfigError(f"{owner}: system_prompt must be a non-empty str. Received: {system_prompt!r}")
        self.min_words = check_number(owner, "min_words", min_words, minimum=3, maximum=1000, integer=True)
        self.system_prompt = system_prompt
        self._grams = shingles(system_prompt, self.min_words)

    def process(self, value: Any, ctx: Context) -> Any:
        text = require_str(ctx, value)
        if not self._grams:
            return text
        return redact(text, prompt_overlaps(text, self._grams, self.min_words), ctx, self.name)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(system_prompt=self.system_prompt, min_words=self.min_words)
        return config
