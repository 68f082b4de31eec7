"""Policy files: a pipeline's config read from TOML or JSON (see ``docs/policy.md``).

Only parsing lives here (bounded in size, errors as :class:`~keras_sanitize.ConfigError`);
turning the mapping into stages is :meth:`keras_sanitize.Pipeline.from_config`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from keras_sanitize.errors import ConfigError

__all__ = ["MAX_POLICY_BYTES", "load_policy_file"]

#: A policy file larger than this is refused unread (1 MiB).
MAX_POLICY_BYTES = 1 << 20


def load_policy_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON policy file into a pipeline config mapping."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_POLICY_BYTES:
            raise ConfigError(f"policy file {p} is larger than {MAX_POLICY_BYTES} bytes")
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {p}: {exc}") from None
    try:
        if p.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(raw.decode("utf-8"))
        elif p.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            raise ConfigError(f"policy file must end in .toml or .json. Received: {p.name!r}")
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot parse policy file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"policy file {p} must hold a table/object at top level")
    # A Keras-format pipeline config nests the real config under "config".
    if data.get("class_name") == "Pipeline" and isinstance(data.get("config"), dict):
        data = data["config"]
    return data
