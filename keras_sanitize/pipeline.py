"""Pipelines: an ordered list of stages for one modality, itself a stage.

The loop is flat and small on purpose: each stage gets the previous stage's
value and a fresh :class:`~keras_sanitize.stage.Context`; the first rejecting
finding stops the run unless ``fail_fast=False``; a stage that raises is turned
into a finding and the input is refused (fail closed), so ``run`` never raises
on bad input.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ConfigError, InputRejected, SanitizeError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo
from keras_sanitize.stage import Context, Halt, Stage, check_choice, rejection_message

__all__ = ["Pipeline", "run_stages"]

_MODES = ("enforce", "monitor")


def _call_stage(stage: Stage, value: Any, ctx: Context) -> tuple[Any, bool]:
    """Run one stage; return ``(value, halted)``. Never raises on bad input."""
    try:
        return stage.process(value, ctx), False
    except Halt:
        return None, True
    except SanitizeError as exc:
        ctx.add(
            "core.stage_refused",
            f"stage {stage.name!r} refused the input: {exc}",
            severity=Severity.HIGH,
            fatal=True,
        )
        return None, True
    except Exception as exc:
        ctx.add(
            "core.internal_error",
            f"stage {stage.name!r} raised {type(exc).__name__} ({echo(str(exc))}) on this "
            f"input; the input was refused to fail closed. This is a bug: please report it.",
            severity=Severity.HIGH,
            detail={"exception": type(exc).__name__},
            fatal=True,
        )
        return None, True


def run_stages(
    stages: Sequence[Stage],
    value: Any,
    *,
    modality: str | None = None,
    index: int | None = None,
    monitor: bool = False,
    fail_fast: bool = True,
    overrides: tuple[Mapping[str, Action], ...] = (),
    sink: list[Finding] | None = None,
) -> Report:
    """Run ``stages`` in order on ``value`` and return a :class:`Report`.

    ``overrides`` are enclosing pipelines' policies (outermost first); findings
    are appended to ``sink`` as they happen when one is given.
    """
    findings: list[Finding] = [] if sink is None else sink
    first = len(findings)
    timings: dict[str, float] = {}
    rejected = halted = False
    for stage in stages:
        ctx = stage.context(findings, index=index, monitor=monitor, overrides=overrides)
        start = time.perf_counter()
        value, halted = _call_stage(stage, value, ctx)
        key = stage.name if stage.name not in timings else f"{stage.name}#{len(timings)}"
        timings[key] = time.perf_counter() - start
        rejected = rejected or ctx.rejected
        if halted or (rejected and fail_fast):
            break
    ok = not rejected
    return Report(
        ok=ok,
        # A refused input has no sanitized value: nobody should feed it on by mistake.
        value=value if ok else None,
        findings=tuple(findings[first:]),
        timings=timings,
        modality=modality,
        index=index,
    )


@register_stage()
class Pipeline(Stage):
    """An ordered list of stages for one modality. A pipeline is itself a stage.

    Args:
        stages: the stages, run in order.
        modality: ``"text"``, ``"image"``, ``"audio"``, ``"tensor"`` or ``None``.
        mode: ``"enforce"`` refuses inputs; ``"monitor"`` downgrades every
            non-fatal reject to a warning (shadow rollouts).
        fail_fast: stop at the first rejecting finding (default) or run every
            stage to collect all findings.
        name: name for reports; ``policy`` overrides actions for all stages'
            findings that the stages' own policies do not set.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> pipe = ks.Pipeline([ks.tensor.validators.Finite()], modality="tensor")
        >>> pipe.run(np.array([1.0, np.nan])).ok
        False
        >>> ks.Pipeline(pipe.stages, mode="monitor").run(np.array([np.nan])).ok
        True
    """

    kind: ClassVar[str] = "pipeline"

    def __init__(
        self,
        stages: Iterable[Stage],
        *,
        modality: str | None = None,
        mode: str = "enforce",
        fail_fast: bool = True,
        name: str | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name or (f"{modality}_pipeline" if modality else "pipeline"), policy=policy)
        if isinstance(stages, (str, bytes)) or not isinstance(stages, Iterable):
            raise ConfigError(f"Pipeline: stages must be a list of Stage. Received: {stages!r}")
        built = []
        from keras_sanitize.config import deserialize_stage

        for i, stage in enumerate(stages):
            if isinstance(stage, Mapping):
                stage = deserialize_stage(stage)
            if not isinstance(stage, Stage):
                raise ConfigError(f"Pipeline: stages[{i}] must be a Stage instance. Received: {stage!r}")
            built.append(stage)
        self.stages: tuple[Stage, ...] = tuple(built)
        self.modality_name = modality
        self.mode = check_choice("Pipeline", "mode", mode, _MODES)
        if not isinstance(fail_fast, bool):
            raise ConfigError(f"Pipeline: fail_fast must be a bool. Received: fail_fast={fail_fast!r}")
        self.fail_fast = fail_fast

    # -- running ---------------------------------------------------------------
    def process(self, value: Any, ctx: Context) -> Any:
        """Run as a nested stage inside an outer pipeline, sharing its findings."""
        report = self._run(
            value,
            index=ctx.index,
            monitor=ctx.monitor,
            overrides=ctx.overrides,
            sink=ctx._sink,
        )
        if not report.ok:
            ctx.rejected = True
        if any(f.fatal for f in report.findings):
            raise Halt("nested pipeline halted")
        return report.value

    def _run(
        self,
        value: Any,
        *,
        index: int | None,
        monitor: bool = False,
        overrides: tuple[Mapping[str, Action], ...] = (),
        sink: list[Finding] | None = None,
    ) -> Report:
        return run_stages(
            self.stages,
            value,
            modality=self.modality_name,
            index=index,
            monitor=monitor or self.mode == "monitor",
            fail_fast=self.fail_fast,
            overrides=overrides + ((self.policy,) if self.policy else ()),
            sink=sink,
        )

    def run(self, value: Any, *, index: int | None = None) -> Report:
        """Run the pipeline on one input and return its :class:`Report`. Never raises."""
        return self._run(value, index=index, monitor=False)

    def run_batch(self, values: Iterable[Any]) -> list[Report]:
        """Run the pipeline on each item; one report (verdict) per item."""
        try:
            items = list(values)
        except Exception as exc:
            bad = Finding(
                "core.not_iterable",
                f"run_batch needs an iterable of items; iterating {echo(values)} raised {type(exc).__name__}",
                Severity.HIGH,
                stage=self.name,
                fatal=True,
            )
            return [Report(False, None, (bad,), {}, self.modality_name)]
        return [self.run(v, index=i) for i, v in enumerate(items)]

    def __call__(self, value: Any) -> Any:
        """Return the sanitized value or raise :class:`InputRejected` (with ``.report``)."""
        report = self.run(value)
        if not report.ok:
            raise InputRejected(rejection_message(report), report)
        return report.value

    # -- config ----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        from keras_sanitize.config import serialize_stage

        config = super().get_config()
        config.update(
            {
                "stages": [serialize_stage(s) for s in self.stages],
                "modality": self.modality_name,
                "mode": self.mode,
                "fail_fast": self.fail_fast,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Pipeline:
        """Build a pipeline from :meth:`get_config` output (stages deserialized)."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"Pipeline.from_config needs a mapping. Received: {config!r}")
        cfg = dict(config)
        if "preset" in cfg:
            from keras_sanitize.config import pipeline_from_preset

            preset: Pipeline = pipeline_from_preset(cfg)
            return preset
        if "stages" not in cfg:
            raise ConfigError(f"Pipeline config needs 'stages' or 'preset'. Received keys: {sorted(cfg)}")
        try:
            return cls(**cfg)
        except TypeError as exc:
            raise ConfigError(f"Pipeline: bad config: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Pipeline:
        """Load a pipeline from a TOML or JSON policy file (see ``docs/policy.md``)."""
        from keras_sanitize.config import load_policy_file

        return cls.from_config(load_policy_file(path))

    def _pickle_args(self) -> dict[str, Any]:
        # Stages pickle as objects, so unregistered (user) stages pickle too.
        args = Stage.get_config(self)
        args.update(stages=self.stages, modality=self.modality_name, mode=self.mode, fail_fast=self.fail_fast)
        return args

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.stages)
        return f"Pipeline([{inner}], modality={self.modality_name!r}, mode={self.mode!r})"

    def __len__(self) -> int:
        return len(self.stages)
