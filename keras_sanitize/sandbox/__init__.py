"""Sandboxing: hostile decoders and the model run in isolated, locked-down worker processes.

Keras's SECURITY.md: "The libraries converting these inputs have varying
security levels, so it's crucial to isolate the model." A :class:`Sandbox` is a
pool of warm workers, each in its own user and network namespace, restricted by
Landlock, resource limits, ``no_new_privs`` and a seccomp filter;
``pipeline.isolated(box)`` runs a pipeline's stages there (bytes in, arrays back
through shared memory, the same :class:`~keras_sanitize.Report`), and
:class:`SandboxedModel` loads and runs a model there. A worker that crashes,
exhausts memory or CPU, or hangs becomes one refused report (``sandbox.crashed``,
``sandbox.memory_exceeded``, ``sandbox.timeout``, ``sandbox.forbidden_syscall``)
and is replaced. See ``docs/sandbox.md`` for the threat model.

Example:
    >>> import keras_sanitize as ks
    >>> with ks.sandbox.Sandbox(workers=1) as box:
    ...     report = ks.text.default().isolated(box).run("hello")
    >>> report.ok, report.value
    (True, 'hello')
"""

from __future__ import annotations

from keras_sanitize.sandbox._isolated import IsolatedPipeline, default_sandbox, isolate
from keras_sanitize.sandbox._limits import DEFAULT_LIMITS, LAYERS, SandboxLimits
from keras_sanitize.sandbox._model import SandboxedModel
from keras_sanitize.sandbox._pool import Sandbox

__all__ = [
    "DEFAULT_LIMITS",
    "LAYERS",
    "IsolatedPipeline",
    "Sandbox",
    "SandboxLimits",
    "SandboxedModel",
    "default_sandbox",
    "isolate",
]
