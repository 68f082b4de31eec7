"""Hand-written synthetic training text for the prompt-injection model, in many languages.

Everything below was written by hand from general knowledge of the languages, **without
looking at any held-out evaluation set** (deepset, PurpleLlama CyberSecEval, Giskard,
PurpleLlama FRR multilingual). It exists because the real training corpora lack short,
everyday chat messages in many languages (the model used to score "Hello, world" as an
injection) and non-English injection attempts.

The templates are data: ``scripts/injection_templates/<lang>.json`` (one file per language,
in the order of ``languages.json``) and ``common.json`` (slots shared by all languages).
Each language file is one object of string lists. Section keys:

* ``phrase``: stand-alone short messages ("Hello", "Thanks!", "ok");
* ``chat``: ordinary user-message templates (questions, coding help, e-mails, travel, ...);
* ``inject``: prompt-injection / jailbreak templates (override, role play, system-prompt
  extraction, indirect injection hidden in documents, mixed languages);
* ``hard``: benign messages that use trigger words (ignore, forget, password, system
  prompt, pretend, developer mode, override, previous, ...) innocently;
* ``everyday``: more benign messages with trigger words (issue #16): conversational
  "forget/ignore/instead/new instructions", everyday password questions, persona and
  role-play requests, and questions *about* prompt injection (benign as prompts);
* ``goal``: attacker payloads (imperative clauses) used by ``{goal}`` in ``inject``;
* any other key (``name``, ``city``, ``food``, ``topic``, ``doc``) is a slot.

Templates refer to slots as ``{slot}``; ``{Slot}`` capitalises the filled value; a slot
missing from the language falls back to ``COMMON``; ``{xgoal}`` takes a payload from another
language (mixed-language attacks); any section key (``{chat}``, ``{phrase}``) is also a slot.
``{a|b|c}`` picks one of the inline alternatives, to vary the wording inside a template.

Public functions (all deterministic, deduplicated, balanced across ``LANGS``):

* ``benign_chat(n, seed)``: ordinary user messages (label 0);
* ``injection_synth(n, seed)``: injection / jailbreak attempts (label 1);
* ``hard_benign(n, seed)``: benign messages with injection trigger words (label 0);
* ``everyday_benign(n, seed)``: the ``everyday`` section (label 0), kept apart so that the
  three calls above still reproduce the data the shipped weights were trained on.

Many benign templates use the ordinary "glue" that injections also need (politeness forms,
request verbs such as "tell me", "write", "print", "say", "repeat", "from now on", pronouns,
"text above", summarise/translate framing of e-mails, reviews and web pages) so that, within
each language, no innocuous phrase is much more frequent in injections than in benign text.
``hard`` holds innocent uses of words that attacks rely on (password, secret, instructions,
system, previous, rules, filters, admin, chat history, ...).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

Lang = dict[str, list[str]]

TEMPLATES = Path(__file__).resolve().parent / "injection_templates"


def _load(name: str) -> Lang:
    data = json.loads((TEMPLATES / f"{name}.json").read_text("utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in data.values()
    ):
        raise ValueError(f"{TEMPLATES / name}.json must be an object of string lists")
    return data


COMMON: Lang = _load("common")
LANGS: tuple[str, ...] = tuple(json.loads((TEMPLATES / "languages.json").read_text("utf-8")))
DATA: dict[str, Lang] = {lang: _load(lang) for lang in LANGS}

_SLOT = re.compile(r"\{([A-Za-z]+)\}")
_ALT = re.compile(r"\{([^{}|]*(?:\|[^{}|]*)+)\}")  # inline alternatives: {a|b|c} picks one
_END = ".!?。！？"


def _pick(rng: random.Random, lang: str, key: str) -> str | None:
    if key == "xgoal":
        other = rng.choice([x for x in LANGS if x != lang] or [lang])
        return rng.choice(DATA[other]["goal"])
    pool = DATA[lang].get(key) or COMMON.get(key)
    return rng.choice(pool) if pool else None


def _fill(rng: random.Random, lang: str, text: str) -> str:
    """Fill ``{slot}`` placeholders (recursively, a few levels deep); unknown braces stay."""

    used: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        val = _pick(rng, lang, key.lower())
        if val is None:
            return m.group(0)
        if key.lower() == "city":  # "from {city} to {city}": two different cities
            for _ in range(10):
                if val not in used:
                    break
                val = _pick(rng, lang, "city") or val
            used.add(val)
        return val[:1].upper() + val[1:] if key[0].isupper() else val

    for _ in range(4):
        new = _SLOT.sub(sub, _ALT.sub(lambda m: rng.choice(m.group(1).split("|")), text))
        if new == text:
            break
        text = new
    return text


def _typo(rng: random.Random, text: str) -> str:
    spots = [i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _vary(rng: random.Random, text: str) -> str:
    """Chat-like noise, applied alike to every label: lowercase, no final punctuation, a typo."""
    r = rng.random()
    if r < 0.12:
        text = text.lower()
    elif r < 0.22:
        text = text.rstrip(_END)
    elif r < 0.27:
        text = text.lower().rstrip(_END)
    if rng.random() < 0.06:
        text = _typo(rng, text)
    return text


def _generate(n: int, seed: int, one: Callable[[random.Random, str], str]) -> list[str]:
    """Up to ``n`` distinct texts, round-robin over ``LANGS`` (so balanced), then shuffled."""
    rng = random.Random(seed)
    per = -(-max(n, 0) // len(LANGS))
    per += per // 10 + 2  # slack for texts shared between languages ("ok", "Hello, world")
    pools: list[list[str]] = []
    for lang in LANGS:
        seen: set[str] = set()
        pool: list[str] = []
        for _ in range(per * 40):
            if len(pool) >= per:
                break
            text = one(rng, lang).strip()
            if text and text not in seen:
                seen.add(text)
                pool.append(text)
        pools.append(pool)
    out: list[str] = []
    taken: set[str] = set()
    for i in range(per):
        for pool in pools:
            if len(out) < n and i < len(pool) and pool[i] not in taken:
                taken.add(pool[i])
                out.append(pool[i])
    rng.shuffle(out)
    return out


def _benign_one(rng: random.Random, lang: str) -> str:
    d = DATA[lang]
    r = rng.random()
    if r < 0.3:
        text = rng.choice(d["phrase"])
    elif r < 0.4:
        text = rng.choice(d["phrase"]) + " " + rng.choice(d["chat"])
    else:
        text = rng.choice(d["chat"])
    return _vary(rng, _fill(rng, lang, text))


def _section_one(section: str) -> Callable[[random.Random, str], str]:
    def one(rng: random.Random, lang: str) -> str:
        return _vary(rng, _fill(rng, lang, rng.choice(DATA[lang][section])))

    return one


def benign_chat(n: int = 3000, seed: int = 5) -> list[str]:
    """Ordinary user messages (greetings, questions, coding help, e-mails, ...), balanced across LANGS."""
    return _generate(n, seed, _benign_one)


def injection_synth(n: int = 1500, seed: int = 6) -> list[str]:
    """Prompt-injection / jailbreak attempts, balanced across LANGS."""
    return _generate(n, seed, _section_one("inject"))


def hard_benign(n: int = 1000, seed: int = 8) -> list[str]:
    """Benign messages that use injection trigger words innocently, balanced across LANGS."""
    return _generate(n, seed, _section_one("hard"))


def everyday_benign(n: int = 600, seed: int = 9) -> list[str]:
    """Everyday "forget/ignore/instead", password, persona and injection-discussion messages (label 0)."""
    return _generate(n, seed, _section_one("everyday"))
