"""The probe's report: per-family counts and rates, pooled summary, ranking, JSON and HTML."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keras_sanitize.findings import Finding, _jsonable

__all__ = ["FamilyResult", "ProbeReport", "mean_ci", "wilson"]

_Z = 1.959964  # 95 %


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of ``k`` successes in ``n`` trials.

    Example:
        >>> [round(v, 3) for v in wilson(5, 10)]
        [0.237, 0.763]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + _Z**2 / n
    centre = (p + _Z**2 / (2 * n)) / denom
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and normal-approximation 95 % interval of ``values``."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0, 0.0)
    mean = math.fsum(values) / n
    if n == 1:
        return (mean, mean, mean)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = _Z * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


def _r(x: float) -> float:
    return round(float(x), 6)


def rates(
    flips: Sequence[bool],
    changes: Sequence[float],
    follows: Sequence[bool],
    leaks: Sequence[bool],
    crashes: int,
    extra: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The rates of one path (raw or guarded) of one family as plain data."""
    out: dict[str, Any] = {"measured": max(len(flips), len(changes), len(follows)), "crashes": crashes}
    if flips:
        k = sum(flips)
        lo, hi = wilson(k, len(flips))
        out.update(flip_rate=_r(k / len(flips)), flip_rate_ci=[_r(lo), _r(hi)])
    if changes:
        mean, lo, hi = mean_ci(changes)
        out.update(mean_abs_change=_r(mean), mean_abs_change_ci=[_r(max(lo, 0.0)), _r(hi)])
    if follows:
        k = sum(follows)
        lo, hi = wilson(k, len(follows))
        out.update(follow_rate=_r(k / len(follows)), follow_rate_ci=[_r(lo), _r(hi)])
        k = sum(leaks)
        lo, hi = wilson(k, len(leaks))
        out.update(leak_rate=_r(k / len(leaks)), leak_rate_ci=[_r(lo), _r(hi)])
    if extra:
        out.update(extra)
    return out


