"""A stage that kills its own process on marked inputs: a stand-in for a decoder crash."""

from __future__ import annotations

import os
from typing import Any

import keras_sanitize as ks

MARKER = "CRASH"


class CrashOn(ks.Filter):
    """Kill the process (no exception, no cleanup: like a segfault) when the input contains MARKER."""

    def process(self, value: Any, ctx: ks.Context) -> Any:
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if MARKER in text:
            os._exit(70)
        return value
