"""Safe defaults and security tables are immutable (bleach's frozen defaults, not Pillow's globals).

Every module-level UPPER_CASE name in keras_sanitize must hold a value nobody can change
in place: numbers, strings, tuples, frozensets, read-only mappings, frozen dataclasses,
enums, compiled patterns — recursively.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import pkgutil
import re
from collections.abc import Callable
from pathlib import PurePath
from types import MappingProxyType, ModuleType
from typing import Any, TypeVar

import keras_sanitize

#: the artifact test fixtures: builders of hostile files for tests, not tables the library reads
_SKIP = ("keras_sanitize.artifacts._fixtures",)


def _modules() -> list[ModuleType]:
    out = []
    # walk_packages imports packages to find their children; an extra missing there is skipped too
    for info in pkgutil.walk_packages(keras_sanitize.__path__, "keras_sanitize.", onerror=lambda _: None):
        if info.name.startswith(_SKIP) or info.name.endswith("__main__"):
            continue
        try:
            out.append(importlib.import_module(info.name))
        except ImportError:  # needs an optional extra that is not installed
            continue
    return out


def _mutable_part(value: Any, depth: int = 0) -> str | None:
    """A description of the first mutable part of ``value``, or None when it is all frozen."""
    if depth > 6 or value is None or isinstance(value, (bool, int, float, complex, str, bytes, range)):
        return None
    if isinstance(value, (enum.Enum, re.Pattern, type, ModuleType, TypeVar, PurePath)) or callable(value):
        return None
    if isinstance(value, (tuple, frozenset)):
        for item in value:
            bad = _mutable_part(item, depth + 1)
            if bad:
                return bad
        return None
    if isinstance(value, MappingProxyType):
        for key, item in value.items():
            bad = _mutable_part(item, depth + 1)
            if bad:
                return f"[{key!r}] {bad}"
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = getattr(type(value), "__dataclass_params__", None)
        if params is None or not params.frozen:
            return f"a non-frozen {type(value).__name__}"
        for f in dataclasses.fields(value):
            bad = _mutable_part(getattr(value, f.name), depth + 1)
            if bad:
                return f".{f.name} {bad}"
        return None
    return f"a {type(value).__name__}"


def test_the_checker_sees_mutability() -> None:
    assert _mutable_part({"a": 1}) == "a dict"
    assert _mutable_part(MappingProxyType({"a": [1]})) == "['a'] a list"
    assert _mutable_part((1, frozenset({"x"}), MappingProxyType({"k": (2,)}))) is None
    check: Callable[[Any], str | None] = _mutable_part
    assert check(["x"]) == "a list"


def test_module_constants_are_frozen() -> None:
    bad = []
    for module in _modules():
        for name, value in vars(module).items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
                continue
            if getattr(value, "__module__", module.__name__) != module.__name__ and isinstance(value, type):
                continue
            problem = _mutable_part(value)
            if problem:
                bad.append(f"{module.__name__}.{name} is {problem}")
    listing = "\n".join(sorted(set(bad)))
    assert not bad, "make these read-only (frozenset, tuple, MappingProxyType):\n" + listing
