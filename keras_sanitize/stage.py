"""Stages: the small, configurable steps a pipeline runs in a flat loop.

Four kinds, each a base class here:

* :class:`Validator` looks and never changes the value; it reports findings.
* :class:`Filter` removes what is dangerous and reports what it removed.
* :class:`Encoder` turns the value into a safe canonical representation.
* :class:`Verifier` scores the value with a detector.

A stage is configured at construction (bad arguments raise
:class:`~keras_sanitize.ConfigError`), is stateless at call time and therefore
thread-safe, and serializes through ``get_config``/``from_config``. A stage's
``policy`` maps finding codes (or dotted prefixes of them, or ``"*"``) to the
action they take: ``"reject"``, ``"sanitize"`` or ``"warn"``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn

from keras_sanitize.codes import check_policy_key, current_code
from keras_sanitize.errors import ConfigError, Halt, InputRejected, SanitizeError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo

__all__ = [
    "Context",
    "Encoder",
    "Filter",
    "Halt",
    "Stage",
    "Validator",
    "Verifier",
    "check_choice",
    "check_limits",
    "check_names",
    "check_number",
    "resolve_limits",
    "run_stages",
]

_ACTIONS = frozenset(a.value for a in Action)
_CODE_RE = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*)$")


class Context:
    """Collects the findings of one stage call on one input.

    A new context is made for every stage call, so stages stay stateless and
    thread-safe. Stages report through :meth:`add` and stop the input through
    :meth:`halt`.
    """

    __slots__ = ("_facts", "_parent", "_sink", "index", "monitor", "overrides", "policy", "rejected", "stage")

    def __init__(
        self,
        stage: str,
        policy: Mapping[str, Action],
        sink: list[Finding],
        *,
        index: int | None = None,
        monitor: bool = False,
        overrides: tuple[Mapping[str, Action], ...] = (),
        facts: dict[str, tuple[Any, Any]] | None = None,
    ) -> None:
        self.stage = stage
        self.policy = policy
        self.index = index
        self.monitor = monitor
        self.overrides = overrides
        self.rejected = False
        self._sink = sink
        self._parent: Context | None = None
        # What earlier stages learned about this input (sniffed type, parsed header),
        # shared by every stage call of one run; see remember()/recall().
        self._facts: dict[str, tuple[Any, Any]] = {} if facts is None else facts

    def nested(
        self, stage: Stage, *, policy: Mapping[str, Action] | None = None, monitor: bool = False
    ) -> Context:
        """A context for ``stage`` run *inside* this one (a nested pipeline, a per-input guard).

        It shares this call's findings, item index, mode and enclosing policies
        (plus ``policy``, which then wins over the nested stage's own; and
        ``monitor``); a rejection in it also rejects this call.
        """
        overrides = self.overrides + ((policy,) if policy else ())
        child = stage.context(
            self._sink, index=self.index, monitor=self.monitor or monitor, overrides=overrides
        )
        child._facts = self._facts
        child._parent = self
        return child

    def remember(self, key: str, subject: Any, fact: Any) -> Any:
        """Hand ``fact`` about ``subject`` (e.g. the sniffed MIME of these bytes) to later stages.

        Facts live for one run of one input; a later stage gets the fact back from
        :meth:`recall` only for the very same ``subject`` object, so a stage that
        changed the value never reads a stale fact. Returns ``fact``.
        """
        self._facts[key] = (subject, fact)
        return fact

    def recall(self, key: str, subject: Any) -> Any:
        """The fact an earlier stage of this run remembered about ``subject``, else ``None``.

        Example:
            >>> import keras_sanitize as ks
            >>> ctx = ks.Validator().context([])
            >>> data = b"GIF89a"
            >>> ctx.remember("mime", data, "image/gif")
            'image/gif'
            >>> ctx.recall("mime", data), ctx.recall("mime", b"other")
            ('image/gif', None)
        """
        hit = self._facts.get(key)
        return hit[1] if hit is not None and hit[0] is subject else None

    @property
    def position(self) -> int:
        """How many findings this call (and its enclosing calls) recorded so far."""
        return len(self._sink)

    def since(self, start: int) -> tuple[Finding, ...]:
        """The findings recorded after :attr:`position` was ``start``."""
        return tuple(self._sink[start:])

    def annotate(self, since: int, detail: Mapping[str, Any]) -> None:
        """Merge ``detail`` into every finding recorded after :attr:`position` was ``since``."""
        for i in range(since, len(self._sink)):
            f = self._sink[i]
            self._sink[i] = f.with_(detail={**f.detail, **detail})

    def reject(self) -> None:
        """Mark the input refused (and every enclosing call) without a new finding.

        For a stage that refuses on a nested stage's findings, which are already recorded.
        """
        ctx: Context | None = self
        while ctx is not None:
            ctx.rejected = True
            ctx = ctx._parent

    def action_for(self, code: str, default: Action | str) -> Action:
        """Resolve the action of ``code``.

        Enclosing pipelines' policies win over the stage's own (outermost first);
        within one policy the exact code wins over the longest dotted prefix,
        which wins over ``"*"``.
        """
        if self.overrides:
            for policy in self.overrides:
                hit = _lookup(policy, code)
                if hit is not None:
                    return hit
        if self.policy:
            hit = _lookup(self.policy, code)
            if hit is not None:
                return hit
        return Action(default)

    def add(
        self,
        code: str,
        message: str,
        *,
        severity: Severity | str = Severity.MEDIUM,
        action: Action | str = Action.REJECT,
        span: tuple[int, int] | None = None,
        score: float | None = None,
        detail: Mapping[str, Any] | None = None,
        fatal: bool = False,
    ) -> Finding:
        """Record a finding; ``action`` is the stage's default, the policy may override it."""
        act = Action.REJECT if fatal else self.action_for(code, action)
        extra = dict(detail) if detail else {}
        if act is Action.REJECT and self.monitor and not fatal:
            act = Action.WARN
            extra["monitor"] = "would reject"
        finding = Finding(
            code=code,
            message=message,
            severity=Severity(severity),
            action=act,
            stage=self.stage,
            index=self.index,
            span=span,
            score=score,
            detail=extra,
            fatal=fatal,
        )
        if act is Action.REJECT:
            self.reject()
        self._sink.append(finding)
        return finding

    def halt(self, code: str, message: str, **kwargs: Any) -> NoReturn:
        """Record a fatal rejecting finding and stop the input (it cannot go on)."""
        kwargs.setdefault("severity", Severity.HIGH)
        self.add(code, message, fatal=True, **kwargs)
        raise Halt(message)


