"""Small registered stages for the core tests (pipeline, config, policy, findings, ...)."""

from __future__ import annotations

from typing import Any

import keras_sanitize as ks
from keras_sanitize.stage import Context


@ks.register_stage("tests")
class Upper(ks.Filter):
    """A filter that upper-cases strings (for pipeline tests)."""

    modality = "text"

    def process(self, value: Any, ctx: Context) -> Any:
        if not isinstance(value, str):
            ctx.halt("test.not_str", f"str required; received {type(value).__name__}")
        if value != value.upper():
            ctx.add("test.upper", "lower-case letters were upper-cased", action="sanitize")
        return value.upper()


@ks.register_stage("tests")
class NoBang(ks.Validator):
    """Rejects strings with '!'."""

    modality = "text"

    def check(self, value: Any, ctx: Context) -> None:
        if isinstance(value, str) and "!" in value:
            ctx.add("test.bang", "'!' is not allowed", span=(value.index("!"), value.index("!") + 1))


@ks.register_stage("tests")
class Crashes(ks.Validator):
    """A buggy stage: raises a plain exception."""

    def check(self, value: Any, ctx: Context) -> None:
        raise KeyError("boom")
