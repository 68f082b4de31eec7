"""`make bench` marks every goal met or missed, cuts no cell, and the docs quote its generated tables."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import Row, markdown, parse_goal, render  # noqa: E402

REGION = re.compile(r"<!-- bench:([a-z_]+) -->\n(.*?)<!-- /bench -->", re.S)


@pytest.mark.parametrize(
    ("goal", "parsed"),
    [
        ("≤ 1.05x", ("<=", 1.05, "x")),
        ("<= 2x", ("<=", 2.0, "x")),
        ("≥ 2,000/s", (">=", 2000.0, "/s")),
        ("< 1 s", ("<", 1.0, "s")),
        ("<= 1 ms", ("<=", 1.0, "ms")),
        ("~1.0x", ("~", 1.0, "x")),
        ("≤ 50 MB", ("<=", 50.0, "MB")),
        ("flat", None),
        ("TPR>=0.8 FPR<=0.03", None),
    ],
)
def test_goals_parse(goal: str, parsed: tuple[str, float, str] | None) -> None:
    assert parse_goal(goal) == parsed


def test_every_goal_is_judged() -> None:
    rows = [
        Row("g", "ratio met", 1.0, "ref", 1.0, goal="≤ 1.05x"),
        Row("g", "ratio missed", 1.2, "ref", 1.0, goal="≤ 1.05x"),
        Row("g", "rate met", 1 / 3000, goal="≥ 2,000/s"),
        Row("g", "rate missed", 1 / 1000, goal="≥ 2,000/s"),
        Row("g", "time met", 0.5, goal="< 1 s"),
        Row("g", "time missed", 2e-3, goal="<= 1 ms"),
        Row("g", "value met", value=3.0, unit="MB", goal="≤ 50 MB"),
        Row("g", "value missed", value=300.0, unit="MB", goal="≤ 50 MB"),
        Row("g", "about", 1.08, "ref", 1.0, goal="~1.0x"),
        Row("g", "no goal", 1.0),
    ]
    verdicts = [r.verdict for r in rows]
    assert verdicts == ["met", "MISSED", "met", "MISSED", "met", "MISSED", "met", "MISSED", "met", ""]
    text = render(rows)
    assert "goal met" in text.splitlines()[0]
    assert text.count("MISSED") == 4 + 1  # four rows, and the summary line naming them
    assert text.splitlines()[-1].startswith("goals: 5 of 9 met; MISSED: g: ratio missed (≤ 1.05x)")
    assert markdown(rows).count("**MISSED**") == 4


def test_no_cell_is_cut() -> None:
    long = "trained without deepset, tested on it: model at the shipped threshold, held out " * 2
    assert long.strip() in render([Row("injection/cross-dataset", long.strip(), note=long.strip())])


def test_the_docs_quote_the_generated_tables() -> None:
    quoted: dict[str, list[str]] = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for name, body in REGION.findall(doc.read_text(encoding="utf-8")):
            quoted.setdefault(name, []).append(doc.name)
            generated = ROOT / "docs" / "_generated" / f"bench_{name}.md"
            assert generated.exists(), f"{doc.name} quotes bench:{name}, but make bench wrote no {generated}"
            hand = f"{doc.name}: bench:{name} was edited by hand"
            assert body == generated.read_text(encoding="utf-8"), hand
    every = ("text", "image", "audio", "wrap", "artifacts", "sandbox", "serve", "privacy", "probe", "scale",
             "injection")  # fmt: skip
    for name in every:
        assert name in quoted, f"no doc quotes the {name} bench table"
    text_md = (ROOT / "docs" / "text.md").read_text(encoding="utf-8")
    assert "32–95 µs" not in text_md and "3.7–5.3x" not in text_md  # the hand-typed figures are gone