@dataclass
class FamilyResult:
    """What one attack family did: pipeline verdicts, output change raw vs guarded, crashes."""

    name: str
    description: str
    n: int
    refused: int
    sanitized: int
    passed: int
    crashes: int
    raw: dict[str, Any]
    guarded: dict[str, Any] | None
    refusal_codes: dict[str, int] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def harm(self, path: str = "guarded") -> float | None:
        """The family's worst model-effect rate on ``path``: flip, follow or leak rate."""
        stats = self.guarded if path == "guarded" else self.raw
        if stats is None:
            return None
        vals = [float(stats[k]) for k in ("flip_rate", "follow_rate", "leak_rate") if k in stats]
        return max(vals) if vals else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the ``families`` entries of :meth:`ProbeReport.to_dict`)."""
        return {
            "name": self.name,
            "description": self.description,
            "n": self.n,
            "refused": self.refused,
            "sanitized": self.sanitized,
            "passed": self.passed,
            "crashes": self.crashes,
            "pass_rate": _r(self.passed / self.n) if self.n else 0.0,
            "refuse_rate": _r(self.refused / self.n) if self.n else 0.0,
            "raw": self.raw,
            "guarded": self.guarded,
            "refusal_codes": dict(sorted(self.refusal_codes.items(), key=lambda kv: (-kv[1], kv[0]))),
            "variants": self.variants,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _pool(results: Sequence[FamilyResult], path: str) -> dict[str, Any] | None:
    stats = [getattr(r, path) for r in results if getattr(r, path) is not None]
    if not stats:
        return None
    out: dict[str, Any] = {"crashes": sum(int(s.get("crashes", 0)) for s in stats)}
    for key in ("flip_rate", "mean_abs_change", "follow_rate", "leak_rate"):
        pairs = [(float(s[key]), int(s["measured"])) for s in stats if key in s]
        total = sum(m for _, m in pairs)
        if total:
            rate = sum(v * m for v, m in pairs) / total
            out[key] = _r(rate)
            if key != "mean_abs_change":
                lo, hi = wilson(round(rate * total), total)
                out[key + "_ci"] = [_r(lo), _r(hi)]
    return out


@dataclass
class ProbeReport:
    """The outcome of :func:`keras_sanitize.fuzzing.probe`.

    Plain data: :meth:`to_dict` / :meth:`to_json` (timings are the only
    non-reproducible fields, all under ``"timings"`` keys), :meth:`summary` pools
    the families, :meth:`ranking` orders what to harden next, :meth:`to_html`
    writes one self-contained file.
    """

    target: str
    modality: str
    seed: int
    budget: int
    pipeline: str | None
    families: list[FamilyResult]
    skipped: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    calibration: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def family(self, name: str) -> FamilyResult:
        """The result of family ``name`` (``KeyError`` when it did not run)."""
        for r in self.families:
            if r.name == name:
                return r
        raise KeyError(name)

    def summary(self) -> dict[str, Any]:
        """The family counts and rates pooled over every family that ran."""
        n = sum(r.n for r in self.families)
        counts = {
            k: sum(getattr(r, k) for r in self.families)
            for k in ("refused", "sanitized", "passed", "crashes")
        }
        return {
            "n": n,
            **counts,
            "pass_rate": _r(counts["passed"] / n) if n else 0.0,
            "refuse_rate": _r(counts["refused"] / n) if n else 0.0,
            "sanitize_rate": _r(counts["sanitized"] / n) if n else 0.0,
            "crash_rate": _r(counts["crashes"] / n) if n else 0.0,
            "raw": _pool(self.families, "raw"),
            "guarded": _pool(self.families, "guarded"),
        }

    def ranking(self) -> list[dict[str, Any]]:
        """Families that still get through, worst first: what to harden next.

        The score is the guarded model-effect rate (label flips, instruction
        following or leaks; the raw rate when no pipeline was given), or, for
        families with no measurable effect, the share of inputs the pipeline let
        through untouched; crashes add their rate.
        """
        rows: list[dict[str, Any]] = []
        for r in self.families:
            if not r.n:
                continue
            path = "guarded" if r.guarded is not None else "raw"
            harm = r.harm(path)
            through = (r.passed + r.sanitized) / r.n
            stats = r.guarded if r.guarded is not None else r.raw
            path_crashes = int(stats.get("crashes", 0))
            score = harm if harm is not None else (r.passed / r.n if r.guarded is not None else 0.0)
            score += path_crashes / r.n
            if score <= 0:
                continue
            parts = [f"{(r.passed + r.sanitized)}/{r.n} reach the model ({through:.0%})"]
            for key, label in (
                ("flip_rate", "flip the label"),
                ("follow_rate", "are obeyed"),
                ("leak_rate", "leak the canary"),
            ):
                if key in stats:
                    raw_v = r.raw.get(key)
                    shown = f" (raw {raw_v:.0%})" if path == "guarded" and raw_v is not None else ""
                    parts.append(f"{stats[key]:.0%} {label}{shown}")
            if path_crashes:
                parts.append(f"{path_crashes} target failures ({path})")
            rows.append({"family": r.name, "score": _r(score), "why": "; ".join(parts)})
        rows.sort(key=lambda row: (-float(row["score"]), str(row["family"])))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able plain data."""
        out: dict[str, Any] = {
            "target": self.target,
            "modality": self.modality,
            "seed": self.seed,
            "budget": self.budget,
            "pipeline": self.pipeline,
            "families": [r.to_dict() for r in self.families],
            "skipped": [{"name": k, "reason": v} for k, v in self.skipped.items()],
            "summary": self.summary(),
            "ranking": self.ranking(),
            "findings": [f.to_dict() for f in self.findings],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if self.calibration is not None:
            out["calibration"] = _jsonable(self.calibration)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """The report as a JSON document."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_html(self, path: str | Any) -> None:
        """Write one self-contained HTML file (plots embedded as PNG; needs matplotlib).

        Raises:
            ConfigError: matplotlib is not installed (``pip install keras-sanitize[probe]``).
        """
        from keras_sanitize.fuzzing._html import write_html

        write_html(self, path)

    def __str__(self) -> str:
        s = self.summary()
        lines = [
            f"probe of {self.target} ({self.modality}, seed {self.seed}, "
            f"pipeline {self.pipeline or 'none'}): "
            f"{s['n']} inputs, {s['refused']} refused, {s['sanitized']} sanitized, {s['passed']} passed, "
            f"{s['crashes']} crashes"
        ]
        for r in self.families:
            lines.append(
                f"  {r.name:<16} n={r.n:<4} refused={r.refused:<4} sanitized={r.sanitized:<4} "
                f"passed={r.passed:<4} crashes={r.crashes}"
            )
        for row in self.ranking()[:5]:
            lines.append(f"  harden next: {row['family']}: {row['why']}")
        return "\n".join(lines)
