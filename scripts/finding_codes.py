"""Generate the catalogue of finding codes from the source: ``keras_sanitize/data/finding_codes.txt``
and ``docs/findings.md``.

A finding code is a string constant of the form ``area.snake_case[.more]`` whose area is
one of :data:`AREAS`, anywhere in ``keras_sanitize/`` except docstrings, ``owner`` names
and the arguments of fact/argument-check calls; codes built as ``f"{self.code}_suffix"``
are expanded with the module's ``code=`` defaults. ``tests/test_codes.py`` fails
when the checked-in files differ from what this script generates.

Usage::

    python scripts/finding_codes.py          # rewrite both files
    python scripts/finding_codes.py --check  # exit 1 when they are out of date
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_sanitize"
CATALOGUE = PACKAGE / "data" / "finding_codes.txt"
DOC = ROOT / "docs" / "findings.md"

#: the areas finding codes live in (the first dotted part)
AREAS = (
    "core", "text", "image", "audio", "tensor", "artifact", "audit",
    "sandbox", "serve", "privacy", "probe", "scale", "output",
)  # fmt: skip
CODE_RE = re.compile("^(" + "|".join(AREAS) + r")(\.[a-z0-9]+(?:_[a-z0-9]+)*)+$")
_SUFFIX_RE = re.compile(r"^_[a-z0-9_]+$")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _owner_names(tree: ast.AST) -> set[int]:
    """String constants assigned to ``owner`` (the name used in ConfigError messages)."""
    out = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and any(isinstance(t, ast.Name) and t.id == "owner" for t in node.targets)
        ):
            out.add(id(node.value))
    return out


#: calls whose string arguments are not finding codes (fact keys, owner names)
_NOT_CODES = frozenset(
    {"remember", "recall", "resolve_limits", "check_number", "check_choice", "check_names"}
)


def _non_code_args(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in _NOT_CODES:
                out.update(id(a) for a in node.args if isinstance(a, ast.Constant))
    return out


def _module_constants(trees: dict[Path, ast.Module]) -> dict[str, str]:
    consts: dict[str, str] = {}
    for tree in trees.values():
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        consts[target.id] = node.value.value
    return consts


def _code_defaults(tree: ast.AST, consts: dict[str, str]) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            pos = args.posonlyargs + args.args
            pairs = list(zip(pos[len(pos) - len(args.defaults) :], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, default in pairs:
                if arg.arg != "code":
                    continue
                if isinstance(default, ast.Constant) and isinstance(default.value, str):
                    out.add(default.value)
                elif isinstance(default, ast.Name) and default.id in consts:
                    out.add(consts[default.id])
    return out


def collect() -> dict[str, list[str]]:
    """Every finding code in the package -> the modules (relative paths) that emit it."""
    trees = {p: ast.parse(p.read_text("utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}
    consts = _module_constants(trees)
    codes: dict[str, set[str]] = {}
    for path, tree in trees.items():
        if path.name == "codes.py" and path.parent == PACKAGE:
            continue  # the catalogue's own module: old names of renamed codes
        where = path.relative_to(ROOT).as_posix()
        skip = _docstrings(tree) | _owner_names(tree) | _non_code_args(tree)
        suffixes = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                if CODE_RE.match(node.value):
                    codes.setdefault(node.value, set()).add(where)
            elif isinstance(node, ast.JoinedStr) and len(node.values) == 2:
                head, tail = node.values
                if (
                    isinstance(head, ast.FormattedValue)
                    and ast.unparse(head.value) == "self.code"
                    and isinstance(tail, ast.Constant)
                    and _SUFFIX_RE.match(str(tail.value))
                ):
                    suffixes.add(str(tail.value))
        for base in _code_defaults(tree, consts):
            for suffix in suffixes:
                codes.setdefault(base + suffix, set()).add(where)
    return {code: sorted(paths) for code, paths in sorted(codes.items())}


def render_catalogue(codes: dict[str, list[str]]) -> str:
    head = "# Every finding code keras_sanitize can emit. Generated by scripts/finding_codes.py.\n"
    return head + "".join(f"{code}\n" for code in codes)


def render_doc(codes: dict[str, list[str]]) -> str:
    lines = [
        "# Finding codes",
        "",
        "<!-- Generated by scripts/finding_codes.py from the source; do not edit by hand. -->",
        "",
        "Every finding has a stable code `area.snake_case` (sometimes one more dotted part, such",
        "as `text.prompt_injection.model`). The area is the modality or package that emits it",
        "(`core`, `text`, `image`, `audio`, `tensor`, `artifact`, `audit`, ...). A policy key is a",
        "code, a dotted prefix of codes (`image`, `text.prompt_injection`) or `*`; a key in one of",
        "the library's areas that matches no code and no prefix is a `ks.ConfigError` that names",
        "the closest codes, so a typo cannot silently change nothing:",
        "",
        "```python",
        "import keras_sanitize as ks",
        "",
        "try:",
        '    ks.Pipeline([ks.text.default()], policy={"text.mixed_scirpt": "reject"})',
        "except ks.ConfigError as exc:",
        "    print(exc)  # ...did you mean 'text.mixed_script'?...",
        "```",
        "",
        "Codes of your own stages live in your own area (`my_org.too_long`), or are declared",
        "with `keras_sanitize.codes.register_codes(...)` when they belong to a library area.",
        "",
        f"{len(codes)} codes:",
        "",
    ]
    area = None
    for code, paths in codes.items():
        this = code.split(".", 1)[0]
        if this != area:
            area = this
            lines += ["", f"## {area}", "", "| code | emitted in |", "|---|---|"]
        lines.append(f"| `{code}` | {', '.join(f'`{p}`' for p in paths)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the catalogue and the doc, or with ``--check`` report whether they are current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the files are out of date")
    args = parser.parse_args(argv)
    codes = collect()
    wanted = {CATALOGUE: render_catalogue(codes), DOC: render_doc(codes)}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text("utf-8") != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date: run python scripts/finding_codes.py")
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p], "utf-8")
        print(f"wrote {p.relative_to(ROOT)} ({len(codes)} codes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
