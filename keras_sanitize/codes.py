"""The catalogue of finding codes, and the check that keeps policy keys honest.

Every code the library can emit is listed in ``keras_sanitize/data/finding_codes.txt``
(generated from the source by ``scripts/finding_codes.py``; listed in
``docs/findings.md``). A policy key in one of the library's areas (``text``, ``image``,
...) must be a catalogued code or a dotted prefix of one, else it is a
:class:`~keras_sanitize.ConfigError` naming the closest codes: a typo such as
``"text.mixed_scirpt"`` must not silently change nothing. Keys in other areas
(``my_org.too_long``) belong to custom stages and are accepted as they are.

Example:
    >>> "image.too_many_pixels" in catalogue()
    True
    >>> check_policy_key("text.mixed_scirpt", "Pipeline")
    Traceback (most recent call last):
    ...
    keras_sanitize.errors.ConfigError: Pipeline: policy key 'text.mixed_scirpt' matches no finding code ...
"""

from __future__ import annotations

import difflib
import threading
import warnings
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from keras_sanitize.errors import ConfigError

__all__ = ["RENAMED", "areas", "catalogue", "check_policy_key", "current_code", "register_codes"]

#: Codes renamed so that one concept has one name in every modality: old -> new. Policy
#: keys and ``Report.has`` still accept the old spelling, with a DeprecationWarning.
RENAMED: Mapping[str, str] = MappingProxyType(
    {
        "image.too_large": "image.too_many_bytes",  # the byte budget, as in text/audio/tensor
        "audio.format": "audio.format_not_allowed",  # as image.format_not_allowed
        "audio.type_mismatch": "audio.declared_type_mismatch",  # as image.declared_type_mismatch
    }
)

_LOCK = threading.Lock()
_BUILTIN: frozenset[str] | None = None
_EXTRA: set[str] = set()


def _builtin() -> frozenset[str]:
    global _BUILTIN
    if _BUILTIN is None:
        text = resources.files("keras_sanitize").joinpath("data/finding_codes.txt").read_text("utf-8")
        _BUILTIN = frozenset(
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        )
    return _BUILTIN


def catalogue() -> frozenset[str]:
    """Every known finding code: the library's own plus those given to :func:`register_codes`."""
    with _LOCK:
        return _builtin() | frozenset(_EXTRA)


def areas() -> frozenset[str]:
    """The library's code areas (first dotted part of its codes): ``core``, ``text``, ..."""
    return frozenset(code.split(".", 1)[0] for code in _builtin())


def register_codes(*codes: str) -> None:
    """Declare codes a custom stage emits inside a library area, so policies may name them.

    Example:
        >>> register_codes("text.shouting")
        >>> "text.shouting" in catalogue()
        True
    """
    for code in codes:
        if not isinstance(code, str) or "." not in code or code != code.strip().lower():
            raise ConfigError(f"register_codes: a code is 'area.snake_case'. Received: {code!r}")
    with _LOCK:
        _EXTRA.update(codes)


def current_code(code: str) -> str:
    """``code``, or its new name (with a DeprecationWarning) when it was renamed.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     current_code("image.too_large")
        'image.too_many_bytes'
    """
    new = RENAMED.get(code)
    if new is None:
        return code
    warnings.warn(
        f"finding code {code!r} is now {new!r}; the old name stops working in a future release",
        DeprecationWarning,
        stacklevel=3,
    )
    return new


def check_policy_key(key: str, owner: str) -> None:
    """Raise :class:`ConfigError` when ``key`` is in a library area but names no code or prefix."""
    if key == "*" or key in RENAMED:
        return
    area = key.split(".", 1)[0]
    if area not in areas():
        return  # a custom stage's own area
    known = catalogue()
    if key in known or any(code.startswith(key + ".") for code in known):
        return
    close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(
        f"{owner}: policy key {key!r} matches no finding code and no prefix of one in area "
        f"{area!r}.{hint} See docs/findings.md for every code; a custom stage's code in a "
        f"library area is declared with keras_sanitize.codes.register_codes()."
    )
