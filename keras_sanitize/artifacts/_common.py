"""Shared pieces of the artifact scanner: limits, the findings collector, small helpers."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Severity, echo

STAGE = "artifacts.scan"

#: Top-level packages whose classes and functions a model config may name.
DEFAULT_ALLOWED_MODULES: tuple[str, ...] = ("keras", "keras_hub")

#: Findings of one code beyond this many are counted, not listed.
MAX_FINDINGS_PER_CODE = 20

_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ScanLimits:
    """Resource limits of :func:`~keras_sanitize.artifacts.scan`; every field is overridable.

    The config limits are checked on the raw bytes *before* the JSON is parsed,
    so a hostile config costs a bounded time and memory whatever its shape
    (docs/artifacts.md states the bounds).

    Attributes:
        max_config_bytes: largest ``config.json`` / ``model_config`` read (8 MiB: 8x
            the largest ``keras.applications`` config, NASNetLarge's 1.03 MB).
        max_json_depth: deepest nesting of a config accepted.
        max_json_nodes: most JSON values and keys in one config, counted before
            parsing as the ``,``, ``:``, ``[`` and ``{`` bytes (an upper bound: those
            inside strings count too; NASNetLarge counts 107,329).
        max_members: most zip members in a ``.keras`` archive.
        zip_ratio: a member expanding more than this many times ...
        zip_bomb_floor: ... and to more than this many bytes is a bomb.
        max_total_uncompressed: largest declared sum of member sizes.
        max_h5_objects: most HDF5 links visited.
        h5_bomb_floor: an HDF5 dataset declaring more than this many bytes ...
        h5_ratio: ... and more than this many times the file's size is a bomb.
        max_attr_bytes: largest HDF5 attribute read for inspection.

    Example:
        >>> ScanLimits(max_members=50).max_members
        50
    """

    max_config_bytes: int = 8 << 20
    max_json_depth: int = 400
    max_json_nodes: int = 400_000
    max_members: int = 10_000
    zip_ratio: int = 100
    zip_bomb_floor: int = 1 << 20
    max_total_uncompressed: int = 64 << 30
    max_h5_objects: int = 1_000_000
    h5_bomb_floor: int = 1 << 32
    h5_ratio: int = 100
    max_attr_bytes: int = 16 << 20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"ScanLimits.{f.name} must be an integer >= 1. Received: {f.name}={value!r}"
                )


DEFAULT_LIMITS = ScanLimits()


class Collector:
    """Gathers the findings of one scan, capping repeats of one code."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._counts: Counter[str] = Counter()

    def add(
        self,
        code: str,
        message: str,
        severity: Severity | str,
        action: Action | str = Action.REJECT,
        *,
        fatal: bool = False,
        **detail: Any,
    ) -> None:
        self._counts[code] += 1
        if self._counts[code] > MAX_FINDINGS_PER_CODE:
            return
        self.findings.append(
            Finding(code, message, Severity(severity), Action(action), STAGE, detail=detail, fatal=fatal)
        )

    def finish(self) -> tuple[Finding, ...]:
        extra = {c: n - MAX_FINDINGS_PER_CODE for c, n in self._counts.items() if n > MAX_FINDINGS_PER_CODE}
        out = list(self.findings)
        if extra:
            summary = ", ".join(f"{c} x{n}" for c, n in sorted(extra.items()))
            out.append(
                Finding(
                    "artifact.findings_truncated",
                    f"more findings than listed ({MAX_FINDINGS_PER_CODE} per code are shown): "
                    f"{summary} more",
                    Severity.INFO,
                    Action.WARN,
                    STAGE,
                    detail={"suppressed": extra},
                )
            )
        return tuple(out)

    @property
    def refused(self) -> bool:
        return any(f.rejects for f in self.findings)


def normalize_allow(allow_modules: Any) -> tuple[str, ...]:
    """Validate ``allow_modules`` (an iterable of dotted module names) and add the defaults."""
    if isinstance(allow_modules, str):
        allow_modules = (allow_modules,)
    try:
        items = tuple(allow_modules)
    except TypeError:
        raise ConfigError(
            f"allow_modules must be a sequence of module names such as ('my_pkg',). "
            f"Received: allow_modules={echo(allow_modules)}"
        ) from None
    for item in items:
        if not isinstance(item, str) or not _MODULE_RE.match(item) or item in ("builtins", "__main__"):
            raise ConfigError(
                f"allow_modules entries must be dotted module names other than 'builtins' and "
                f"'__main__'. Received: {echo(item)}"
            )
    return DEFAULT_ALLOWED_MODULES + tuple(i for i in items if i not in DEFAULT_ALLOWED_MODULES)


def module_allowed(module: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``module`` is a dotted name equal to one of ``allowed`` or inside one of them."""
    return bool(_MODULE_RE.match(module)) and any(module == a or module.startswith(a + ".") for a in allowed)


def dotted(name: str) -> bool:
    """Whether ``name`` is a dotted Python name (``a.b.c``), as module and class names are."""
    return bool(_MODULE_RE.match(name))


def fspath(path: Any) -> str:
    """Return ``path`` as a ``str`` or raise ``ConfigError`` naming what was received."""
    try:
        out: str | bytes = os.fspath(path)
    except TypeError:
        raise ConfigError(f"path must be a str or os.PathLike. Received: {echo(path)}") from None
    return os.fsdecode(out) if isinstance(out, bytes) else out
