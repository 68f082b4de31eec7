"""Shared redaction: turn detector hits into shape-keeping placeholders and findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from keras_sanitize.findings import Action, Severity
from keras_sanitize.stage import Context

__all__ = ["MAX_FINDINGS", "PLACEHOLDERS", "Hit", "mask", "redact"]

#: The placeholder each entity is replaced by; the brackets keep the text's shape readable.
PLACEHOLDERS: Mapping[str, str] = MappingProxyType({
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "ip_address": "[IP_ADDRESS]",
    "private_key": "[PRIVATE_KEY]",
    "jwt": "[JWT]",
    "api_key": "[API_KEY]",
    "secret": "[SECRET]",
    "canary": "[CANARY]",
    "system_prompt": "[SYSTEM_PROMPT]",
})
#: Findings one stage reports per text; further redactions are counted in one summary finding.
MAX_FINDINGS = 64

_LABELS = MappingProxyType({
    "email": "an e-mail address",
    "phone": "a phone number",
    "card": "a payment card number (Luhn-valid)",
    "iban": "an IBAN (mod-97 valid)",
    "ip_address": "an IP address",
    "private_key": "a private-key block",
    "jwt": "a JSON Web Token",
    "api_key": "an API key",
    "secret": "a registered secret",
    "canary": "a registered canary",
    "system_prompt": "a verbatim passage of the system prompt",
})


@dataclass(frozen=True)
class Hit:
    """One detected span ``[start, end)`` of ``entity`` in the text."""

    start: int
    end: int
    entity: str
    code: str
    severity: Severity = Severity.MEDIUM
    detail: Mapping[str, Any] = field(default_factory=dict)


def mask(value: str) -> str:
    """A safe echo of a detected value: its first two characters and its length.

    Example:
        >>> mask("jane.doe@example.com")
        "'ja…' (20 chars)"
    """
    if len(value) <= 6:
        return f"({len(value)} chars)"
    head = "".join(c if c.isprintable() and c not in "'\\" else "?" for c in value[:2])
    return f"'{head}…' ({len(value)} chars)"


def _resolve(hits: Iterable[Hit]) -> list[Hit]:
    """Non-overlapping hits: the earliest start wins, then the longest."""
    out: list[Hit] = []
    end = -1
    for hit in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if hit.start >= end:
            out.append(hit)
            end = hit.end
    return out


def redact(text: str, hits: Iterable[Hit], ctx: Context, stage: str) -> str:
    """Replace every hit by its placeholder; one finding (with the span in ``text``) per hit."""
    chosen = _resolve(hits)
    if not chosen:
        return text
    parts: list[str] = []
    pos = 0
    for i, hit in enumerate(chosen):
        parts.append(text[pos : hit.start])
        placeholder = PLACEHOLDERS[hit.entity]
        parts.append(placeholder)
        pos = hit.end
        if i < MAX_FINDINGS:
            ctx.add(
                hit.code,
                f"{_LABELS[hit.entity]} ({mask(text[hit.start : hit.end])}) at [{hit.start}, {hit.end}) "
                f"was redacted to {placeholder}: model outputs must not carry it. If it is expected "
                f"here, set policy {{{hit.code!r}: 'warn'}} on {stage}.",
                severity=hit.severity,
                action=Action.SANITIZE,
                span=(hit.start, hit.end),
                detail={"entity": hit.entity, "replacement": placeholder, **hit.detail},
            )
    if len(chosen) > MAX_FINDINGS:
        ctx.add(
            "text.output_redactions_truncated",
            f"{len(chosen)} redactions in one text; findings are listed for the first {MAX_FINDINGS} only",
            severity=Severity.MEDIUM,
            action=Action.SANITIZE,
            detail={"redactions": len(chosen), "listed": MAX_FINDINGS},
        )
    parts.append(text[pos:])
    return "".join(parts)
