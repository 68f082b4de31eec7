"""``pipeline.isolated(sandbox)``: the same pipeline, its stages run inside sandbox workers."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from typing import Any

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Report
from keras_sanitize.pipeline import Pipeline
from keras_sanitize.sandbox._pool import Sandbox
from keras_sanitize.sandbox._remote import remote_batch
from keras_sanitize.stage import Context, Halt, Stage

__all__ = ["IsolatedPipeline", "default_sandbox", "isolate", "resolve_sandbox"]

_DEFAULT: list[Sandbox] = []
_DEFAULT_LOCK = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process-wide default :class:`Sandbox` (``sandbox=True``), started on first use."""
    with _DEFAULT_LOCK:
        if not _DEFAULT or _DEFAULT[0].closed:
            _DEFAULT[:] = [Sandbox()]
        return _DEFAULT[0]


def resolve_sandbox(owner: str, sandbox: Any) -> Sandbox:
    """``True`` -> the default sandbox; a :class:`Sandbox` -> itself; anything else is a ConfigError."""
    if sandbox is True:
        return default_sandbox()
    if isinstance(sandbox, Sandbox):
        if sandbox.closed:
            raise ConfigError(f"{owner}: the Sandbox is closed; pass an open one")
        return sandbox
    raise ConfigError(f"{owner}: sandbox must be True or a ks.sandbox.Sandbox. Received: sandbox={sandbox!r}")


def _modules(stage: Stage, out: dict[str, None]) -> None:
    module = type(stage).__module__
    if module in ("__main__", "__mp_main__"):
        raise ConfigError(
            f"isolated(): stage {type(stage).__name__} is defined in __main__, which sandbox workers "
            f"cannot import; move it to an importable module (and register it with @ks.register_stage())"
        )
    out[module] = None
    for attr in ("stages", "pipelines"):
        inner = getattr(stage, attr, None)
        if isinstance(inner, (list, tuple)):
            for s in inner:
                if isinstance(s, Stage):
                    _modules(s, out)


class IsolatedPipeline(Pipeline):
    """A pipeline whose stages run inside :class:`Sandbox` workers; build it with ``pipe.isolated(box)``.

    Same ``run``/``run_batch``/``__call__`` and the same reports as the
    in-process pipeline; a worker that crashes, runs out of memory or time gives
    a refused report with one fatal ``sandbox.*`` finding instead.

    Example:
        >>> import io, keras_sanitize as ks
        >>> from PIL import Image
        >>> buf = io.BytesIO(); Image.new("RGB", (40, 30), "red").save(buf, "PNG")
        >>> with ks.sandbox.Sandbox(workers=1) as box:
        ...     pipe = ks.image.default(size=(8, 8)).isolated(box)
        ...     report = pipe.run(buf.getvalue())
        >>> report.ok, report.value.shape
        (True, (8, 8, 3))
    """

    def __init__(self, pipeline: Pipeline, sandbox: Sandbox) -> None:
        if not isinstance(pipeline, Pipeline) or isinstance(pipeline, IsolatedPipeline):
            raise ConfigError(f"isolated() needs a Pipeline. Received: {pipeline!r:.120}")
        super().__init__(
            pipeline.stages,
            modality=pipeline.modality_name,
            mode=pipeline.mode,
            fail_fast=pipeline.fail_fast,
            name=pipeline.name,
            policy={k: v.value for k, v in pipeline.policy.items()},
        )
        from keras_sanitize.config import serialize_stage

        self.inner = pipeline
        self.sandbox = sandbox
        mods: dict[str, None] = {}
        _modules(pipeline, mods)
        self._modules = list(mods)
        self._config = serialize_stage(pipeline)
        text = json.dumps([self._config, self._modules], sort_keys=True, default=str)
        self._key = hashlib.sha256(text.encode()).hexdigest()[:32]

    def _remote(self, values: list[Any], indices: list[int | None], **kw: Any) -> list[Report]:
        return remote_batch(self.sandbox, self, values, indices, **kw)

    def run(self, value: Any, *, index: int | None = None) -> Report:
        """Run the pipeline on one input in a worker; never raises on bad input."""
        return self._remote([value], [index])[0]

    def run_batch(self, values: Iterable[Any]) -> list[Report]:
        """One report per item, in order; items are spread over the workers."""
        try:
            items = list(values)
        except Exception:
            return super().run_batch(values)
        return self._remote(items, list(range(len(items))))

    def process(self, value: Any, ctx: Context) -> Any:
        """Run as a nested stage: the outer pipeline's mode and policies apply in the worker."""
        report = self._remote([value], [ctx.index], monitor=ctx.monitor, overrides=ctx.overrides)[0]
        ctx._sink.extend(report.findings)
        if not report.ok:
            ctx.rejected = True
        if any(f.fatal for f in report.findings):
            raise Halt("isolated pipeline halted")
        return report.value

    def isolated(self, sandbox: Any = True) -> Pipeline:
        """Already isolated: the same pipeline in another sandbox."""
        return isolate(self.inner, sandbox)

    def __repr__(self) -> str:
        return f"IsolatedPipeline({self.inner!r}, sandbox={self.sandbox!r})"


def isolate(pipeline: Pipeline, sandbox: Any = True) -> IsolatedPipeline:
    """Return ``pipeline`` running in ``sandbox`` (``True``: the default sandbox)."""
    return IsolatedPipeline(pipeline, resolve_sandbox("isolated", sandbox))
