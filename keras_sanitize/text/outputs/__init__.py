"""Output scanning: a text pipeline for what a model *emits* (``ks.text.outputs``).

:func:`default` redacts, in order: registered secrets and canaries (also
base64/hex/reversed/split up), verbatim passages of a registered system prompt,
credentials (private keys, JWTs, API keys), and personal data (e-mail, phone,
payment card, IBAN, IP address). Each redaction keeps the text's shape
(``[EMAIL]``, ``[CARD]``) and is a finding with its span; codes are
``text.pii.<entity>`` and ``text.secret.<kind>``.

Use it with ``ks.wrap(model, outputs=ks.text.outputs.default())`` or
``@ks.sanitize(outputs=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from keras_sanitize.pipeline import Pipeline
from keras_sanitize.stage import Stage
from keras_sanitize.text.encoders import ToText
from keras_sanitize.text.outputs._detect import API_KEY_PATTERNS, CREDENTIAL_KINDS, PII_ENTITIES, luhn_ok
from keras_sanitize.text.outputs._redact import PLACEHOLDERS
from keras_sanitize.text.outputs.stages import (
    DEFAULT_PHONE_REGIONS,
    CredentialRedactor,
    PIIRedactor,
    PromptLeakRedactor,
    SecretRedactor,
)

__all__ = [
    "API_KEY_PATTERNS",
    "CREDENTIAL_KINDS",
    "DEFAULT_PHONE_REGIONS",
    "PII_ENTITIES",
    "PLACEHOLDERS",
    "CredentialRedactor",
    "PIIRedactor",
    "PromptLeakRedactor",
    "SecretRedactor",
    "default",
    "luhn_ok",
]


def default(
    secrets: Iterable[str] = (),
    canaries: Iterable[str] = (),
    *,
    system_prompt: str | None = None,
    min_prompt_words: int = 8,
    entities: Iterable[str] = PII_ENTITIES,
    credentials: Iterable[str] = CREDENTIAL_KINDS,
    phone_regions: Iterable[str] = DEFAULT_PHONE_REGIONS,
) -> Pipeline:
    """The output-scanning pipeline: ``ToText``, then the redactors that have something to look for.

    Example:
        >>> import keras_sanitize as ks
        >>> pipe = ks.text.outputs.default(secrets=["sk-internal-4f9a"])
        >>> report = pipe.run("Reach me at +1 415 555 2671; the key is sk-internal-4f9a.")
        >>> report.value
        'Reach me at [PHONE]; the key is [SECRET].'
        >>> sorted(f.code for f in report.findings)
        ['text.pii.phone', 'text.secret.secret']
    """
    secrets, canaries = tuple(secrets), tuple(canaries)
    stages: list[Stage] = [ToText()]
    if secrets or canaries:
        stages.append(SecretRedactor(secrets=secrets, canaries=canaries))
    if system_prompt is not None:
        stages.append(PromptLeakRedactor(system_prompt, min_words=min_prompt_words))
    stages.append(CredentialRedactor(kinds=credentials))
    stages.append(PIIRedactor(entities=entities, phone_regions=phone_regions))
    return Pipeline(stages, modality="text", name="text_outputs")