def _lookup(policy: Mapping[str, Action], code: str) -> Action | None:
    hit = policy.get(code)
    if hit is not None:
        return hit
    parts = code.split(".")
    for n in range(len(parts) - 1, 0, -1):
        hit = policy.get(".".join(parts[:n]))
        if hit is not None:
            return hit
    return policy.get("*")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _parse_policy(policy: Mapping[str, Any] | None, owner: str) -> dict[str, Action]:
    if policy is None:
        return {}
    if not isinstance(policy, Mapping):
        raise ConfigError(
            f"{owner}: policy must be a mapping of finding code to action. Received: policy={policy!r}"
        )
    out: dict[str, Action] = {}
    for code, action in policy.items():
        if not isinstance(code, str) or not _CODE_RE.match(code):
            raise ConfigError(
                f"{owner}: policy keys must be dotted finding codes like 'text.bidi' or '*'. "
                f"Received: {code!r}"
            )
        check_policy_key(code, owner)
        code = current_code(code)
        if str(getattr(action, "value", action)) not in _ACTIONS:
            raise ConfigError(
                f"{owner}: policy[{code!r}] must be one of {sorted(_ACTIONS)}. Received: {action!r}"
            )
        out[code] = Action(getattr(action, "value", action))
    return out


class Stage:
    """Base class of all stages. Subclasses implement :meth:`process`.

    Args:
        name: a name for reports and timings; defaults to the class name in
            snake case.
        policy: finding code (or dotted prefix, or ``"*"``) to action.

    Example:
        >>> import keras_sanitize as ks
        >>> class NoEmpty(ks.Validator):
        ...     def check(self, value, ctx):
        ...         if value == "":
        ...             ctx.add("text.empty", "empty text; at least 1 character required")
        >>> NoEmpty().run("").ok
        False
    """

    kind: ClassVar[str] = "stage"
    #: the modality this stage is for; ``"any"`` for generic stages. A class
    #: attribute for stages; a :class:`~keras_sanitize.Pipeline` sets it per instance.
    modality: str = "any"

    def __init__(self, *, name: str | None = None, policy: Mapping[str, Any] | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(f"name must be a non-empty string. Received: name={name!r}")
        self.name: str = name or _snake(type(self).__name__)
        self.policy: dict[str, Action] = _parse_policy(policy, type(self).__name__)

    # -- the one method subclasses implement ---------------------------------
    def process(self, value: Any, ctx: Context) -> Any:
        """Check or transform ``value``; report through ``ctx``; return the new value."""
        raise NotImplementedError

    # -- running --------------------------------------------------------------
    def context(
        self,
        sink: list[Finding],
        *,
        index: int | None = None,
        monitor: bool = False,
        overrides: tuple[Mapping[str, Action], ...] = (),
    ) -> Context:
        """Make the per-call context this stage reports through."""
        return Context(self.name, self.policy, sink, index=index, monitor=monitor, overrides=overrides)

    def run(self, value: Any, *, index: int | None = None) -> Report:
        """Run this stage alone on ``value``; never raises on bad input."""
        return run_stages((self,), value, modality=self.modality, index=index)

    def __call__(self, value: Any) -> Any:
        """Return the sanitized value, or raise :class:`~keras_sanitize.InputRejected`."""
        report = self.run(value)
        if not report.ok:
            raise InputRejected(rejection_message(report), report)
        return report.value

    # -- config ----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments as JSON-able data (Keras convention)."""
        config: dict[str, Any] = {"name": self.name}
        if self.policy:
            config["policy"] = {k: v.value for k, v in self.policy.items()}
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Stage:
        """Build a stage from :meth:`get_config` output."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"{cls.__name__}.from_config needs a mapping. Received: {config!r}")
        try:
            return cls(**dict(config))
        except TypeError as exc:
            raise ConfigError(f"{cls.__name__}: bad config {dict(config)!r}: {exc}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.name))

    # -- pickling (multiprocessing, Ray, Spark, Dask) -----------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as constructor arguments: ``from_config`` rebuilds compiled matchers and locks.

        The arguments are :meth:`get_config` plus those constructor arguments that
        are code, not config (a callable ``model``, ``tokenizer``, ...), which are
        pickled as objects.
        """
        return (_unpickle_stage, (type(self), self._pickle_args()))

    def _pickle_args(self) -> dict[str, Any]:
        args = self.get_config()
        for param in _init_params(type(self)):
            value = self.__dict__.get(param)
            if callable(value) and not isinstance(value, (Stage, type)):
                args[param] = value
        return args


def _unpickle_stage(cls: type[Stage], args: dict[str, Any]) -> Stage:
    return cls.from_config(args)


def _init_params(cls: type) -> tuple[str, ...]:
    params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


# -- the fail-closed loop every pipeline (and a lone stage's run) goes through --


def _call_stage(stage: Stage, value: Any, ctx: Context) -> tuple[Any, bool]:
    """Run one stage; return ``(value, halted)``. Never raises on bad input."""
    try:
        return stage.process(value, ctx), False
    except Halt:
        return None, True
    except SanitizeError as exc:
        ctx.add(
            "core.stage_refused",
            f"stage {stage.name!r} refused the input: {exc}",
            severity=Severity.HIGH,
            fatal=True,
        )
        return None, True
    except Exception as exc:
        ctx.add(
            "core.internal_error",
            f"stage {stage.name!r} raised {type(exc).__name__} ({echo(str(exc))}) on this "
            f"input; the input was refused to fail closed. This is a bug: please report it.",
            severity=Severity.HIGH,
            detail={"exception": type(exc).__name__},
            fatal=True,
        )
        return None, True


def run_stages(
    stages: Sequence[Stage],
    value: Any,
    *,
    modality: str | None = None,
    index: int | None = None,
    monitor: bool = False,
    fail_fast: bool = True,
    overrides: tuple[Mapping[str, Action], ...] = (),
    sink: list[Finding] | None = None,
    parent: Context | None = None,
) -> Report:
    """Run ``stages`` in order on ``value`` and return a :class:`Report`.

    ``overrides`` are enclosing pipelines' policies (outermost first); findings
    are appended to ``sink`` as they happen when one is given. With ``parent``
    (the context of an enclosing stage call) the stages run nested in it:
    they share its findings, index, mode and policies, and refuse through it.
    """
    findings: list[Finding] = [] if sink is None else sink
    first = parent.position if parent is not None else len(findings)
    facts: dict[str, tuple[Any, Any]] = {}
    timings: dict[str, float] = {}
    rejected = halted = False
    for stage in stages:
        if parent is not None:
            ctx = parent.nested(stage)
        else:
            ctx = stage.context(findings, index=index, monitor=monitor, overrides=overrides)
            ctx._facts = facts
        start = time.perf_counter()
        value, halted = _call_stage(stage, value, ctx)
        key = stage.name if stage.name not in timings else f"{stage.name}#{len(timings)}"
        timings[key] = time.perf_counter() - start
        rejected = rejected or ctx.rejected
        if halted or (rejected and fail_fast):
            break
    ok = not rejected
    return Report(
        ok=ok,
        # A refused input has no sanitized value: nobody should feed it on by mistake.
        value=value if ok else None,
        findings=parent.since(first) if parent is not None else tuple(findings[first:]),
        timings=timings,
        modality=modality,
        index=index,
    )


class Validator(Stage):
    """A stage that looks and never changes the value. Implement :meth:`check`."""

    kind: ClassVar[str] = "validator"

    def check(self, value: Any, ctx: Context) -> None:
        """Report findings about ``value`` through ``ctx``."""
        raise NotImplementedError

    def process(self, value: Any, ctx: Context) -> Any:
        self.check(value, ctx)
        return value


class Filter(Stage):
    """A stage that removes what is dangerous and returns the cleaned value.

    Filters must be idempotent: ``f(f(x)) == f(x)``.
    """

    kind: ClassVar[str] = "filter"


class Encoder(Stage):
    """A stage that turns the value into a safe canonical representation."""

    kind: ClassVar[str] = "encoder"


class Verifier(Stage):
    """A stage that scores the value with a detector and reports above a threshold."""

    kind: ClassVar[str] = "verifier"


def rejection_message(report: Report) -> str:
    """The message of an :class:`InputRejected` for ``report``."""
    rej = report.rejections
    if not rej:
        return "input rejected"
    first = rej[0]
    more = f" (+{len(rej) - 1} more)" if len(rej) > 1 else ""
    return f"input rejected by {first.stage}: [{first.code}] {first.message}{more}"


# -- argument checks: a bad argument is a ConfigError naming it ---------------


def check_number(
    owner: str,
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    allow_none: bool = False,
) -> Any:
    """Validate a numeric constructor argument, raising :class:`ConfigError`.

    Example:
        >>> check_number("MaxLength", "max_chars", 10, minimum=0, integer=True)
        10
    """
    if value is None and allow_none:
        return None
    kind = "an int" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value != value:
        raise ConfigError(f"{owner}: {name} must be {kind}. Received: {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{owner}: {name} must be >= {minimum}. Received: {name}={value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{owner}: {name} must be <= {maximum}. Received: {name}={value!r}")
    return value


def check_choice(owner: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Validate that ``value`` is one of ``choices``, raising :class:`ConfigError`."""
    options = list(choices)
    if value not in options:
        raise ConfigError(f"{owner}: {name} must be one of {options}. Received: {name}={value!r}")
    return value


def check_names(
    owner: str,
    name: str,
    values: Iterable[Any],
    *,
    known: Iterable[str] | None = None,
    case: str | None = None,
) -> tuple[str, ...]:
    """Validate an allowlist argument of names (formats, modes, codecs...), raising :class:`ConfigError`.

    Entries must be non-empty strings (``case="upper"``/``"lower"`` folds them), and
    among ``known`` when given. Returns them sorted and deduplicated.

    Example:
        >>> check_names("FormatAllowlist", "formats", ["WAV", "flac"], case="lower")
        ('flac', 'wav')
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(f"{owner}: {name} must be a list of names. Received: {name}={values!r}")
    allowed = None if known is None else frozenset(known)
    out = []
    for v in values:
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{owner}: {name} entries must be non-empty strings. Received: {v!r}")
        v = v.upper() if case == "upper" else v.lower() if case == "lower" else v
        if allowed is not None and v not in allowed:
            raise ConfigError(f"{owner}: {name} entries must be among {sorted(allowed)}. Received: {v!r}")
        out.append(v)
    return tuple(sorted(set(out)))


def check_limits(limits: Any) -> None:
    """Validate a frozen limits dataclass (``image.Limits``, ``audio.Limits``...) field by field.

    Every field is a number >= 0 (an ``int`` where its default is one), or ``None`` (no
    limit) where the field's type allows it. Call it from ``__post_init__``.
    """
    owner = type(limits).__name__
    for f in dataclasses.fields(limits):
        value = getattr(limits, f.name)
        if value is None and (f.default is None or "None" in str(f.type)):
            continue
        check_number(owner, f.name, value, minimum=0, integer=isinstance(f.default, int))


def resolve_limits(owner: str, limits: Any, defaults: Any, given: Mapping[str, Any]) -> Any:
    """The limits a ``default()`` uses: ``limits`` when given (then the individual
    ``max_*`` keywords in ``given`` must keep their defaults), else ``given`` applied to
    ``defaults``. Returns an instance of ``type(defaults)``.
    """
    cls = type(defaults)
    if limits is None:
        return dataclasses.replace(defaults, **dict(given))
    if not isinstance(limits, cls):
        raise ConfigError(f"{owner}: limits must be a {cls.__qualname__}. Received: limits={limits!r}")
    clash = sorted(k for k, v in given.items() if v != getattr(defaults, k))
    if clash:
        raise ConfigError(
            f"{owner}: give limits= or the individual limits {clash}, not both "
            f"(e.g. limits=dataclasses.replace(limits, {clash[0]}=...))"
        )
    return limits
