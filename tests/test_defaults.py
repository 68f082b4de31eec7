"""One vocabulary across the modalities' ``default()`` pipelines."""

from __future__ import annotations

import inspect
import itertools
import re
from types import ModuleType

import pytest

import keras_sanitize as ks

MODALITIES = ("text", "image", "audio", "tensor")
#: parameters every default() has, in this order, with these defaults
SHARED = {"max_bytes": None, "policy": None, "mode": "enforce"}


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
        if default is not None or shared != "max_bytes":
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
