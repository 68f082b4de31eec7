"""The ``probe`` subcommand of ``keras-sanitize``: fuzz a saved model before deploying it.

``keras-sanitize probe MODEL.keras --modality image --budget 500 --out probe/`` loads
the model with ``ks.load_model`` (scan first, ``--sha256`` pin optional), runs the
attack families raw and behind the pipeline (``--policy FILE``, else the
modality's default sized to the model), prints a summary (or ``--json``), writes
``report.json`` and ``report.html`` under ``--out``, and exits 1 when a
``--fail-on`` condition holds (CI use), 2 on a usage error or a refused model.
"""

from __future__ import annotations

import argparse
import json
import operator
import re
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["add_command", "parse_conditions", "run_probe"]

EXIT_OK, EXIT_FAIL_ON, EXIT_ERROR = 0, 1, 2
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
_COND = re.compile(r"^\s*([a-z_][a-z0-9_.:]*)\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")


def add_command(subparsers: Any) -> None:
    """Register ``probe`` on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "probe",
        help="fuzz a saved model with attack families, raw and behind its pipeline",
        description="Load MODEL with ks.load_model, run seeded attack families against it with and "
        "without the pipeline, and report what gets through. Exit 0: done; 1: a --fail-on "
        "condition holds; 2: usage error or refused model.",
    )
    p.add_argument("model", metavar="MODEL", help="a .keras / .h5 model file")
    p.add_argument(
        "--modality",
        required=True,
        choices=("image", "audio", "tensor"),
        help="what the model takes (text models take token ids: use ks.fuzzing.probe with a callable)",
    )
    p.add_argument("--budget", type=int, default=500, help="attacked inputs in total (default 500)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--families", metavar="A,B", help="run only these families (default all)")
    p.add_argument("--policy", metavar="FILE", help="a TOML/JSON policy file: the pipeline to measure")
    p.add_argument("--no-pipeline", action="store_true", help="probe the raw model only")
    p.add_argument("--out", metavar="DIR", help="write report.json and report.html (needs matplotlib) here")
    p.add_argument(
        "--fail-on",
        metavar="EXPR",
        action="append",
        default=[],
        help="exit 1 when a summary metric meets it, e.g. 'pass_rate>0.1', "
        "'guarded.flip_rate>=0.2' or 'fgsm:refuse_rate<0.5' (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--sha256", metavar="HEX", help="pinned SHA-256 of MODEL")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per model call (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_probe)


def parse_conditions(exprs: list[str]) -> list[tuple[str, str, float]]:
    """``["pass_rate>0.1"]`` -> ``[("pass_rate", ">", 0.1)]``; ``ValueError`` on a malformed one.

    Example:
        >>> parse_conditions(["pass_rate>0.1", "fgsm:guarded.flip_rate >= 0.5"])
        [('pass_rate', '>', 0.1), ('fgsm:guarded.flip_rate', '>=', 0.5)]
    """
    out = []
    for expr in exprs:
        for part in expr.split(","):
            m = _COND.match(part)
            if not m:
                raise ValueError(f"--fail-on must look like 'pass_rate>0.1'. Received: {part!r}")
            out.append((m.group(1), m.group(2), float(m.group(3))))
    return out


def _metric(doc: dict[str, Any], name: str) -> float | None:
    scope: Any = doc["summary"]
    if ":" in name:
        fam, name = name.split(":", 1)
        scope = next((f for f in doc["families"] if f["name"] == fam), None)
    for key in name.split("."):
        if not isinstance(scope, dict) or key not in scope:
            return None
        scope = scope[key]
    return float(scope) if isinstance(scope, (int, float)) else None


def _pipeline(args: argparse.Namespace, model: Any) -> Any:
    import keras_sanitize as ks

    if args.no_pipeline:
        return None
    if args.policy:
        return ks.Pipeline.from_file(args.policy)
    shape = tuple(model.inputs[0].shape)[1:]
    if args.modality == "image":
        return ks.image.default(size=shape[:2], mode="L" if shape[-1] == 1 else "RGB")
    if args.modality == "audio":
        return ks.audio.default(length=int(shape[0]))
    return ks.tensor.default(shape=shape)


class _Bar:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, done: int, total: int, name: str) -> None:
        if self.enabled:
            filled = int(30 * done / max(total, 1))
            sys.stderr.write(f"\r[{'#' * filled}{'-' * (30 - filled)}] {done}/{total} {name:<20}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def run_probe(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``probe``; return 0, 1 (a ``--fail-on`` condition holds) or 2 (usage error, refused model)."""
    import keras_sanitize as ks
    from keras_sanitize.errors import ArtifactError, ConfigError

    out = out or sys.stdout
    try:
        conditions = parse_conditions(args.fail_on)
        if args.budget < 1:
            raise ValueError(f"--budget must be a positive integer. Received: {args.budget}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        model = ks.load_model(args.model, sha256=args.sha256)
    except ArtifactError as exc:
        report = getattr(exc, "report", None)
        print(f"error: {args.model}: refused by ks.load_model: {exc}", file=sys.stderr)
        for f in getattr(report, "findings", ()):
            print(f"  {f}", file=sys.stderr)
        return EXIT_ERROR
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        pipeline = _pipeline(args, model)
        report = ks.fuzzing.probe(
            model,
            args.modality,
            pipeline,
            budget=args.budget,
            seed=args.seed,
            families=args.families,
            timeout=args.timeout,
            progress=_Bar(not args.no_progress and not args.json and sys.stderr.isatty()),
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    doc = report.to_dict()
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.json").write_text(report.to_json(), encoding="utf-8")
        try:
            report.to_html(folder / "report.html")
        except ConfigError as exc:
            print(f"warning: no HTML report: {exc}", file=sys.stderr)
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else str(report), file=out)
    failed = []
    for name, op, value in conditions:
        got = _metric(doc, name)
        if got is None:
            print(f"error: --fail-on names {name!r}, which the report does not have", file=sys.stderr)
            return EXIT_ERROR
        if _OPS[op](got, value):
            failed.append(f"{name}={got:g} {op} {value:g}")
    if failed:
        print("fail-on: " + "; ".join(failed), file=sys.stderr)
        return EXIT_FAIL_ON
    return EXIT_OK
