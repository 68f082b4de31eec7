"""``@ks.sanitize``: guard any predict-like function (sync or async, function or method).

Each guarded argument may be one item or a batch; every item gets its own
:class:`~keras_sanitize.Report`, and the function receives the sanitized values.
No Keras import here: the decorator works with any stage on any function.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Report
from keras_sanitize.integrations._batch import (
    Screened,
    assemble,
    check_on_reject,
    check_stage_arg,
    decide,
    screen,
    split_of,
)
from keras_sanitize.integrations._outputs import align
from keras_sanitize.stage import Stage

__all__ = ["sanitize"]

F = TypeVar("F", bound=Callable[..., Any])
_FIRST = "\x00first"  # marker: the pipeline given positionally guards the first argument
_SELF_NAMES = frozenset({"self", "cls"})


class _Guard:
    """The decorated function's argument-to-pipeline binding, resolved once."""

    def __init__(
        self,
        func: Callable[..., Any],
        pipelines: Mapping[str, Stage],
        on_reject: str,
        return_reports: bool,
        batched: bool | None,
        split: str | None,
    ) -> None:
        self.func = func
        self.signature = inspect.signature(func)
        params = self.signature.parameters
        var_kw = next((p.name for p in params.values() if p.kind is p.VAR_KEYWORD), None)
        resolved: dict[str, Stage] = {}
        for name, stage in pipelines.items():
            if name == _FIRST:
                name = _first_param(func, self.signature)
            elif name not in params and var_kw is None:
                raise ConfigError(
                    f"sanitize: {func.__qualname__}() has no argument {name!r} to guard; its "
                    f"arguments are {list(params)}. Received: {name}=..."
                )
            resolved[name] = stage
        self.pipelines = resolved
        self.splits = {name: split_of(stage, split) for name, stage in resolved.items()}
        self.var_kw = var_kw
        self.on_reject = on_reject
        self.return_reports = return_reports
        self.batched = batched

    def prepare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[inspect.BoundArguments | None, dict[str, Screened]]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:
            return None, {}  # let the function raise its own TypeError
        screens: dict[str, Screened] = {}
        extra = bound.arguments.get(self.var_kw, {}) if self.var_kw else {}
        for name, stage in self.pipelines.items():
            if name in bound.arguments and name != self.var_kw:
                value = bound.arguments[name]
            elif name in extra:
                value = extra[name]
            else:
                continue  # not passed: the programmer's default is trusted
            screens[name] = screen(stage, value, split=self.splits[name], batched=self.batched)
        return bound, screens

    def finish(
        self, bound: inspect.BoundArguments, screens: dict[str, Screened], keep: list[int]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        extra = bound.arguments.get(self.var_kw, {}) if self.var_kw else {}
        for name, screened in screens.items():
            value = assemble(screened, keep, to_array=False)
            if name in bound.arguments and name != self.var_kw:
                bound.arguments[name] = value
            else:
                extra[name] = value
        return bound.args, bound.kwargs

    def result(self, output: Any, reports: list[Report]) -> Any:
        return (output, reports) if self.return_reports else output


def _first_param(func: Callable[..., Any], sig: inspect.Signature) -> str:
    positional = [
        p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if positional and positional[0] in _SELF_NAMES:
        positional = positional[1:]
    if not positional:
        raise ConfigError(
            f"sanitize: {func.__qualname__}() takes no positional argument for the pipeline to "
            f"guard; name the argument instead: @ks.sanitize(name=pipeline)"
        )
    return positional[0]


def _decorate(func: Any, make: Callable[[Callable[..., Any]], _Guard]) -> Any:
    if isinstance(func, (classmethod, staticmethod)):
        return type(func)(_decorate(func.__func__, make))
    if not callable(func):
        raise ConfigError(f"sanitize: can only decorate a function or method. Received: {func!r:.120}")
    guard = make(func)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            bound, screens = guard.prepare(args, kwargs)
            if bound is None or not screens:
                return guard.result(await func(*args, **kwargs), [])
            n, reports, keep = decide(screens, guard.on_reject)
            output = None
            if keep:
                call_args, call_kwargs = guard.finish(bound, screens, keep)
                output = await func(*call_args, **call_kwargs)
            return guard.result(align(output, keep, n), reports)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound, screens = guard.prepare(args, kwargs)
        if bound is None or not screens:
            return guard.result(func(*args, **kwargs), [])
        n, reports, keep = decide(screens, guard.on_reject)
        output = None
        if keep:
            call_args, call_kwargs = guard.finish(bound, screens, keep)
            output = func(*call_args, **call_kwargs)
        return guard.result(align(output, keep, n), reports)

    return wrapper


def sanitize(
    pipeline: Stage | None = None,
    /,
    *,
    on_reject: str = "raise",
    return_reports: bool = False,
    batched: bool | None = None,
    split: str | None = None,
    inputs: Mapping[str, Stage] | None = None,
    **pipelines: Stage,
) -> Callable[[F], F]:
    """Decorate a predict-like function so that its arguments are sanitized first.

    Args:
        pipeline: guards the first argument (after ``self``/``cls``).
        on_reject: ``"raise"`` (default) raises :class:`~keras_sanitize.InputRejected`
            with ``.reports`` (one per item) when any item is refused; ``"skip"``
            calls the function on the accepted items only and returns outputs
            aligned with the inputs: NaN rows (arrays) or ``None`` (lists, single
            items) for refused items.
        return_reports: return ``(outputs, reports)``, one report per item
            (a one-element list for a single item).
        batched: ``None`` decides per value: str and bytes are one item, lists,
            tuples and arrays are batches (tensor pipelines: arrays with a batch
            axis). ``True``/``False`` forces it.
        split: how a batch splits into items: ``"rows"`` (``x[i:i+1]``, the
            default for tensor pipelines) or ``"items"`` (``x[i]``, the default
            for the others).
        inputs: argument name -> pipeline, for arguments whose names clash with
            the options above.
        **pipelines: argument name -> pipeline, e.g. ``text=ks.text.default()``.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> @ks.sanitize(x=ks.tensor.default(shape=(None, 2)), on_reject="skip")
        ... def predict(x):
        ...     return x.sum(axis=1)
        >>> predict(np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 4.0]])).tolist()
        [3.0, nan, 7.0]
        >>> predict.__name__
        'predict'
    """
    check_on_reject("sanitize", on_reject)
    if not isinstance(return_reports, bool):
        raise ConfigError(f"sanitize: return_reports must be a bool. Received: {return_reports!r}")
    if batched is not None and not isinstance(batched, bool):
        raise ConfigError(f"sanitize: batched must be None, True or False. Received: {batched!r}")
    chosen: dict[str, Stage] = {}
    if pipeline is not None:
        chosen[_FIRST] = check_stage_arg("sanitize", "pipeline", pipeline)
    if inputs is not None:
        if not isinstance(inputs, Mapping):
            raise ConfigError(f"sanitize: inputs must be a dict of name -> pipeline. Received: {inputs!r}")
        pipelines = {**dict(inputs), **pipelines}
    for name, stage in pipelines.items():
        chosen[name] = check_stage_arg("sanitize", name, stage)
    if not chosen:
        raise ConfigError(
            "sanitize: give a pipeline, e.g. @ks.sanitize(ks.text.default()) or "
            "@ks.sanitize(text=ks.text.default())"
        )
    if split is not None:
        split_of(next(iter(chosen.values())), split)  # validates the value

    def decorator(func: F) -> F:
        return cast(
            F,
            _decorate(
                func,
                lambda f: _Guard(f, chosen, on_reject, return_reports, batched, split),
            ),
        )

    return decorator
