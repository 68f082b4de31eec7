"""The sandbox's limits: one frozen dataclass, like :class:`keras_sanitize.artifacts.ScanLimits`."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from keras_sanitize.errors import ConfigError

__all__ = ["DEFAULT_LIMITS", "LAYERS", "SandboxLimits"]

# Every layer :meth:`Sandbox.isolation` reports, in the order the worker sets them up.
LAYERS = (
    "process",
    "clean_env",
    "private_tmp",
    "user_namespace",
    "network_namespace",
    "landlock",
    "no_new_privs",
    "rlimits",
    "seccomp",
)


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandbox worker; every field is overridable.

    Attributes:
        memory_mb: address space a worker may grow by after start-up, in MiB
            (``RLIMIT_AS`` = its size when it locks itself down + ``memory_mb``).
        cpu_seconds: CPU seconds one task may use (``RLIMIT_CPU``, re-armed per task).
        timeout: wall-clock seconds the caller waits for one task before the
            worker is killed and replaced.
        open_files: ``RLIMIT_NOFILE`` (raised to what the worker already holds + 16).
        threads: threads a worker may add after start-up (``RLIMIT_NPROC``,
            applied inside the worker's own user namespace).
        max_tasks_per_worker: recycle a worker after this many tasks (``None``: never).
        start_timeout: seconds a worker may take to start (and load a model).
        max_transfer_mb: largest result a worker may hand back, in MiB.

    Example:
        >>> SandboxLimits(memory_mb=512).memory_mb
        512
    """

    memory_mb: int = 1024
    cpu_seconds: float = 10.0
    timeout: float = 5.0
    open_files: int = 64
    threads: int = 64
    max_tasks_per_worker: int | None = None
    start_timeout: float = 120.0
    max_transfer_mb: int = 1024

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "max_tasks_per_worker":
                continue
            if f.name in ("cpu_seconds", "timeout", "start_timeout"):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
                ok = ok and math.isfinite(value)
                rule = "a finite number > 0"
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
                rule = "an integer >= 1"
            if not ok:
                raise ConfigError(f"SandboxLimits.{f.name} must be {rule}. Received: {f.name}={value!r}")


DEFAULT_LIMITS = SandboxLimits()
