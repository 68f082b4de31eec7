"""The tensor modality: numeric arrays (shape, dtype, finite, range).

Every other modality ends in a tensor. :func:`default` is a strict generic
guard; :func:`from_model` derives one from a Keras model's own input spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_sanitize._compat import deprecated_positional, warn_deprecated
from keras_sanitize.config import deserialize_stage, register_stage, serialize_stage
from keras_sanitize.errors import ConfigError, SanitizeError
from keras_sanitize.findings import echo
from keras_sanitize.pipeline import Pipeline
from keras_sanitize.stage import Context, Halt, Stage, resolve_limits
from keras_sanitize.tensor import encoders, filters, validators, verifiers
from keras_sanitize.tensor._util import NUMERIC_DTYPES
from keras_sanitize.tensor.validators import DEFAULT_LIMITS, DEFAULT_MAX_ELEMENTS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_ELEMENTS",
    "Limits",
    "Structured",
    "default",
    "encoders",
    "filters",
    "from_model",
    "validators",
    "verifiers",
]

#: default()'s own limits: elements only (DEFAULT_LIMITS also bounds bytes, for the stages).
_DEFAULT_PIPELINE_LIMITS = validators.Limits(max_bytes=None)
_REAL_DTYPES = tuple(sorted(d for d in NUMERIC_DTYPES if d != "bool"))


@deprecated_positional("dtype", "min_value", "max_value", "max_elements")
def default(
    shape: Sequence[int | None] | None = None,
    *,
    dtype: str | None = None,
    value_range: Sequence[float] | None = None,
    max_elements: int | None = validators.DEFAULT_MAX_ELEMENTS,
    max_bytes: int | None = None,
    limits: validators.Limits | None = None,
    policy: Mapping[str, str] | None = None,
    mode: str = "enforce",
    min_value: float | None = None,
    max_value: float | None = None,
) -> Pipeline:
    """A strict tensor pipeline: to array, numeric dtype, shape, finite, range, size.

    With ``dtype`` the value is then cast to it (refusing values that overflow).

    Args:
        shape: expected shape, ``None`` for a free dimension (default: any shape).
        dtype: cast accepted values to this dtype.
        value_range: ``(low, high)`` every element must lie in (``None``: any finite value).
        max_elements, max_bytes: size limits (default: elements only).
        limits: both at once (a :class:`Limits`).
        policy: finding code -> action for the whole pipeline.
        mode: ``"enforce"`` or ``"monitor"`` (see :class:`~keras_sanitize.Pipeline`).
        min_value, max_value: deprecated spelling of ``value_range``'s two ends.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> pipe = ks.tensor.default(shape=(None, 2), value_range=(-1.0, 1.0))
        >>> pipe.run([[1.0, 0.5]]).ok, pipe.run([[1.0, float("nan")]]).ok, pipe.run([[2.0, 0.0]]).ok
        (True, False, False)
    """
    if min_value is not None or max_value is not None:
        if value_range is not None:
            raise ConfigError("tensor.default: give value_range or min_value/max_value, not both")
        warn_deprecated("tensor.default(): min_value/max_value are deprecated; use value_range=(low, high)")
    elif value_range is not None:
        if (
            isinstance(value_range, (str, bytes))
            or not isinstance(value_range, Sequence)
            or len(value_range) != 2
        ):
            raise ConfigError(
                f"tensor.default: value_range must be (low, high). Received: value_range={value_range!r}"
            )
        min_value, max_value = value_range
    if limits is not None:
        lim: validators.Limits = resolve_limits(
            "tensor.default",
            limits,
            _DEFAULT_PIPELINE_LIMITS,
            {"max_elements": max_elements, "max_bytes": max_bytes},
        )
        max_elements, max_bytes = lim.max_elements, lim.max_bytes
    stages: list[Stage] = [
        encoders.ToArray(max_elements=max_elements),
        validators.TensorSpec(
            shape=shape,
            min_value=min_value,
            max_value=max_value,
            max_elements=max_elements,
            max_bytes=max_bytes,
        ),
    ]
    if dtype is not None:
        stages.append(encoders.Cast(dtype))
    return Pipeline(stages, modality="tensor", name="tensor_default", policy=policy, mode=mode)


@register_stage()
class Structured(Stage):
    """Run one pipeline per input of a multi-input model (a dict by name, or a list).

    Findings get ``detail["input"]`` naming the input they are about.

    Example:
        >>> import keras_sanitize as ks
        >>> guard = ks.tensor.Structured({"a": ks.tensor.default(), "b": ks.tensor.default()})
        >>> guard.run({"a": [1.0], "b": [float("inf")]}).findings[0].detail["input"]
        'b'
    """

    kind = "encoder"
    modality = "tensor"

    def __init__(self, pipelines: Mapping[str, Stage] | Sequence[Stage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(pipelines, Mapping):
            self.keys: tuple[str | int, ...] = tuple(str(k) for k in pipelines)
            items = list(pipelines.values())
        elif isinstance(pipelines, Sequence) and not isinstance(pipelines, (str, bytes)):
            self.keys = tuple(range(len(pipelines)))
            items = list(pipelines)
        else:
            raise ConfigError(f"Structured: pipelines must be a dict or list. Received: {pipelines!r}")
        built = [deserialize_stage(p) if isinstance(p, Mapping) else p for p in items]
        for k, p in zip(self.keys, built):
            if not isinstance(p, Stage):
                raise ConfigError(f"Structured: pipelines[{k!r}] must be a Stage. Received: {p!r}")
        self.pipelines: tuple[Stage, ...] = tuple(built)
        self.named = isinstance(pipelines, Mapping)

    def process(self, value: Any, ctx: Context) -> Any:
        if self.named:
            if not isinstance(value, Mapping):
                ctx.halt(
                    "tensor.structure",
                    f"a dict with keys {list(self.keys)} is required; received {echo(value)}",
                )
            missing = [k for k in self.keys if k not in value]
            extra = [str(k) for k in value if k not in self.keys][:10]
            if missing or extra:
                ctx.halt(
                    "tensor.structure",
                    f"inputs must be exactly {list(self.keys)}; missing {missing}, unexpected {extra}",
                    detail={"missing": missing, "unexpected": extra},
                )
            parts = [value[k] for k in self.keys]
        else:
            if not isinstance(value, (list, tuple)) or len(value) != len(self.keys):
                ctx.halt(
                    "tensor.structure",
                    f"a list of {len(self.keys)} inputs is required; received {echo(value)}",
                )
            parts = list(value)
        out = []
        for key, pipe, part in zip(self.keys, self.pipelines, parts):
            start = ctx.position
            sub = ctx.nested(pipe)
            try:
                result = pipe.process(part, sub)
            except Halt:
                result = None
                sub.reject()
            except Exception as exc:
                sub.add("core.internal_error", f"{type(exc).__name__} in input {key!r}", fatal=True)
                result = None
            ctx.annotate(start, {"input": key})
            if sub.rejected and result is None:
                raise Halt(f"input {key!r} halted")
            out.append(result)
        return dict(zip(self.keys, out)) if self.named else type(value)(out)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.named:
            config["pipelines"] = {str(k): serialize_stage(p) for k, p in zip(self.keys, self.pipelines)}
        else:
            config["pipelines"] = [serialize_stage(p) for p in self.pipelines]
        return config


def _spec_of(tensor: Any) -> tuple[tuple[int | None, ...], str]:
    shape = tuple(None if d is None else int(d) for d in tensor.shape)
    return shape, str(getattr(tensor, "dtype", "float32"))


def _guard_for(shape: tuple[int | None, ...], dtype: str) -> Pipeline:
    if dtype in ("string", "tf.string"):
        # A string input (TextVectorization, a KerasHub preprocessor): each row is text.
        import importlib

        text = importlib.import_module("keras_sanitize.text")
        pipe: Pipeline = text.default()
        return pipe
    try:
        kind = np.dtype(dtype).kind if dtype != "bfloat16" else "f"
    except TypeError:
        raise ConfigError(
            f"from_model: the model takes an input of dtype {dtype!r} (shape {shape}), which has no "
            f"tensor guard; pass the input pipelines explicitly (ks.wrap(model, inputs=...))"
        ) from None
    allowed = (
        _REAL_DTYPES
        if kind == "f"
        else tuple(d for d in NUMERIC_DTYPES if not d.startswith(("float", "bfloat")))
    )
    return Pipeline(
        [
            encoders.ToArray(),
            validators.TensorSpec(dtypes=allowed, shape=shape, max_bytes=None),
            encoders.Cast(dtype),
        ],
        modality="tensor",
        name="tensor_from_model",
    )


def from_model(model: Any) -> Stage:
    """Derive a guard from a Keras model's input spec: shape, dtype, finiteness.

    Single-input models get a :class:`Pipeline`; dict- or list-input models get
    a :class:`Structured` stage keyed like the model's inputs. The batch
    dimension is free; other ``None`` dimensions stay free. An input of dtype
    ``string`` (``TextVectorization``, KerasHub preprocessors) gets
    ``ks.text.default()``, run on each string of a batch by ``ks.wrap``.

    Example:
        >>> import keras, numpy as np, keras_sanitize as ks
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> guard = ks.tensor.from_model(model)
        >>> guard.run(np.zeros((2, 3), "float32")).ok, guard.run(np.zeros((2, 4))).ok
        (True, False)
    """
    struct = None
    for attr in ("_inputs_struct", "inputs"):
        try:
            struct = getattr(model, attr)
        except Exception:
            continue
        if struct is not None:
            break
    if struct is None:
        raise ConfigError(
            f"from_model: {type(model).__name__} has no input spec; build it (keras.Input or "
            f"model.build) or pass explicit input pipelines"
        )
    try:
        if isinstance(struct, Mapping):
            return Structured({str(k): _guard_for(*_spec_of(t)) for k, t in struct.items()})
        if isinstance(struct, (list, tuple)):
            if len(struct) == 1:
                return _guard_for(*_spec_of(struct[0]))
            return Structured([_guard_for(*_spec_of(t)) for t in struct])
        return _guard_for(*_spec_of(struct))
    except SanitizeError:
        raise
    except Exception as exc:  # an input spec we cannot read: say so, never a raw error
        raise ConfigError(
            f"from_model: cannot derive a guard from {type(model).__name__}'s inputs "
            f"({type(exc).__name__}: {exc}); pass the input pipelines explicitly"
        ) from None


def __dir__() -> list[str]:
    # the public names, not the helpers imported to build default()
    return sorted(__all__)
