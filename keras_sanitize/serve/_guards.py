"""Per-tenant admission: constant-time key lookup, token bucket, concurrency cap, circuit breaker.

All state is touched from the server's event loop only, so nothing here locks.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable, Iterable

from ._config import TenantConfig
from ._limits import ServeLimits

__all__ = ["Breaker", "KeyRing", "TenantState", "TokenBucket"]

Clock = Callable[[], float]


class KeyRing:
    """Finds the tenant whose ``key_sha256`` matches a presented key, in constant time.

    The presented key is hashed once and compared with *every* tenant's hash by
    :func:`hmac.compare_digest` (no early exit), so timing tells nothing about
    which tenant, or which prefix, was close.
    """

    def __init__(self, tenants: Iterable[TenantConfig]) -> None:
        self._entries = [(bytes.fromhex(t.key_sha256), t.name) for t in tenants]

    def lookup(self, key: str | None) -> str | None:
        """The tenant's name, or ``None`` for no key or an unknown one."""
        digest = hashlib.sha256((key or "").encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for expected, name in self._entries:
            if hmac.compare_digest(digest, expected) and key:
                found = name
        return found


class TokenBucket:
    """``rate`` tokens per second, up to ``burst``; one request takes one token."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self._tokens, self._stamp = float(burst), clock()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Breaker:
    """Opens for ``cooldown`` seconds after more than ``crashes`` crashes within ``window`` seconds."""

    def __init__(self, crashes: int, window: float, cooldown: float, clock: Clock = time.monotonic) -> None:
        self.crashes, self.window, self.cooldown, self._clock = crashes, window, cooldown, clock
        self._events: deque[float] = deque()
        self._open_until = 0.0

    def record(self, n: int = 1) -> bool:
        """Record ``n`` crashes; return whether the breaker (now) is open."""
        now = self._clock()
        for _ in range(n):
            self._events.append(now)
        while self._events and self._events[0] < now - self.window:
            self._events.popleft()
        if len(self._events) > self.crashes:
            self._open_until = now + self.cooldown
            self._events.clear()
        return self._open_until > now

    def remaining(self) -> float:
        """Seconds left on the cool-down (0.0 when closed)."""
        return max(0.0, self._open_until - self._clock())


class TenantState:
    """One tenant's live admission state."""

    def __init__(self, limits: ServeLimits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self.bucket = TokenBucket(limits.rate, limits.burst, clock)
        self.breaker = Breaker(limits.breaker_crashes, limits.breaker_window, limits.breaker_cooldown, clock)
        self.in_flight = 0
