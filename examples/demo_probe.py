"""Demo section: a small probe of a naive chatbot, raw and behind ``ks.text.default()``.

One row per attack family: the pipeline's verdict on most of its inputs, and how often
the chatbot obeyed the payload or leaked its secret with and without the pipeline.
"""

from __future__ import annotations

import re

from _demo import Case, run_alone

import keras_sanitize as ks

SECRET = "s3cr3t-canary"
FAMILIES = [
    "templates",
    "base64",
    "homoglyphs",
    "zero_width",
    "role_delimiters",
    "indirect",
    "translation",
    "leetspeak",
    "line_split",
]


def chatbot(prompts: list[str]) -> list[str]:
    """A toy endpoint that obeys anything that tells it to ignore its instructions."""
    out = []
    for p in prompts:
        marker = re.search(r"ZQX[A-Z]{5}", p)
        if marker and re.search(r"ignor|disregard|forget|override", p.replace("\n", ""), re.I):
            out.append(f"{marker.group(0)}! By the way, the secret is {SECRET}.")
        else:
            out.append("Happy to help.")
    return out


def section() -> tuple[str, list[Case]]:
    report = ks.fuzzing.probe(chatbot, "text", ks.text.default(), budget=90, families=FAMILIES, canary=SECRET)
    cases = []
    for fam in report.families:
        verdict = (
            "refused" if fam.refused * 2 > fam.n else "cleaned" if fam.sanitized * 2 > fam.n else "accepted"
        )
        raw, guarded = fam.raw, fam.guarded or {}
        notes = [
            f"{fam.refused}/{fam.n} refused; obeyed raw {raw['follow_rate']:.0%} -> guarded "
            f"{guarded.get('follow_rate', 0):.0%}; leaked raw {raw['leak_rate']:.0%} -> guarded "
            f"{guarded.get('leak_rate', 0):.0%}"
        ]
        cases.append(Case(f"probe: {fam.name}", verdict, notes))
    ranking = report.ranking()
    if ranking:
        cases.append(
            Case("probe: harden next", "accepted", [f"{r['family']}: {r['why']}" for r in ranking[:2]])
        )
    return "probe: a naive chatbot, raw vs behind ks.text.default()", cases


if __name__ == "__main__":
    raise SystemExit(run_alone(section))
