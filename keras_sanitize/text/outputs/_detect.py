"""Detectors of personal data and credentials in text: each returns :class:`Hit` spans.

Patterns run on RE2 (linear time on any input); every candidate is then checked
by the rule of its format (Luhn for cards, mod-97 for IBANs, ``ipaddress`` for
IPs, ``phonenumbers`` validity for phone numbers, a JSON header for JWTs), so a
16-digit number that fails Luhn stays in the text.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import re2

from keras_sanitize.findings import Severity
from keras_sanitize.text._unicode import re2_safe
from keras_sanitize.text.outputs._redact import Hit

__all__ = ["CREDENTIAL_KINDS", "DETECTORS", "IBAN_LENGTHS", "PII_ENTITIES", "luhn_ok", "phone_hits"]

#: Personal-data entities :class:`PIIRedactor` knows.
PII_ENTITIES: tuple[str, ...] = ("email", "phone", "card", "iban", "ip_address")
#: Credential kinds :class:`CredentialRedactor` knows.
CREDENTIAL_KINDS: tuple[str, ...] = ("private_key", "jwt", "api_key")

#: IBAN length per country (ISO 13616 registry).
IBAN_LENGTHS: Mapping[str, int] = MappingProxyType({
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
})  # fmt: skip

_EMAIL = re2.compile(
    r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62})(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}"
)
_CARD = re2.compile(r"\d(?:[ \-]?\d){12,18}")
_IBAN = re2.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,34}")
_IPV4 = re2.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IPV6 = re2.compile(r"(?i)[0-9a-f:]*:[0-9a-f:]*:[0-9a-f:.]*")
_DIGIT = re2.compile(r"\d")
_KEY_BEGIN = re2.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re2.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_JWT = re2.compile(r"eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{8,}")
#: API-key formats: provider -> pattern. Each is anchored on a vendor prefix.
API_KEY_PATTERNS: Mapping[str, str] = MappingProxyType({
    "aws": r"(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|ANPA|AGPA|AIPA|APKA)[A-Z0-9]{16}",
    "github": r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})",
    "slack": r"(?:xox[abposr]-[A-Za-z0-9\-]{10,250}|https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,200})",
    "google": r"AIza[0-9A-Za-z_\-]{35}",
    "stripe": r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,247}",
    "openai": r"sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_\-]{20,250}",
})
_API = re2.compile("|".join(f"(?P<{name}>{pat})" for name, pat in API_KEY_PATTERNS.items()))
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _word_at(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i] in _WORD or text[i].isalnum())


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string.

    Example:
        >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
        (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def email_hits(text: str) -> list[Hit]:
    """E-mail addresses."""
    if "@" not in text:
        return []
    out = []
    for m in _EMAIL.finditer(re2_safe(text)):
        s, e = m.start(), m.end()
        if _word_at(text, e) or text[s] == "." or text[e - 1] == "-":
            continue
        out.append(Hit(s, e, "email", "text.pii.email"))
    return out


def card_hits(text: str) -> list[Hit]:
    """Payment card numbers: 13 to 19 digits (spaces/dashes allowed), a card-network prefix, Luhn-valid."""
    out = []
    for m in _CARD.finditer(re2_safe(text)):
        s, e = m.start(), m.end()
        if _word_at(text, s - 1) or _word_at(text, e):
            continue
        digits = m.group().replace(" ", "").replace("-", "")
        network = digits[0] in "3456" or digits[:2] in {"22", "23", "24", "25", "26", "27"}
        if network and luhn_ok(digits):
            out.append(Hit(s, e, "card", "text.pii.card", Severity.HIGH, {"digits": len(digits)}))
    return out


def _iban_ok(compact: str) -> bool:
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def iban_hits(text: str) -> list[Hit]:
    """IBANs: a known country, its registered length, and a valid mod-97 check."""
    out = []
    for m in _IBAN.finditer(re2_safe(text)):
        s = m.start()
        length = IBAN_LENGTHS.get(m.group()[:2])
        if length is None or _word_at(text, s - 1):
            continue
        raw = m.group()
        count = 0
        end = s
        for j, ch in enumerate(raw):
            if ch != " ":
                count += 1
                if count == length:
                    end = s + j + 1
                    break
        if count != length or _word_at(text, end):
            continue
        compact = text[s:end].replace(" ", "")
        if _iban_ok(compact):
            out.append(Hit(s, end, "iban", "text.pii.iban", Severity.HIGH, {"country": compact[:2]}))
    return out


def ip_hits(text: str) -> list[Hit]:
    """IPv4 and IPv6 addresses (validated by :mod:`ipaddress`)."""
    out = []
    safe = re2_safe(text)
    if "." in text:
        for m in _IPV4.finditer(safe):
            s, e = m.start(), m.end()
            before = text[s - 1] if s else ""
            after = text[e : e + 2]
            if _word_at(text, s - 1) or _word_at(text, e) or before == "." or (
                len(after) == 2 and after[0] == "." and after[1].isdigit()
            ):
                continue
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            out.append(Hit(s, e, "ip_address", "text.pii.ip_address", detail={"version": 4}))
    if text.count(":") >= 2:
        for m in _IPV6.finditer(safe):
            s, e = m.start(), m.end()
            cand = m.group().rstrip(".")
            if cand.endswith(":") and not cand.endswith("::"):
                cand = cand[:-1]
            e = s + len(cand)
            if _word_at(text, s - 1) or _word_at(text, e) or sum(c.isalnum() for c in cand) < 2:
                continue
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            out.append(Hit(s, e, "ip_address", "text.pii.ip_address", detail={"version": 6}))
    return out


#: Phone-number candidates: 7+ digits with the separators phone numbers are written with.
_PHONE_CANDIDATE = re2.compile(r"\+?\(?\d[\d \t().\-/]{5,28}\d")


def phone_hits(text: str, regions: Sequence[str], taken: Sequence[Hit] = ()) -> list[Hit]:
    """Phone numbers valid in one of ``regions`` (national form) or anywhere (``+`` E.164 form).

    A cheap RE2 pass finds digit runs that could be phone numbers; ``phonenumbers``'
    matcher (pure Python, the slow part) then runs on each candidate and a character
    of context on each side, not on the whole text; candidates overlapping ``taken``
    (spans other detectors already claimed: cards, IBANs, IPs) are skipped.
    """
    if len(_DIGIT.findall(text[:100_000])) < 7:
        return []
    import phonenumbers

    out: list[Hit] = []
    for cand in _PHONE_CANDIDATE.finditer(re2_safe(text)):
        if sum(c.isdigit() for c in cand.group()) < 7 or any(
            h.start < cand.end() and cand.start() < h.end for h in taken
        ):
            continue
        lo = max(cand.start() - 1, 0)
        window = text[lo : cand.end() + 1]
        for region in regions:
            found = False
            for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
                raw = m.raw_string
                # A bare run of 12+ digits in national form is an ID (order, tracking), not a phone number.
                if raw.isdigit() and len(raw) > 11:
                    continue
                where = phonenumbers.region_code_for_number(m.number)
                detail = {"region": where or ""}
                out.append(Hit(lo + m.start, lo + m.end, "phone", "text.pii.phone", detail=detail))
                found = True
            if found or cand.group().startswith("+"):
                break  # a "+" number parses the same in every region
    return out


def private_key_hits(text: str) -> list[Hit]:
    """PEM/OpenSSH/PGP private-key blocks (to the end of the text when the END line is missing)."""
    if "PRIVATE KEY" not in text:
        return []
    out: list[Hit] = []
    safe = re2_safe(text)
    pos = 0
    while True:
        m = _KEY_BEGIN.search(safe, pos)
        if m is None:
            return out
        end_m = _KEY_END.search(safe, m.end())
        end = end_m.end() if end_m is not None else len(text)
        out.append(Hit(m.start(), end, "private_key", "text.secret.private_key", Severity.CRITICAL))
        pos = end


def _b64json(part: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return isinstance(json.loads(raw), dict)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return False


def jwt_hits(text: str) -> list[Hit]:
    """JSON Web Tokens whose header decodes to a JSON object."""
    if "eyJ" not in text:
        return []
    out = []
    for m in _JWT.finditer(re2_safe(text)):
        s, e = m.start(), m.end()
        if _word_at(text, s - 1) or not _b64json(m.group().split(".", 1)[0]):
            continue
        out.append(Hit(s, e, "jwt", "text.secret.jwt", Severity.HIGH))
    return out


def api_key_hits(text: str) -> list[Hit]:
    """API keys of AWS, GitHub, Slack, Google, Stripe and OpenAI-style ``sk-`` formats."""
    out = []
    for m in _API.finditer(re2_safe(text)):
        s, e = m.start(), m.end()
        provider = next((k for k, v in m.groupdict().items() if v is not None), "unknown")
        if _word_at(text, s - 1) or (provider != "slack" and _word_at(text, e)):
            continue
        body = m.group()
        if provider == "openai" and not (
            any(c.isdigit() for c in body)
            and any(c.isupper() for c in body)
            and any(c.islower() for c in body)
        ):
            continue
        out.append(Hit(s, e, "api_key", "text.secret.api_key", Severity.CRITICAL, {"provider": provider}))
    return out


DETECTORS: Mapping[str, Callable[[str], list[Hit]]] = MappingProxyType({
    "email": email_hits,
    "card": card_hits,
    "iban": iban_hits,
    "ip_address": ip_hits,
    "private_key": private_key_hits,
    "jwt": jwt_hits,
    "api_key": api_key_hits,
})
