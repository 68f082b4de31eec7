"""Pipelines: an ordered list of stages for one modality, itself a stage.

The loop (:func:`~keras_sanitize.stage.run_stages`, beside the stages it runs)
is flat and small on purpose: each stage gets the previous stage's
value and a fresh :class:`~keras_sanitize.stage.Context`; the first rejecting
finding stops the run unless ``fail_fast=False``; a stage that raises is turned
into a finding and the input is refused (fail closed), so ``run`` never raises
on bad input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from keras_sanitize.errors import ConfigError, InputRejected
from keras_sanitize.findings import Action, Finding, Report, Severity, echo
from keras_sanitize.policy import load_policy_file
from keras_sanitize.registry import (
    MODALITIES,
    deserialize_stage,
    modality_module,
    register_stage,
    serialize_stage,
)
from keras_sanitize.stage import Context, Halt, Stage, check_choice, rejection_message, run_stages

__all__ = ["Pipeline", "pipeline_from_preset", "run_stages"]

_MODES = ("enforce", "monitor")


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
        for i, stage in enumerate(stages):
            if isinstance(stage, Mapping):
                stage = deserialize_stage(stage)
            if not isinstance(stage, Stage):
                raise ConfigError(f"Pipeline: stages[{i}] must be a Stage instance. Received: {stage!r}")
            built.append(stage)
        self.stages: tuple[Stage, ...] = tuple(built)
        self.modality_name = modality
        # What the pipeline is for: the given modality, else the one its stages agree on.
        inner = {s.modality for s in self.stages} - {"any"}
        self.modality = modality or (inner.pop() if len(inner) == 1 else "any")
        self.mode = check_choice("Pipeline", "mode", mode, _MODES)
        if not isinstance(fail_fast, bool):
            raise ConfigError(f"Pipeline: fail_fast must be a bool. Received: fail_fast={fail_fast!r}")
        self.fail_fast = fail_fast

    # -- running ---------------------------------------------------------------
    def process(self, value: Any, ctx: Context) -> Any:
        """Run as a nested stage inside an outer pipeline, sharing its findings."""
        inner = ctx.nested(self, policy=self.policy, monitor=self.mode == "monitor")
        report = run_stages(
            self.stages, value, modality=self.modality_name, fail_fast=self.fail_fast, parent=inner
        )
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
    ) -> Report:
        return run_stages(
            self.stages,
            value,
            modality=self.modality_name,
            index=index,
            monitor=monitor or self.mode == "monitor",
            fail_fast=self.fail_fast,
            overrides=overrides + ((self.policy,) if self.policy else ()),
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

    def isolated(self, sandbox: Any = True) -> Pipeline:
        """This pipeline with its stages run in sandbox workers (``True``: the default sandbox).

        See :class:`keras_sanitize.sandbox.IsolatedPipeline` and ``docs/sandbox.md``.
        """
        from keras_sanitize.registry import extension

        isolated: Pipeline = extension("sandbox").isolate(self, sandbox)
        return isolated

    # -- config ----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
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
            return pipeline_from_preset(cfg)
        if "stages" not in cfg:
            raise ConfigError(f"Pipeline config needs 'stages' or 'preset'. Received keys: {sorted(cfg)}")
        try:
            return cls(**cfg)
        except TypeError as exc:
            raise ConfigError(f"Pipeline: bad config: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Pipeline:
        """Load a pipeline from a TOML or JSON policy file (see ``docs/policy.md``)."""
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


def pipeline_from_preset(config: Mapping[str, Any]) -> Pipeline:
    """Build ``<modality>.default(**options)`` from ``{"preset": "text.default", ...}``.

    Optional keys: ``options`` (keyword arguments of ``default``), ``mode``,
    ``fail_fast``, ``policy`` (wrapped around the preset; it wins over the
    stages' own policies), ``name``.
    """
    preset = config.get("preset")
    allowed = {"preset", "options", "mode", "fail_fast", "policy", "name"}
    extra = set(config) - allowed
    if extra:
        raise ConfigError(f"unknown keys in preset policy: {sorted(extra)}; allowed: {sorted(allowed)}")
    modality, _, func = str(preset).partition(".")
    if modality not in MODALITIES or func != "default":
        raise ConfigError(
            f"preset must be one of {[m + '.default' for m in MODALITIES]}. Received: preset={preset!r}"
        )
    options = config.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"preset options must be a table. Received: {options!r}")
    try:
        module = modality_module(modality)
    except ImportError as exc:
        raise ConfigError(f"preset {preset!r} is not available: {exc}") from None
    try:
        base = module.default(**dict(options))
    except TypeError as exc:
        raise ConfigError(f"{preset}: bad options {dict(options)!r}: {exc}") from None
    return Pipeline(
        [base],
        modality=modality,
        mode=config.get("mode", "enforce"),
        fail_fast=config.get("fail_fast", True),
        policy=config.get("policy"),
        name=config.get("name"),
    )
