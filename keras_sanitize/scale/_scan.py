"""``keras-sanitize scan --ray`` and ``--out reports.parquet``.

With ``--ray`` every file goes through the very check of the local scan
(``cli._check``: size limit, model-file rule, ``.npy`` loading, sniffing or
the policy's pipeline), but in a pool of Ray actors with the crash ledger of
:mod:`keras_sanitize.scale._dataset`. Either way ``--out`` writes one Parquet
row per file: ``path, sha256, modality, ok, codes, findings`` (JSON), so small
and large runs are interchangeable. The files must be readable by every Ray
node (a shared filesystem) when the cluster has several machines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity
from keras_sanitize.scale._dataset import SanitizeBatch, ScaleLimits, _map, _objects, _ray
from keras_sanitize.stage import Stage

__all__ = ["ray_results", "write_rows"]

COLUMNS = ("path", "sha256", "modality", "ok", "codes", "findings")


def file_sha256(path: Path) -> str | None:
    """The file's SHA-256, or ``None`` when it cannot be read."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _finding(d: Mapping[str, Any]) -> Finding:
    span = d.get("span")
    return Finding(
        code=d["code"],
        message=d["message"],
        severity=Severity(d["severity"]),
        action=Action(d["action"]),
        stage=d.get("stage", ""),
        index=d.get("index"),
        span=(int(span[0]), int(span[1])) if span else None,
        score=d.get("score"),
        detail=d.get("detail") or {},
        fatal=bool(d.get("fatal", False)),
    )


class _ScanBatch(SanitizeBatch):
    """One actor of ``scan --ray``: the local scan's per-file check on a batch of paths."""

    def __init__(
        self,
        pipeline: Stage | None,
        args: argparse.Namespace,
        check: Callable[[Path, argparse.Namespace, Any], Report],
        ledger: Any = None,
        limits: ScaleLimits | None = None,
    ) -> None:
        self.pipeline = pipeline  # type: ignore[assignment]
        self.args = args
        self.check = check
        self.column = "path"
        self.keep = "all"
        self.ledger = ledger
        self.limits = limits or ScaleLimits()
        self.modality = args.modality

    def report(self, batch: Mapping[str, Any], index: int) -> Report:
        return self.check(Path(str(batch["path"][index])), self.args, self.pipeline)

    def columns(self, batch: dict[str, Any], reports: list[Report]) -> dict[str, Any]:
        paths = [str(p) for p in batch["path"]]
        return {
            "order": batch["order"],
            "path": np.array(paths, dtype=object),
            "sha256": _objects([file_sha256(Path(p)) for p in paths]),
            "modality": _objects([r.modality for r in reports]),
            "ok": np.array([r.ok for r in reports], dtype=bool),
            "codes": _objects([list(r.codes) for r in reports]),
            "findings": _objects([json.dumps([f.to_dict() for f in r.findings]) for r in reports]),
        }


def ray_results(
    files: Sequence[Path],
    args: argparse.Namespace,
    pipeline: Stage | None,
    check: Callable[[Path, argparse.Namespace, Any], Report],
) -> tuple[list[tuple[Path, Report]], dict[str, str | None]]:
    """Check ``files`` on Ray with ``check`` (the local scan's per-file check, handed in by the CLI
    so that this package never imports it); return ``(path, report)`` pairs and the digests."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot start or reach Ray (--address {args.address}): {exc}") from None
        started = True
    try:
        ray.data.DataContext.get_current().enable_progress_bars = not args.no_progress
        if not files:
            return [], {}
        ds = ray.data.from_items([{"order": i, "path": str(p)} for i, p in enumerate(files)])
        out = _map(
            ds,
            _ScanBatch,
            {"pipeline": pipeline, "args": args, "check": check},
            ScaleLimits(),
            concurrency=args.ray_actors,
            batch_size=args.ray_batch_size,
            num_cpus=1.0,
            memory=None,
        )
        rows = sorted(out.take_all(), key=lambda r: int(r["order"]))
    finally:
        if started:
            ray.shutdown()
    results = []
    digests: dict[str, str | None] = {}
    for row in rows:
        findings = tuple(_finding(d) for d in json.loads(row["findings"]))
        report = Report(bool(row["ok"]), None, findings, {}, row["modality"])
        results.append((Path(row["path"]), report))
        digests[str(row["path"])] = row["sha256"]
    return results, digests


def write_rows(
    out: str, results: Sequence[tuple[Path, Report]], digests: Mapping[str, str | None] | None = None
) -> None:
    """Write one Parquet row per file: path, sha256, modality, ok, codes, findings (JSON)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("--out needs pyarrow: pip install 'keras-sanitize[ray]'") from None
    digests = digests or {}
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for path, report in results:
        cols["path"].append(str(path))
        cols["sha256"].append(digests[str(path)] if str(path) in digests else file_sha256(path))
        cols["modality"].append(report.modality)
        cols["ok"].append(report.ok)
        cols["codes"].append(list(report.codes))
        cols["findings"].append(json.dumps([f.to_dict() for f in report.findings]))
    schema = pa.schema(
        [
            ("path", pa.string()),
            ("sha256", pa.string()),
            ("modality", pa.string()),
            ("ok", pa.bool_()),
            ("codes", pa.list_(pa.string())),
            ("findings", pa.string()),
        ]
    )
    try:
        pq.write_table(pa.table(cols, schema=schema), out)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc}") from None
