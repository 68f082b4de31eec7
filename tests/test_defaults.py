"""One vocabulary across the modalities' ``default()`` pipelines."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import re
from types import ModuleType

import pytest

import keras_sanitize as ks

MODALITIES = ("text", "image", "audio", "tensor")
#: parameters every default() has, in this order, with these defaults
SHARED = {"max_bytes": None, "limits": None, "policy": None, "mode": "enforce"}


def _module(name: str) -> ModuleType:
    module = getattr(ks, name)
    assert isinstance(module, ModuleType)
    return module


def _params(name: str) -> list[inspect.Parameter]:
    return list(inspect.signature(_module(name).default).parameters.values())


@pytest.mark.parametrize("name", MODALITIES)
def test_keyword_only_after_the_first(name: str) -> None:
    params = _params(name)
    positional = [p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert len(positional) <= 1, f"{name}.default: only the first parameter may be positional: {positional}"


@pytest.mark.parametrize("name", MODALITIES)
def test_shared_parameters_are_present(name: str) -> None:
    params = {p.name: p for p in _params(name)}
    for shared, default in SHARED.items():
        assert shared in params, f"{name}.default lacks {shared}"
        if shared != "max_bytes":
            assert params[shared].default == default, (name, shared)


def test_shared_parameters_keep_one_order_everywhere() -> None:
    orders = {name: [p.name for p in _params(name)] for name in MODALITIES}
    for a, b in itertools.combinations(MODALITIES, 2):
        common = [n for n in orders[a] if n in orders[b]]
        assert common == [n for n in orders[b] if n in orders[a]], (
            f"{a}.default and {b}.default order their common parameters differently: "
            f"{common} vs {[n for n in orders[b] if n in orders[a]]}"
        )


@pytest.mark.parametrize("name", MODALITIES)
def test_default_constants_used_by_default_are_exported(name: str) -> None:
    module = _module(name)
    source = inspect.getsource(module.default)
    signature = source[: source.index(") -> Pipeline:")]
    used = set(re.findall(r"\b(DEFAULT_[A-Z0-9_]+)\b", signature))
    missing = sorted(c for c in used if c not in module.__all__ or not hasattr(module, c))
    assert not missing, f"ks.{name} must export the defaults its default() uses: {missing}"


@pytest.mark.parametrize("name", MODALITIES)
def test_pipeline_mode_and_policy_reach_the_pipeline(name: str) -> None:
    pipe = _module(name).default(mode="monitor", policy={name: "warn"})
    assert pipe.mode == "monitor"
    assert pipe.policy == {name: ks.Action.WARN}


def test_deprecated_spellings_still_work() -> None:
    with pytest.warns(DeprecationWarning, match="color_mode"):
        gray = ks.image.default((8, 8), mode="L")
    assert gray == ks.image.default((8, 8), color_mode="L")
    with pytest.warns(DeprecationWarning, match="by keyword"):
        as_bytes = ks.image.default(None, "bytes")
    assert as_bytes == ks.image.default(output="bytes")
    with pytest.warns(DeprecationWarning, match="by keyword"):
        old = ks.tensor.default((None, 2), "float32")
    assert old == ks.tensor.default((None, 2), dtype="float32")
    with pytest.warns(DeprecationWarning, match="value_range"):
        ranged = ks.tensor.default(min_value=0.0, max_value=1.0)
    assert ranged == ks.tensor.default(value_range=(0.0, 1.0))
    with pytest.raises(ks.ConfigError, match="at most"):
        ks.tensor.default(None, None, None, None, None, None)


def test_bad_value_range_is_a_config_error() -> None:
    with pytest.raises(ks.ConfigError, match="value_range"):
        ks.tensor.default(value_range=(1.0,))


@pytest.mark.parametrize("name", MODALITIES)
def test_one_frozen_limits_dataclass_per_modality(name: str) -> None:
    module = _module(name)
    limits_cls = module.Limits
    assert dataclasses.is_dataclass(limits_cls) and limits_cls.__dataclass_params__.frozen
    default_limits = module.DEFAULT_LIMITS
    assert isinstance(default_limits, limits_cls)
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_limits.max_bytes = 1
    # the DEFAULT_* constants are the dataclass's defaults
    for field in dataclasses.fields(limits_cls):
        constant = getattr(module, f"DEFAULT_{field.name.upper()}", None)
        name_ = f"DEFAULT_{field.name.upper()}"
        sub = [getattr(m, name_, None) for m in (module.validators, module.encoders)]
        values = [v for v in (constant, *sub) if v is not None]
        assert values and all(v == getattr(default_limits, field.name) for v in values), (name, field.name)
    with pytest.raises(ks.ConfigError, match="max_bytes"):
        limits_cls(max_bytes=-1)
    with pytest.raises(ks.ConfigError, match="not both"):
        module.default(limits=limits_cls(), max_bytes=12345)
    with pytest.raises(ks.ConfigError, match="limits must be"):
        module.default(limits={"max_bytes": 1})


@pytest.mark.parametrize(
    ("name", "limits", "value", "code"),
    [
        ("text", {"max_chars": 5}, "x" * 6, "text.too_long"),
        ("image", {"max_pixels": 10}, "png", "image.too_many_pixels"),
        ("audio", {"max_bytes": 100}, "wav", "audio.too_many_bytes"),
        ("tensor", {"max_elements": 2}, [1.0, 2.0, 3.0], "tensor.too_many_elements"),
    ],
)
def test_limits_reach_the_stages(name: str, limits: dict[str, int], value: object, code: str) -> None:
    from keras_sanitize.audio import synth
    from keras_sanitize.image import _samples

    module = _module(name)
    if value == "png":
        value = _samples.png()
    elif value == "wav":
        value = synth.encode(synth.speech_like(0.2, 16000), 16000)
    report = module.default(limits=module.Limits(**limits)).run(value)
    assert code in report.codes, report
