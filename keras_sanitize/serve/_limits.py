"""The server's resource limits: one frozen dataclass, overridable per tenant."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from keras_sanitize.errors import ConfigError

__all__ = ["DEFAULT_LIMITS", "TENANT_KEYS", "ServeLimits"]

_FLOATS = frozenset({"rate", "request_timeout", "body_timeout", "breaker_window", "breaker_cooldown"})


@dataclass(frozen=True)
class ServeLimits:
    """Resource limits of the model server; every field is a config key.

    Global values come from the ``[limits]`` table of ``server.toml``; a tenant's
    table may override any field in :data:`TENANT_KEYS` (``rate``, ``burst``,
    ``max_concurrency``, ``max_body_bytes``, ``max_batch``, ``request_timeout``).

    Attributes:
        rate: requests per second refilled into the tenant's token bucket.
        burst: the bucket's size (requests allowed at once after a quiet spell).
        max_concurrency: requests of one tenant in flight at once; more get 429.
        max_body_bytes: largest request body; counted while reading, so a larger
            body is cut at the cap and nothing past it is buffered.
        max_batch: most items (first dimension) in one infer request.
        request_timeout: seconds a model call may take before the request gets 504.
        body_timeout: seconds to receive the whole body (a trickled body gets 408).
        max_json_bytes: largest JSON header of an infer request.
        max_json_depth: deepest nesting of ``[`` / ``{`` accepted in that JSON.
        max_elements: most tensor elements (or ``BYTES`` items) in one request.
        breaker_crashes: a tenant whose inputs crash or time out a model's workers
            more than this many times ...
        breaker_window: ... within this many seconds ...
        breaker_cooldown: ... is refused (429, ``serve.circuit_open``) for this many seconds.

    Example:
        >>> ServeLimits(rate=5.0, burst=10).burst
        10
    """

    rate: float = 20.0
    burst: int = 40
    max_concurrency: int = 4
    max_body_bytes: int = 1 << 20
    max_batch: int = 64
    request_timeout: float = 10.0
    body_timeout: float = 10.0
    max_json_bytes: int = 8 << 20
    max_json_depth: int = 16
    max_elements: int = 4_000_000
    breaker_crashes: int = 3
    breaker_window: float = 60.0
    breaker_cooldown: float = 60.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _FLOATS:
                ok = (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                    and value > 0
                )
                if ok:
                    object.__setattr__(self, f.name, float(value))
                else:
                    raise ConfigError(
                        f"ServeLimits.{f.name} must be a finite number > 0. Received: {f.name}={value!r}"
                    )
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"ServeLimits.{f.name} must be an integer >= 1. Received: {f.name}={value!r}"
                )

    @classmethod
    def from_table(
        cls, table: Any, where: str, base: ServeLimits | None = None, allowed: frozenset[str] | None = None
    ) -> ServeLimits:
        """Build limits from a TOML table, starting from ``base``; unknown keys are a ConfigError."""
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table. Received: {type(table).__name__}")
        names = allowed if allowed is not None else frozenset(f.name for f in fields(cls))
        unknown = sorted(set(table) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown limit keys {unknown}; known: {sorted(names)}")
        values = {f.name: getattr(base or DEFAULT_LIMITS, f.name) for f in fields(cls)}
        values.update(table)
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


DEFAULT_LIMITS = ServeLimits()

#: The limits a ``[tenants.NAME]`` table may override.
TENANT_KEYS = frozenset(
    {"rate", "burst", "max_concurrency", "max_body_bytes", "max_batch", "request_timeout"}
)
