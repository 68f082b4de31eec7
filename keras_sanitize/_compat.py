"""Deprecation paths for renamed or re-shaped public arguments.

A public name or argument changes only with a path that keeps the old spelling working
for a while and says so with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

from keras_sanitize.errors import ConfigError

__all__ = ["deprecated_positional", "warn_deprecated"]

F = TypeVar("F", bound=Callable[..., Any])


def warn_deprecated(message: str, *, stacklevel: int = 3) -> None:
    """Emit a :class:`DeprecationWarning` pointing at the caller's caller."""
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)


def deprecated_positional(*names: str) -> Callable[[F], F]:
    """Let the now keyword-only parameters ``names`` still be passed positionally (deprecated).

    Example:
        >>> @deprecated_positional("b")
        ... def f(a, *, b=0):
        ...     return a + b
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     f(1, 2)
        3
    """

    def decorate(fn: F) -> F:
        params = inspect.signature(fn).parameters.values()
        positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        owner = f"{fn.__module__.removeprefix('keras_sanitize.')}.{fn.__name__}"

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > positional:
                extra = args[positional:]
                if len(extra) > len(names):
                    raise ConfigError(
                        f"{owner}() takes at most {positional + len(names)} positional arguments "
                        f"(the rest are keyword-only). Received: {len(args)}"
                    )
                moved = names[: len(extra)]
                for name, value in zip(moved, extra):
                    if name in kwargs:
                        raise ConfigError(f"{owner}(): {name} given twice (by position and by keyword)")
                    kwargs[name] = value
                warn_deprecated(
                    f"{owner}(): pass {', '.join(moved)} by keyword ({moved[0]}=...); "
                    f"positional use is deprecated"
                )
                args = args[:positional]
            return fn(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
