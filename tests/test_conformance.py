"""Every registered stage that can be built with its defaults passes the conformance harness.

Modality tests run their stages through ``check_stage`` with representative samples and
non-default arguments; this sweep makes sure no registered stage is forgotten.
"""

from __future__ import annotations

import inspect

import pytest

from keras_sanitize.config import registered_stages
from keras_sanitize.stage import Stage
from keras_sanitize.testing import check_stage

STAGES = {k: v for k, v in registered_stages().items() if k.startswith("keras_sanitize>")}


def _default_constructible(cls: type) -> bool:
    params = inspect.signature(cls.__init__).parameters.values()
    return all(
        p.default is not inspect.Parameter.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        for p in list(params)[1:]
    )


def test_registry_holds_every_modality() -> None:
    modules = {cls.__module__.split(".")[1] for cls in STAGES.values()}
    assert {"tensor", "text", "image", "audio", "pipeline"} <= modules, modules


@pytest.mark.parametrize("key", sorted(k for k, c in STAGES.items() if _default_constructible(c)))
def test_default_stage_survives_hostile_input(key: str) -> None:
    stage = STAGES[key]()
    assert isinstance(stage, Stage)
    check_stage(stage, [], max_examples=25)
