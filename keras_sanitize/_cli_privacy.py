"""The ``privacy`` subcommand of ``keras-sanitize``: a membership-inference leak test of a saved model.

``keras-sanitize privacy MODEL.keras --members m.npz --non-members n.npz --out leak/``
loads the model safely (:func:`keras_sanitize.load_model`: scanned, ``safe_mode``),
runs :func:`keras_sanitize.privacy.membership_inference`, prints a table and
writes ``report.json``, ``report.html`` and (with matplotlib) ``roc.png`` into ``--out``.
Each ``.npz`` holds arrays ``x`` and ``y`` (inputs and class labels).

Exit codes: 0 done, 2 usage error (unreadable files, a refused model, bad arrays).
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError, SanitizeError

__all__ = ["add_commands", "run_privacy"]

EXIT_OK, EXIT_USAGE = 0, 2
_BAR = 30


def add_commands(subparsers: Any) -> None:
    """Register ``privacy`` on an ``argparse`` subparsers object.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser(prog="keras-sanitize")
        >>> add_commands(parser.add_subparsers())
        >>> parser.parse_args(["privacy", "m.keras", "--members", "a.npz", "--non-members", "b.npz"]).out
        'leak'
    """
    cmd = subparsers.add_parser(
        "privacy",
        help="membership-inference leak test of a trained model",
        description="Run membership-inference attacks (loss, confidence, entropy) on a saved Keras "
        "model with its training examples (--members) and unseen examples (--non-members). "
        "Exit 0: report written; 2: usage error.",
    )
    cmd.add_argument("model", metavar="MODEL", help="a .keras model (loaded safely: scanned, safe_mode)")
    cmd.add_argument("--members", required=True, metavar="NPZ", help="training examples: arrays x, y")
    cmd.add_argument("--non-members", required=True, metavar="NPZ", help="unseen examples: arrays x, y")
    cmd.add_argument("--out", default="leak", metavar="DIR", help="folder for report.json/.html, roc.png")
    cmd.add_argument("--attacks", default="loss,confidence,entropy", help="comma-separated attacks")
    cmd.add_argument("--batch-size", type=int, default=256, metavar="N")
    cmd.add_argument("--bootstrap", type=int, default=200, metavar="N", help="bootstrap resamples (0: none)")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    cmd.set_defaults(func=run_privacy)


def _load_npz(path: str) -> tuple[Any, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data or "y" not in data:
                raise ConfigError(f"{path}: needs arrays named x and y; found {sorted(data.files)}")
            return data["x"], data["y"]
    except ConfigError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a readable .npz file ({exc})") from None


class _Bar:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.start = total, enabled, time.monotonic()
        self.offset = 0

    def __call__(self, done: int, _: int) -> None:
        if not self.enabled:
            return
        now = self.offset + done
        filled = int(_BAR * min(now, self.total) / max(self.total, 1))
        rate = now / max(time.monotonic() - self.start, 1e-9)
        sys.stderr.write(f"\r[{'#' * filled}{'-' * (_BAR - filled)}] {now}/{self.total} {rate:8.0f} ex/s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * (_BAR + 40) + "\r")
            sys.stderr.flush()


def run_privacy(args: argparse.Namespace) -> int:
    """Run the leak test described by ``args``; returns the exit code."""
    try:
        members = _load_npz(args.members)
        non_members = _load_npz(args.non_members)
        from keras_sanitize.artifacts import load_model
        from keras_sanitize.privacy import membership_inference

        model = load_model(args.model)
        total = len(members[1]) + len(non_members[1])
        bar = _Bar(total, not args.no_progress and sys.stderr.isatty())

        def progress(done: int, n: int) -> None:
            bar(done, n)
            if n and done >= n and bar.offset == 0:
                bar.offset = n

        attacks = [a.strip() for a in str(args.attacks).split(",") if a.strip()]
        report = membership_inference(
            model, members, non_members, attacks, batch_size=args.batch_size, n_bootstrap=args.bootstrap,
            progress=progress,
        )
        bar.close()
    except SanitizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(report.to_json(scores=True), encoding="utf-8")
    report.to_html(out / "report.html")
    written = ["report.json", "report.html"]
    try:
        report.plot_roc(out / "roc.png")
        written.append("roc.png")
    except ConfigError as exc:
        print(f"note: {exc}", file=sys.stderr)
    print(report.summary())
    meta = report.meta
    print(
        f"{meta['n_members']} members (accuracy {meta['member_accuracy']:.3f}), {meta['n_non_members']} "
        f"non-members (accuracy {meta['non_member_accuracy']:.3f}); wrote {', '.join(written)} to {out}"
    )
    return EXIT_OK
