"""A synthetic PII set with gold spans (tests and benchmarks/bench_privacy.py share it).

Every value is generated valid by its own rule (Luhn, mod-97, ``ipaddress``,
``phonenumbers``), and the distractors are near misses (Luhn-invalid cards,
IBANs with a wrong check, version strings, dates, order numbers).
"""

from __future__ import annotations

import random
import string

ENTITIES = ("email", "phone", "card", "iban", "ip_address")

_FIRST = ["jane", "omar", "li", "sofia", "pierre", "anna", "raj", "mia", "kenji", "olu"]
_LAST = ["doe", "haddad", "wei", "rossi", "martin", "kowalska", "patel", "schmidt", "sato", "adeyemi"]
_DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "uni.example.edu", "example.co.uk"]
_PHONES = [  # (format, region) -- national forms and E.164; every one valid in phonenumbers
    ("({a}) 555-{b}", "US"), ("+1 {a} 555 {b}", "US"), ("+44 20 7946 {b}", "GB"),
    ("+49 30 {c}", "DE"), ("+33 1 42 68 {d} {e}", "FR"), ("+91 98{f}", "IN"),
]  # fmt: skip
_US_AREAS = ["212", "415", "312", "617", "206", "303", "512", "702"]
_TEMPLATES = {
    "email": ["Contact {v} for details.", "Reply to {v} by Friday.", "My e-mail is {v}."],
    "phone": ["Call {v} tomorrow.", "Her number is {v}.", "Ring me on {v} after six."],
    "card": ["Card number: {v}.", "Charge {v} for the order.", "I paid with {v} yesterday."],
    "iban": ["Transfer it to {v} please.", "IBAN {v} (checking).", "Account: {v}."],
    "ip_address": ["The server is at {v} now.", "Blocked {v} after the scan.", "Ping {v} to test."],
}
_DISTRACTORS = [
    "Order #{n16} ships Monday.",
    "Version {ver} is out.",
    "Meeting on 2024-03-{dd} at 10:30.",
    "Tracking number {n12}.",
    "IBAN-like code {badiban} is a typo.",
    "Invoice {n16b} paid.",
    "Room 1204, floor 12, building 3.",
    "The ratio was 3:2:1 overall.",
]


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                                 ("6011", 16)])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    digits = body + luhn_digit(body)
    if length == 16 and rng.random() < 0.6:
        return " ".join(digits[i : i + 4] for i in range(0, 16, 4))
    return digits


def bad_card(rng: random.Random) -> str:
    digits = card(rng).replace(" ", "")
    last = (int(digits[-1]) + rng.randint(1, 9)) % 10
    return digits[:-1] + str(last)


def iban(rng: random.Random, *, valid: bool = True) -> str:
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24)])
    if country == "GB":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(14)
        )
    elif country == "NL":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(10)
        )
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(length - 4))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    if not valid:
        check = (check + rng.randint(1, 90)) % 97 + 2
    compact = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


def phone(rng: random.Random) -> str:
    fmt, _ = rng.choice(_PHONES)
    return fmt.format(
        a=rng.choice(_US_AREAS), b=f"{rng.randint(100, 199):04d}", c=f"{rng.randint(1000000, 9999999)}",
        d=f"{rng.randint(10, 99)}", e=f"{rng.randint(10, 99)}", f=f"{rng.randint(10000000, 99999999)}",
    )


def ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(f"{rng.randint(1, 65535):x}" for _ in range(2))
    return "2001:db8:" + ":".join(f"{rng.randint(1, 65535):x}" for _ in range(6))


def email(rng: random.Random) -> str:
    sep = rng.choice([".", "_", ""])
    return f"{rng.choice(_FIRST)}{sep}{rng.choice(_LAST)}{rng.randint(1, 99)}@{rng.choice(_DOMAINS)}"


_MAKERS = {"email": email, "phone": phone, "card": card, "iban": iban, "ip_address": ip}


def sample(rng: random.Random) -> tuple[str, list[tuple[str, int, int]]]:
    """One text of 1-3 sentences with its gold ``(entity, start, end)`` spans."""
    parts: list[str] = []
    gold: list[tuple[str, int, int]] = []
    pos = 0
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:
            sentence = rng.choice(_DISTRACTORS).format(
                n16=bad_card(rng),
                n16b=bad_card(rng),
                ver=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                dd=f"{rng.randint(1, 28):02d}", n12="".join(rng.choice(string.digits) for _ in range(12)),
                badiban=iban(rng, valid=False),
            )
        else:
            entity = rng.choice(ENTITIES)
            value = _MAKERS[entity](rng)
            template = rng.choice(_TEMPLATES[entity])
            head = template.split("{v}")[0]
            sentence = template.format(v=value)
            gold.append((entity, pos + len(head), pos + len(head) + len(value)))
        parts.append(sentence)
        pos += len(sentence) + 1
    return " ".join(parts), gold


def dataset(n: int, seed: int = 0) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """``n`` synthetic texts with gold spans."""
    rng = random.Random(seed)
    return [sample(rng) for _ in range(n)]


def score(
    gold: list[list[tuple[str, int, int]]], found: list[list[tuple[str, int, int]]]
) -> dict[str, tuple[float, float]]:
    """Precision and recall per entity: a found span counts when it overlaps a gold span of its type."""
    out: dict[str, tuple[float, float]] = {}
    for entity in ENTITIES:
        tp_found = n_found = tp_gold = n_gold = 0
        for g, f in zip(gold, found):
            gs = [(s, e) for t, s, e in g if t == entity]
            fs = [(s, e) for t, s, e in f if t == entity]
            n_found += len(fs)
            n_gold += len(gs)
            tp_found += sum(any(s < ge and gs_ < e for gs_, ge in gs) for s, e in fs)
            tp_gold += sum(any(s < ge and fs_ < e for fs_, ge in fs) for s, e in gs)
        out[entity] = (tp_found / n_found if n_found else 1.0, tp_gold / n_gold if n_gold else 1.0)
    return out
